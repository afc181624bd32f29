"""The in-memory reference backend: every port in plain Python, serialisable.

Each unit of work holds one process-wide lock from ``with`` to its end (like SQLite's
``BEGIN IMMEDIATE``) and stages its writes in an overlay that ``commit()`` applies at
once, so an abandoned or failed unit of work leaves nothing behind.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from ..chain import GENESIS_HASH, seal
from ..exceptions import (
    ConflictError,
    NotFoundError,
    RequestNotFoundError,
    StorageBusyError,
    ValidationError,
)
from ..models import (
    AuditEntry,
    Authorisation,
    ChainHead,
    Grant,
    IdempotencyRecord,
    Request,
    RequestQuery,
    StoredOverride,
)
from ..planning import CommissionedTask, CommsPlan, PressContact
from ..queries import AuditCursor, AuditQuery, select_page

__all__ = ["InMemoryStore", "InMemoryUnitOfWork"]

_GrantKey = tuple[str, str, str]


@dataclass
class _Data:
    requests: dict[UUID, Request] = field(default_factory=dict)
    entries: dict[int, list[AuditEntry]] = field(default_factory=dict)
    by_request: dict[UUID, list[AuditEntry]] = field(default_factory=dict)
    """Each request's committed entries, oldest first (an index over ``entries``)."""
    grants: dict[_GrantKey, Grant] = field(default_factory=dict)
    authorisations: dict[UUID, Authorisation] = field(default_factory=dict)
    idempotency: dict[str, IdempotencyRecord] = field(default_factory=dict)
    directory_version: int = 0
    notices: set[tuple[UUID, str, str]] = field(default_factory=set)
    overrides: list[StoredOverride] = field(default_factory=list)
    plans: dict[UUID, CommsPlan] = field(default_factory=dict)
    contacts: dict[UUID, PressContact] = field(default_factory=dict)
    tasks: dict[UUID, CommissionedTask] = field(default_factory=dict)
    contact_requests: dict[tuple[UUID, UUID], datetime] = field(default_factory=dict)


@dataclass
class _Staged:
    requests: dict[UUID, Request] = field(default_factory=dict)
    entries: list[AuditEntry] = field(default_factory=list)
    grants: dict[_GrantKey, Grant | None] = field(default_factory=dict)
    authorisations: dict[UUID, Authorisation] = field(default_factory=dict)
    idempotency: dict[str, IdempotencyRecord] = field(default_factory=dict)
    directory_version: int | None = None
    notices: set[tuple[UUID, str, str]] = field(default_factory=set)
    overrides: list[StoredOverride] = field(default_factory=list)
    plans: dict[UUID, CommsPlan] = field(default_factory=dict)
    contacts: dict[UUID, PressContact] = field(default_factory=dict)
    tasks: dict[UUID, CommissionedTask] = field(default_factory=dict)
    contact_requests: dict[tuple[UUID, UUID], datetime] = field(default_factory=dict)


class _Requests:
    def __init__(self, uow: InMemoryUnitOfWork) -> None:
        self._uow = uow

    def _lookup(self, request_id: UUID) -> Request | None:
        staged = self._uow.staged.requests.get(request_id)
        return staged or self._uow.data.requests.get(request_id)

    def get(self, request_id: UUID) -> Request:
        found = self._lookup(request_id)
        if found is None:
            raise RequestNotFoundError(request_id)
        return found

    def known(self, request_id: UUID, version: int) -> Request | None:
        return None  # a lookup here costs what a cache would

    def add(self, request: Request) -> None:
        self._uow.check_write()
        if self._lookup(request.id) is not None:
            raise ConflictError(
                f"request {request.id} already exists", request_id=str(request.id)
            )
        self._uow.staged.requests[request.id] = request

    def update(self, request: Request, *, expected_version: int) -> None:
        self._uow.check_write()
        current = self.get(request.id)
        if (
            current.version != expected_version
            or request.version != expected_version + 1
        ):
            raise ConflictError(
                f"request {request.id} is at version {current.version},"
                f" not {expected_version}",
                request_id=str(request.id),
                expected_version=expected_version,
                actual_version=current.version,
            )
        self._uow.staged.requests[request.id] = request

    def _merged(self) -> dict[UUID, Request]:
        return {**self._uow.data.requests, **self._uow.staged.requests}

    def find(self, query: RequestQuery) -> list[Request]:
        def match(r: Request) -> bool:
            if query.kind is not None and r.kind is not query.kind:
                return False
            if query.state is not None and r.state != query.state:
                return False
            if query.created_by is not None and r.created_by != query.created_by:
                return False
            if query.due_before is not None:
                due = r.next_due_at
                if due is None or due >= query.due_before:
                    return False
            if query.unit is not None:
                under = query.include_subunits and r.unit.startswith(query.unit + "/")
                if r.unit != query.unit and not under:
                    return False
            return True

        found = sorted(
            (r for r in self._merged().values() if match(r)),
            key=lambda r: (r.created_at, r.id),
            reverse=True,
        )
        return found[: query.limit]

    def iter_all(self) -> Iterator[Request]:
        merged = self._merged()
        return iter([merged[k] for k in sorted(merged)])

    def due(
        self, before: datetime, *, after: tuple[datetime, UUID] | None, limit: int
    ) -> list[Request]:
        keyed = [
            ((due, r.id), r)
            for r in self._merged().values()
            if (due := r.next_due_at) is not None and due < before
        ]
        keyed.sort(key=lambda pair: pair[0])
        return [r for key, r in keyed if after is None or key > after][:limit]


class _Audit:
    def __init__(self, uow: InMemoryUnitOfWork, ledger_count: int) -> None:
        self._uow = uow
        self._ledger_count = ledger_count

    @property
    def ledger_count(self) -> int:
        return self._ledger_count

    def _ledger(self, ledger: int) -> Iterator[AuditEntry]:
        yield from self._uow.data.entries.get(ledger, [])
        yield from (e for e in self._uow.staged.entries if e.ledger == ledger)

    def lock_head(self, ledger: int) -> ChainHead:
        self._uow.check_write()
        return self._head(ledger)

    def _head(self, ledger: int) -> ChainHead:
        staged = [e for e in self._uow.staged.entries if e.ledger == ledger]
        committed = self._uow.data.entries.get(ledger)
        last = staged[-1] if staged else (committed[-1] if committed else None)
        if last is None:
            return ChainHead(ledger=ledger, seq=0, hash=GENESIS_HASH)
        return ChainHead(ledger=ledger, seq=last.seq, hash=last.hash)

    def append(self, entry: AuditEntry) -> None:
        self._uow.check_write()
        head = self._head(entry.ledger)
        if entry.seq != head.seq + 1 or entry.prev_hash != head.hash:
            raise ConflictError(f"audit ledger {entry.ledger} moved on")
        self._uow.staged.entries.append(entry)

    def append_next(self, ledger: int, draft: Mapping[str, Any]) -> AuditEntry:
        entry = seal(draft, self.lock_head(ledger))
        self.append(entry)
        return entry

    def heads(self) -> list[ChainHead]:
        return [self._head(n) for n in range(self._ledger_count)]

    def entries(
        self, *, ledger: int | None = None, request_id: UUID | None = None
    ) -> Iterator[AuditEntry]:
        ledgers = range(self._ledger_count) if ledger is None else [ledger]
        for number in ledgers:
            for entry in self._ledger(number):
                if request_id is None or entry.request_id == request_id:
                    yield entry

    def history(self, request_id: UUID) -> list[AuditEntry] | None:
        """Every entry of one request, oldest first; None if no such request.

        Read from the per-request index, so a write path's check of a request
        against its trail does not scan the whole log.
        """
        uow = self._uow
        if (
            request_id not in uow.data.requests
            and request_id not in uow.staged.requests
        ):
            return None
        found = list(uow.data.by_request.get(request_id, ()))
        found += [e for e in uow.staged.entries if e.request_id == request_id]
        return found

    def query(
        self, query: AuditQuery, *, after: AuditCursor | None, limit: int
    ) -> list[AuditEntry]:
        return select_page(self.entries(), query, after=after, limit=limit)


class _Directory:
    def __init__(self, uow: InMemoryUnitOfWork) -> None:
        self._uow = uow

    def grants(self, *, actor: str | None = None) -> list[Grant]:
        merged: dict[_GrantKey, Grant | None] = {
            **self._uow.data.grants,
            **self._uow.staged.grants,
        }
        found = [g for g in merged.values() if g is not None]
        return sorted(
            (g for g in found if actor is None or g.actor == actor),
            key=lambda g: (g.actor, g.role.value, g.unit),
        )

    def add_grant(self, grant: Grant) -> None:
        self._changing()
        key = (grant.actor, grant.role.value, grant.unit)
        if key not in {(g.actor, g.role.value, g.unit) for g in self.grants()}:
            self._uow.staged.grants[key] = grant

    def remove_grant(self, actor: str, role: str, unit: str) -> bool:
        self._changing()
        key = (actor, role, unit)
        present = any((g.actor, g.role.value, g.unit) == key for g in self.grants())
        if present:
            self._uow.staged.grants[key] = None
        return present

    def authorisations(
        self, *, actor: str | None = None, request_id: UUID | None = None
    ) -> list[Authorisation]:
        merged = {**self._uow.data.authorisations, **self._uow.staged.authorisations}
        return [
            a
            for a in sorted(merged.values(), key=lambda a: (a.granted_at, a.id))
            if (actor is None or a.actor == actor)
            and (request_id is None or a.request_id == request_id)
        ]

    def put_authorisation(self, authorisation: Authorisation) -> None:
        self._changing()
        self._uow.staged.authorisations[authorisation.id] = authorisation

    def _changing(self) -> None:
        # as the SQL store: every grant or authorisation change bumps the version
        self._uow.check_write()
        if self._uow.staged.directory_version is None:
            self.bump()

    def lock(self) -> int:
        staged = self._uow.staged.directory_version
        return self._uow.data.directory_version if staged is None else staged

    def bump(self) -> int:
        self._uow.check_write()
        self._uow.staged.directory_version = self.lock() + 1
        return self._uow.staged.directory_version


class _Idempotency:
    def __init__(self, uow: InMemoryUnitOfWork) -> None:
        self._uow = uow

    def get(self, key: str) -> IdempotencyRecord | None:
        return self._uow.staged.idempotency.get(key) or self._uow.data.idempotency.get(
            key
        )

    def put(self, record: IdempotencyRecord) -> None:
        self._uow.check_write()
        if self.get(record.key) is not None:
            raise ConflictError(f"idempotency key {record.key!r} already used")
        self._uow.staged.idempotency[record.key] = record


class _Notices:
    def __init__(self, uow: InMemoryUnitOfWork) -> None:
        self._uow = uow

    def record(self, request_id: UUID, rule_id: str, kind: str, at: datetime) -> bool:
        self._uow.check_write()
        key = (request_id, rule_id, kind)
        if key in self._uow.data.notices or key in self._uow.staged.notices:
            return False
        self._uow.staged.notices.add(key)
        return True


class _Calendar:
    def __init__(self, uow: InMemoryUnitOfWork) -> None:
        self._uow = uow

    def overrides(self) -> list[StoredOverride]:
        return [*self._uow.data.overrides, *self._uow.staged.overrides]

    def add(self, override: StoredOverride) -> None:
        self._uow.check_write()
        self._uow.staged.overrides.append(override)


def _cas(
    kind: str,
    committed: dict[UUID, Any],
    staged: dict[UUID, Any],
    record: Any,
    expected_version: int,
) -> None:
    current = staged.get(record.id) or committed.get(record.id)
    if current is None:
        raise NotFoundError(f"{kind} {record.id} not found")
    if current.version != expected_version or record.version != expected_version + 1:
        raise ConflictError(
            f"{kind} {record.id} is at version {current.version},"
            f" not {expected_version}",
            expected_version=expected_version,
            actual_version=current.version,
        )
    staged[record.id] = record


class _Plans:
    def __init__(self, uow: InMemoryUnitOfWork) -> None:
        self._uow = uow

    def _merged(self) -> dict[UUID, CommsPlan]:
        return {**self._uow.data.plans, **self._uow.staged.plans}

    def get(self, plan_id: UUID) -> CommsPlan:
        found = self._merged().get(plan_id)
        if found is None:
            raise NotFoundError(f"plan {plan_id} not found", plan_id=str(plan_id))
        return found

    def add(self, plan: CommsPlan) -> None:
        self._uow.check_write()
        if plan.id in self._merged() or self.find(unit=plan.unit, year=plan.year):
            raise ConflictError(f"plan {plan.id} ({plan.unit}, {plan.year}) exists")
        self._uow.staged.plans[plan.id] = plan

    def update(self, plan: CommsPlan, *, expected_version: int) -> None:
        self._uow.check_write()
        data, staged = self._uow.data.plans, self._uow.staged.plans
        _cas("plan", data, staged, plan, expected_version)

    def find(
        self, *, unit: str | None = None, year: int | None = None
    ) -> list[CommsPlan]:
        return sorted(
            (
                p
                for p in self._merged().values()
                if (unit is None or p.unit == unit) and (year is None or p.year == year)
            ),
            key=lambda p: (p.unit, p.year),
        )

    def plan_of_item(self, item_id: UUID) -> CommsPlan | None:
        for plan in self._merged().values():
            if any(i.id == item_id for i in plan.items):
                return plan
        return None


class _Media:
    def __init__(self, uow: InMemoryUnitOfWork) -> None:
        self._uow = uow

    def _contacts(self) -> dict[UUID, PressContact]:
        return {**self._uow.data.contacts, **self._uow.staged.contacts}

    def _tasks(self) -> dict[UUID, CommissionedTask]:
        return {**self._uow.data.tasks, **self._uow.staged.tasks}

    def contact(self, contact_id: UUID) -> PressContact:
        found = self._contacts().get(contact_id)
        if found is None:
            raise NotFoundError(f"contact {contact_id} not found")
        return found

    def contacts(self, *, unit: str | None = None) -> list[PressContact]:
        return sorted(
            (c for c in self._contacts().values() if unit is None or c.unit == unit),
            key=lambda c: (c.name, c.id),
        )

    def add_contact(self, contact: PressContact) -> None:
        self._uow.check_write()
        if contact.id in self._contacts():
            raise ConflictError(f"contact {contact.id} already exists")
        self._uow.staged.contacts[contact.id] = contact

    def update_contact(self, contact: PressContact, *, expected_version: int) -> None:
        self._uow.check_write()
        data, staged = self._uow.data.contacts, self._uow.staged.contacts
        _cas("contact", data, staged, contact, expected_version)

    def task(self, task_id: UUID) -> CommissionedTask:
        found = self._tasks().get(task_id)
        if found is None:
            raise NotFoundError(f"task {task_id} not found")
        return found

    def tasks(self, *, plan_id: UUID | None = None) -> list[CommissionedTask]:
        return sorted(
            (t for t in self._tasks().values() if plan_id in (None, t.plan_id)),
            key=lambda t: (t.created_at, t.id),
        )

    def add_task(self, task: CommissionedTask) -> None:
        self._uow.check_write()
        if task.id in self._tasks():
            raise ConflictError(f"task {task.id} already exists")
        self._uow.staged.tasks[task.id] = task

    def update_task(self, task: CommissionedTask, *, expected_version: int) -> None:
        self._uow.check_write()
        data, staged = self._uow.data.tasks, self._uow.staged.tasks
        _cas("task", data, staged, task, expected_version)

    def link_request(
        self, contact: PressContact, request_id: UUID, at: datetime
    ) -> None:
        self._uow.check_write()
        current = self.contact(contact.id)
        if current.version != contact.version:
            raise ConflictError(
                f"contact {contact.id} is at version {current.version},"
                f" not {contact.version}",
                expected_version=contact.version,
                actual_version=current.version,
            )
        self._uow.staged.contact_requests[(contact.id, request_id)] = at

    def request_ids(self, contact_id: UUID) -> list[UUID]:
        links = {**self._uow.data.contact_requests, **self._uow.staged.contact_requests}
        found = [(at, rid) for (cid, rid), at in links.items() if cid == contact_id]
        return [rid for _, rid in sorted(found, key=lambda x: (x[0], str(x[1])))]


class InMemoryUnitOfWork:
    """One serialised transaction over the in-memory data."""

    def __init__(self, store: InMemoryStore, *, write: bool) -> None:
        self._store = store
        self._write = write
        self.data = store._data
        self.staged = _Staged()
        self._requests = _Requests(self)
        self._audit = _Audit(self, store.ledger_count)
        self._directory = _Directory(self)
        self._idempotency = _Idempotency(self)
        self._notices = _Notices(self)
        self._calendar = _Calendar(self)
        self._plans = _Plans(self)
        self._media = _Media(self)
        self._open = False

    @property
    def requests(self) -> _Requests:
        """The request repository."""
        return self._requests

    @property
    def audit(self) -> _Audit:
        """The audit log."""
        return self._audit

    @property
    def directory(self) -> _Directory:
        """The role directory."""
        return self._directory

    @property
    def idempotency(self) -> _Idempotency:
        """The idempotency records."""
        return self._idempotency

    @property
    def notices(self) -> _Notices:
        """The deadline notices."""
        return self._notices

    @property
    def calendar(self) -> _Calendar:
        """The stored calendar overrides."""
        return self._calendar

    @property
    def plans(self) -> _Plans:
        """The annual communication plans."""
        return self._plans

    @property
    def media(self) -> _Media:
        """Press contacts and commissioned tasks."""
        return self._media

    def check_write(self) -> None:
        """Refuse writes in a read-only unit of work."""
        if not self._write:
            raise ConflictError("this unit of work is read-only")

    def __enter__(self) -> InMemoryUnitOfWork:
        if not self._store._lock.acquire(timeout=self._store.busy_timeout):
            raise StorageBusyError("the in-memory store stayed locked too long")
        self._open = True
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.rollback()
        self._open = False
        self._store._lock.release()

    def commit(self) -> None:
        """Apply every staged write at once."""
        data, staged = self.data, self.staged
        data.requests.update(staged.requests)
        for entry in staged.entries:
            data.entries.setdefault(entry.ledger, []).append(entry)
            if entry.request_id is not None:
                data.by_request.setdefault(entry.request_id, []).append(entry)
        for key, grant in staged.grants.items():
            if grant is None:
                data.grants.pop(key, None)
            else:
                data.grants[key] = grant
        data.authorisations.update(staged.authorisations)
        data.idempotency.update(staged.idempotency)
        data.notices |= staged.notices
        data.overrides.extend(staged.overrides)
        data.plans.update(staged.plans)
        data.contacts.update(staged.contacts)
        data.tasks.update(staged.tasks)
        data.contact_requests.update(staged.contact_requests)
        if staged.directory_version is not None:
            data.directory_version = staged.directory_version
        self.staged = _Staged()

    def rollback(self) -> None:
        """Drop every staged write."""
        self.staged = _Staged()


class InMemoryStore:
    """Reference backend: dictionaries behind one lock. Data lives as long as it."""

    def __init__(self, *, ledger_count: int = 16, busy_timeout: float = 30.0) -> None:
        if ledger_count < 1:
            raise ValidationError(
                "ledger_count must be at least 1", field="ledger_count", rule="min"
            )
        self._ledger_count = ledger_count
        self.busy_timeout = busy_timeout
        self._data = _Data()
        self._lock = threading.RLock()

    @property
    def ledger_count(self) -> int:
        """How many audit ledgers this store keeps."""
        return self._ledger_count

    def unit_of_work(self, *, write: bool = True) -> InMemoryUnitOfWork:
        """A new unit of work; begin it with ``with``."""
        return InMemoryUnitOfWork(self, write=write)

    def close(self) -> None:
        """Nothing to release."""
