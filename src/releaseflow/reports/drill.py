"""Drill-down by query: the requests behind one figure, without recomputing a report.

Most figures of a report are sets of requests picked by their fact columns: an
outcome (released: a release form; refused: no release but a refusal ground;
withdrawn; pending), maybe within one kind or channel, or one release form, refusal
ground, press organisation, journalist or correction state. For those,
:func:`figure_ids` asks the database for exactly the settled requests (changed
before the cut-off) that match, and replays only the requests still moving at the
cut-off from the audit log, counting them with the report's own code, so the ids
are those the report counted (a request registered after the cut-off, though
received before it, is among the moving ones and the replay leaves it out, as the
report did). Other figures (deadlines, durations, incidents,
obligations, policy drafts) return None and are recomputed in full.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

import sqlalchemy as sa

from .facts import Window
from .model import Report
from .period import Period
from .sql_source import _kind_filter, _replay, _unit_filter

if TYPE_CHECKING:
    from ..service import ReleaseFlow

__all__ = ["figure_filter", "figure_ids"]

_OUTCOMES: Final = ("received", "released", "refused", "withdrawn", "pending")
_KIND_SECTIONS: Final = {
    "corrections": "correction_request",
    "fake_news": "fake_news_response",
}


def _outcome(r: sa.Table, metric: str) -> list[Any] | None:
    form, ground = r.c.fact_release_form, r.c.fact_ground
    neither = [form.is_(None), ground.is_(None)]
    picks: dict[str, list[Any]] = {
        "received": [],
        "released": [form.is_not(None)],
        "refused": [form.is_(None), ground.is_not(None)],
        "withdrawn": [*neither, r.c.state == "withdrawn"],
        "pending": [*neither, r.c.state != "withdrawn"],
    }
    return picks.get(metric)


def figure_filter(r: sa.Table, section: str, key: str, metric: str) -> list[Any] | None:
    """SQL conditions picking a settled request of the figure (None: not by query).

    A settled request's outcome follows from its fact columns exactly as
    :class:`~.facts.Facts` derives it: released, refused, withdrawn, pending.
    """
    if section in ("totals", "by_kind", "by_channel", *_KIND_SECTIONS):
        outcome = _outcome(r, metric)
        if outcome is None:
            return None
        if section == "by_kind":
            return [r.c.kind == key, *outcome]
        if section == "by_channel":
            return [r.c.fact_channel == key, *outcome]
        if section in _KIND_SECTIONS:
            return [r.c.kind == _KIND_SECTIONS[section], *outcome]
        return outcome
    if metric != "count":
        return None
    if section == "by_release_form":
        return [r.c.fact_release_form == key]
    if section == "refusals_by_ground":
        return [*(_outcome(r, "refused") or []), r.c.fact_ground == key]
    if section == "press_agencies":
        return [r.c.fact_org == key]
    if section == "journalists":
        return [r.c.fact_journalist == key]
    if section == "correction_outcomes":
        return [r.c.kind == "correction_request", r.c.state == key]
    return None


def figure_ids(
    flow: ReleaseFlow, report: Report, section: str, key: str, metric: str
) -> tuple[str, ...] | None:
    """The sorted ids behind a figure by query, or None when it needs a full rebuild.

    None as well on stores without SQL tables (they recompute the report).
    """
    m = report.meta
    kinds = frozenset(m.kinds) if m.kinds else None
    window = Window(m.start, m.end, m.cutoff, m.unit, kinds)
    with flow.store.unit_of_work(write=False) as uow:
        tables = getattr(uow, "tables", None)
        if tables is None or not hasattr(uow, "connection"):
            return None
        r = tables.requests
        conds = figure_filter(r, section, key, metric)
        if conds is None:
            return None
        conn = uow.connection
        cutoff = window.cutoff
        settled = sa.and_(r.c.updated_at < cutoff, r.c.fact_channel.is_not(None))
        scope = [
            r.c.received_at >= window.start,
            r.c.received_at < cutoff,
            *_unit_filter(r.c.unit, window.unit),
            *_kind_filter(r.c.kind, window),
        ]
        # One statement, so one snapshot: the servers read committed, and a request
        # another writer changes between two statements would be found settled by
        # the first and moving by the second (listed twice).
        stmt = sa.select(r.c.id, sa.case((settled, 1), else_=0)).where(
            *scope, sa.or_(sa.and_(settled, *conds), sa.not_(settled))
        )
        found: list[str] = []
        moving: list[str] = []
        for i, ok in conn.execute(stmt):
            (found if ok else moving).append(i)
        replayed = _replay(uow, window, moving) if moving else []
    if replayed:
        found += _moving_ids(report, replayed, section, key, metric, cutoff)
    found.sort()
    return tuple(found)


def _moving_ids(
    report: Report,
    replayed: list[Any],
    section: str,
    key: str,
    metric: str,
    cutoff: datetime,
) -> list[str]:
    """The replayed requests' share of the figure, computed as the report does."""
    from .build import _assemble

    m = report.meta
    replayed.sort(key=lambda f: f.id)
    part = _assemble(m, replayed, Period(m.period, m.first_day, m.last_day), cutoff, ())
    wanted = (section, key, metric)
    row = next((x for x in part.rows() if (x.section, x.key, x.metric) == wanted), None)
    return list(row.ids) if row is not None else []
