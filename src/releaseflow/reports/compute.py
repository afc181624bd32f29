"""Turn request facts into figures: outcomes, deadlines, durations, obligations.

Every figure is built from the ids it counts, so drill-down and value cannot
disagree. The functions take facts in request-id order (``build`` sorts them once),
so every id list they collect is already sorted and unique
(:meth:`Figure.of_sorted`): no per-figure sort on a 100,000-request year. A request's outcome at the cut-off is, in this order of
precedence: released (a release entry), refused (a refusal entry), withdrawn (an
entry into ``withdrawn``), otherwise pending.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from operator import itemgetter
from typing import Final, Literal

from .facts import Facts, Outcome
from .model import (
    DeadlineStats,
    Durations,
    Figure,
    IncidentItem,
    ObligationResult,
    Outcomes,
    PolicyDrafts,
)
from .period import AGENCY_TZ, Period

__all__ = [
    "DEFAULT_OBLIGATIONS",
    "NEVER",
    "Obligation",
    "Outcome",
    "deadline_stats",
    "durations",
    "durations_of",
    "first_release",
    "incident_items",
    "obligations",
    "outcome",
    "outcomes",
    "outcomes_of",
    "policy_drafts",
    "released_obligations",
    "stats_of",
]


@dataclass(frozen=True)
class Obligation:
    """A periodic-release duty (Decree 09 Art. 5), as configured for the unit.

    Args:
        name: a stable key, e.g. ``monthly_information``.
        cadence: ``month`` or ``quarter``.
        required: how many periodic releases each month or quarter needs.
        forms: release forms that count (None: any form).
    """

    name: str
    cadence: Literal["month", "quarter"]
    required: int = 1
    forms: frozenset[str] | None = None


#: Monthly information and a quarterly press conference (Decree 09 Art. 5).
DEFAULT_OBLIGATIONS: tuple[Obligation, ...] = (
    Obligation("monthly_information", "month"),
    Obligation(
        "quarterly_press_conference", "quarter", 1, frozenset({"press_conference"})
    ),
)


NEVER = datetime.min.replace(tzinfo=AGENCY_TZ)
"""The receipt time of an incident whose receipt time is unknown (sorts first)."""


def first_release(f: Facts) -> tuple[datetime | None, str] | None:
    """When and in which form the request was first released, if it was."""
    return f.release


def outcome(f: Facts) -> Outcome:
    """Where the request stood at the cut-off."""
    return f.outcome


def outcomes(facts: Iterable[Facts]) -> Outcomes:
    """Received requests split by outcome."""
    split: dict[str, list[str]] = defaultdict(list)
    received = split["received"]
    for f in facts:
        received.append(f.id)
        split[f.outcome].append(f.id)
    return outcomes_of(split)


def outcomes_of(split: dict[str, list[str]]) -> Outcomes:
    """Outcomes from id lists keyed ``received`` and by outcome (sorted, unique)."""
    return Outcomes(
        received=Figure.of_sorted(split.get("received", [])),
        released=Figure.of_sorted(split.get("released", [])),
        refused=Figure.of_sorted(split.get("refused", [])),
        withdrawn=Figure.of_sorted(split.get("withdrawn", [])),
        pending=Figure.of_sorted(split.get("pending", [])),
    )


def durations(facts: Iterable[Facts]) -> Durations:
    """Median and nearest-rank p90 of receipt-to-release times."""
    pairs = [(f.id, s) for f in facts if (s := f.seconds) is not None]
    return durations_of([i for i, _ in pairs], [s for _, s in pairs])


def durations_of(ids: list[str], seconds: list[int]) -> Durations:
    """:func:`durations` of released requests ``ids`` (sorted) and their seconds."""
    if not ids:
        return Durations(count=Figure.of_sorted([]))
    values = sorted(seconds)
    p90 = values[max(0, math.ceil(0.9 * len(values)) - 1)]
    return Durations(
        count=Figure.of_sorted(ids),
        median_seconds=round(statistics.median(values)),
        p90_seconds=p90,
    )


def incidents(facts: Sequence[Facts]) -> tuple[IncidentItem, ...]:
    """Each incident statement with its response time."""
    return incident_items(
        [(f.received_at or NEVER, f.id, f.title, f.seconds) for f in facts]
    )


def incident_items(
    items: list[tuple[datetime, str, str | None, int | None]],
) -> tuple[IncidentItem, ...]:
    """:func:`incidents` from (received_at, id, title, seconds), in that order."""
    items.sort(key=itemgetter(0, 1))
    # every field is given: naming them skips model_construct's per-field search
    fields = _INCIDENT_FIELDS
    return tuple(
        IncidentItem.model_construct(
            set(fields),
            id=rid,
            title=title or "",
            received_at=at,
            response_seconds=secs,
        )
        for at, rid, title, secs in items
    )


_INCIDENT_FIELDS: Final = frozenset(IncidentItem.model_fields)


def stats_of(ids: dict[str, list[str]]) -> DeadlineStats:
    """Deadline figures from id lists keyed met, missed and open (sorted, unique)."""
    met = Figure.of_sorted(ids.get("met", []))
    missed = Figure.of_sorted(ids.get("missed", []))
    due = met.value + missed.value
    return DeadlineStats(
        met=met,
        missed=missed,
        open=Figure.of_sorted(ids.get("open", [])),
        on_time_rate=round(met.value / due, 4) if due else None,
    )


def _overall(states: dict[str, str]) -> str | None:
    seen = set(states.values())
    for verdict in ("missed", "met", "open"):
        if verdict in seen:
            return verdict
    return None


def deadline_stats(
    facts: Iterable[Facts], cutoff: datetime
) -> tuple[dict[str, DeadlineStats], DeadlineStats]:
    """Deadlines per rule, and per request overall.

    Per rule, a request counts once in met, missed or open. Overall, a request is
    missed when any of its deadlines was missed, met when every deadline that fell
    due was met on time, and open when none has fallen due yet. (The facts already
    hold each deadline's standing at ``cutoff``.)
    """
    per_rule: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    overall: dict[str, list[str]] = defaultdict(list)
    summary: dict[int, str | None] = {}  # shared decoded dicts: one verdict each
    for f in facts:
        d = f.deadlines
        if not d:
            continue
        for rule, state in d.items():
            per_rule[rule][state].append(f.id)
        key = id(d)
        if key not in summary:
            summary[key] = _overall(d)
        verdict = summary[key]
        if verdict is not None:
            overall[verdict].append(f.id)
    rules = {rule: stats_of(ids) for rule, ids in sorted(per_rule.items())}
    return rules, stats_of(overall)


def _bucket(day: date, cadence: str) -> str:
    if cadence == "month":
        return f"{day.year}-{day.month:02d}"
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"


def _buckets(period: Period, cadence: str) -> list[tuple[str, date, date]]:
    """Months or quarters wholly inside the period: (label, first, last)."""
    out: list[tuple[str, date, date]] = []
    step = 1 if cadence == "month" else 3
    year, month = period.first.year, period.first.month
    while date(year, month, 1) <= period.last:
        first = date(year, month, 1)
        nm = month + step
        ny, nm = year + (nm - 1) // 12, (nm - 1) % 12 + 1
        last = date.fromordinal(date(ny, nm, 1).toordinal() - 1)
        if (
            first >= period.first
            and last <= period.last
            and (cadence == "month" or (month - 1) % 3 == 0)
        ):
            out.append((_bucket(first, cadence), first, last))
        year, month = ny, nm
    return out


def obligations(
    facts: Sequence[Facts],
    period: Period,
    cutoff: datetime,
    duties: Iterable[Obligation],
) -> tuple[ObligationResult, ...]:
    """Periodic releases per month or quarter against each configured duty."""
    return released_obligations(
        [
            (f.id, f.release[0], f.release[1])
            for f in facts
            if f.kind == "periodic_release"
            and f.release is not None
            and f.release[0] is not None
        ],
        period,
        cutoff,
        duties,
    )


def released_obligations(
    releases: Iterable[tuple[str, datetime, str]],
    period: Period,
    cutoff: datetime,
    duties: Iterable[Obligation],
) -> tuple[ObligationResult, ...]:
    """:func:`obligations` from each periodic release's (id, time, form)."""
    released = [
        (rid, at.astimezone(AGENCY_TZ).date(), form) for rid, at, form in releases
    ]
    results: list[ObligationResult] = []
    for duty in duties:
        found: dict[str, list[str]] = defaultdict(list)
        for rid, day, form in released:
            if duty.forms is None or form in duty.forms:
                found[_bucket(day, duty.cadence)].append(rid)
        for label, first, last in _buckets(period, duty.cadence):
            fig = Figure.of(found.get(label, ()))
            ended = Period(label, first, last).end <= cutoff
            status: Literal["met", "missed", "in_progress"] = (
                "met"
                if fig.value >= duty.required
                else ("missed" if ended else "in_progress")
            )
            results.append(
                ObligationResult(
                    name=duty.name,
                    bucket=label,
                    required=duty.required,
                    released=fig,
                    status=status,
                )
            )
    return tuple(results)


def policy_drafts(facts: Iterable[Facts]) -> PolicyDrafts:
    """Share of in-scope policy drafts (Decision 407) communicated by the cut-off."""
    scope = [f for f in facts if f.kind == "policy_draft_comms" and f.in_scope]
    done = [f.id for f in scope if first_release(f) is not None]
    share = round(len(done) / len(scope), 4) if scope else None
    return PolicyDrafts(
        in_scope=Figure.of([f.id for f in scope]),
        communicated=Figure.of(done),
        share=share,
    )
