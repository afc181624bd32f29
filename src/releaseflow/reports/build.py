"""``build(flow, period=..., unit=..., kinds=...)``: compute a traceable report."""

from __future__ import annotations

import gc
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

from ..chain import anchor_digest
from ..exceptions import ValidationError
from ..models import UnitPath, parse
from ..vocabulary import AuditEvent, RequestKind
from . import compute as c
from .aggregate import Counts, assemble_counts, collect_counts
from .facts import Facts, Window, collect
from .model import Figure, Outcomes, Report, ReportMeta
from .period import Period, PeriodSpec, parse_period
from .plans import plan_figures

if TYPE_CHECKING:
    from ..service import ReleaseFlow

__all__ = ["build"]


class _UnitArg(BaseModel):
    model_config = ConfigDict(frozen=True)
    unit: UnitPath


def _unit(flow: ReleaseFlow, unit: str | None) -> str | None:
    if unit is None:
        return None
    if not isinstance(unit, str):
        raise ValidationError("unit must be a unit path", field="unit", rule="type")
    value = parse(_UnitArg, {"unit": unit}).unit
    if flow.find(unit=value, limit=1):
        return value
    if any(
        g.unit == value or g.unit.startswith(value + "/")
        for g in flow.directory.grants()
    ):
        return value
    if flow.audit.query(event=AuditEvent.ROLE_GRANTED, unit=value, limit=1).entries:
        return value
    raise ValidationError(
        f"unit {value!r} is unknown: no request and no role grant ever used it",
        field="unit",
        rule="unknown",
    )


def _kinds(kinds: Iterable[RequestKind | str] | None) -> frozenset[str] | None:
    if kinds is None:
        return None
    if isinstance(kinds, str):
        kinds = [kinds]
    out: set[str] = set()
    for kind in kinds:
        try:
            out.add(RequestKind(kind).value)
        except ValueError:
            raise ValidationError(
                f"unknown request kind {kind!r}", field="kinds", rule="enum"
            ) from None
    if not out:
        raise ValidationError("kinds must not be empty", field="kinds", rule="empty")
    return frozenset(out)


def _as_of(flow: ReleaseFlow, as_of: datetime | None) -> datetime:
    now = flow.now()
    if as_of is None:
        return now
    if not isinstance(as_of, datetime) or as_of.tzinfo is None:
        raise ValidationError(
            "as_of must be a timezone-aware datetime", field="as_of", rule="aware"
        )
    if as_of > now:
        raise ValidationError("as_of is in the future", field="as_of", rule="future")
    return as_of


def _group(facts: Sequence[Facts], attr: str) -> dict[str, Outcomes]:
    """Outcomes per value of ``attr`` (kind, channel), in one pass."""
    split: dict[str, dict[str, list[str]]] = {}
    for f in facts:
        key = getattr(f, attr)
        g = split.get(key)
        if g is None:
            g = split[key] = defaultdict(list)
        g["received"].append(f.id)
        g[f.outcome].append(f.id)
    return {k: c.outcomes_of(g) for k, g in sorted(split.items())}


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a report allocates its objects.

    A year's report allocates a few million acyclic objects (rows, facts, id
    lists); the collector would walk all of them again and again for nothing
    (measured: a quarter to a third of the build time at 100,000 requests).
    Reference counting still frees everything; the collector resumes afterwards.
    """
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _figures(pairs: Iterable[tuple[str | None, str]]) -> dict[str, Figure]:
    ids: dict[str, list[str]] = defaultdict(list)
    for key, rid in pairs:
        if key is not None:
            ids[key].append(rid)
    return {k: Figure.of_sorted(v) for k, v in sorted(ids.items())}


def build(
    flow: ReleaseFlow,
    period: PeriodSpec,
    *,
    unit: str | None = None,
    kinds: Iterable[RequestKind | str] | None = None,
    as_of: datetime | None = None,
    obligations: Iterable[c.Obligation] = c.DEFAULT_OBLIGATIONS,
    ids: bool = True,
) -> Report:
    """Compute the report of ``unit`` (with its sub-units) over ``period``.

    A request belongs to the period when it was received in it (local time,
    Asia/Ho_Chi_Minh); its outcome, deadlines and release time are read from the
    audit entries before the cut-off (the end of the period, or ``as_of`` /
    now when earlier). Every figure carries the ids of its requests, and the
    report records the audit heads it was computed at.

    Args:
        flow: the engine to read.
        period: ``"2026"``, ``"2026-07"``, ``"2026-Q3"`` or ``(first_day, last_day)``.
        unit: an organisation unit (its sub-units included); None for all.
        kinds: request kinds to include; None for all.
        as_of: compute as the log stood at this instant (default: now).
        obligations: the periodic-release duties of the unit (Decree 09 Art. 5).
        ids: embed each figure's request ids (default). With False, figures are
            counts aggregated in SQL (``Figure.ids`` is None, a year's JSON is a
            few kilobytes) and :func:`releaseflow.reports.drilldown` lists the
            requests behind any figure, as of the report's cut-off.

    Raises:
        ValidationError: naming ``period``, ``unit``, ``kinds`` or ``as_of``.
    """
    cutoff_at = _as_of(flow, as_of)
    p = parse_period(period, now=cutoff_at)
    where = _unit(flow, unit)
    kind_set = _kinds(kinds)
    cutoff = min(p.end, cutoff_at)
    window = Window(p.start, p.end, cutoff, where, kind_set)
    facts: list[Facts] = []
    counts: Counts | None = None
    with _gc_paused(), flow.store.unit_of_work(write=False) as uow:
        heads = tuple(sorted(uow.audit.heads(), key=lambda h: h.ledger))
        if ids:
            facts = collect(uow, window)
        else:
            counts = collect_counts(uow, window)
        plans = plan_figures(uow, where, p, cutoff)
    facts.sort(key=lambda f: f.id)
    meta = ReportMeta(
        period=p.label,
        first_day=p.first,
        last_day=p.last,
        start=p.start,
        end=p.end,
        cutoff=cutoff,
        partial=cutoff < p.end,
        unit=where,
        kinds=tuple(sorted(kind_set)) if kind_set else None,
        heads=heads,
        anchor_digest=anchor_digest(heads),
        generated_at=flow.now(),
        ids=ids,
    )
    with _gc_paused():
        if counts is not None:
            report = assemble_counts(meta, counts, p, cutoff, tuple(obligations))
        else:
            report = _assemble(meta, facts, p, cutoff, tuple(obligations))
    return report.model_copy(update={"plans": plans}) if plans else report


def _assemble(
    meta: ReportMeta,
    facts: list[Facts],
    p: Period,
    cutoff: datetime,
    duties: tuple[c.Obligation, ...],
) -> Report:
    by: dict[str, list[Facts]] = {k.value: [] for k in RequestKind}
    for f in facts:
        by.setdefault(f.kind, []).append(f)
    per_rule, overall = c.deadline_stats(facts, cutoff)
    incidents = by["incident_statement"]
    fake = by["fake_news_response"]
    return Report(
        meta=meta,
        totals=c.outcomes(facts),
        by_kind=_group(facts, "kind"),
        by_channel=_group(facts, "channel"),
        by_release_form=_figures(
            (rel[1] if (rel := c.first_release(f)) else None, f.id) for f in facts
        ),
        refusals_by_ground=_figures(
            (f.ground if f.outcome == "refused" else None, f.id) for f in facts
        ),
        deadlines=per_rule,
        deadlines_overall=overall,
        time_to_release=c.durations(facts),
        incidents=c.incidents(incidents),
        incident_response=c.durations(incidents),
        corrections=c.outcomes(by["correction_request"]),
        correction_outcomes=_figures((f.state, f.id) for f in by["correction_request"]),
        fake_news=c.outcomes(fake),
        fake_news_response=c.durations(fake),
        obligations=c.obligations(by["periodic_release"], p, cutoff, duties),
        policy_drafts=c.policy_drafts(by["policy_draft_comms"]),
        press_agencies=_figures((f.org, f.id) for f in facts),
        journalists=_figures((f.journalist, f.id) for f in facts),
    )
