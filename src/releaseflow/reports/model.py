"""The shape of a report: frozen pydantic models whose every number carries its ids.

A :class:`Figure` is a count plus the ids of the requests behind it (drill-down), so
``figure.value == len(figure.ids)`` always holds; in a count-only report
(``build(..., ids=False)``) ``ids`` is None and :func:`releaseflow.reports.drilldown`
lists them on demand, exactly as of the report's cut-off. Durations are whole seconds; rates
are fractions in ``[0, 1]`` rounded to four places (None when nothing was due).
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Iterator
from datetime import date
from itertools import islice
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from ..models import ChainHead

__all__ = [
    "DeadlineStats",
    "Durations",
    "Figure",
    "FigureRow",
    "IncidentItem",
    "ObligationResult",
    "Outcomes",
    "PlanFigures",
    "PolicyDrafts",
    "Report",
    "ReportMeta",
]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Figure(_Frozen):
    """A count and the ids of the requests it counts (None: not embedded)."""

    value: int = Field(ge=0)
    ids: tuple[str, ...] | None = ()

    @model_validator(mode="after")
    def _check(self) -> Figure:
        if self.ids is not None and self.value != len(self.ids):
            raise ValueError("a figure's value must equal the number of its ids")
        return self

    @classmethod
    def of(cls, ids: Iterable[str]) -> Figure:
        """A figure over ``ids`` (sorted, de-duplicated).

        Linear when ``ids`` already come sorted (reports feed them in id order).
        """
        items = [str(i) for i in ids]
        items.sort()
        if any(map(operator.eq, items, islice(items, 1, None))):
            items = sorted(set(items))
        unique = tuple(items)
        return cls.model_construct(value=len(unique), ids=unique)

    @classmethod
    def of_sorted(cls, ids: list[str]) -> Figure:
        """A figure over ids the caller guarantees sorted and unique (no checks).

        Reports walk their requests in id order, so every group they build is
        already sorted and unique; this skips the sort for 100,000-id figures.
        """
        return cls.model_construct(value=len(ids), ids=tuple(ids))

    @classmethod
    def count(cls, value: int) -> Figure:
        """A figure of a count-only report: ``value`` without its ids.

        The ids are listed on demand by :func:`releaseflow.reports.drilldown`.
        """
        return cls.model_construct(value=value, ids=None)

    @property
    def listed(self) -> tuple[str, ...]:
        """The embedded ids (empty when the report embeds none)."""
        return self.ids or ()


class Outcomes(_Frozen):
    """Received requests and where they stood at the cut-off."""

    received: Figure
    released: Figure
    refused: Figure
    withdrawn: Figure
    pending: Figure
    """Neither released, refused nor withdrawn by the cut-off."""


class Durations(_Frozen):
    """Times from receipt to first release, in whole seconds."""

    count: Figure
    median_seconds: int | None = None
    p90_seconds: int | None = None
    """Nearest-rank 90th percentile."""


class DeadlineStats(_Frozen):
    """Deadlines of one rule: met on time, missed (late or overdue), still open."""

    met: Figure
    missed: Figure
    open: Figure
    on_time_rate: float | None = None
    """``met / (met + missed)``; None when nothing has fallen due."""


class IncidentItem(_Frozen):
    """One incident statement and how long its first release took."""

    id: str
    title: str
    received_at: AwareDatetime
    response_seconds: int | None = None


class ObligationResult(_Frozen):
    """One periodic-release obligation in one month or quarter."""

    name: str
    bucket: str
    """``2026-07`` or ``2026-Q3``."""
    required: int
    released: Figure
    status: Literal["met", "missed", "in_progress"]


class PolicyDrafts(_Frozen):
    """Policy-draft communication requests in scope of Decision 407, communicated."""

    in_scope: Figure
    communicated: Figure
    share: float | None = None
    target: float = 1.0


class PlanFigures(_Frozen):
    """One annual communication plan's progress at the report's cut-off day.

    Computed as :func:`releaseflow.reports.plan_progress` does, at the end of the
    local day of the cut-off (``as_of``).
    """

    plan_id: str
    plan_version: int
    unit: str
    year: int
    state: str
    as_of: date
    items: dict[str, Figure]
    """Items per status (ids: plan item ids): done, late, not_started."""
    done_by: Figure
    """Released requests that made items done (ids: request ids)."""
    unplanned: Figure
    """Released requests of the plan's unit and year no item links (request ids)."""


class ReportMeta(_Frozen):
    """What the report covers and the audit state it was computed at."""

    period: str
    first_day: date
    last_day: date
    start: AwareDatetime
    end: AwareDatetime
    cutoff: AwareDatetime
    """Events at or after this instant are not counted (min of ``end`` and as-of)."""
    partial: bool
    """True when the cut-off falls before the end of the period."""
    unit: str | None
    kinds: tuple[str, ...] | None
    timezone: str = "Asia/Ho_Chi_Minh"
    heads: tuple[ChainHead, ...]
    anchor_digest: str
    """The digest of ``heads`` as :meth:`releaseflow.AuditService.anchor` computes it."""
    generated_at: AwareDatetime
    ids: bool = True
    """Whether figures embed their request ids; if not, use ``reports.drilldown``."""


class FigureRow(_Frozen):
    """One figure flattened for tabular formats (CSV, spreadsheets)."""

    section: str
    key: str
    metric: str
    value: int
    ids: tuple[str, ...]


class Report(_Frozen):
    """A traceable report on one unit's information work over one period."""

    meta: ReportMeta
    totals: Outcomes
    by_kind: dict[str, Outcomes]
    by_channel: dict[str, Outcomes]
    by_release_form: dict[str, Figure]
    refusals_by_ground: dict[str, Figure]
    deadlines: dict[str, DeadlineStats]
    deadlines_overall: DeadlineStats
    time_to_release: Durations
    incidents: tuple[IncidentItem, ...]
    incident_response: Durations
    corrections: Outcomes
    correction_outcomes: dict[str, Figure]
    """Correction requests by their workflow state at the cut-off."""
    fake_news: Outcomes
    fake_news_response: Durations
    obligations: tuple[ObligationResult, ...]
    policy_drafts: PolicyDrafts
    press_agencies: dict[str, Figure]
    journalists: dict[str, Figure]
    plans: tuple[PlanFigures, ...] = ()
    """Plans of the unit (and its sub-units) for the period's years."""

    def rows(self) -> Iterator[FigureRow]:
        """Every figure as a flat row (section, key, metric, value, ids)."""
        yield from _outcome_rows("totals", "all", self.totals)
        for section, groups in (
            ("by_kind", self.by_kind),
            ("by_channel", self.by_channel),
        ):
            for key, outcomes in groups.items():
                yield from _outcome_rows(section, key, outcomes)
        for section, figures in (
            ("by_release_form", self.by_release_form),
            ("refusals_by_ground", self.refusals_by_ground),
            ("correction_outcomes", self.correction_outcomes),
            ("press_agencies", self.press_agencies),
            ("journalists", self.journalists),
        ):
            for key, fig in figures.items():
                yield _row(section, key, "count", fig)
        for key, stats in self.deadlines.items():
            yield from _deadline_rows(key, stats)
        yield from _deadline_rows("all", self.deadlines_overall)
        yield _row("time_to_release", "all", "count", self.time_to_release.count)
        yield _row("incidents", "all", "count", self.incident_response.count)
        yield from _outcome_rows("corrections", "all", self.corrections)
        yield from _outcome_rows("fake_news", "all", self.fake_news)
        for ob in self.obligations:
            yield _row("obligations", f"{ob.name}:{ob.bucket}", "released", ob.released)
        yield _row("policy_drafts", "all", "in_scope", self.policy_drafts.in_scope)
        yield _row(
            "policy_drafts", "all", "communicated", self.policy_drafts.communicated
        )
        for plan in self.plans:
            key = f"{plan.unit}:{plan.year}:{plan.plan_id}"
            for status, fig in plan.items.items():
                yield _row("plans", key, status, fig)
            yield _row("plans", key, "done_by", plan.done_by)
            yield _row("plans", key, "unplanned", plan.unplanned)


def _row(section: str, key: str, metric: str, fig: Figure) -> FigureRow:
    return FigureRow(
        section=section, key=key, metric=metric, value=fig.value, ids=fig.listed
    )


def _outcome_rows(section: str, key: str, o: Outcomes) -> Iterator[FigureRow]:
    for metric in ("received", "released", "refused", "withdrawn", "pending"):
        yield _row(section, key, metric, getattr(o, metric))


def _deadline_rows(key: str, s: DeadlineStats) -> Iterator[FigureRow]:
    for metric in ("met", "missed", "open"):
        yield _row("deadlines", key, metric, getattr(s, metric))
