"""Count-only reports: figures aggregated in SQL, ids listed on demand.

``build(..., ids=False)`` computes the same numbers as the full report without
handling one id per request. On SQL one range scan reads the fact columns of the
requests received in the period; the settled ones (changed before the cut-off) are
counted as equal tuples (a few thousand groups at 100,000 requests), and only what a
figure needs per request is kept (the seconds to release, the listed incidents, the
dates of periodic releases). A ``GROUP BY`` in the database plus separate reads of
those values was measured slower on SQLite and no faster on PostgreSQL (each read
scans the wide rows again). Requests changed at or after the cut-off are replayed
from their audit entries, exactly as the full report does (``sql_source``). On other
stores the full facts are counted.

Each figure is then a bare count (``Figure.ids`` is None); :func:`drilldown` lists the
requests behind any figure as of the report's cut-off (by one query for the figures
picked by fact columns, see ``drill``; otherwise by recomputing the report), so a
figure stays traceable at no cost to the report itself.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from operator import itemgetter
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from ..exceptions import ValidationError
from . import compute as c
from .drill import figure_ids
from .facts import Facts, Window
from .model import (
    DeadlineStats,
    Durations,
    Figure,
    Outcomes,
    PolicyDrafts,
    Report,
    ReportMeta,
)
from .period import Period
from .sql_source import States, _kind_filter, _replay, _unit_filter

if TYPE_CHECKING:
    from ..service import ReleaseFlow

__all__ = [
    "Counts",
    "assemble_counts",
    "collect_counts",
    "counts_statement",
    "drilldown",
]

_OUTCOMES = ("received", "released", "refused", "withdrawn", "pending")


@dataclass
class Counts:
    """Facts shared by many requests, each with how many requests share them.

    ``groups`` stand for many requests (their ``id`` is empty); ``seconds`` holds
    (kind, seconds to release) of every released request; ``incidents`` the
    (received_at, id, title, seconds) of each incident statement and ``periodic``
    the (id, released_at, form) of each released periodic release, the figures
    that list or date requests one by one.
    """

    groups: list[tuple[Facts, int]] = field(default_factory=list)
    seconds: list[tuple[str, int]] = field(default_factory=list)
    incidents: list[tuple[datetime, str, str | None, int | None]] = field(
        default_factory=list
    )
    periodic: list[tuple[str, datetime, str]] = field(default_factory=list)


def _is_sql(uow: Any) -> bool:
    return hasattr(uow, "tables") and hasattr(uow, "connection")


def collect_counts(uow: Any, window: Window) -> Counts:
    """The grouped facts of the requests in ``window``."""
    if not _is_sql(uow):
        from .facts import collect

        return _from_facts(collect(uow, window))
    return _collect_sql(uow, window)


def _from_facts(facts: Iterable[Facts], out: Counts | None = None) -> Counts:
    out = Counts() if out is None else out
    for f in facts:
        out.groups.append((f, 1))
        if f.seconds is not None:
            out.seconds.append((f.kind, f.seconds))
        if f.kind == "incident_statement":
            out.incidents.append((f.received_at or c.NEVER, f.id, f.title, f.seconds))
        elif f.kind == "periodic_release" and f.release is not None:
            at, form = f.release
            if at is not None:
                out.periodic.append((f.id, at, form))
    return out


_LISTED = ("incident_statement", "periodic_release")
#: (kind, channel, state, form, ground, deadlines, org, journalist, scope, settled)
_GROUP = itemgetter(slice(0, 10))
#: (settled, kind, seconds)
_SECONDS = itemgetter(9, 0, 10)


def counts_statement(r: sa.Table, window: Window) -> sa.Select[Any]:
    """The range scan a count-only report reads (covered by the SQLite index)."""
    cutoff = window.cutoff
    settled = sa.and_(r.c.updated_at < cutoff, r.c.fact_channel.is_not(None))
    listed = r.c.kind.in_(_LISTED)
    naive = sa.DateTime()
    return sa.select(
        r.c.kind,
        r.c.fact_channel,
        r.c.state,
        r.c.fact_release_form,
        r.c.fact_ground,
        r.c.fact_deadlines,
        r.c.fact_org,
        r.c.fact_journalist,
        r.c.fact_in_scope,
        sa.case((settled, 1), else_=0),
        r.c.fact_seconds,
        sa.case((sa.or_(listed, sa.not_(settled)), r.c.id)),
        sa.type_coerce(sa.case((listed, r.c.received_at)), naive),
        sa.type_coerce(sa.case((listed, r.c.fact_released_at)), naive),
        r.c.fact_title,
    ).where(
        r.c.received_at >= window.start,
        r.c.received_at < cutoff,
        *_unit_filter(r.c.unit, window.unit),
        *_kind_filter(r.c.kind, window),
    )


def _collect_sql(uow: Any, window: Window) -> Counts:
    """One range scan of the fact columns, counted without per-request Python work.

    Equal rows are counted by :class:`~collections.Counter` over a slice of each
    row (a C loop), the seconds to release likewise as (settled, kind, seconds);
    only the rows with an id (listed kinds, and requests still moving at the
    cut-off) are looked at one by one. (One scan: a ``GROUP BY`` plus separate
    scans for the per-request values cost more on SQLite than reading the few
    columns once.)
    """
    rows = uow.connection.execute(counts_statement(uow.tables.requests, window)).all()
    out = Counts()
    decoded = States(window.cutoff)
    for key, n in Counter(map(_GROUP, rows)).items():
        kind, channel, state, form, ground, dl, org, jour, scope, settled = key
        if not settled:
            continue
        facts = Facts(
            "",
            kind,
            "",
            channel,
            None,
            state,
            (None, form) if form is not None else None,
            ground,
            state == "withdrawn",
            decoded(dl),
            org,
            jour,
            bool(scope),
        )
        out.groups.append((facts, n))
    for (settled, kind, secs), n in Counter(map(_SECONDS, rows)).items():
        if settled and secs is not None:
            out.seconds += [(kind, secs)] * n
    moving: list[str] = []
    for row in [row for row in rows if row[11] is not None]:
        rid = row[11]
        if not row[9]:
            moving.append(rid)
        elif row[0] == "incident_statement":
            out.incidents.append((row[12].replace(tzinfo=UTC), rid, row[14], row[10]))
        elif row[3] is not None and row[13] is not None:
            out.periodic.append((rid, row[13].replace(tzinfo=UTC), row[3]))
    if moving:
        replayed = _from_facts(_replay(uow, window, moving))
        out.groups += replayed.groups
        out.seconds += replayed.seconds
        out.incidents += replayed.incidents
        out.periodic += replayed.periodic
    return out


def _outcomes(counter: Counter[str]) -> Outcomes:
    return Outcomes(**{k: Figure.count(counter[k]) for k in _OUTCOMES})


def _durations(values: list[int]) -> Durations:
    """As :func:`compute.durations`: median and nearest-rank p90."""
    if not values:
        return Durations(count=Figure.count(0))
    values.sort()
    return Durations(
        count=Figure.count(len(values)),
        median_seconds=round(statistics.median(values)),
        p90_seconds=values[max(0, math.ceil(0.9 * len(values)) - 1)],
    )


def _stats(counter: Counter[str]) -> DeadlineStats:
    met, missed = counter["met"], counter["missed"]
    due = met + missed
    return DeadlineStats(
        met=Figure.count(met),
        missed=Figure.count(missed),
        open=Figure.count(counter["open"]),
        on_time_rate=round(met / due, 4) if due else None,
    )


def _counted(figures: Counter[str]) -> dict[str, Figure]:
    return {k: Figure.count(n) for k, n in sorted(figures.items())}


def _stripped(fig: Figure) -> Figure:
    return Figure.count(fig.value)


def assemble_counts(
    meta: ReportMeta,
    counts: Counts,
    p: Period,
    cutoff: datetime,
    duties: tuple[c.Obligation, ...],
) -> Report:
    """The count-only report from grouped facts (same figures as the full one)."""
    totals: Counter[str] = Counter()
    by_kind: dict[str, Counter[str]] = defaultdict(Counter)
    by_channel: dict[str, Counter[str]] = defaultdict(Counter)
    forms: Counter[str] = Counter()
    grounds: Counter[str] = Counter()
    per_rule: dict[str, Counter[str]] = defaultdict(Counter)
    overall: Counter[str] = Counter()
    corrections: Counter[str] = Counter()
    correction_states: Counter[str] = Counter()
    fake: Counter[str] = Counter()
    in_scope = communicated = 0
    orgs: Counter[str] = Counter()
    journalists: Counter[str] = Counter()
    for f, n in counts.groups:
        o = f.outcome
        for counter in (totals, by_kind[f.kind], by_channel[f.channel]):
            counter["received"] += n
            counter[o] += n
        if f.release is not None:
            forms[f.release[1]] += n
        if o == "refused" and f.ground is not None:
            grounds[f.ground] += n
        for rule, state in f.deadlines.items():
            per_rule[rule][state] += n
        verdict = c._overall(f.deadlines) if f.deadlines else None
        if verdict is not None:
            overall[verdict] += n
        if f.kind == "correction_request":
            corrections["received"] += n
            corrections[o] += n
            correction_states[f.state] += n
        elif f.kind == "fake_news_response":
            fake["received"] += n
            fake[o] += n
        elif f.kind == "policy_draft_comms" and f.in_scope:
            in_scope += n
            communicated += n if f.release is not None else 0
        if f.org is not None:
            orgs[f.org] += n
        if f.journalist is not None:
            journalists[f.journalist] += n
    obligations = tuple(
        ob.model_copy(update={"released": _stripped(ob.released)})
        for ob in c.released_obligations(counts.periodic, p, cutoff, duties)
    )
    return Report(
        meta=meta,
        totals=_outcomes(totals),
        by_kind={k: _outcomes(v) for k, v in sorted(by_kind.items())},
        by_channel={k: _outcomes(v) for k, v in sorted(by_channel.items())},
        by_release_form=_counted(forms),
        refusals_by_ground=_counted(grounds),
        deadlines={rule: _stats(v) for rule, v in sorted(per_rule.items())},
        deadlines_overall=_stats(overall),
        time_to_release=_durations([s for _, s in counts.seconds]),
        incidents=c.incident_items(counts.incidents),
        incident_response=_durations(
            [s for k, s in counts.seconds if k == "incident_statement"]
        ),
        corrections=_outcomes(corrections),
        correction_outcomes=_counted(correction_states),
        fake_news=_outcomes(fake),
        fake_news_response=_durations(
            [s for k, s in counts.seconds if k == "fake_news_response"]
        ),
        obligations=obligations,
        policy_drafts=PolicyDrafts(
            in_scope=Figure.count(in_scope),
            communicated=Figure.count(communicated),
            share=round(communicated / in_scope, 4) if in_scope else None,
        ),
        press_agencies=_counted(orgs),
        journalists=_counted(journalists),
    )


def drilldown(
    flow: ReleaseFlow, report: Report, section: str, key: str, metric: str
) -> tuple[str, ...]:
    """The ids behind one figure of ``report``, as of the report's cut-off.

    The figure is named as in :meth:`Report.rows` (e.g. ``("by_kind",
    "press_inquiry", "released")``). On SQL, a figure picked by fact columns (an
    outcome, a kind, channel, release form, refusal ground, press key or correction
    state) is answered by one query over the settled requests plus a replay of the
    requests still moving at the cut-off (:mod:`.drill`); any other figure, and any
    figure on other stores, by recomputing the report with its ids for the same
    period, unit and kinds at the same cut-off. Either way the ids are exactly the
    ones the number counted; a mismatch with the figure's value raises rather than
    returning other ids.

    Raises:
        ValidationError: naming ``figure`` when the report has no such figure, or
            when the recomputed figure disagrees with the report's value.
    """
    from .build import build

    wanted = (section, key, metric)
    mine = next(
        (r for r in report.rows() if (r.section, r.key, r.metric) == wanted), None
    )
    if mine is None:
        raise ValidationError(
            f"the report has no figure {section}/{key}/{metric}",
            field="figure",
            rule="unknown",
        )
    if report.meta.ids or section == "plans":
        return mine.ids
    ids = figure_ids(flow, report, section, key, metric)
    if ids is None:
        m = report.meta
        full = build(
            flow,
            (m.first_day, m.last_day),
            unit=m.unit,
            kinds=m.kinds,
            as_of=m.cutoff,
        )
        got = next(
            (r for r in full.rows() if (r.section, r.key, r.metric) == wanted), None
        )
        ids = got.ids if got is not None else ()
    if len(ids) != mine.value:
        raise ValidationError(
            f"figure {section}/{key}/{metric} counts {mine.value} but {len(ids)}"
            " requests match it now: was the report computed on another store?",
            field="figure",
            rule="mismatch",
        )
    return ids
