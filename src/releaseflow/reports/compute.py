"""Turn request facts into figures: outcomes, deadlines, durations, obligations.

Every figure is built from the ids it counts (:meth:`Figure.of`), so drill-down and
value cannot disagree. A request's outcome at the cut-off is, in this order of
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
from typing import Literal

from .facts import Facts
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
    "Obligation",
    "Outcome",
    "deadline_stats",
    "durations",
    "first_release",
    "obligations",
    "outcome",
    "outcomes",
    "policy_drafts",
]

Outcome = Literal["released", "refused", "withdrawn", "pending"]
PRESS_TYPES = ("journalist", "press_agency")
IN_SCOPE_KEY = "decision_407_in_scope"


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


def first_release(f: Facts) -> tuple[datetime, str] | None:
    """When and in which form the request was first released, if it was."""
    for e in f.events:
        if e.form is not None:
            return e.at, e.form
    return None


def outcome(f: Facts) -> Outcome:
    """Where the request stood at the cut-off."""
    if first_release(f) is not None:
        return "released"
    if any(e.ground is not None for e in f.events):
        return "refused"
    if any(e.to_state == "withdrawn" for e in f.events):
        return "withdrawn"
    return "pending"


def outcomes(facts: Iterable[Facts]) -> Outcomes:
    """Received requests split by outcome."""
    split: dict[str, list[str]] = defaultdict(list)
    received = []
    for f in facts:
        received.append(f.id)
        split[outcome(f)].append(f.id)
    return Outcomes(
        received=Figure.of(received),
        released=Figure.of(split["released"]),
        refused=Figure.of(split["refused"]),
        withdrawn=Figure.of(split["withdrawn"]),
        pending=Figure.of(split["pending"]),
    )


def _seconds(f: Facts) -> int | None:
    first = first_release(f)
    return None if first is None else int((first[0] - f.received_at).total_seconds())


def durations(facts: Iterable[Facts]) -> Durations:
    """Median and nearest-rank p90 of receipt-to-release times."""
    pairs = [(f.id, s) for f in facts if (s := _seconds(f)) is not None]
    if not pairs:
        return Durations(count=Figure.of(()))
    values = sorted(s for _, s in pairs)
    p90 = values[max(0, math.ceil(0.9 * len(values)) - 1)]
    return Durations(
        count=Figure.of(i for i, _ in pairs),
        median_seconds=round(statistics.median(values)),
        p90_seconds=p90,
    )


def incidents(facts: Sequence[Facts]) -> tuple[IncidentItem, ...]:
    """Each incident statement with its response time."""
    return tuple(
        IncidentItem(
            id=f.id,
            title=f.title,
            received_at=f.received_at,
            response_seconds=_seconds(f),
        )
        for f in sorted(facts, key=lambda f: (f.received_at, f.id))
    )


def _deadline_states(f: Facts, cutoff: datetime) -> dict[str, str]:
    """Each deadline's standing at the cut-off: met, missed, open or cancelled."""
    settled: dict[str, tuple[str, datetime, datetime]] = {}
    last_due: dict[str, datetime] = {}
    for e in f.events:
        for rule, status, due in e.deadlines or ():
            last_due[rule] = due
            if status in ("met", "cancelled") and rule not in settled:
                settled[rule] = (status, e.at, due)
    states: dict[str, str] = {}
    for rule, status, due in f.deadlines:
        if rule in settled:
            continue
        due = last_due.get(rule, due)
        states[rule] = "missed" if due <= cutoff and status != "paused" else "open"
    for rule, (status, at, due) in settled.items():
        if status == "cancelled":
            states[rule] = "cancelled"
        else:
            states[rule] = "met" if at < due else "missed"
    return states


def _stats(ids: dict[str, list[str]]) -> DeadlineStats:
    met, missed = Figure.of(ids["met"]), Figure.of(ids["missed"])
    due = met.value + missed.value
    return DeadlineStats(
        met=met,
        missed=missed,
        open=Figure.of(ids["open"]),
        on_time_rate=round(met.value / due, 4) if due else None,
    )


def deadline_stats(
    facts: Iterable[Facts], cutoff: datetime
) -> tuple[dict[str, DeadlineStats], DeadlineStats]:
    """Deadlines per rule, and per request overall.

    Per rule, a request counts once in met, missed or open. Overall, a request is
    missed when any of its deadlines was missed, met when every deadline that fell
    due was met on time, and open when none has fallen due yet.
    """
    per_rule: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    overall: dict[str, list[str]] = defaultdict(list)
    for f in facts:
        states = {s for s in _deadline_states(f, cutoff).items() if s[1] != "cancelled"}
        for rule, state in states:
            per_rule[rule][state].append(f.id)
        seen = {state for _, state in states}
        if "missed" in seen:
            overall["missed"].append(f.id)
        elif "met" in seen:
            overall["met"].append(f.id)
        elif "open" in seen:
            overall["open"].append(f.id)
    rules = {rule: _stats(ids) for rule, ids in sorted(per_rule.items())}
    return rules, _stats(overall)


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
    periodic = [f for f in facts if f.kind == "periodic_release"]
    results: list[ObligationResult] = []
    for duty in duties:
        for label, first, last in _buckets(period, duty.cadence):
            ids = []
            for f in periodic:
                rel = first_release(f)
                if rel is None or (duty.forms is not None and rel[1] not in duty.forms):
                    continue
                if first <= rel[0].astimezone(AGENCY_TZ).date() <= last:
                    ids.append(f.id)
            fig = Figure.of(ids)
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
    scope = [
        f
        for f in facts
        if f.kind == "policy_draft_comms" and f.metadata.get(IN_SCOPE_KEY, True)
    ]
    done = [f.id for f in scope if first_release(f) is not None]
    share = round(len(done) / len(scope), 4) if scope else None
    return PolicyDrafts(
        in_scope=Figure.of(f.id for f in scope),
        communicated=Figure.of(done),
        share=share,
    )
