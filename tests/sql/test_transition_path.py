"""The transition hot path on SQL: statements per transition, caches, raw-cursor errors.

A transition called with ``expected_version`` on a warm store runs a fixed list of
statements (the count catches a regression); the in-process caches it relies on --
requests, ledger heads, the directory snapshot -- are checked against a second
store on the same database standing in for another process, which changes what the
first one remembers. Statements on the raw DB-API cursor must still map every
driver error to exactly one releaseflow error.
"""

from __future__ import annotations

import errno
import sqlite3
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

import releaseflow as rf
from releaseflow.chain import ledger_for
from releaseflow.exceptions import (
    CommitOutcomeUnknownError,
    ConflictError,
    NotPermittedError,
    ReleaseflowError,
    StorageBusyError,
    StorageError,
)
from releaseflow.storage.sql import SqlStore
from releaseflow.storage.sql.errors import classify, is_driver_error, translate
from tests.conftest import Clock, new_inquiry, staff
from tests.sql.conftest import StoreFactory
from tests.sql.test_errors import CASES

TOGGLE = {"drafting": "request_information", "gathering": "information_received"}


def _twin(store: SqlStore) -> SqlStore:
    """Another store on the same tables: what another process would hold."""
    return SqlStore.open(store.engine, table_prefix=store.tables.prefix, migrate=False)


def _toggle(flow: rf.ReleaseFlow, request: rf.Request, **kw: Any) -> rf.Request:
    return flow.fire(
        request.id,
        TOGGLE[request.state],
        actor="coord.bui",
        expected_version=request.version,
        **kw,
    )


class _Statements:
    """Records the statements SQLAlchemy sends (first word, table) while attached."""

    def __init__(self, store: SqlStore) -> None:
        self.store = store
        self.seen: list[str] = []

    def _record(self, *args: Any) -> None:
        statement = str(args[2])
        words = statement.replace("\n", " ").split()
        head = words[0].upper()
        table = next(
            (w for w in words[1:] if w.startswith(self.store.tables.prefix)), ""
        )
        table = table.removeprefix(self.store.tables.prefix).split(".")[0]
        self.seen.append(f"{head} {table}".strip())

    def __enter__(self) -> list[str]:
        sa.event.listen(self.store.engine, "before_cursor_execute", self._record)
        return self.seen

    def __exit__(self, *exc: object) -> None:
        sa.event.remove(self.store.engine, "before_cursor_execute", self._record)


@pytest.fixture(name="flow_store")
def _flow_store(open_store: StoreFactory) -> tuple[rf.ReleaseFlow, SqlStore]:
    store = open_store()  # closed by open_store
    flow = rf.ReleaseFlow(store, clock=Clock())
    staff(flow)
    return flow, store


@pytest.fixture(name="other")
def _other(flow_store: tuple[rf.ReleaseFlow, SqlStore]) -> Iterator[rf.ReleaseFlow]:
    """A flow on a second store over the same tables: another process's writer."""
    _flow, store = flow_store
    twin = _twin(store)
    try:
        yield rf.ReleaseFlow(twin, clock=Clock())
    finally:
        twin.close()


def _head_writes(store: SqlStore) -> list[str]:
    """The statements of the head compare-and-set and the entry INSERT.

    PostgreSQL runs both as one ``WITH … UPDATE heads … INSERT INTO audit``.
    """
    if store.dialect == "postgresql":
        return ["WITH ledger_heads"]
    return ["UPDATE ledger_heads", "INSERT audit_entries"]


# -- statements per transition ---------------------------------------------------


def test_a_warm_transition_runs_its_few_statements(
    flow_store: tuple[rf.ReleaseFlow, SqlStore],
) -> None:
    """Directory version, request compare-and-set, head compare-and-set, entry.

    (SQLite: four statements after BEGIN; PostgreSQL: three, the head and entry
    in one; MariaDB: four.) With a cursor listener attached, statements go
    SQLAlchemy's way, where no directory version is guessed; on the raw path
    SQLite and PostgreSQL guess it and send one statement fewer
    (``test_pg_directory_guess.test_a_warm_transition_sends_no_directory_read``).
    """
    flow, store = flow_store
    request = flow.fire(new_inquiry(flow).id, "triage", actor="spoke.tran")
    request = _toggle(flow, request)  # fills the caches
    with _Statements(store) as seen:
        request = _toggle(flow, request)
    begin = ["BEGIN"] if store.is_sqlite else []  # PG/MariaDB: the driver begins
    assert seen == [
        *begin,
        "SELECT directory_state",
        "UPDATE requests",
        *_head_writes(store),
    ]
    assert flow.get(request.id) == request
    assert flow.audit.verify().ok


def test_with_writers_sharing_the_ledger_the_cas_returns_the_locked_head(
    flow_store: tuple[rf.ReleaseFlow, SqlStore], other: rf.ReleaseFlow
) -> None:
    """Cached heads keep turning out stale: the append goes straight to the lock.

    PostgreSQL folds the head's ``SELECT … FOR UPDATE`` into the request's
    compare-and-set (three statements); elsewhere it is a statement of its own.
    Either way the entry chains after the head another writer left, and a
    request another writer moved is still a conflict that writes nothing.
    """
    flow, store = flow_store
    request = flow.fire(new_inquiry(flow).id, "triage", actor="spoke.tran")
    request = _toggle(flow, request)
    ledger = ledger_for(str(request.id), store.ledger_count)
    # another writer on the same ledger: this store's cached head is stale now
    elsewhere = other.fire(new_inquiry(other).id, "triage", actor="spoke.tran")
    while ledger_for(str(elsewhere.id), store.ledger_count) != ledger:
        elsewhere = other.fire(new_inquiry(other).id, "triage", actor="spoke.tran")
    store.caches.head_misses = 1.0
    with _Statements(store) as seen:
        request = _toggle(flow, request)
    begin = ["BEGIN"] if store.is_sqlite else []
    if store.dialect == "postgresql":
        writes = ["WITH requests", "WITH ledger_heads"]
    else:
        writes = [
            "UPDATE requests",
            "SELECT ledger_heads",
            "UPDATE ledger_heads",
            "INSERT audit_entries",
        ]
    assert seen == [*begin, "SELECT directory_state", *writes]
    assert flow.get(request.id) == request
    assert flow.audit.heads()[ledger].seq == store.caches.head(ledger)[0]  # type: ignore[index]
    moved = other.fire(request.id, TOGGLE[request.state], actor="coord.bui")
    entries = len(flow.audit.history(request.id))
    store.caches.head_misses = 1.0
    with pytest.raises(ConflictError) as caught:
        _toggle(flow, request)
    assert caught.value.actual_version == moved.version
    assert len(flow.audit.history(request.id)) == entries
    assert flow.get(request.id) == moved
    assert flow.audit.verify().ok


def test_without_expected_version_the_request_is_read(
    flow_store: tuple[rf.ReleaseFlow, SqlStore],
) -> None:
    flow, store = flow_store
    request = flow.fire(new_inquiry(flow).id, "triage", actor="spoke.tran")
    request = _toggle(flow, request)
    with _Statements(store) as seen:
        flow.fire(request.id, TOGGLE[request.state], actor="coord.bui")
    assert [s for s in seen if s != "BEGIN"] == [
        "SELECT requests",
        "SELECT audit_entries",  # the trail check of a request read from storage
        "SELECT directory_state",
        "UPDATE requests",
        *_head_writes(store),
    ]


def test_the_raw_cursor_path_is_used_without_listeners(
    flow_store: tuple[rf.ReleaseFlow, SqlStore],
) -> None:
    """No cursor-execute listener: transition statements bypass SQLAlchemy."""
    _flow, store = flow_store
    with store.unit_of_work() as uow:
        assert store.driver_path_ok(uow.connection)
    with _Statements(store), store.unit_of_work() as uow:
        assert not store.driver_path_ok(uow.connection)


# -- the caches against another writer -------------------------------------------


def test_a_stale_cached_head_falls_back_to_the_locked_head(
    flow_store: tuple[rf.ReleaseFlow, SqlStore], other: rf.ReleaseFlow
) -> None:
    """Two stores append to one ledger in turn; each sees the other's entries."""
    flow, store = flow_store
    request = flow.fire(new_inquiry(flow).id, "triage", actor="spoke.tran")
    ledger = ledger_for(str(request.id), store.ledger_count)
    for n in range(6):
        by = flow if n % 2 else other
        before = flow.audit.heads()[ledger].seq
        if by is flow and n > 1:
            with _Statements(store) as seen:
                request = _toggle(by, request)
            # the remembered head was stale: one CAS missed, then the lock
            assert seen.count(_head_writes(store)[0]) == 2
            assert "SELECT ledger_heads" in seen
        else:
            request = by.fire(request.id, TOGGLE[request.state], actor="coord.bui")
        assert flow.audit.heads()[ledger].seq == before + 1
    assert flow.audit.verify().ok
    assert flow.get(request.id) == request


def test_a_remembered_request_is_confirmed_by_the_compare_and_set(
    flow_store: tuple[rf.ReleaseFlow, SqlStore], other: rf.ReleaseFlow
) -> None:
    """Another writer moved the request: the guess ends in ConflictError, no write."""
    flow, _store = flow_store
    request = flow.fire(new_inquiry(flow).id, "triage", actor="spoke.tran")
    moved = other.fire(request.id, TOGGLE[request.state], actor="coord.bui")
    entries = len(flow.audit.history(request.id))
    # same trigger as the other writer's: valid in the remembered state
    with pytest.raises(ConflictError) as caught:
        _toggle(flow, request)
    assert caught.value.actual_version == moved.version
    # a trigger the remembered state refuses: still the conflict, not that
    with pytest.raises(ConflictError):
        flow.fire(
            request.id,
            "information_received",
            actor="coord.bui",
            expected_version=request.version,
        )
    assert flow.get(request.id) == moved
    assert len(flow.audit.history(request.id)) == entries
    assert flow.audit.verify().ok


def test_a_role_revoked_elsewhere_is_seen_at_once(
    flow_store: tuple[rf.ReleaseFlow, SqlStore], other: rf.ReleaseFlow
) -> None:
    flow, _store = flow_store
    request = flow.fire(new_inquiry(flow).id, "triage", actor="spoke.tran")
    request = _toggle(flow, request)  # coord.bui's grants now cached
    assert other.directory.revoke(
        "coord.bui", "coordinating_officer", unit="agency", by="admin"
    )
    with pytest.raises(NotPermittedError):
        _toggle(flow, request)
    assert flow.get(request.id) == request


def test_an_authorisation_granted_elsewhere_is_seen_at_once(
    flow_store: tuple[rf.ReleaseFlow, SqlStore], other: rf.ReleaseFlow
) -> None:
    """The cached 'who holds authorisations' set is dropped with the version."""
    flow, store = flow_store
    request = flow.fire(new_inquiry(flow).id, "triage", actor="spoke.tran")
    request = _toggle(flow, request)  # caches: nobody holds authorisations
    with store.unit_of_work() as uow:
        version = uow.directory.lock()
        assert (
            uow.directory.authorisations(actor="speaker.mai", request_id=request.id)
            == []
        )
        uow.commit()
    now = Clock()()
    auth = other.directory.authorise(
        "speaker.mai",
        request.id,
        reference="QĐ 12/QĐ-UBND",
        published_at="https://example.gov.vn/uy-quyen",
        valid_until=now + timedelta(days=3),
        by="head.pham",
    )
    with store.unit_of_work() as uow:
        assert uow.directory.lock() > version
        found = uow.directory.authorisations(actor="speaker.mai", request_id=request.id)
    assert [a.id for a in found] == [auth.id]


def test_port_level_directory_writes_bump_the_version(
    flow_store: tuple[rf.ReleaseFlow, SqlStore],
) -> None:
    """A grant stored without an explicit bump still moves the version."""
    flow, store = flow_store
    with store.unit_of_work() as uow:
        version = uow.directory.lock()
        assert uow.directory.grants(actor="newcomer") == []
        uow.commit()
    grant = flow.directory.grants("coord.bui")[0].model_copy(
        update={"actor": "newcomer"}
    )
    with store.unit_of_work() as uow:
        uow.directory.add_grant(grant)
        uow.commit()
    with store.unit_of_work() as uow:
        assert uow.directory.lock() == version + 1
        assert uow.directory.grants(actor="newcomer") == [grant]


def test_a_rolled_back_transition_fills_no_cache(open_store: StoreFactory) -> None:
    """A unit of work that does not commit publishes neither head nor request."""
    armed = [False]

    def hook(point: str) -> None:
        if point == "before_commit" and armed[0]:
            raise RuntimeError("boom")

    store = open_store()
    flow = rf.ReleaseFlow(store, clock=Clock(), test_hook=hook)
    staff(flow)
    request = flow.fire(new_inquiry(flow).id, "triage", actor="spoke.tran")
    ledger = ledger_for(str(request.id), store.ledger_count)
    head = store.caches.head(ledger)
    assert head is not None
    assert store.caches.request(str(request.id), request.version) == request
    armed[0] = True
    with pytest.raises(RuntimeError):
        _toggle(flow, request)
    assert store.caches.head(ledger) == head
    assert store.caches.request(str(request.id), request.version + 1) is None
    armed[0] = False
    moved = _toggle(flow, request)
    assert moved.version == request.version + 1
    assert flow.audit.verify().ok


# -- driver errors on the raw cursor ---------------------------------------------


@pytest.mark.parametrize(
    ("orig", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_a_raw_driver_error_maps_like_a_wrapped_one(
    orig: BaseException, expected: type[Exception]
) -> None:
    assert is_driver_error(orig)
    assert type(classify(orig)) is expected
    wrapped = sa_exc.OperationalError("SELECT 1", {}, orig)
    assert type(classify(orig)) is type(classify(wrapped))


def test_non_driver_errors_are_not_taken_for_driver_errors() -> None:
    assert not is_driver_error(ValueError("x"))
    assert not is_driver_error(KeyError("x"))


def test_a_driver_error_on_the_raw_cursor_is_one_error_and_changes_nothing(
    flow_store: tuple[rf.ReleaseFlow, SqlStore],
) -> None:
    """A foreign audit row at the next seq: the INSERT fails unique -> ConflictError."""
    flow, store = flow_store
    request = flow.fire(new_inquiry(flow).id, "triage", actor="spoke.tran")
    ledger = ledger_for(str(request.id), store.ledger_count)
    t = store.tables.audit
    with store.engine.connect() as conn:
        row = dict(
            conn.execute(
                sa.select(t).where(t.c.ledger == ledger).order_by(t.c.seq.desc())
            )
            .first()
            ._mapping  # type: ignore[union-attr]
        )
        row.update(seq=row["seq"] + 1, prev_hash="f" * 64, hash="e" * 64)
        conn.execute(sa.insert(t).values(**row))
        conn.commit()
    with store.unit_of_work() as uow:
        assert store.driver_path_ok(uow.connection)
    with pytest.raises(ReleaseflowError) as caught:
        _toggle(flow, request)
    assert type(caught.value) is ConflictError
    assert flow.get(request.id) == request
    with store.engine.connect() as conn:
        conn.execute(sa.delete(t).where(t.c.ledger == ledger, t.c.seq == row["seq"]))
        conn.commit()
    moved = _toggle(flow, request)  # the pooled connection still works
    assert moved.version == request.version + 1
    assert flow.audit.verify().ok


def test_translate_maps_raw_driver_and_os_errors() -> None:
    """Raw driver errors get their one type; OS errors stay StorageError."""
    busy = sqlite3.OperationalError("database is locked")
    busy.sqlite_errorname = "SQLITE_BUSY"  # type: ignore[attr-defined]
    with pytest.raises(StorageBusyError), translate():
        raise busy
    with pytest.raises(StorageError) as caught, translate():
        raise OSError(errno.EIO, "I/O error")
    assert type(caught.value) is StorageError
    with pytest.raises(CommitOutcomeUnknownError), translate(committing=True):
        raise OSError(errno.EIO, "I/O error")
    with pytest.raises(KeyError), translate():
        raise KeyError("not a storage failure")


def test_canonical_fast_path_keeps_depth_types_and_nfc_errors() -> None:
    """Scalars skipped by the inline fast path still meet every canonical rule.

    The audit hash walks each entry with ``canonical._plain``; ASCII text, None,
    bool and int items of a mapping or list are taken as they are only when their
    depth passes, so the limit, enum values and NFC checks behave as before.
    """
    import enum

    from releaseflow.canonical import MAX_DEPTH, canonical_bytes, to_plain
    from releaseflow.exceptions import ValidationError

    class Level(enum.IntEnum):
        HIGH = 2

    def nest(levels: int, leaf: Any) -> Any:
        value: Any = leaf
        for _ in range(levels):
            value = {"k": value}
        return value

    for leaf in (1, "a", None, True):
        assert canonical_bytes(nest(MAX_DEPTH, leaf))
        with pytest.raises(ValidationError) as caught:
            canonical_bytes(nest(MAX_DEPTH + 1, leaf))
        assert caught.value.rule == "max_depth"
        with pytest.raises(ValidationError):
            canonical_bytes(nest(MAX_DEPTH, [leaf]))
    assert to_plain({"a": [Level.HIGH, True, 3, "x", None]}) == {
        "a": [2, True, 3, "x", None]
    }
    assert canonical_bytes({"b": Level.HIGH, "a": False}) == b'{"a":false,"b":2}'
    decomposed = "e\u0301"
    with pytest.raises(ValidationError) as caught:
        canonical_bytes({"x": {"y": decomposed}})
    assert caught.value.rule == "nfc"
    assert caught.value.field == "value.x.y"
    with pytest.raises(ValidationError) as caught:
        canonical_bytes({"x": ["ok", decomposed]})
    assert caught.value.field == "value.x[1]"
    assert canonical_bytes({"x": ["\u00e9"]}) == '{"x":["\u00e9"]}'.encode()


# -- sealing: one walk, same stored text -------------------------------------------


def test_seal_stored_gives_the_entry_seal_gives_and_the_stored_json() -> None:
    """The texts handed to the store are what ``_json`` makes of the entry."""
    import enum
    from datetime import UTC, datetime

    from releaseflow.chain import GENESIS_HASH, entry_hash, seal, seal_stored
    from releaseflow.exceptions import ValidationError
    from releaseflow.models import ChainHead
    from releaseflow.storage.sql.repositories import _json
    from releaseflow.vocabulary import AuditEvent

    class Level(enum.IntEnum):
        HIGH = 2

    at = datetime(2026, 3, 1, 8, 30, tzinfo=UTC)
    draft = {
        "event": AuditEvent.TRANSITIONED,
        "request_id": None,
        "request_version": None,
        "request_kind": None,
        "unit": "agency",
        "from_state": "a",
        "to_state": "b",
        "trigger": "go",
        "actor": "coord.bui",
        "roles": ("coordinating_officer", "spokesperson"),
        "at": at,
        "payload": {
            "z": "ghi chú 😀",
            "a": [Level.HIGH, (1, 2), {"when": at}],
            "big": 10**30,
        },
        "content_hash": None,
    }
    head = ChainHead(ledger=3, seq=7, hash=GENESIS_HASH)
    sealed = seal_stored(draft, head)
    entry = sealed.entry
    assert entry == seal(draft, head)
    assert entry.hash == entry_hash(entry.model_dump())
    assert sealed.payload_json == _json(entry.payload)
    assert sealed.roles_json == _json(list(entry.roles))
    assert list(entry.payload) == ["z", "a", "big"]  # stored in the payload's order
    with pytest.raises(ValidationError) as caught:
        seal_stored({**draft, "payload": {"x": ["e\u0301"]}}, head)
    assert caught.value.field == "payload.x[0]"
    with pytest.raises(ValidationError) as caught:
        seal_stored({**draft, "actor": "e\u0301"}, head)
    assert caught.value.field == "value.actor"


def test_a_too_long_entry_value_is_refused_and_nothing_is_written(
    flow_store: tuple[rf.ReleaseFlow, SqlStore],
) -> None:
    """The combined head-and-entry statement (PostgreSQL) must not truncate.

    A server refuses a value longer than its column; the head does not move and no
    entry is stored. (SQLite does not enforce VARCHAR lengths.)
    """
    flow, store = flow_store
    if store.is_sqlite:
        pytest.skip("SQLite does not enforce VARCHAR lengths")
    request = flow.fire(new_inquiry(flow).id, "triage", actor="spoke.tran")
    ledger = ledger_for(str(request.id), store.ledger_count)
    heads = flow.audit.heads()
    entries = len(flow.audit.history(request.id))
    draft = {
        "event": rf.AuditEvent.TRANSITIONED,
        "request_id": request.id,
        "request_version": request.version,
        "request_kind": request.kind,
        "unit": request.unit,
        "from_state": None,
        "to_state": request.state,
        "trigger": "x" * 65,
        "actor": "coord.bui",
        "roles": (),
        "at": Clock()(),
        "payload": {},
        "content_hash": request.content_hash,
    }
    with store.unit_of_work() as uow, pytest.raises(ReleaseflowError):
        uow.audit.append_next(ledger, draft)
    assert flow.audit.heads() == heads
    assert len(flow.audit.history(request.id)) == entries
    assert flow.audit.verify().ok


# -- the compare-and-set's SET list ------------------------------------------------


def _updates(store: SqlStore) -> tuple[list[str], Any]:
    seen: list[str] = []

    def record(*args: Any) -> None:
        text = str(args[2])
        if "UPDATE" in text and store.tables.prefix + "requests" in text:
            seen.append(text)

    return seen, record


def test_a_transition_leaves_unchanged_identity_columns_out_of_its_update(
    flow_store: tuple[rf.ReleaseFlow, SqlStore],
) -> None:
    """SQLite rewrites every index whose column is SET: unchanged ones are not."""
    import re

    flow, store = flow_store
    request = flow.fire(new_inquiry(flow).id, "triage", actor="spoke.tran")
    seen, record = _updates(store)
    sa.event.listen(store.engine, "before_cursor_execute", record)
    try:
        request = _toggle(flow, request)  # remembered request: no read
        request = flow.fire(request.id, TOGGLE[request.state], actor="coord.bui")
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", record)
    assert len(seen) == 2
    for text in seen:
        assert re.search(r"\bstate\s*=", text)
        for column in ("created_at", "received_at", "unit", "kind", "created_by"):
            assert not re.search(rf"\b{column}\s*=", text), column
    assert flow.get(request.id) == request
    assert flow.audit.verify().ok


def test_a_changed_identity_column_is_written(
    flow_store: tuple[rf.ReleaseFlow, SqlStore],
) -> None:
    """An update that moves the request to another unit stores the new unit."""
    flow, store = flow_store
    request = flow.fire(new_inquiry(flow).id, "triage", actor="spoke.tran")
    moved = request.model_copy(
        update={"unit": "agency/other", "version": request.version + 1}
    )
    with store.unit_of_work() as uow:
        assert uow.requests.get(request.id) == request
        uow.requests.update(moved, expected_version=request.version)
        uow.commit()
    t = store.tables.requests
    with store.engine.connect() as conn:
        unit = conn.execute(
            sa.select(t.c.unit).where(t.c.id == str(request.id))
        ).scalar_one()
    assert unit == "agency/other"
    assert flow.get(request.id) == moved
