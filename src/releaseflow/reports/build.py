"""``build(flow, period=..., unit=..., kinds=...)``: compute a traceable report."""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from ..chain import anchor_digest
from ..exceptions import ValidationError
from ..models import UnitPath, parse
from ..vocabulary import AuditEvent, RequestKind
from . import compute as c
from .aggregate import Counts, assemble_counts, collect_counts
from .facts import Facts, Window, collect
from .model import DeadlineStats, Figure, Outcomes, PolicyDrafts, Report, ReportMeta
from .period import Period, PeriodSpec, parse_period
from .plans import plan_figures
from .sql_source import (
    DEADLINES,
    KEY,
    SECONDS,
    States,
    collect_rows,
    row_dates,
    row_facts,
)

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
    Asia/Ho_Chi_Minh) and registered before the cut-off (the end of the period, or
    ``as_of`` / now when earlier): the report holds the data known at its cut-off,
    so a letter entered after it with an earlier ``received_at`` is in none of its
    figures, and a report is reproducible from the log. A request's outcome,
    deadlines and release time are read from the audit entries before the
    cut-off. Every figure carries the ids of its requests, and the report records
    the audit heads it was computed at.

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
    tally = _Tally()
    counts: Counts | None = None
    with _gc_paused(), flow.store.unit_of_work(write=False) as uow:
        heads = tuple(sorted(uow.audit.heads(), key=lambda h: h.ledger))
        if not ids:
            counts = collect_counts(uow, window)
        elif hasattr(uow, "tables") and hasattr(uow, "connection"):
            tally.add_rows(collect_rows(uow, window), States(cutoff))
        else:
            facts = collect(uow, window)
            facts.sort(key=attrgetter("id"))
            tally.add(facts)
        plans = plan_figures(uow, where, p, cutoff)
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
            report = _report(meta, tally, p, cutoff, tuple(obligations))
    return report.model_copy(update={"plans": plans}) if plans else report


_OUTCOMES = ("received", "released", "refused", "withdrawn", "pending")
_INCIDENT, _FAKE, _PERIODIC = (
    "incident_statement",
    "fake_news_response",
    "periodic_release",
)
#: Kinds a figure needs more of than the id: listed items, durations, dates.
_SPECIAL = frozenset({_INCIDENT, _FAKE, _PERIODIC})


class _Tally:
    """Every figure of a full report, filled in one pass over the requests.

    Requests come in id order, so each list stays sorted and unique. A request's
    id-list figures depend only on a few of its values (its *signature*); the lists
    a signature feeds are found once per distinct signature (a few thousand in a
    year), so the pass over 100,000 requests is one dict look-up and a dozen appends
    each. On SQL the signature is a slice of the fact row (:data:`.sql_source.KEY`)
    and no :class:`Facts` is built for a settled request; only the kinds in
    :data:`_SPECIAL` keep a small tuple per request (incidents, durations, dates of
    periodic releases).
    """

    def __init__(self) -> None:
        self.totals: dict[str, list[str]] = {k: [] for k in _OUTCOMES}
        self.kinds: dict[str, dict[str, list[str]]] = {}
        self.channels: dict[str, dict[str, list[str]]] = {}
        self.forms: dict[str, list[str]] = {}
        self.grounds: dict[str, list[str]] = {}
        self.orgs: dict[str, list[str]] = {}
        self.journalists: dict[str, list[str]] = {}
        self.rules: dict[str, dict[str, list[str]]] = {}
        self.overall: dict[str, list[str]] = {"met": [], "missed": [], "open": []}
        self.correction_states: dict[str, list[str]] = {}
        self.policy: dict[str, list[str]] = {"in_scope": [], "communicated": []}
        self.seconds_ids: list[str] = []
        self.seconds: list[int] = []
        #: (ids, seconds) of released incident statements and fake-news responses.
        self.kind_seconds: dict[str, tuple[list[str], list[int]]] = {
            _INCIDENT: ([], []),
            _FAKE: ([], []),
        }
        #: (received_at, id, title, seconds) of each incident statement.
        self.incidents: list[tuple[datetime, str, str | None, int | None]] = []
        #: (id, released_at, form) of each released periodic release.
        self.periodic: list[tuple[str, datetime, str]] = []
        self._targets: dict[tuple[object, ...], tuple[list[str], ...]] = {}

    def _lists(self, f: Facts) -> tuple[list[str], ...]:
        o = f.outcome
        out = [self.totals["received"], self.totals[o]]
        for groups, key in ((self.kinds, f.kind), (self.channels, f.channel)):
            g = groups.get(key)
            if g is None:
                g = groups[key] = {"received": []}
            out += (g["received"], g.setdefault(o, []))
        if f.release is not None:
            out.append(self.forms.setdefault(f.release[1], []))
        if o == "refused" and f.ground is not None:
            out.append(self.grounds.setdefault(f.ground, []))
        if f.org is not None:
            out.append(self.orgs.setdefault(f.org, []))
        if f.journalist is not None:
            out.append(self.journalists.setdefault(f.journalist, []))
        if f.deadlines:
            for rule, state in f.deadlines.items():
                out.append(self.rules.setdefault(rule, {}).setdefault(state, []))
            verdict = c._overall(f.deadlines)
            if verdict is not None:
                out.append(self.overall[verdict])
        if f.kind == "correction_request":
            out.append(self.correction_states.setdefault(f.state, []))
        elif f.kind == "policy_draft_comms" and f.in_scope:
            out.append(self.policy["in_scope"])
            if f.release is not None:
                out.append(self.policy["communicated"])
        return tuple(out)

    def _special(
        self,
        kind: str,
        rid: str,
        received: datetime | None,
        title: str | None,
        secs: int | None,
        release: tuple[datetime | None, str] | None,
    ) -> None:
        if kind == _PERIODIC:
            if release is not None and release[0] is not None:
                self.periodic.append((rid, release[0], release[1]))
            return
        if secs is not None:
            ids, values = self.kind_seconds[kind]
            ids.append(rid)
            values.append(secs)
        if kind == _INCIDENT:
            self.incidents.append((received or c.NEVER, rid, title, secs))

    def add(self, facts: Iterable[Facts]) -> None:
        """Count ``facts`` (in id order)."""
        targets = self._targets
        seconds_ids, seconds = self.seconds_ids, self.seconds
        for f in facts:
            # The decoded deadline dicts are shared between facts with the same
            # encoding (and outlive this loop, so their id() is a safe key).
            d = f.deadlines
            key = (
                f.kind,
                f.channel,
                f.outcome,
                f.release[1] if f.release is not None else None,
                f.ground,
                f.org,
                f.journalist,
                id(d) if d else 0,
                f.state,
                f.in_scope,
            )
            lists = targets.get(key)
            if lists is None:
                lists = targets[key] = self._lists(f)
            rid = f.id
            for ids in lists:
                ids.append(rid)
            if f.seconds is not None:
                seconds_ids.append(rid)
                seconds.append(f.seconds)
            if f.kind in _SPECIAL:
                self._special(f.kind, rid, f.received_at, f.title, f.seconds, f.release)

    def add_rows(self, rows: Iterable[Any], states: States) -> None:
        """Count :func:`.sql_source.collect_rows` output (in id order).

        A settled row is counted from its columns: its key slice finds its lists
        (the first row of a signature builds the :class:`Facts` that decide them).
        A replayed ``(id, Facts)`` pair is counted as :meth:`add` counts facts.
        """
        targets = self._targets
        seconds_ids, seconds = self.seconds_ids, self.seconds
        for row in rows:
            if len(row) == 2:
                self.add((row[1],))
                continue
            rid = row[0]
            key = row[KEY]
            lists = targets.get(key)
            if lists is None:
                lists = targets[key] = self._lists(
                    row_facts(row, states(row[DEADLINES]))
                )
            for ids in lists:
                ids.append(rid)
            secs = row[SECONDS]
            if secs is not None:
                seconds_ids.append(rid)
                seconds.append(secs)
            kind = row[1]
            if kind in _SPECIAL:
                received, release = row_dates(row)
                self._special(kind, rid, received, row[14], secs, release)


def _outcomes(split: dict[str, list[str]] | None) -> Outcomes:
    return c.outcomes_of(split or {})


def _sorted_figures(groups: dict[str, list[str]]) -> dict[str, Figure]:
    return {k: Figure.of_sorted(v) for k, v in sorted(groups.items())}


def _stats(split: dict[str, list[str]]) -> DeadlineStats:
    return c.stats_of(split)


def _assemble(
    meta: ReportMeta,
    facts: list[Facts],
    p: Period,
    cutoff: datetime,
    duties: tuple[c.Obligation, ...],
) -> Report:
    t = _Tally()
    t.add(facts)
    return _report(meta, t, p, cutoff, duties)


def _report(
    meta: ReportMeta,
    t: _Tally,
    p: Period,
    cutoff: datetime,
    duties: tuple[c.Obligation, ...],
) -> Report:
    in_scope, done = t.policy["in_scope"], t.policy["communicated"]
    return Report(
        meta=meta,
        totals=_outcomes(t.totals),
        by_kind={k: _outcomes(v) for k, v in sorted(t.kinds.items())},
        by_channel={k: _outcomes(v) for k, v in sorted(t.channels.items())},
        by_release_form=_sorted_figures(t.forms),
        refusals_by_ground=_sorted_figures(t.grounds),
        deadlines={rule: _stats(v) for rule, v in sorted(t.rules.items())},
        deadlines_overall=_stats(t.overall),
        time_to_release=c.durations_of(t.seconds_ids, t.seconds),
        incidents=c.incident_items(t.incidents),
        incident_response=c.durations_of(*t.kind_seconds[_INCIDENT]),
        corrections=_outcomes(t.kinds.get("correction_request")),
        correction_outcomes=_sorted_figures(t.correction_states),
        fake_news=_outcomes(t.kinds.get(_FAKE)),
        fake_news_response=c.durations_of(*t.kind_seconds[_FAKE]),
        obligations=c.released_obligations(t.periodic, p, cutoff, duties),
        policy_drafts=PolicyDrafts(
            in_scope=Figure.of_sorted(in_scope),
            communicated=Figure.of_sorted(done),
            share=round(len(done) / len(in_scope), 4) if in_scope else None,
        ),
        press_agencies=_sorted_figures(t.orgs),
        journalists=_sorted_figures(t.journalists),
    )
