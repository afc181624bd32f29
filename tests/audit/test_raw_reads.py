"""``read_once`` on a DB-API connection checked out of the pool (``raw_reads``).

On SQLite and PostgreSQL a one-statement audit read takes a pooled DB-API
connection, not a SQLAlchemy ``Connection``; pool events still fire, the connection
goes back in its pooled state, an unchecked connection or a cursor-execute listener
sends the read down the ordinary path, a statement that needs SQLAlchemy gets an
ordinary connection, and a lost link is one typed error that invalidates it.
"""

from __future__ import annotations

import gc
import sqlite3
import threading
from datetime import date
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event

import releaseflow as rf
from releaseflow.demo import seed
from releaseflow.exceptions import StorageError, StorageUnavailableError
from releaseflow.storage.sql import SqlStore, raw_reads
from tests.conftest import new_inquiry

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(name="sql_flow")
def _sql_flow(flow: rf.ReleaseFlow) -> rf.ReleaseFlow:
    store = flow.store
    if not isinstance(store, SqlStore) or store.dialect not in (
        "sqlite",
        "postgresql",
    ):
        pytest.skip("the raw path: SQLite and PostgreSQL stores")
    seed(flow, date(2026, 3, 20))
    return flow


def _store(flow: rf.ReleaseFlow) -> SqlStore:
    store = flow.store
    assert isinstance(store, SqlStore)
    return store


def _rid(flow: rf.ReleaseFlow) -> str:
    entry = flow.audit.query(trigger="refuse", limit=1).entries[0]
    assert entry.request_id is not None
    return str(entry.request_id)


class _Events:
    """Engine and pool events seen while a block runs."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.connects = 0
        self.checkouts = 0
        self.checkins: list[Any] = []
        self.invalidated = 0

    def _connect(self, *_: Any) -> None:
        self.connects += 1

    def _checkout(self, *_: Any) -> None:
        self.checkouts += 1

    def _checkin(self, dbapi_connection: Any, record: Any) -> None:
        self.checkins.append(
            (getattr(dbapi_connection, "autocommit", None), dict(record.info))
        )

    def _invalidate(self, *_: Any) -> None:
        self.invalidated += 1

    def __enter__(self) -> _Events:
        event.listen(self.engine, "engine_connect", self._connect)
        event.listen(self.engine, "checkout", self._checkout)
        event.listen(self.engine, "checkin", self._checkin)
        event.listen(self.engine, "invalidate", self._invalidate)
        return self

    def __exit__(self, *_: object) -> None:
        event.remove(self.engine, "engine_connect", self._connect)
        event.remove(self.engine, "checkout", self._checkout)
        event.remove(self.engine, "checkin", self._checkin)
        event.remove(self.engine, "invalidate", self._invalidate)


def test_light_reads_take_a_pooled_dbapi_connection(sql_flow: rf.ReleaseFlow) -> None:
    store = _store(sql_flow)
    rid = _rid(sql_flow)
    _unpark(store)
    expected = sql_flow.audit.history(rid)
    with _Events(store.engine) as seen:
        _unpark(store)  # back to the pool: the next read checks one out
        assert sql_flow.audit.history(rid) == expected
        page = sql_flow.audit.query(actor="spoke.tran", limit=5)
    assert page.entries
    assert seen.connects == 0  # no SQLAlchemy Connection was made
    assert seen.checkouts == 1  # the pool served the first read...
    assert len(seen.checkins) == 1  # (the parked one, given back above)
    if not store.memory:
        # ... and the second took the connection the first parked
        assert store.engine.pool.checkedout() == 1  # type: ignore[attr-defined]
    if store.dialect == "postgresql":
        # back in the pool as the engine left it: not in autocommit
        assert [autocommit for autocommit, _ in seen.checkins] == [False]


def _unpark(store: SqlStore) -> None:
    """Give a parked connection back to the pool (as a store's close does)."""
    parking = store.parking
    if parking is not None:
        leased = parking.take()
        if leased is not None:
            leased.give_back()


def _file_store(flow: rf.ReleaseFlow) -> SqlStore:
    store = _store(flow)
    if store.memory:
        pytest.skip("a file or a server: the in-memory store parks nothing")
    assert store.parking is not None
    return store


def test_one_connection_is_parked_between_light_reads(
    sql_flow: rf.ReleaseFlow,
) -> None:
    store = _file_store(sql_flow)
    rid = _rid(sql_flow)
    expected = sql_flow.audit.history(rid)
    pool: Any = store.engine.pool
    with _Events(store.engine) as seen:
        for _ in range(3):
            assert sql_flow.audit.history(rid) == expected
        assert (seen.checkouts, seen.checkins) == (0, [])
        assert pool.checkedout() == 1
        # a read while the parked connection is in use checks another one out of
        # the pool; only one of the two stays parked
        with store.read_once() as outer:
            assert outer.fast_select("SELECT 1", ()) is not None
            assert sql_flow.audit.history(rid) == expected
            assert seen.checkouts >= 1
        assert len(seen.checkins) == seen.checkouts
        assert pool.checkedout() == 1
    with _Events(store.engine) as closing:
        store.close()
    # given back to the pool (closed first where a test store disposed of its
    # engine before closing)
    assert len(closing.checkins) == 1


def test_a_read_during_close_never_takes_the_parked_connection(
    sql_flow: rf.ReleaseFlow, monkeypatch: pytest.MonkeyPatch
) -> None:
    """close() empties the parking under its lock before giving the lease back.

    A read arriving while close() hands the connection back to the pool finds
    nothing parked (it used to find the very lease being given back).
    """
    store = _file_store(sql_flow)
    sql_flow.audit.history(_rid(sql_flow))
    parking = store.parking
    assert parking is not None
    taken: list[object] = []
    drain = raw_reads._drain

    def racing_drain(*args: Any) -> None:
        taken.append(parking.take())  # a read arriving mid-close
        drain(*args)

    monkeypatch.setattr(raw_reads, "_drain", racing_drain)
    with _Events(store.engine) as closing:
        store.close()
    assert taken == [None]
    assert len(closing.checkins) == 1  # the parked one, given back once


def test_a_connection_left_in_a_transaction_is_not_parked(
    sql_flow: rf.ReleaseFlow,
) -> None:
    """Parked only when idle: a transaction left open goes to the pool's reset."""
    store = _file_store(sql_flow)
    if store.dialect != "sqlite":
        pytest.skip("SQLite: BEGIN on the raw autocommit connection")
    rid = _rid(sql_flow)
    expected = sql_flow.audit.history(rid)
    pool: Any = store.engine.pool
    with _Events(store.engine) as seen:
        with store.read_once() as uow:
            assert uow.fast_select("BEGIN", (), names=["none"]) is not None
        assert len(seen.checkins) == 1  # given back, not parked
        assert pool.checkedout() == 0
    assert sql_flow.audit.history(rid) == expected
    assert pool.checkedout() == 1  # an idle one is parked again


def test_a_disposed_engine_closes_the_parked_connection(
    sql_flow: rf.ReleaseFlow,
) -> None:
    store = _file_store(sql_flow)
    rid = _rid(sql_flow)
    expected = sql_flow.audit.history(rid)
    with _Events(store.engine) as seen:
        store.engine.dispose()
        assert sql_flow.audit.history(rid) == expected
        assert seen.invalidated == 1  # the old pool's connection, closed
    # the new pool's connection is checked on a Connection first, then parked
    assert sql_flow.audit.history(rid) == expected
    assert store.engine.pool.checkedout() == 1  # type: ignore[attr-defined]


def test_a_collected_store_gives_its_parked_connection_back(tmp_path: Any) -> None:
    store = SqlStore.open(f"sqlite:///{tmp_path / 'gc.db'}")
    engine = store.engine
    flow = rf.ReleaseFlow(store)
    flow.directory.bootstrap("admin", unit="agency")
    flow.directory.grant("comms.nguyen", "comms_officer", unit="agency", by="admin")
    request = new_inquiry(flow)
    assert len(flow.audit.history(request.id)) == 1
    pool: Any = engine.pool
    assert pool.checkedout() == 1
    del flow, store, request
    gc.collect()
    assert pool.checkedout() == 0
    engine.dispose()


def test_a_cursor_listener_sees_the_statement(sql_flow: rf.ReleaseFlow) -> None:
    """The check above can fail: with a listener, reads go through SQLAlchemy."""
    store = _store(sql_flow)
    rid = _rid(sql_flow)
    statements: list[str] = []

    def after(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    event.listen(store.engine, "after_cursor_execute", after)
    try:
        with _Events(store.engine) as seen:
            entries = sql_flow.audit.history(rid)
    finally:
        event.remove(store.engine, "after_cursor_execute", after)
    assert entries
    assert seen.connects == 1
    assert any("audit_entries" in s for s in statements)


def test_an_unchecked_pooled_connection_takes_the_ordinary_path(
    sql_flow: rf.ReleaseFlow,
) -> None:
    store = _store(sql_flow)
    rid = _rid(sql_flow)
    expected = sql_flow.audit.history(rid)
    if store.memory:
        pytest.skip("one shared connection")
    _unpark(store)
    # hold every pooled connection, so the next read needs a brand-new one
    held = [store.engine.connect() for _ in range(store.engine.pool.checkedin())]
    try:
        with _Events(store.engine) as seen:
            assert sql_flow.audit.history(rid) == expected  # new: checked first
            first = seen.connects
            assert sql_flow.audit.history(rid) == expected  # now checked: raw
        assert first == 1
        assert seen.connects == 1
        ready = [bool(info.get("releaseflow_ready")) for _, info in seen.checkins]
        # given back unused, then checked on a Connection, then read raw (and
        # parked: not checked in)
        assert ready == [False, True]
        assert seen.checkouts == 3
    finally:
        for conn in held:
            conn.close()


def test_a_sqlalchemy_statement_gets_an_ordinary_connection(
    sql_flow: rf.ReleaseFlow,
) -> None:
    store = _store(sql_flow)
    rid = _rid(sql_flow)
    count = sa.select(sa.func.count()).select_from(store.tables.audit)
    with store.unit_of_work(write=False) as uow:
        total = uow.scalar(count)
        every = list(uow.audit.entries(request_id=sql_flow._request_id(rid)))
    with _Events(store.engine) as seen, store.read_once() as uow:
        found = uow.audit.history(sql_flow._request_id(rid))  # type: ignore[attr-defined]
        assert seen.connects == 0
        assert uow.scalar(count) == total  # switches to a Connection
        assert seen.connects == 1
        again = uow.audit.history(sql_flow._request_id(rid))  # type: ignore[attr-defined]
    assert found == every == again
    # the raw connection was parked (taken and put back: no pool traffic), the
    # ordinary one checked out and back
    assert seen.checkouts == len(seen.checkins) == 1


def test_an_in_memory_store_reads_under_its_lock(clock: Any) -> None:
    store = SqlStore.open("sqlite://")
    try:
        flow = rf.ReleaseFlow(store, clock=clock)
        flow.directory.bootstrap("admin", unit="agency")
        flow.directory.grant("comms.nguyen", "comms_officer", unit="agency", by="admin")
        request = new_inquiry(flow)
        assert [e.request_version for e in flow.audit.history(request.id)] == [1]
        # the lock was released: another thread can write and read
        done: list[int] = []

        def other() -> None:
            again = new_inquiry(flow)
            done.append(len(flow.audit.history(again.id)))

        worker = threading.Thread(target=other)
        worker.start()
        worker.join(timeout=30)
        assert done == [1]
    finally:
        store.close()


def test_a_sqlite_io_error_discards_the_pooled_connection(
    sql_flow: rf.ReleaseFlow,
) -> None:
    """After an I/O error a SQLite connection's state is undefined: never reused."""
    store = _store(sql_flow)
    if store.dialect != "sqlite" or store.memory:
        pytest.skip("a SQLite file")
    rid = _rid(sql_flow)
    expected = sql_flow.audit.history(rid)
    failure = sqlite3.OperationalError("disk I/O error")
    failure.sqlite_errorname = "SQLITE_IOERR_READ"
    with _Events(store.engine) as seen:
        with store.read_once() as uow:
            assert uow.fast_select("SELECT 1", ()) is not None  # the raw lease
            error = uow._driver_error(failure)
        assert type(error) is StorageError
        assert seen.invalidated == 1
    assert sql_flow.audit.history(rid) == expected  # a fresh connection serves


@pytest.fixture(name="pg_flow")
def _pg_flow(sql_flow: rf.ReleaseFlow) -> rf.ReleaseFlow:
    if _store(sql_flow).dialect != "postgresql":
        pytest.skip("PostgreSQL: a server link to cut")
    return sql_flow


def test_a_lost_link_is_one_typed_error_and_invalidates(
    pg_flow: rf.ReleaseFlow,
) -> None:
    store = _store(pg_flow)
    rid = _rid(pg_flow)
    expected = pg_flow.audit.history(rid)
    admin = sa.create_engine(store.engine.url)
    try:
        with _Events(store.engine) as seen:
            with store.read_once() as uow:
                found = uow.fast_select("SELECT pg_backend_pid()", ())
                assert found is not None
                pid = int(found[1][0][0])
                with admin.connect() as conn:
                    conn.exec_driver_sql(f"SELECT pg_terminate_backend({pid})")
                    conn.commit()
                with pytest.raises(StorageUnavailableError):
                    uow.fast_select("SELECT 1", ())
            assert seen.invalidated == 1
            assert seen.connects == 0
        # the pool recovers: the next read gets a working connection
        assert pg_flow.audit.history(rid) == expected
    finally:
        admin.dispose()
