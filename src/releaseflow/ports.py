"""Storage ports: the protocols every backend implements.

The service layer talks only to these. A backend provides a :class:`Store` whose
:meth:`Store.unit_of_work` opens one transaction; nothing is stored unless
:meth:`UnitOfWork.commit` is called. ``releaseflow.testing.StoreContract`` is the test
suite every backend (including third-party ones) must pass.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol
from uuid import UUID

from .models import (
    AuditEntry,
    Authorisation,
    ChainHead,
    Grant,
    IdempotencyRecord,
    Request,
    RequestQuery,
    StoredOverride,
)

if TYPE_CHECKING:
    from .planning import CommissionedTask, CommsPlan, PressContact
    from .queries import AuditCursor, AuditQuery

__all__ = [
    "AuditLog",
    "CalendarLog",
    "Directory",
    "DirectoryMoved",
    "IdempotencyLog",
    "MediaRepository",
    "NoticeLog",
    "PlanRepository",
    "RequestRepository",
    "Store",
    "UnitOfWork",
]


class DirectoryMoved(Exception):  # noqa: N818 - a signal, never a caller's error
    """A guessed directory version was not current.

    A :class:`Directory` may offer, besides :meth:`Directory.lock`, two optional
    methods: ``lock_guessing() -> int``, which returns without reading it the
    version the store last saw committed (confirmed before any other directory
    read and by the request compare-and-set), and ``confirm()``, which confirms
    it at once. A stale guess raises this, inside the unit of work and before
    anything was written on it; the engine then decides again after
    :meth:`Directory.lock`. It never leaves the engine.
    """


class RequestRepository(Protocol):
    """Requests, with compare-and-set updates."""

    def get(self, request_id: UUID) -> Request:
        """Return the request (raises ``RequestNotFoundError``)."""
        ...

    def known(self, request_id: UUID, version: int) -> Request | None:
        """The request at ``version`` if the backend remembers it committed, else None.

        Never reads the store: a hint that a compare-and-set on ``version``
        (:meth:`update`) must confirm before anything relies on it.
        """
        ...

    def add(self, request: Request) -> None:
        """Insert a new request (raises ``ConflictError`` if the id exists)."""
        ...

    def update(self, request: Request, *, expected_version: int) -> None:
        """Replace the stored request only if its version is ``expected_version``.

        ``request.version`` must be ``expected_version + 1``. Raises
        ``ConflictError`` when the stored version differs (compare-and-set).
        """
        ...

    def find(self, query: RequestQuery) -> list[Request]:
        """Requests matching ``query``, newest first."""
        ...

    def iter_all(self) -> Iterator[Request]:
        """Every request, in id order (for verification)."""
        ...

    def due(
        self, before: datetime, *, after: tuple[datetime, UUID] | None, limit: int
    ) -> list[Request]:
        """Requests whose earliest running deadline is before ``before``.

        Ordered by (next due time, id), starting strictly after ``after``: keyset
        pages for the deadline sweep.
        """
        ...


class AuditLog(Protocol):
    """The append-only, hash-chained audit ledgers."""

    @property
    def ledger_count(self) -> int:
        """How many ledgers the log is split into (fixed when the store is made)."""
        ...

    def lock_head(self, ledger: int) -> ChainHead:
        """Return ledger's head, locked until the unit of work ends."""
        ...

    def append(self, entry: AuditEntry) -> None:
        """Store ``entry`` and make it the head of its ledger.

        The entry must follow the head returned by :meth:`lock_head`.
        """
        ...

    def append_next(self, ledger: int, draft: Mapping[str, Any]) -> AuditEntry:
        """Seal ``draft`` after ``ledger``'s head, store it and return it.

        The same as :meth:`lock_head`, :func:`~releaseflow.chain.seal` and
        :meth:`append` in turn; a backend may seal against a head it remembers
        first, if its append can refuse a head that has moved and then retry.
        """
        ...

    def heads(self) -> list[ChainHead]:
        """Every ledger's head (seq 0 and 64 zeros for an empty ledger)."""
        ...

    def entries(
        self, *, ledger: int | None = None, request_id: UUID | None = None
    ) -> Iterator[AuditEntry]:
        """Entries in (ledger, seq) order, optionally of one ledger or request."""
        ...

    def query(
        self, query: AuditQuery, *, after: AuditCursor | None, limit: int
    ) -> list[AuditEntry]:
        """At most ``limit`` entries matching ``query``, in its order, after ``after``.

        Semantics are those of :func:`releaseflow.queries.matches` and
        :func:`releaseflow.queries.sort_key`: keyset pages, literal text matches,
        values bound as parameters (SQL: :func:`releaseflow.queries.sql_query`).
        """
        ...


class Directory(Protocol):
    """Stored role grants and speaking authorisations."""

    def grants(self, *, actor: str | None = None) -> list[Grant]:
        """Current grants, optionally of one actor."""
        ...

    def add_grant(self, grant: Grant) -> None:
        """Store a grant (an identical one already stored is kept once)."""
        ...

    def remove_grant(self, actor: str, role: str, unit: str) -> bool:
        """Delete a grant; True when one was deleted."""
        ...

    def authorisations(
        self, *, actor: str | None = None, request_id: UUID | None = None
    ) -> list[Authorisation]:
        """Stored authorisations, optionally filtered."""
        ...

    def put_authorisation(self, authorisation: Authorisation) -> None:
        """Insert or replace an authorisation (by id)."""
        ...

    def lock(self) -> int:
        """Lock the directory for this unit of work; returns its version."""
        ...

    def bump(self) -> int:
        """Advance the directory version after a change; returns the new one."""
        ...


class IdempotencyLog(Protocol):
    """Outcomes of commands sent with an idempotency key."""

    def get(self, key: str) -> IdempotencyRecord | None:
        """The remembered outcome for ``key``, if any."""
        ...

    def put(self, record: IdempotencyRecord) -> None:
        """Remember an outcome (raises ``ConflictError`` if the key exists)."""
        ...


class NoticeLog(Protocol):
    """Deadline notices already sent: each (request, rule, kind) at most once."""

    def record(self, request_id: UUID, rule_id: str, kind: str, at: datetime) -> bool:
        """Insert the notice unless present; True when this call inserted it.

        Two units of work racing on the same notice: exactly one gets True (the
        other waits for it and gets False, or fails with a storage error).
        """
        ...


class CalendarLog(Protocol):
    """Calendar overrides an agency added at run time (audited by the engine)."""

    def overrides(self) -> list[StoredOverride]:
        """Every stored override, oldest first."""
        ...

    def add(self, override: StoredOverride) -> None:
        """Store an override (one per date: a later one for the same date wins)."""
        ...


class PlanRepository(Protocol):
    """Annual communication plans, with compare-and-set updates."""

    def get(self, plan_id: UUID) -> CommsPlan:
        """Return the plan (raises ``NotFoundError``)."""
        ...

    def add(self, plan: CommsPlan) -> None:
        """Insert a new plan (``ConflictError`` if its id or (unit, year) is taken)."""
        ...

    def update(self, plan: CommsPlan, *, expected_version: int) -> None:
        """Compare-and-set: replace the plan only if it is at ``expected_version``.

        ``plan.version`` must be one more; ``ConflictError`` otherwise.
        """
        ...

    def find(
        self, *, unit: str | None = None, year: int | None = None
    ) -> list[CommsPlan]:
        """Plans of exactly ``unit`` and/or ``year``, ordered by (unit, year)."""
        ...

    def plan_of_item(self, item_id: UUID) -> CommsPlan | None:
        """The plan holding item ``item_id``, if any."""
        ...


class MediaRepository(Protocol):
    """Press contacts and commissioned tasks, with compare-and-set updates."""

    def contact(self, contact_id: UUID) -> PressContact:
        """Return the contact (raises ``NotFoundError``)."""
        ...

    def contacts(self, *, unit: str | None = None) -> list[PressContact]:
        """Contacts (of exactly ``unit``), ordered by (name, id)."""
        ...

    def add_contact(self, contact: PressContact) -> None:
        """Insert a new contact (``ConflictError`` if the id exists)."""
        ...

    def update_contact(self, contact: PressContact, *, expected_version: int) -> None:
        """Compare-and-set replace, as :meth:`PlanRepository.update`."""
        ...

    def task(self, task_id: UUID) -> CommissionedTask:
        """Return the task (raises ``NotFoundError``)."""
        ...

    def tasks(self, *, plan_id: UUID | None = None) -> list[CommissionedTask]:
        """Tasks (of one plan), ordered by (created_at, id)."""
        ...

    def add_task(self, task: CommissionedTask) -> None:
        """Insert a new task (``ConflictError`` if the id exists)."""
        ...

    def update_task(self, task: CommissionedTask, *, expected_version: int) -> None:
        """Compare-and-set replace, as :meth:`PlanRepository.update`."""
        ...

    def link_request(
        self, contact: PressContact, request_id: UUID, at: datetime
    ) -> None:
        """Record that request ``request_id`` (created ``at``) names ``contact``.

        Reads the contact under a shared lock: ``ConflictError`` unless it is
        still at ``contact.version`` (``NotFoundError`` if it is gone).
        """
        ...

    def request_ids(self, contact_id: UUID) -> list[UUID]:
        """Requests naming the contact, ordered by (created ``at``, request id)."""
        ...


class UnitOfWork(Protocol):
    """One transaction over every repository; rolled back unless committed."""

    @property
    def requests(self) -> RequestRepository:
        """The request repository of this transaction."""
        ...

    @property
    def audit(self) -> AuditLog:
        """The audit log of this transaction."""
        ...

    @property
    def directory(self) -> Directory:
        """The role directory of this transaction."""
        ...

    @property
    def idempotency(self) -> IdempotencyLog:
        """The idempotency records of this transaction."""
        ...

    @property
    def notices(self) -> NoticeLog:
        """Deadline notices of this transaction."""
        ...

    @property
    def calendar(self) -> CalendarLog:
        """Stored calendar overrides of this transaction."""
        ...

    @property
    def plans(self) -> PlanRepository:
        """Annual communication plans of this transaction."""
        ...

    @property
    def media(self) -> MediaRepository:
        """Press contacts and commissioned tasks of this transaction."""
        ...

    def commit(self) -> None:
        """Make every change of this unit of work durable, atomically."""
        ...

    def rollback(self) -> None:
        """Discard every change of this unit of work."""
        ...

    def __enter__(self) -> UnitOfWork: ...

    def __exit__(self, *exc_info: object) -> None: ...


class Store(Protocol):
    """A storage backend."""

    @property
    def ledger_count(self) -> int:
        """How many audit ledgers this store keeps."""
        ...

    def unit_of_work(self, *, write: bool = True) -> UnitOfWork:
        """A new transaction, begun on ``with`` (``write=False``: read-only)."""
        ...

    def close(self) -> None:
        """Release connections and files."""
        ...
