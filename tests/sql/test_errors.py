"""T42 and T11: every driver failure surfaces as exactly one typed releaseflow error."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from pathlib import Path
from typing import Any

import psycopg
import pymysql
import pytest
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

import releaseflow as rf
from releaseflow.exceptions import (
    CommitOutcomeUnknownError,
    ConflictError,
    StorageBusyError,
    StorageError,
    StorageFullError,
    StorageUnavailableError,
)
from releaseflow.storage.sql import SqlStore
from releaseflow.storage.sql.errors import classify
from tests.conftest import Clock, new_inquiry
from tests.sql.conftest import SERVER_BACKENDS
from tests.sql_support import DroppingSqlStore, server_url, unique_prefix


def _sqlite(message: str, name: str) -> BaseException:
    error = sqlite3.OperationalError(message)
    error.sqlite_errorname = name  # type: ignore[attr-defined]
    return error


def _pg(cls: type[psycopg.Error]) -> BaseException:
    return cls("simulated")


CASES: list[tuple[str, BaseException, type[Exception]]] = [
    ("pg 40001", _pg(psycopg.errors.SerializationFailure), ConflictError),
    ("pg 40P01", _pg(psycopg.errors.DeadlockDetected), StorageBusyError),
    ("pg 55P03", _pg(psycopg.errors.LockNotAvailable), StorageBusyError),
    ("pg 57P01", _pg(psycopg.errors.AdminShutdown), StorageUnavailableError),
    ("pg 53100", _pg(psycopg.errors.DiskFull), StorageFullError),
    ("pg 23505", _pg(psycopg.errors.UniqueViolation), ConflictError),
    ("my 1213", pymysql.err.OperationalError(1213, "Deadlock"), StorageBusyError),
    ("my 1205", pymysql.err.OperationalError(1205, "Lock wait"), StorageBusyError),
    ("my 1020", pymysql.err.OperationalError(1020, "Record changed"), ConflictError),
    (
        "my 2006",
        pymysql.err.OperationalError(2006, "gone away"),
        StorageUnavailableError,
    ),
    ("my 2013", pymysql.err.OperationalError(2013, "Lost"), StorageUnavailableError),
    ("my 1114", pymysql.err.OperationalError(1114, "table full"), StorageFullError),
    ("lite busy", _sqlite("database is locked", "SQLITE_BUSY"), StorageBusyError),
    ("lite locked", _sqlite("table locked", "SQLITE_LOCKED"), StorageBusyError),
    ("lite full", _sqlite("database or disk is full", "SQLITE_FULL"), StorageFullError),
    ("lite ioerr", _sqlite("disk I/O error", "SQLITE_IOERR_FSYNC"), StorageError),
]


@pytest.mark.parametrize(
    ("orig", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_each_driver_error_maps_to_exactly_one_type(
    orig: BaseException, expected: type[Exception]
) -> None:
    wrapped = sa_exc.OperationalError("SELECT 1", {}, orig)
    mapped = classify(wrapped)
    assert type(mapped) is expected


@pytest.mark.parametrize(
    "orig",
    [
        _pg(psycopg.errors.AdminShutdown),
        pymysql.err.OperationalError(2013, "Lost connection during query"),
    ],
)
def test_a_lost_link_during_commit_is_outcome_unknown(orig: BaseException) -> None:
    wrapped = sa_exc.OperationalError("COMMIT", {}, orig)
    assert type(classify(wrapped, committing=True)) is CommitOutcomeUnknownError
    assert type(classify(wrapped)) is StorageUnavailableError


def _flow(store: SqlStore, **options: Any) -> rf.ReleaseFlow:
    flow = rf.ReleaseFlow(store, clock=Clock(), **options)
    flow.directory.bootstrap("admin", unit="agency")
    flow.directory.grant("comms.nguyen", "comms_officer", unit="agency", by="admin")
    flow.directory.grant("spoke.tran", "spokesperson", unit="agency", by="admin")
    return flow


def _count(store: SqlStore) -> int:
    with store.engine.connect() as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count()).select_from(store.tables.requests)
            ).scalar_one()
        )


def test_sqlite_busy_is_storage_busy(tmp_path: Path) -> None:
    path = tmp_path / "busy.db"
    store = SqlStore.open(f"sqlite:///{path}", busy_timeout=0.2)
    try:
        flow = _flow(store)
        blocker = sqlite3.connect(path, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(StorageBusyError):
                new_inquiry(flow)
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        new_inquiry(flow)  # works again once the lock is gone
        assert _count(store) == 1
    finally:
        store.close()


def test_sqlite_full_is_storage_full_and_leaves_nothing(tmp_path: Path) -> None:
    store = SqlStore.open(f"sqlite:///{tmp_path / 'full.db'}")
    try:
        flow = _flow(store)
        new_inquiry(flow)
        with store.engine.connect() as conn:
            pages = conn.exec_driver_sql("PRAGMA page_count").scalar()
            conn.exec_driver_sql(f"PRAGMA max_page_count = {int(pages or 0) + 2}")
        with pytest.raises(StorageFullError):
            new_inquiry(flow, body="x" * 90_000)
        assert _count(store) == 1
        assert flow.audit.verify().ok
    finally:
        store.close()


needs_server = pytest.mark.skipif(not SERVER_BACKENDS, reason="no server URL set")


class _Tracked:
    """A host engine that remembers its server-side connection ids."""

    def __init__(self, backend: str) -> None:
        self.backend = backend
        self.url = server_url(backend)
        self.ids: list[int] = []
        self.engine = sa.create_engine(self.url)
        self.track(self.engine)

    def track(self, engine: sa.Engine) -> None:
        """Remember the ids of ``engine``'s connections made from now on."""
        backend = self.backend
        query = (
            "SELECT pg_backend_pid()"
            if backend == "postgres"
            else "SELECT CONNECTION_ID()"
        )

        @sa.event.listens_for(engine, "connect")
        def _remember(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute(query)
            self.ids.append(int(cursor.fetchone()[0]))
            cursor.close()
            if backend == "postgres":
                dbapi_connection.commit()

    def cut(self) -> None:
        admin = sa.create_engine(self.url)
        try:
            with admin.connect() as conn:
                for cid in self.ids:
                    if self.backend == "postgres":
                        conn.exec_driver_sql(f"SELECT pg_terminate_backend({cid})")
                    else:
                        with contextlib.suppress(sa_exc.DBAPIError):
                            conn.exec_driver_sql(f"KILL CONNECTION {cid}")
                conn.commit()
        finally:
            admin.dispose()
        self.ids.clear()


@needs_server
@pytest.mark.parametrize("backend", SERVER_BACKENDS)
@pytest.mark.parametrize("point", ["after_load", "before_commit"])
@pytest.mark.parametrize("engine", ["host", "own"])
def test_cut_connection_is_unavailable_or_outcome_unknown(
    backend: str, point: str, engine: str
) -> None:
    """A link cut mid-transition: one error, the pool recovers, retries apply once.

    ``own``: the store's own engine (PostgreSQL: units of work begin on the pooled
    connection, a SQLAlchemy ``Connection`` made only for Core statements).
    """
    tracked = _Tracked(backend)
    armed = threading.Event()

    def hook(where: str) -> None:
        if where == point and armed.is_set():
            armed.clear()
            tracked.cut()

    prefix = unique_prefix()
    if engine == "host":
        store = DroppingSqlStore.open(tracked.engine, table_prefix=prefix)
    else:
        store = DroppingSqlStore.open(tracked.url, table_prefix=prefix)
        tracked.track(store.engine)
        store.engine.dispose()  # new connections: their ids are tracked
    store.test_url = tracked.url
    try:
        flow = _flow(store, test_hook=hook)
        request = new_inquiry(flow)
        assert store.raw_path_ok() == (engine == "own" and backend == "postgres")
        armed.set()
        expected = (
            CommitOutcomeUnknownError
            if point == "before_commit"
            else StorageUnavailableError
        )
        with pytest.raises(expected):
            flow.fire(request.id, "triage", actor="spoke.tran", idempotency_key="k-1")
        # the pool recovers; a retry with the same key applies exactly once
        again = flow.fire(
            request.id, "triage", actor="spoke.tran", idempotency_key="k-1"
        )
        same = flow.fire(
            request.id, "triage", actor="spoke.tran", idempotency_key="k-1"
        )
        assert again == same
        assert again.version == 2
        assert [e.request_version for e in flow.audit.history(request.id)] == [1, 2]
        assert flow.audit.verify().ok
    finally:
        store.close()
        tracked.engine.dispose()


@pytest.mark.skipif("postgres" not in SERVER_BACKENDS, reason="no PostgreSQL URL set")
@pytest.mark.parametrize("point", ["after_load", "before_commit"])
def test_a_cut_link_on_the_raw_path_is_one_error_and_the_pool_recovers(
    point: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A warm transition that never leaves the raw path, its link cut mid-way.

    No SQLAlchemy ``Connection`` is made for it (making one fails the test); the
    cut is ``StorageUnavailableError`` before COMMIT and
    ``CommitOutcomeUnknownError`` during it, the lost connection is invalidated,
    and the next transition on the pool works, applied once.
    """
    from releaseflow.storage.sql.store import SqlUnitOfWork

    tracked = _Tracked("postgres")
    prefix = unique_prefix()
    store = DroppingSqlStore.open(tracked.url, table_prefix=prefix)
    tracked.track(store.engine)
    store.engine.dispose()  # new connections: their ids are tracked
    store.test_url = tracked.url
    armed = threading.Event()

    def hook(where: str) -> None:
        if where == point and armed.is_set():
            armed.clear()
            tracked.cut()

    try:
        flow = _flow(store, test_hook=hook)
        warm = flow.fire(new_inquiry(flow).id, "triage", actor="spoke.tran")
        request = flow.fire(new_inquiry(flow).id, "triage", actor="spoke.tran")
        flow.fire(warm.id, "request_information", actor="spoke.tran")  # warm actor
        assert store.raw_path_ok()

        def no_connection(_self: SqlUnitOfWork) -> Any:
            raise AssertionError("a SQLAlchemy Connection was made")

        opened: list[bool] = []
        original = SqlUnitOfWork._open_raw

        def spy(self: SqlUnitOfWork, options: Any) -> bool:
            began = original(self, options)
            opened.append(began)
            return began

        with monkeypatch.context() as patch:
            patch.setattr(SqlUnitOfWork, "_wrap_raw", no_connection)
            patch.setattr(SqlUnitOfWork, "_open_raw", spy)
            armed.set()
            expected = (
                CommitOutcomeUnknownError
                if point == "before_commit"
                else StorageUnavailableError
            )
            with pytest.raises(expected):
                flow.fire(
                    request.id,
                    "request_information",
                    actor="spoke.tran",
                    expected_version=request.version,
                )
            assert not armed.is_set()
        assert opened == [True]  # the transition began on the raw path
        moved = flow.fire(
            request.id,
            "request_information",
            actor="spoke.tran",
            expected_version=request.version,
        )
        assert moved.version == request.version + 1
        versions = [e.request_version for e in flow.audit.history(request.id)]
        assert versions == list(range(1, moved.version + 1))
        assert flow.audit.verify().ok
    finally:
        store.close()
        tracked.engine.dispose()


@needs_server
@pytest.mark.parametrize("backend", SERVER_BACKENDS)
def test_lock_timeout_is_storage_busy(backend: str) -> None:
    prefix = unique_prefix()
    url = server_url(backend)
    store = DroppingSqlStore.open(url, table_prefix=prefix, busy_timeout=0.3)
    store.test_url = url
    try:
        flow = _flow(store)
        request = new_inquiry(flow)
        table = store.tables.directory
        with store.engine.connect() as blocker:
            blocker.execute(sa.select(table.c.version).with_for_update())
            with pytest.raises(StorageBusyError):
                flow.fire(request.id, "triage", actor="spoke.tran")
            blocker.rollback()
        assert flow.fire(request.id, "triage", actor="spoke.tran").version == 2
    finally:
        store.close()
