"""The four repositories of one SQL unit of work, on SQLAlchemy Core.

Semantics copy ``releaseflow.storage.memory`` exactly; the hot path is explicit SQL:
``requests.update`` is ``UPDATE … WHERE id = :id AND version = :expected`` with the row
count checked, ``audit.append`` is a compare-and-set on the ledger head row plus an
``INSERT``. Every statement runs inside :func:`~.errors.translate` (via
:meth:`SqlUnitOfWork.run`), so no driver error escapes.
"""

from __future__ import annotations

import functools
import json
import operator
import re
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final
from uuid import UUID

import sqlalchemy as sa
from pydantic_core import from_json
from sqlalchemy.dialects import postgresql, sqlite

from ...canonical import to_plain
from ...chain import RAW_FIELDS, Sealed, ledger_for, seal_stored
from ...exceptions import ConflictError, RequestNotFoundError
from ...models import (
    AuditEntry,
    Authorisation,
    ChainHead,
    Grant,
    IdempotencyRecord,
    Request,
    RequestQuery,
    StoredOverride,
)
from ...ports import DirectoryMoved
from ...queries import AuditCursor, AuditQuery, sql_statement
from ...reports.row_facts import request_fact_values
from ...vocabulary import Classification
from .audit_reads import iter_raw_rows, raw_statement, request_states, run_entries
from .caches import DirectorySnapshot
from .errors import translate
from .raw_reads import translated
from .statements import IDENTITY_FIELDS, REQUEST_COLUMNS

if TYPE_CHECKING:
    from .store import SqlUnitOfWork

__all__ = [
    "SqlAudit",
    "SqlCalendar",
    "SqlDirectory",
    "SqlIdempotency",
    "SqlNotices",
    "SqlRequests",
]


_CLASSIFICATIONS = frozenset(c.value for c in Classification)


_COLUMNS = REQUEST_COLUMNS
"""A request row's columns besides ``id``, in the order of :func:`_values`."""
_SET_NAMES = tuple(f"v_{name}" for name in _COLUMNS)
"""The compare-and-set's parameter names of the same columns."""
_identity = operator.attrgetter(*IDENTITY_FIELDS)
"""A request's :data:`~.statements.IDENTITY_FIELDS` values, as one tuple."""


def _values(request: Request) -> tuple[Any, ...]:
    """The values of :data:`_COLUMNS` for ``request``.

    (``_value_``, not ``.value``: the same member value without the enum
    property's descriptor call, on every transition.)
    """
    return (
        request.kind._value_,
        request.definition,
        request.definition_version,
        request.state,
        request.version,
        request.unit,
        request.created_by,
        request.created_at,
        request.updated_at,
        request.received_at,
        request.next_due_at,
        request.model_dump_json(),
        *request_fact_values(request),
    )


def _json(value: Any) -> str:
    return json.dumps(to_plain(value), ensure_ascii=False, separators=(",", ":"))


class SqlRequests:
    """Requests, with compare-and-set updates on ``version``."""

    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow
        self._t = uow.tables.requests
        self._seen: dict[str, Request] = {}
        """Requests this unit of work read or took from the cache, by id."""

    def _row(self, request: Request) -> dict[str, Any]:
        return {
            "id": str(request.id),
            **dict(zip(_COLUMNS, _values(request), strict=True)),
        }

    def get(self, request_id: UUID) -> Request:
        """Return the request (raises ``RequestNotFoundError``)."""
        row = self._uow.fast_row(
            self._uow.store.driver_sql.request_doc, {"id": str(request_id)}
        )
        if row is None or row[0] is None:
            raise RequestNotFoundError(request_id)
        request = Request.model_validate_json(row[0])
        self._seen[str(request_id)] = request
        return request

    def known(self, request_id: UUID, version: int) -> Request | None:
        """The request at ``version`` if this process committed it; no query.

        A guess to be confirmed by the compare-and-set of :meth:`update`.
        """
        rid = str(request_id)
        known = self._uow.store.caches.request(rid, version)
        if known is not None:
            self._seen[rid] = known
        return known

    def add(self, request: Request) -> None:
        """Insert a new request (``ConflictError`` if the id exists)."""
        self._uow.check_write()
        exists = self._uow.scalar(
            self._uow.store.sql.request_version, {"id": str(request.id)}
        )
        if exists is not None:
            raise ConflictError(
                f"request {request.id} already exists", request_id=str(request.id)
            )
        self._uow.run(self._uow.store.sql.request_insert, self._row(request))
        self._uow.requests_written[str(request.id)] = request

    def update(self, request: Request, *, expected_version: int) -> None:
        """Compare-and-set: replace the row only if it is at ``expected_version``."""
        self._uow.check_write()
        store = self._uow.store
        rid = str(request.id)
        if request.version != expected_version + 1:
            self._refuse(request, expected_version, None)
            return
        params = dict(zip(_SET_NAMES, _values(request), strict=True))
        params["b_id"] = rid
        params["b_expected"] = expected_version
        driver = store.driver_sql
        slim = self._same_identity(rid, request, expected_version)
        guessed = self._uow.directory_guess
        if guessed is not None:
            # only at the guessed directory version (SqlDirectory.lock_guessing);
            # on PostgreSQL the CAS also share-locks the directory row there
            params["b_dir"] = guessed
        if self._cas_locking_head(rid, request, params, slim=slim):
            return
        if not store.version_check:
            cas = driver.request_blind
        elif guessed is not None:
            cas = driver.request_cas_slim_dir if slim else driver.request_cas_dir
        else:
            cas = driver.request_cas_slim if slim else driver.request_cas
        if self._uow.fast_rowcount(cas, params) == 1:
            self._uow.directory_guess = None  # confirmed
            self._uow.requests_written[rid] = request
            return
        plain = driver.request_cas_slim if slim else driver.request_cas
        self._refuse(
            request, expected_version, plain if guessed is not None else None, params
        )

    def _refuse(
        self,
        request: Request,
        expected_version: int,
        retry: Any,
        params: dict[str, Any] | None = None,
    ) -> None:
        """After a compare-and-set matched nothing: raise why (or write after all).

        ``DirectoryMoved`` when the directory guess was stale (nothing written);
        else ``RequestNotFoundError`` or ``ConflictError``. ``retry``: the plain
        CAS, when the one that matched nothing also checked a guessed directory
        version: if the guess is confirmed (now under the lock) and the request
        is still at ``expected_version``, the directory check refused for another
        reason (a missing or NULL version row reads as 0), and it decides.
        """
        uow = self._uow
        rid = str(request.id)
        uow.directory.confirm()  # DirectoryMoved: decided on a stale guess
        actual = uow.scalar(uow.store.sql.request_version, {"id": rid})
        if actual is None:
            raise RequestNotFoundError(request.id)
        if (
            retry is not None
            and params is not None
            and int(actual) == expected_version
            and uow.fast_rowcount(retry, params) == 1
        ):
            uow.requests_written[rid] = request
            return
        raise ConflictError(
            f"request {request.id} is at version {actual}, not {expected_version}",
            request_id=str(request.id),
            expected_version=expected_version,
            actual_version=int(actual),
        )

    def _same_identity(self, rid: str, request: Request, expected_version: int) -> bool:
        """Whether the stored row at ``expected_version`` has ``request``'s identity.

        True when this unit of work read (or took from the cache) the request at
        that version and none of the :data:`~.statements.IDENTITY_FIELDS` differ:
        the compare-and-set, which only matches that version, may then leave
        those columns out of its SET list.
        """
        before = self._seen.get(rid)
        return (
            before is not None
            and before.version == expected_version
            and _identity(before) == _identity(request)
        )

    def _cas_locking_head(
        self, rid: str, request: Request, params: dict[str, Any], *, slim: bool
    ) -> bool:
        """PostgreSQL, several writers on the request's ledger: CAS and head lock.

        When the audit append will go straight to ``SELECT … FOR UPDATE`` on the
        head (cached heads keep turning out stale, and this transaction has not
        advanced that ledger), the compare-and-set also returns that head locked,
        in one round trip; ``append_next`` then seals on it. True when the CAS
        matched (the head is then in ``heads_locked``); False to run the plain CAS
        (also when it did not match: it matches nothing again and reports why).
        """
        uow = self._uow
        store = uow.store
        driver = store.driver_sql
        guessed = uow.directory_guess is not None
        if guessed:  # also at the guessed directory version, share-locked
            stmt = (
                driver.request_cas_slim_dir_locking
                if slim
                else driver.request_cas_dir_locking
            )
        else:
            stmt = (
                driver.request_cas_slim_locking if slim else driver.request_cas_locking
            )
        if stmt is None or not store.version_check or store.caches.head_misses < 0.5:
            return False
        ledger = ledger_for(rid, store.ledger_count)
        if ledger in uow.heads_written or ledger in uow.heads_locked:
            return False
        row = uow.fast_row(stmt, {**params, "ledger": ledger})
        if row is None:
            return False  # the CAS matched nothing: the plain path reports why
        uow.heads_locked[ledger] = (int(row[0]), str(row[1]))
        uow.directory_guess = None  # confirmed (if guessed)
        uow.requests_written[rid] = request
        return True

    def find(self, query: RequestQuery) -> list[Request]:
        """Requests matching ``query``, newest first."""
        t = self._t
        stmt = sa.select(t.c.doc)
        if query.kind is not None:
            stmt = stmt.where(t.c.kind == query.kind.value)
        if query.state is not None:
            stmt = stmt.where(t.c.state == query.state)
        if query.created_by is not None:
            stmt = stmt.where(t.c.created_by == query.created_by)
        if query.due_before is not None:
            stmt = stmt.where(t.c.next_due_at < query.due_before)
        if query.unit is not None:
            same = t.c.unit == query.unit
            if query.include_subunits:
                under = t.c.unit.startswith(query.unit + "/", autoescape=True)
                stmt = stmt.where(sa.or_(same, under))
            else:
                stmt = stmt.where(same)
        stmt = stmt.order_by(t.c.created_at.desc(), t.c.id.desc()).limit(query.limit)
        return [Request.model_validate_json(doc) for doc in self._uow.scalars(stmt)]

    def iter_all(self) -> Iterator[Request]:
        """Every request, in id order."""
        stmt = sa.select(self._t.c.doc).order_by(self._t.c.id)
        for row in self._uow.stream(stmt):
            yield Request.model_validate_json(row[0])

    def iter_states(self) -> Iterator[tuple[UUID, str, int, str, str]]:
        """``(id, state, version, content_hash, classification)`` of every request.

        What :meth:`iter_all` would give for those fields, without building each
        ``Request``; a document that does not read plainly is read as a model.
        """
        stmt = sa.select(self._t.c.doc).order_by(self._t.c.id)
        for row in self._uow.stream(stmt):
            yield _request_state(row[0])

    def due(
        self, before: datetime, *, after: tuple[datetime, UUID] | None, limit: int
    ) -> list[Request]:
        """Requests with a running deadline due before ``before``, keyset-paged."""
        t = self._t
        stmt = sa.select(t.c.doc).where(
            t.c.next_due_at.is_not(None), t.c.next_due_at < before
        )
        if after is not None:
            at, rid = after
            stmt = stmt.where(
                sa.or_(
                    t.c.next_due_at > at,
                    sa.and_(t.c.next_due_at == at, t.c.id > str(rid)),
                )
            )
        stmt = stmt.order_by(t.c.next_due_at, t.c.id).limit(limit)
        return [Request.model_validate_json(doc) for doc in self._uow.scalars(stmt)]


_HEX64 = frozenset("0123456789abcdef")
_UUID_TEXT = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _request_state(doc: str | bytes) -> tuple[UUID, str, int, str, str]:
    """A stored request's verify fields, read as ``Request.model_validate_json``.

    ``doc`` is the stored JSON text, or its UTF-8 bytes: see :func:`_request_fields`.
    """
    rid, state, version, content_hash, classification = _request_fields(doc)
    return UUID(rid), state, version, content_hash, classification


def _request_fields(doc: str | bytes) -> tuple[str, str, int, str, str]:
    """:func:`_request_state` with the id as its canonical text (``str(UUID)``).

    The document is parsed by pydantic's own JSON parser (the one
    ``model_validate_json`` uses, and faster than ``json.loads`` on documents of
    this size); a document that does not read plainly is validated as a model.
    """
    try:
        data = from_json(doc)
        rid, state, version = data["id"], data["state"], data["version"]
        content_hash, classification = data["content_hash"], data["classification"]
        if (
            type(rid) is str
            and _UUID_TEXT.fullmatch(rid) is not None  # what str(UUID(rid)) gives
            and type(state) is str
            and type(version) is int
            and version >= 1
            and type(content_hash) is str
            and len(content_hash) == 64
            and _HEX64.issuperset(content_hash)
            and classification in _CLASSIFICATIONS
        ):
            return rid, state, version, content_hash, classification
    except (ValueError, KeyError, TypeError):
        pass
    request = Request.model_validate_json(doc)
    return (
        str(request.id),
        request.state,
        request.version,
        request.content_hash,
        request.classification.value,
    )


@functools.lru_cache(maxsize=64)
def _history_statement(table: sa.Table, requests: sa.Table) -> sa.Select[Any]:
    c = table.c
    stored = sa.exists().where(requests.c.id == sa.bindparam("rid"))
    return (
        sa.select(table)
        .where(c.request_id == sa.bindparam("rid"), stored)
        .order_by(c.ledger, c.seq)
    )


class SqlAudit:
    """The hash-chained audit ledgers and their head rows."""

    exact_entries: Final = True
    """:meth:`query` answers a fresh list of ``AuditEntry`` instances (so the
    service builds its page without validating them again)."""

    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow
        self._t = uow.tables.audit
        self._heads = uow.tables.heads
        self._head_moved = False
        self._sealed: Sealed | None = None

    @property
    def ledger_count(self) -> int:
        """How many ledgers the log is split into."""
        return self._uow.store.ledger_count

    def lock_head(self, ledger: int) -> ChainHead:
        """Return ledger's head, locked (``FOR UPDATE``) until the transaction ends.

        (SQLite has no row locks: the database write lock of ``BEGIN IMMEDIATE``
        covers it.)
        """
        self._uow.check_write()
        row = self._uow.fast_row(
            self._uow.store.driver_sql.head_select_locked, {"ledger": ledger}
        )
        if row is None:
            raise ConflictError(f"audit ledger {ledger} does not exist")
        return ChainHead(ledger=ledger, seq=int(row[0]), hash=str(row[1]))

    def append(self, entry: AuditEntry) -> None:
        """Store ``entry`` and advance its ledger head (compare-and-set on the head).

        Every append goes through here; :meth:`append_next` leaves the stored
        JSON texts of the entry it sealed in ``_sealed`` for it.
        """
        sealed, self._sealed = self._sealed, None
        if sealed is not None and sealed.entry is not entry:
            sealed = None
        self._append(entry, sealed)

    def _append(self, entry: AuditEntry, sealed: Sealed | None) -> None:
        """:meth:`append`; ``sealed`` (from ``seal_stored``) carries its JSON texts.

        PostgreSQL runs the head compare-and-set and the INSERT as one statement
        (the row is inserted only if the head moved): one round trip, same outcome.
        """
        self._uow.check_write()
        combined = self._uow.store.driver_sql.audit_append
        if combined is None:
            if not self._advance(entry):
                self._head_moved = True
                raise ConflictError(f"audit ledger {entry.ledger} moved on")
            self._insert(entry, sealed)
            return
        params = self._row(entry, sealed)
        params.update(
            b_ledger=entry.ledger,
            b_seq=entry.seq - 1,
            b_hash=entry.prev_hash,
            v_seq=entry.seq,
            v_hash=entry.hash,
        )
        if self._uow.fast_rowcount(combined, params) != 1:
            self._head_moved = True
            raise ConflictError(f"audit ledger {entry.ledger} moved on")
        self._uow.heads_written[entry.ledger] = (entry.seq, entry.hash)
        self._uow.heads_locked.pop(entry.ledger, None)

    def append_next(self, ledger: int, draft: Mapping[str, Any]) -> AuditEntry:
        """Seal ``draft`` after ``ledger``'s head, store it and return it.

        With a head this process saw committed (or this transaction wrote), the
        seal is tried at once with one compare-and-set on the head row
        (``WHERE seq = :seq AND hash = :hash``): a changed row matches nothing --
        PostgreSQL and InnoDB re-check the condition on the latest committed row
        after waiting for its lock -- and the append falls back to
        ``SELECT … FOR UPDATE`` and seals again. While cached heads keep turning
        out stale (several writers on the ledgers), it goes straight to the lock.
        """
        self._uow.check_write()
        uow = self._uow
        caches = uow.store.caches
        locked = uow.heads_locked.pop(ledger, None)
        if locked is not None:  # read FOR UPDATE with the request's CAS
            known = caches.head(ledger)
            if known is not None:  # learn whether the cached head would have served
                caches.note_head(stale=known != locked)
            entry = self._seal_and_append(draft, ledger, locked)
            if entry is not None:
                return entry
        own = uow.heads_written.get(ledger)
        cached = caches.head(ledger)
        guess = own
        if guess is None and caches.head_misses < 0.5:
            guess = cached
        if guess is not None:
            entry = self._seal_and_append(draft, ledger, guess)
            if entry is not None:
                if own is None:
                    caches.note_head(stale=False)
                return entry
            caches.note_head(stale=True)
        head = self.lock_head(ledger)
        if guess is None and cached is not None:
            # learn whether the cached head would have served
            caches.note_head(stale=cached != (head.seq, head.hash))
        sealed = seal_stored(draft, head)
        self._sealed = sealed
        self.append(sealed.entry)
        return sealed.entry

    def _seal_and_append(
        self, draft: Mapping[str, Any], ledger: int, head: tuple[int, str]
    ) -> AuditEntry | None:
        """Seal ``draft`` after ``head`` and append it; None if the head had moved.

        Any other conflict (e.g. a unique violation on the INSERT) is raised.
        """
        sealed = seal_stored(draft, ChainHead(ledger=ledger, seq=head[0], hash=head[1]))
        self._head_moved = False
        try:
            self._sealed = sealed
            self.append(sealed.entry)
        except ConflictError:
            if not self._head_moved:
                raise
            return None
        return sealed.entry

    def _advance(self, entry: AuditEntry) -> bool:
        moved = self._uow.fast_rowcount(
            self._uow.store.driver_sql.head_advance,
            {
                "b_ledger": entry.ledger,
                "b_seq": entry.seq - 1,
                "b_hash": entry.prev_hash,
                "v_seq": entry.seq,
                "v_hash": entry.hash,
            },
        )
        return moved == 1

    def _insert(self, entry: AuditEntry, sealed: Sealed | None) -> None:
        self._uow.fast_rowcount(
            self._uow.store.driver_sql.audit_insert, self._row(entry, sealed)
        )
        self._uow.heads_written[entry.ledger] = (entry.seq, entry.hash)
        self._uow.heads_locked.pop(entry.ledger, None)

    @staticmethod
    def _row(entry: AuditEntry, sealed: Sealed | None = None) -> dict[str, Any]:
        """The stored row of ``entry``; its JSON texts from ``sealed`` if given.

        (The same text ``_json`` makes: ``seal_stored`` made the values plain.
        Enum members by ``_value_``: their value without a descriptor call.)
        """
        if sealed is not None:
            roles, payload = sealed.roles_json, sealed.payload_json
        else:
            roles, payload = _json(list(entry.roles)), _json(entry.payload)
        return {
            "ledger": entry.ledger,
            "seq": entry.seq,
            "event": entry.event._value_,
            "request_id": None if entry.request_id is None else str(entry.request_id),
            "request_version": entry.request_version,
            "request_kind": None
            if entry.request_kind is None
            else entry.request_kind._value_,
            "unit": entry.unit,
            "from_state": entry.from_state,
            "to_state": entry.to_state,
            "trigger": entry.trigger,
            "actor": entry.actor,
            "roles": roles,
            "at": entry.at,
            "payload": payload,
            "content_hash": entry.content_hash,
            "prev_hash": entry.prev_hash,
            "hash": entry.hash,
            "canon_version": entry.canon_version,
            "hash_alg": entry.hash_alg,
        }

    @staticmethod
    def _entry(row: sa.Row[Any]) -> AuditEntry:
        m = row._mapping
        return AuditEntry.model_validate(
            {
                **m,
                "roles": tuple(json.loads(m["roles"])),
                "payload": json.loads(m["payload"]),
            }
        )

    def heads(self) -> list[ChainHead]:
        """Every ledger's head, from the head rows."""
        h = self._heads
        rows = self._uow.all(
            sa.select(h.c.ledger, h.c.seq, h.c.hash).order_by(h.c.ledger)
        )
        return [
            ChainHead(ledger=int(r.ledger), seq=int(r.seq), hash=str(r.hash))
            for r in rows
        ]

    def entries(
        self, *, ledger: int | None = None, request_id: UUID | None = None
    ) -> Iterator[AuditEntry]:
        """Entries in (ledger, seq) order, optionally of one ledger or request."""
        t = self._t
        stmt = sa.select(t).order_by(t.c.ledger, t.c.seq)
        if ledger is not None:
            stmt = stmt.where(t.c.ledger == ledger)
        if request_id is not None:
            stmt = stmt.where(t.c.request_id == str(request_id))
        for row in self._uow.stream(stmt):
            yield self._entry(row)

    def history(self, request_id: UUID) -> list[AuditEntry] | None:
        """Every entry of one request in (ledger, seq) order; None if no such request.

        One indexed SELECT (the request's existence is checked in it) with a
        statement built once per table; a trail is short, so it is fetched at once.
        """
        uow = self._uow
        stmt = _history_statement(self._t, uow.tables.requests)
        rid = str(request_id)
        with translated:
            found = run_entries(uow, self._t, stmt, {"rid": rid})
        if not found:
            # no entries: is there such a request? (on the same cursor where the
            # unit of work has one: a read_once keeps its raw connection)
            row = uow.fast_row(uow.store.driver_sql.request_doc, {"id": rid})
            if row is None or row[0] is None:
                return None
        return found

    def iter_raw(
        self, *, ledgers: tuple[int, int] | None = None
    ) -> Iterator[Sequence[Any]]:
        """Every entry as a stored row, in (ledger, seq) order: the fast verify path.

        Columns in :data:`~releaseflow.chain.RAW_FIELDS` order, values as the
        driver returns them (``roles`` and ``payload`` JSON text, ``at`` naive UTC
        or SQLite's text); :meth:`raw_entry` reads one as an ``AuditEntry``.
        ``ledgers=(lo, hi)`` limits it to those ledgers.
        """
        t = self._t
        store = self._uow.store
        raw = iter_raw_rows(self._uow.connection, t, store.schema, ledgers)
        if raw is not None:  # the driver's own cursor: no Row object per row
            return raw
        return self._uow.stream(raw_statement(t, store.is_sqlite, ledgers), batch=5000)

    def request_states(
        self, ledgers: tuple[int, int]
    ) -> Iterator[tuple[str, str, int, str, str]]:
        """``SqlRequests.iter_states`` of the requests of ledgers ``lo..hi`` only.

        The requests whose entries those ledgers hold; for a parallel verify.
        Ids as their canonical text (``str(UUID)``), in id order.
        """
        with translate():
            yield from request_states(
                self._uow.connection,
                self._uow.tables.requests,
                ledgers,
                self.ledger_count,
                _request_fields,
                self._uow.store.schema,
            )

    def raw_entry(self, row: Sequence[Any]) -> AuditEntry:
        """Read a row of :meth:`iter_raw` exactly as :meth:`entries` reads it."""
        dialect = self._uow.connection.dialect
        process = self._t.c.at.type.dialect_impl(dialect).result_processor(
            dialect, None
        )
        m = dict(zip(RAW_FIELDS, row, strict=True))
        if process is not None:
            m["at"] = process(m["at"])
        return AuditEntry.model_validate(
            {
                **m,
                "roles": tuple(json.loads(m["roles"])),
                "payload": json.loads(m["payload"]),
            }
        )

    def query(
        self, query: AuditQuery, *, after: AuditCursor | None, limit: int
    ) -> list[AuditEntry]:
        """One keyset page of entries matching ``query`` (every value bound)."""
        with translated:
            stmt, params = sql_statement(
                self._uow.store.dialect, self._t, query, after=after, limit=limit
            )
            return run_entries(self._uow, self._t, stmt, params)


class SqlDirectory:
    """Stored grants and authorisations, and the directory version row."""

    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow
        self._g = uow.tables.grants
        self._a = uow.tables.authorisations
        self._d = uow.tables.directory

    def _snapshot(self) -> DirectorySnapshot | None:
        """This transaction's view of the directory version it locked, if cacheable."""
        uow = self._uow
        return None if uow.directory_dirty else uow.directory_seen

    def grants(self, *, actor: str | None = None) -> list[Grant]:
        """Current grants, optionally of one actor.

        After :meth:`lock`, an actor's grants come from the store's snapshot of
        the locked directory version when it has them.
        """
        g = self._g
        seen = self._snapshot() if actor is not None else None
        if actor is not None and seen is not None:
            shared = self._uow.store.caches.directory(seen.version)
            known = shared.grants.get(actor) if shared is not None else None
            if known is None:
                known = seen.grants.get(actor)
            if known is not None:
                seen.grants[actor] = known
                return list(known)
        if self._uow.directory_guess is not None:
            self.confirm()
        if actor is not None:
            rows = self._uow.all(self._uow.store.sql.grants_of_actor, {"actor": actor})
        else:
            rows = self._uow.all(sa.select(g).order_by(g.c.actor, g.c.role, g.c.unit))
        found = [Grant.model_validate(dict(r._mapping)) for r in rows]
        if actor is not None and seen is not None:
            seen.grants[actor] = tuple(found)
        return found

    def _changing(self) -> None:
        """Before a grant or authorisation changes: bump the version if not yet.

        Every change to these rows thus moves the directory version, which is what
        directory snapshots are keyed by.
        """
        self._uow.check_write()
        if self._uow.directory_guess is not None:
            self.confirm()
        if not self._uow.directory_dirty:
            self.bump()

    def add_grant(self, grant: Grant) -> None:
        """Store a grant (an identical one already stored is kept once)."""
        self._changing()
        g = self._g
        key = (g.c.actor == grant.actor, g.c.role == grant.role.value)
        found = self._uow.scalar(
            sa.select(sa.func.count()).where(*key, g.c.unit == grant.unit)
        )
        if not found:
            self._uow.run(
                sa.insert(g).values(
                    actor=grant.actor,
                    role=grant.role.value,
                    unit=grant.unit,
                    granted_by=grant.granted_by,
                    granted_at=grant.granted_at,
                )
            )

    def remove_grant(self, actor: str, role: str, unit: str) -> bool:
        """Delete a grant; True when one was deleted."""
        self._changing()
        g = self._g
        result = self._uow.run(
            sa.delete(g).where(g.c.actor == actor, g.c.role == role, g.c.unit == unit)
        )
        return bool(result.rowcount)

    def authorisations(
        self, *, actor: str | None = None, request_id: UUID | None = None
    ) -> list[Authorisation]:
        """Stored authorisations, optionally filtered, by grant time.

        After :meth:`lock`, an actor the locked directory version holds no
        authorisation for gets ``[]`` without a query for the request.
        """
        a = self._a
        seen = self._snapshot() if actor is not None else None
        if actor is not None and seen is not None:
            shared = self._uow.store.caches.directory(seen.version)
            actors = shared.auth_actors if shared is not None else None
            if actors is None:
                actors = seen.auth_actors
            if actors is None:
                if self._uow.directory_guess is not None:
                    self.confirm()
                actors = frozenset(
                    str(x) for x in self._uow.scalars(sa.select(a.c.actor).distinct())
                )
            seen.auth_actors = actors
            if actor not in actors:
                return []
        if self._uow.directory_guess is not None:
            self.confirm()
        if actor is not None and request_id is not None:
            docs = self._uow.scalars(
                self._uow.store.sql.auths_of_actor_request,
                {"actor": actor, "rid": str(request_id)},
            )
            return [Authorisation.model_validate_json(doc) for doc in docs]
        stmt = sa.select(a.c.doc).order_by(a.c.granted_at, a.c.id)
        if actor is not None:
            stmt = stmt.where(a.c.actor == actor)
        if request_id is not None:
            stmt = stmt.where(a.c.request_id == str(request_id))
        return [
            Authorisation.model_validate_json(doc) for doc in self._uow.scalars(stmt)
        ]

    def put_authorisation(self, authorisation: Authorisation) -> None:
        """Insert or replace an authorisation (by id)."""
        self._changing()
        a = self._a
        key = str(authorisation.id)
        values = {
            "actor": authorisation.actor,
            "request_id": str(authorisation.request_id),
            "granted_at": authorisation.granted_at,
            "doc": authorisation.model_dump_json(),
        }
        changed = self._uow.run(sa.update(a).where(a.c.id == key).values(**values))
        if changed.rowcount == 0:
            self._uow.run(sa.insert(a).values(id=key, **values))

    def lock(self) -> int:
        """Share-lock the directory row for this transaction; return its version.

        (SQLite: a write unit of work holds the database write lock already; a
        read-only one reads one snapshot.)
        """
        return self._lock()

    def lock_guessing(self) -> int:
        """:meth:`lock`, or the version of the store's snapshot, unread.

        A write unit of work on the raw path (SQLite or PostgreSQL, an engine the
        store made) takes the version of the store's directory snapshot without a
        query: its grants and authorisations are then served from that snapshot,
        a directory read that needs the database confirms the version first, and
        the request compare-and-set matches only at it (one statement fewer per
        transition). On PostgreSQL that compare-and-set also share-locks the
        directory row, as :meth:`lock` would, until the transaction ends (SQLite:
        the write lock of ``BEGIN IMMEDIATE`` covers it). A stale guess raises
        :class:`~releaseflow.ports.DirectoryMoved` (nothing was written on it);
        the engine then decides again after :meth:`lock`.
        """
        uow = self._uow
        store = uow.store
        if (
            (store.is_sqlite or store.dialect == "postgresql")
            and uow._raw is not None
            and not uow.directory_dirty
            and store.version_check
        ):
            shared = store.caches.current_directory()
            if shared is not None:
                version = shared.version
                uow.directory_guess = version
                seen = uow.directory_seen
                if seen is None or seen.version != version:
                    uow.directory_seen = DirectorySnapshot(version)
                return version
        return self._lock()

    def confirm(self) -> None:
        """Read the version :meth:`lock_guessing` took; ``DirectoryMoved`` if stale."""
        guessed = self._uow.directory_guess
        if guessed is None:
            return
        self._uow.directory_guess = None
        if self._lock() != guessed:
            raise DirectoryMoved(f"the directory moved on from version {guessed}")

    def _lock(self) -> int:
        uow = self._uow
        uow.directory_guess = None
        driver = uow.store.driver_sql
        stmt = (
            driver.directory_version_shared
            if uow.store.row_locks
            else driver.directory_version
        )
        row = uow.fast_row(stmt, {})
        version = int(row[0] or 0) if row is not None else 0
        if not uow.directory_dirty:
            seen = uow.directory_seen
            if seen is None or seen.version != version:
                uow.directory_seen = DirectorySnapshot(version)
        return version

    def bump(self) -> int:
        """Advance the directory version (takes the row's write lock)."""
        self._uow.check_write()
        if self._uow.directory_guess is not None:
            self.confirm()
        self._uow.directory_dirty = True
        self._uow.directory_seen = None
        d = self._d
        moved = self._uow.run(
            sa.update(d).where(d.c.id == 1).values(version=d.c.version + 1)
        )
        if not moved.rowcount:
            # no version row (deleted): it reads as 0, and a bump that moved
            # nothing would leave every snapshot at 0 current for ever -- another
            # process would go on deciding on grants this change removes
            self._uow.run(sa.insert(d).values(id=1, version=1))
        return int(self._uow.scalar(sa.select(d.c.version).where(d.c.id == 1)) or 0)


class SqlIdempotency:
    """Remembered outcomes of commands sent with an idempotency key."""

    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow
        self._t = uow.tables.idempotency

    def get(self, key: str) -> IdempotencyRecord | None:
        """The remembered outcome for ``key``, if any."""
        doc = self._uow.scalar(self._uow.store.sql.idempotency_get, {"key": key})
        return None if doc is None else IdempotencyRecord.model_validate_json(doc)

    def put(self, record: IdempotencyRecord) -> None:
        """Remember an outcome (``ConflictError`` if the key exists)."""
        self._uow.check_write()
        if self.get(record.key) is not None:
            raise ConflictError(f"idempotency key {record.key!r} already used")
        self._uow.run(
            sa.insert(self._t).values(
                key=record.key,
                request_id=str(record.request_id),
                record=record.model_dump_json(),
            )
        )


class SqlNotices:
    """Deadline notices already sent, each (request, rule, kind) once."""

    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow
        self._t = uow.tables.notices

    def record(self, request_id: UUID, rule_id: str, kind: str, at: datetime) -> bool:
        """Insert the notice unless present; True when this call inserted it.

        ``INSERT … ON CONFLICT DO NOTHING`` (``INSERT IGNORE`` on MariaDB): a racing
        unit of work waits for the first and then inserts nothing.
        """
        self._uow.check_write()
        values = {
            "request_id": str(request_id),
            "rule_id": rule_id,
            "kind": kind,
            "at": at,
        }
        dialect = self._uow.store.dialect
        if dialect in ("postgresql", "sqlite"):
            # psycopg reports rowcount -1 for ON CONFLICT DO NOTHING: ask for the
            # inserted key back instead (no row back = already recorded)
            insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
            stmt = (
                insert(self._t)
                .values(**values)
                .on_conflict_do_nothing()
                .returning(self._t.c.request_id)
            )
            with translate():
                return self._uow.connection.execute(stmt).first() is not None
        ignore = sa.insert(self._t).values(**values).prefix_with("IGNORE")
        return self._uow.run(ignore).rowcount == 1


class SqlCalendar:
    """Calendar overrides added at run time, in insertion order."""

    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow
        self._t = uow.tables.overrides

    def overrides(self) -> list[StoredOverride]:
        """Every stored override, oldest first."""
        stmt = sa.select(self._t.c.doc).order_by(self._t.c.id)
        return [
            StoredOverride.model_validate_json(doc) for doc in self._uow.scalars(stmt)
        ]

    def add(self, override: StoredOverride) -> None:
        """Store an override (a later one for the same date wins when read)."""
        self._uow.check_write()
        self._uow.run(
            sa.insert(self._t).values(day=override.day, doc=override.model_dump_json())
        )
