"""The SQL fast path: one range scan of the report-fact columns of the requests row.

Requests are chosen by ``received_at`` (indexed; and kind and unit). A request last
changed before the cut-off is read from its fact columns (``row_facts``), which are
written with the document in the same statement, so no document is parsed and no
audit row is read. Only requests changed at or after the cut-off (still moving
when an as-of or past-period report is computed) are replayed: their documents and
their audit entries before the cut-off, found through the ``(request_id, version)``
index. Decoded deadline strings are shared between requests (most repeat).

A report counts the requests known at its cut-off: one registered at or after it
(``created_at``, stamped by the engine; a letter entered late carries an earlier
``received_at``) is left out. Such a request was changed after the cut-off, so it
is never among the settled rows, and the replay drops it; the range scan keeps the
columns of the covering index and so its plan.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any, Final

import sqlalchemy as sa

from .facts import EVENTS, Event, Facts, History, Window, event
from .row_facts import TITLED, deadline_states, micros

__all__ = [
    "DEADLINES",
    "KEY",
    "SECONDS",
    "States",
    "collect_rows",
    "collect_sql",
    "facts_statement",
    "row_dates",
    "row_facts",
]

_CHUNK = 500
_MARKERS = ('"form"', '"ground"', '"deadlines"')


def _unit_filter(column: Any, unit: str | None) -> list[Any]:
    if unit is None:
        return []
    return [sa.or_(column == unit, column.startswith(unit + "/", autoescape=True))]


def _kind_filter(column: Any, window: Window) -> list[Any]:
    if window.kinds is None:
        return []
    return [column.in_(sorted(window.kinds))]


def _chunks(ids: list[str]) -> Iterator[list[str]]:
    for i in range(0, len(ids), _CHUNK):
        yield ids[i : i + _CHUNK]


def facts_statement(r: sa.Table, window: Window) -> sa.Select[Any]:
    """The range scan of the fact columns of the requests in ``window``.

    Every column it reads is in the covering report index on SQLite (revision
    0007), so SQLite never reads a document page for it. Row layout: id, the
    :data:`KEY` columns (kind, channel, state, release form, refusal ground,
    deadlines, press organisation, journalist, in scope), seconds to release,
    settled, received_at (incident statements only), released_at (periodic
    releases only), title, unit.
    """
    cutoff = window.cutoff
    # A row without facts (written around the engine, e.g. by a bulk load) is
    # replayed like a request still moving, so it is never miscounted.
    settled = sa.case(
        (sa.and_(r.c.updated_at < cutoff, r.c.fact_channel.is_not(None)), 1),
        else_=0,
    )
    # Datetimes are converted only where a figure needs them: the receipt time of
    # listed incidents and the release time of periodic releases (obligations).
    # (read as plain naive UTC, so no per-row type hook runs on the NULLs).
    naive = sa.DateTime()
    received = sa.type_coerce(sa.case((r.c.kind.in_(TITLED), r.c.received_at)), naive)
    released = sa.type_coerce(
        sa.case((r.c.kind == "periodic_release", r.c.fact_released_at)), naive
    )
    return sa.select(
        r.c.id,
        # KEY: the columns a settled request's figures depend on (see _Tally).
        r.c.kind,
        r.c.fact_channel,
        r.c.state,
        r.c.fact_release_form,
        r.c.fact_ground,
        r.c.fact_deadlines,
        r.c.fact_org,
        r.c.fact_journalist,
        r.c.fact_in_scope,
        r.c.fact_seconds,
        settled,
        received,
        released,
        r.c.fact_title,
        r.c.unit,
    ).where(
        r.c.received_at >= window.start,
        r.c.received_at < cutoff,
        *_unit_filter(r.c.unit, window.unit),
        *_kind_filter(r.c.kind, window),
    )


#: The columns of a :func:`facts_statement` row that decide which figures count it
#: (kind, channel, state, release form, refusal ground, deadlines, press keys,
#: Decision 407 scope): equal slices, equal figures.
KEY: Final = slice(1, 10)
#: Seconds from receipt to first release (None if not released).
SECONDS: Final = 10
#: Whether a row is settled (changed before the cut-off, facts stored).
SETTLED: Final = 11


#: The deadline encoding (decoded by :class:`States`).
DEADLINES: Final = 6


def row_dates(
    row: Any,
) -> tuple[datetime | None, tuple[datetime | None, str] | None]:
    """A :func:`facts_statement` row's receipt time and (release time, form), UTC.

    (Read only where a figure lists them: incident statements, periodic releases.)
    """
    received, rel_at, form = row[12], row[13], row[4]
    if received is not None:
        received = received.replace(tzinfo=UTC)
    if form is None:
        return received, None
    return received, (rel_at.replace(tzinfo=UTC) if rel_at is not None else None, form)


def row_facts(row: Any, states: dict[str, str]) -> Facts:
    """The facts of a settled :func:`facts_statement` row (deadlines decoded)."""
    received, release = row_dates(row)
    state = row[3]
    return Facts(
        row[0],
        row[1],
        row[15],
        row[2],
        received,
        state,
        release,
        row[5],
        state == "withdrawn",
        states,
        row[7],
        row[8],
        bool(row[9]),
        row[14],
        row[10],
    )


class States:
    """Decoded deadline columns at one cut-off, shared between equal encodings."""

    def __init__(self, cutoff: datetime) -> None:
        self._at = micros(cutoff)
        self._decoded: dict[str, dict[str, str]] = {}

    def __call__(self, encoded: str | None) -> dict[str, str]:
        """Each counted deadline's standing (one shared dict per encoding)."""
        if not encoded:
            return {}
        states = self._decoded.get(encoded)
        if states is None:
            states = self._decoded[encoded] = deadline_states(encoded, self._at)
        return states


def collect_rows(uow: Any, window: Window) -> list[Any]:
    """Every request in ``window`` in id order, as cheaply as it can be read.

    A settled request is its :func:`facts_statement` row (see :data:`KEY`); a
    request still moving at the cut-off is replayed into ``(id, Facts)``.
    """
    stmt = facts_statement(uow.tables.requests, window)
    rows: list[Any] = list(uow.connection.execute(stmt).all())
    moving = [row[0] for row in rows if not row[SETTLED]]
    if moving:
        rows = [row for row in rows if row[SETTLED]]
        rows += [(f.id, f) for f in _replay(uow, window, moving)]
    rows.sort(key=itemgetter(0))
    return rows


def collect_sql(uow: Any, window: Window) -> list[Facts]:
    """The facts of every request in ``window`` from the fact columns."""
    states = States(window.cutoff)
    return [
        row[1] if len(row) == 2 else row_facts(row, states(row[DEADLINES]))
        for row in collect_rows(uow, window)
    ]


def _replay(uow: Any, window: Window, ids: list[str]) -> list[Facts]:
    r, a = uow.tables.requests, uow.tables.audit
    conn = uow.connection
    found: dict[str, History] = {}
    start, cutoff = window.start, window.cutoff
    for chunk in _chunks(ids):
        # A request registered at or after the cut-off (its received_at backdated)
        # was not known then: not part of the report (see Window.known).
        known = r.c.created_at < cutoff
        docs = conn.execute(sa.select(r.c.doc).where(r.c.id.in_(chunk), known)).all()
        for (doc,) in docs:
            plain = json.loads(doc)
            found[plain["id"]] = History(plain)
        # Only the request id in SQL, so every planner takes the request index (a
        # time range here made PostgreSQL scan the year on the ``at`` index).
        rows = sa.select(
            a.c.request_id, a.c.to_state, a.c.at, a.c.payload, a.c.event
        ).where(a.c.request_id.in_(chunk))
        for rid, to_state, at, payload, kind in conn.execute(rows).all():
            h = found.get(rid)
            if h is None or kind not in EVENTS or not start <= at < cutoff:
                continue
            if any(m in payload for m in _MARKERS):
                h.events.append(event(at, to_state, json.loads(payload)))
            else:
                h.events.append(Event(at=at, to_state=to_state))
    return [h.resolve(window.cutoff) for h in found.values()]
