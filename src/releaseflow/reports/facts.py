"""Per-request facts a report is computed from, as they stood at the cut-off.

Two sources give the same facts. A request last changed before the cut-off
(``updated_at < cutoff``) is described by its document, so its facts come from
:func:`~.row_facts.request_facts` (on SQL: the fact columns stored with the row, no
document parsing and no audit scan). A request changed at or after the cut-off is
replayed from its audit entries before the cut-off (:class:`History`), which is what
an ``as_of`` report or a report on a past period needs for requests still moving.
A request registered at or after the cut-off (``created_at``; its ``received_at``
may be earlier, when a letter is entered late) was not known then and is left out
(:meth:`Window.known`); it is always among the requests changed after the cut-off.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Literal

from ..models import AuditEntry, Request
from ..ports import UnitOfWork
from .row_facts import TITLED, deadline_states, micros, press_keys, request_facts

__all__ = ["Facts", "History", "Outcome", "Window", "collect"]

#: Audit events that can carry a state change or a deadline settlement.
EVENTS: Final = ("created", "transitioned", "approved")

Outcome = Literal["released", "refused", "withdrawn", "pending"]
"""Where a request stood at the cut-off."""

Deadline = tuple[str, str, datetime]
"""(rule_id, status, due_at)."""


@dataclass(frozen=True)
class Window:
    """Which requests and entries a report reads.

    Requests received in ``[start, cutoff)`` and registered before ``cutoff``;
    entries made in ``[start, cutoff)``. A report counts what was known at its
    cut-off: a letter registered after it (its ``received_at`` backdated to the
    day it arrived) is not part of it, whenever the report is computed, so a
    report is reproducible from the log (see :meth:`known`).
    """

    start: datetime
    end: datetime
    cutoff: datetime
    unit: str | None
    kinds: frozenset[str] | None

    def wants(self, kind: str, unit: str, received_at: datetime) -> bool:
        """Whether a request belongs to the report."""
        if not self.start <= received_at < self.cutoff:
            return False
        if self.kinds is not None and kind not in self.kinds:
            return False
        u = self.unit
        return u is None or unit == u or unit.startswith(u + "/")

    def known(self, created_at: datetime) -> bool:
        """Whether a request registered at ``created_at`` was known at the cut-off.

        ``created_at`` is stamped by the engine when the request is created, in
        the transaction that appends its ``created`` audit entry (whose time is
        read from the same clock just after); the client cannot set it (unlike
        ``received_at``) and no change moves it. A request
        last changed before the cut-off was registered before it, so only
        requests changed at or after the cut-off need this test.
        """
        return created_at < self.cutoff


@dataclass(slots=True)
class Facts:
    """What a report needs to know about one request, at the cut-off."""

    id: str
    kind: str
    unit: str
    channel: str
    received_at: datetime | None
    """Always set, except on the SQL fast path for kinds that list no items."""
    state: str
    """The workflow state at the cut-off (``unknown`` if no entry records one)."""
    release: tuple[datetime | None, str] | None
    """When (None if not needed: only periodic releases are bucketed by date) and in
    which form it was first released."""
    ground: str | None
    """The refusal ground, if a refusal was recorded."""
    withdrawn: bool
    deadlines: dict[str, str]
    """Each counted deadline's standing: ``met``, ``missed`` or ``open``."""
    org: str | None
    journalist: str | None
    in_scope: bool
    """In scope of Decision 407 (policy drafts)."""
    title: str | None = None
    """Filled for incident statements only."""
    seconds: int | None = None
    """Receipt to first release, in whole seconds (None if not released)."""
    outcome: Outcome = field(init=False)
    """released, refused, withdrawn or pending (in that order of precedence)."""

    def __post_init__(self) -> None:
        rel = self.release
        if rel is not None:
            self.outcome = "released"
            if self.seconds is None and rel[0] is not None and self.received_at:
                self.seconds = int((rel[0] - self.received_at).total_seconds())
        elif self.ground is not None:
            self.outcome = "refused"
        elif self.withdrawn:
            self.outcome = "withdrawn"
        else:
            self.outcome = "pending"


@dataclass(slots=True)
class Event:
    """One state change of a request, as the audit log recorded it."""

    at: datetime
    to_state: str | None
    form: str | None = None
    ground: str | None = None
    deadlines: tuple[Deadline, ...] | None = None


@dataclass(slots=True)
class History:
    """A request document plus its audit events before the cut-off (replay)."""

    doc: dict[str, Any]
    events: list[Event] = field(default_factory=list)

    def resolve(self, cutoff: datetime) -> Facts:
        """The request's facts at ``cutoff`` from its events."""
        d = self.doc
        events = sorted(self.events, key=lambda e: e.at)
        release = next(((e.at, e.form) for e in events if e.form is not None), None)
        ground = next((e.ground for e in events if e.ground is not None), None)
        states = [e.to_state for e in events if e.to_state]
        org, journalist = press_keys(d.get("requester"))
        metadata = d.get("metadata") or {}
        return Facts(
            id=str(d["id"]),
            kind=d["kind"],
            unit=d["unit"],
            channel=d["channel"],
            received_at=_time(d["received_at"]),
            state=states[-1] if states else "unknown",
            release=release,
            ground=ground,
            withdrawn="withdrawn" in states,
            deadlines=_replayed_deadlines(
                _deadlines(d.get("deadlines") or ()), events, cutoff
            ),
            org=org,
            journalist=journalist,
            in_scope=bool(metadata.get("decision_407_in_scope", True)),
            title=d["title"] if d["kind"] in TITLED else None,
        )


def _replayed_deadlines(
    current: tuple[Deadline, ...], events: list[Event], cutoff: datetime
) -> dict[str, str]:
    """Each deadline's standing at the cut-off: met, missed or open (not cancelled)."""
    settled: dict[str, tuple[str, datetime, datetime]] = {}
    last_due: dict[str, datetime] = {}
    for e in events:
        for rule, status, due in e.deadlines or ():
            last_due[rule] = due
            if status in ("met", "cancelled") and rule not in settled:
                settled[rule] = (status, e.at, due)
    states: dict[str, str] = {}
    for rule, status, due in current:
        if rule in settled:
            continue
        due = last_due.get(rule, due)
        states[rule] = "missed" if due <= cutoff and status != "paused" else "open"
    for rule, (status, at, due) in settled.items():
        if status != "cancelled":
            states[rule] = "met" if at < due else "missed"
    return states


def from_request(r: Request, cutoff: datetime) -> Facts:
    """The facts of a request last changed before ``cutoff``, from its document."""
    cols = request_facts(r)
    rel = cols["fact_released_at"]
    return Facts(
        id=str(r.id),
        kind=r.kind.value,
        unit=r.unit,
        channel=r.channel.value,
        received_at=r.received_at,
        state=r.state,
        release=(rel, cols["fact_release_form"]) if rel is not None else None,
        ground=cols["fact_ground"],
        withdrawn=r.state == "withdrawn",
        deadlines=deadline_states(cols["fact_deadlines"], micros(cutoff)),
        org=cols["fact_org"],
        journalist=cols["fact_journalist"],
        in_scope=cols["fact_in_scope"],
        title=cols["fact_title"],
    )


def _time(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def _deadlines(items: Iterable[Any]) -> tuple[Deadline, ...]:
    return tuple(
        (str(d["rule_id"]), str(d["status"]), _time(d["due_at"])) for d in items
    )


def event(at: datetime, to_state: str | None, payload: dict[str, Any]) -> Event:
    """An :class:`Event` from an audit entry's time, target state and payload."""
    raw = payload.get("deadlines")
    return Event(
        at=at,
        to_state=to_state,
        form=payload.get("form"),
        ground=payload.get("ground"),
        deadlines=_deadlines(raw) if isinstance(raw, list) else None,
    )


def collect(uow: UnitOfWork, window: Window) -> list[Facts]:
    """The facts of every request in ``window``."""
    if hasattr(uow, "tables") and hasattr(uow, "connection"):
        from .sql_source import collect_sql

        return collect_sql(uow, window)
    return _collect_ports(uow, window)


def _collect_ports(uow: UnitOfWork, window: Window) -> list[Facts]:
    out: list[Facts] = []
    moving: dict[str, History] = {}
    for r in uow.requests.iter_all():
        if not window.wants(r.kind.value, r.unit, r.received_at):
            continue
        if r.updated_at < window.cutoff:
            out.append(from_request(r, window.cutoff))
        elif window.known(r.created_at):
            moving[str(r.id)] = History(r.model_dump(mode="json"))
    if moving:
        for entry in _entries(uow.audit.entries(), window):
            h = moving.get(str(entry.request_id))
            if h is not None:
                payload = json.loads(json.dumps(entry.payload, default=str))
                h.events.append(event(entry.at, entry.to_state, payload))
        out.extend(h.resolve(window.cutoff) for h in moving.values())
    return out


def _entries(entries: Iterable[AuditEntry], window: Window) -> Iterator[AuditEntry]:
    for e in entries:
        if (
            e.request_id is not None
            and e.event.value in EVENTS
            and window.start <= e.at < window.cutoff
        ):
            yield e
