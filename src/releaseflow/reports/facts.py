"""Slim per-request facts a report is computed from, read in one transaction.

Two sources give the same facts: a portable one over the storage ports (any backend)
and a fast one for the SQL backend that selects only the rows and columns a report
needs and skips pydantic validation of stored documents (they were validated when
written and are covered by the audit chain).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from ..models import AuditEntry, Request
from ..ports import UnitOfWork

__all__ = ["Event", "Facts", "Window", "collect"]

#: Audit events that can carry a state change or a deadline settlement.
EVENTS: Final = ("created", "transitioned", "approved")

Deadline = tuple[str, str, datetime]
"""(rule_id, status, due_at)."""


@dataclass(frozen=True)
class Window:
    """Which requests and entries a report reads.

    Requests received in ``[start, cutoff)``; entries made in ``[start, cutoff)``.
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


@dataclass(slots=True)
class Event:
    """One state change of a request, as the audit log recorded it."""

    at: datetime
    to_state: str | None
    form: str | None = None
    ground: str | None = None
    deadlines: tuple[Deadline, ...] | None = None


@dataclass(slots=True)
class Facts:
    """What a report needs to know about one request."""

    id: str
    kind: str
    unit: str
    channel: str
    received_at: datetime
    title: str
    requester: dict[str, Any] | None
    metadata: dict[str, Any]
    deadlines: tuple[Deadline, ...]
    events: list[Event] = field(default_factory=list)


def _time(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def _deadlines(items: Iterable[Any]) -> tuple[Deadline, ...]:
    return tuple(
        (str(d["rule_id"]), str(d["status"]), _time(d["due_at"])) for d in items
    )


def _event(at: datetime, to_state: str | None, payload: dict[str, Any]) -> Event:
    raw = payload.get("deadlines")
    return Event(
        at=at,
        to_state=to_state,
        form=payload.get("form"),
        ground=payload.get("ground"),
        deadlines=_deadlines(raw) if isinstance(raw, list) else None,
    )


def collect(uow: UnitOfWork, window: Window) -> list[Facts]:
    """The facts of every request in ``window``, events in time order."""
    if hasattr(uow, "tables") and hasattr(uow, "connection"):
        from .sql_source import collect_sql

        return collect_sql(uow, window)
    return _collect_ports(uow, window)


def _from_request(r: Request) -> Facts:
    return Facts(
        id=str(r.id),
        kind=r.kind.value,
        unit=r.unit,
        channel=r.channel.value,
        received_at=r.received_at,
        title=r.title,
        requester=r.requester.model_dump(mode="json") if r.requester else None,
        metadata=dict(r.metadata),
        deadlines=tuple((d.rule_id, d.status.value, d.due_at) for d in r.deadlines),
    )


def _collect_ports(uow: UnitOfWork, window: Window) -> list[Facts]:
    found = {
        str(r.id): _from_request(r)
        for r in uow.requests.iter_all()
        if window.wants(r.kind.value, r.unit, r.received_at)
    }
    for entry in _entries(uow.audit.entries(), window):
        facts = found.get(str(entry.request_id))
        if facts is not None:
            payload = json.loads(json.dumps(entry.payload, default=str))
            facts.events.append(_event(entry.at, entry.to_state, payload))
    for facts in found.values():
        facts.events.sort(key=lambda e: e.at)
    return list(found.values())


def _entries(entries: Iterable[AuditEntry], window: Window) -> Iterator[AuditEntry]:
    for e in entries:
        if (
            e.request_id is not None
            and e.event.value in EVENTS
            and window.start <= e.at < window.cutoff
        ):
            yield e
