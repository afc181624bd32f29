"""Deadline sweeps and run-time calendar changes (the write side of deadlines).

* :func:`sweep_deadlines` finds requests whose earliest running deadline is due
  soon or missed (keyset pages over the indexed next-due time), records one notice
  per (request, rule, kind) with an insert-if-absent, commits, and only then sends
  ``deadline_due_soon`` / ``deadline_missed``. Several sweepers may run at once: the
  insert-if-absent lets exactly one of them record, and so send, each notice.
* :func:`add_calendar_override` stores a new announcement (a day off, a make-up
  working day...) with its legal source, audits it, and recomputes every open
  deadline under the new calendar in the same unit of work, each change audited.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Final
from uuid import UUID

from .calendar import CalendarOverride, OverrideKind, WorkingCalendar
from .chain import ledger_for, seal
from .exceptions import NotPermittedError, ValidationError
from .models import AuditEntry, DeadlineStatus, Request, StoredOverride, parse
from .ports import UnitOfWork
from .text import canonical_actor_id
from .tracking import DeadlinePlanner, DeadlineState, DeadlineView
from .vocabulary import AuditEvent, Role

if TYPE_CHECKING:
    from .service import ReleaseFlow

__all__ = [
    "CALENDAR_STREAM",
    "CalendarChange",
    "Notice",
    "SweepReport",
    "add_calendar_override",
    "sweep_deadlines",
]

#: The audit stream calendar changes are chained on.
CALENDAR_STREAM: Final = "calendar"
_PAGE: Final = 200


@dataclass(frozen=True)
class Notice:
    """One deadline notice a sweep recorded and sent."""

    kind: str
    """``due_soon`` or ``missed``."""
    request_id: UUID
    deadline: DeadlineView


@dataclass
class SweepReport:
    """What one sweep did."""

    examined: int = 0
    notices: list[Notice] = field(default_factory=list)


def sweep_deadlines(flow: ReleaseFlow, planner: DeadlinePlanner) -> SweepReport:
    """Record and send every due-soon and missed notice not sent before."""
    now = flow.now()
    report = SweepReport()
    after: tuple[datetime, UUID] | None = None
    while True:
        with flow.store.unit_of_work() as uow:
            page = uow.requests.due(now + planner.due_soon, after=after, limit=_PAGE)
            fresh = _record_page(uow, planner, page, now)
            flow._commit(uow)
        report.examined += len(page)
        for notice in fresh:
            report.notices.append(notice)
            name = "deadline_missed" if notice.kind == "missed" else "deadline_due_soon"
            flow._notify(name, request_id=notice.request_id, deadline=notice.deadline)
        if len(page) < _PAGE:
            return report
        last = page[-1]
        assert last.next_due_at is not None
        after = (last.next_due_at, last.id)


def _record_page(
    uow: UnitOfWork, planner: DeadlinePlanner, page: list[Request], now: datetime
) -> list[Notice]:
    fresh: list[Notice] = []
    for request in page:
        for deadline in request.deadlines:
            if deadline.status is not DeadlineStatus.RUNNING:
                continue
            view = planner.view(deadline, now)
            kind = {DeadlineState.MISSED: "missed", DeadlineState.DUE_SOON: "due_soon"}
            chosen = kind.get(view.state)
            if chosen and uow.notices.record(request.id, deadline.rule_id, chosen, now):
                fresh.append(Notice(chosen, request.id, view))
    return fresh


@dataclass(frozen=True)
class CalendarChange:
    """The outcome of a calendar override: the new calendar and what it moved."""

    override: StoredOverride
    calendar_version: str
    recomputed: tuple[UUID, ...]
    """Requests whose open deadlines moved."""


def _override(
    day: date, kind: str, name: str, legal_source: str, note: str, verified: bool
) -> CalendarOverride:
    try:
        what = OverrideKind(kind)
    except ValueError as exc:
        raise ValidationError(f"unknown override kind {kind!r}", field="kind") from exc
    return CalendarOverride(
        day=day,
        kind=what,
        name=name,
        legal_source=legal_source,
        note=note,
        verified=verified,
    )


def add_calendar_override(
    flow: ReleaseFlow,
    *,
    day: date,
    kind: str,
    name: str,
    legal_source: str,
    actor: str,
    note: str = "",
    verified: bool = True,
) -> CalendarChange:
    """Implementation of :meth:`releaseflow.ReleaseFlow.add_calendar_override`."""
    who = canonical_actor_id(actor)
    now = flow.now()
    override = _override(day, kind, name, legal_source, note, verified)
    stored = parse(
        StoredOverride,
        {
            "day": override.day,
            "kind": override.kind.value,
            "name": override.name,
            "legal_source": override.legal_source,
            "note": override.note,
            "verified": override.verified,
            "added_by": who,
            "added_at": now,
        },
    )
    extend = getattr(flow.calendar, "with_overrides", None)
    if extend is None:
        raise ValidationError(
            "this flow's calendar does not accept run-time overrides", field="calendar"
        )
    calendar: WorkingCalendar = extend([override])
    planner = DeadlinePlanner(
        calendar, flow.deadline_rules, due_soon=flow._planner.due_soon
    )
    entries: list[AuditEntry] = []
    moved: list[UUID] = []
    with flow.store.unit_of_work() as uow:
        _require_administrator(uow, who)
        uow.calendar.add(stored)
        entries.append(_calendar_entry(flow, uow, who, stored, calendar.version))
        for request in list(uow.requests.iter_all()):
            entry = _recompute(flow, uow, planner, request, who, stored)
            if entry is not None:
                entries.append(entry)
                moved.append(request.id)
        flow._commit(uow)
    flow._use_calendar(calendar)
    for entry in entries:
        flow._notify("audit_entry_written", entry=entry)
    return CalendarChange(stored, calendar.version, tuple(moved))


def _require_administrator(uow: UnitOfWork, actor: str) -> None:
    uow.directory.lock()
    if not any(g.role is Role.ADMINISTRATOR for g in uow.directory.grants(actor=actor)):
        raise NotPermittedError(
            "changing the working-day calendar needs an administrator",
            actor=actor,
            trigger="add_calendar_override",
        )


def _calendar_entry(
    flow: ReleaseFlow, uow: UnitOfWork, actor: str, stored: StoredOverride, version: str
) -> AuditEntry:
    head = uow.audit.lock_head(ledger_for(CALENDAR_STREAM, uow.audit.ledger_count))
    entry = seal(
        {
            "event": AuditEvent.CALENDAR_CHANGED,
            "request_id": None,
            "request_version": None,
            "request_kind": None,
            "unit": None,
            "from_state": None,
            "to_state": None,
            "trigger": "add_calendar_override",
            "actor": actor,
            "roles": (Role.ADMINISTRATOR.value,),
            "at": stored.added_at,
            "payload": {**stored.model_dump(mode="json"), "calendar_version": version},
            "content_hash": None,
        },
        head,
    )
    uow.audit.append(entry)
    return entry


def _recompute(
    flow: ReleaseFlow,
    uow: UnitOfWork,
    planner: DeadlinePlanner,
    request: Request,
    actor: str,
    stored: StoredOverride,
) -> AuditEntry | None:
    open_ones = [
        d
        for d in request.deadlines
        if d.status in (DeadlineStatus.RUNNING, DeadlineStatus.PAUSED)
    ]
    if not open_ones:
        return None
    deadlines = tuple(
        planner.recompute(d) if d in open_ones else d for d in request.deadlines
    )
    if [d.due_at for d in deadlines] == [d.due_at for d in request.deadlines]:
        return None
    updated = flow._bump(request, deadlines=deadlines)
    ctx = flow._context(uow, actor, request)
    return flow._write(
        uow,
        request,
        updated,
        event=AuditEvent.DEADLINES_RECOMPUTED,
        actor=actor,
        ctx=ctx,
        trigger="recompute_deadlines",
        payload={
            "override_day": stored.day.isoformat(),
            "legal_source": stored.legal_source,
            "before": {d.rule_id: d.due_at for d in request.deadlines},
            "after": {d.rule_id: d.due_at for d in deadlines},
        },
    )
