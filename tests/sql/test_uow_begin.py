"""How a unit of work begins and ends its transaction on the raw DB-API path.

On PostgreSQL the raw path puts psycopg's connection in autocommit mode and sends
its own ``BEGIN`` in the same simple query as the first statement when that
statement takes no parameters (the directory lock of a transition that does not
guess the directory version): one round trip fewer than psycopg's separate
``BEGIN``. The round trips are counted on the wire
(libpq's protocol trace), not by SQLAlchemy listeners, which would switch the raw
path off. Whatever path a transaction took, a statement after ``commit()`` must
begin a new transaction (never run in autocommit), and a pooled connection must
come back out of autocommit mode.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import releaseflow as rf
from releaseflow.exceptions import (
    CommitOutcomeUnknownError,
    StorageBusyError,
    StorageError,
    StorageUnavailableError,
)
from releaseflow.storage.sql import SqlStore
from releaseflow.storage.sql.repositories import SqlDirectory
from releaseflow.storage.sql.statements import DriverSql, _driver_sql
from tests.conftest import Clock, new_inquiry, staff
from tests.sql.conftest import SQL_BACKENDS, StoreFactory
from tests.sql_support import open_sql_store

TOGGLE = {"drafting": "request_information", "gathering": "information_received"}
POSTGRES = [b for b in SQL_BACKENDS if b == "postgres"]


@contextmanager
def _wire(store: SqlStore, path: Path) -> Iterator[list[str]]:
    """The protocol messages of every connection checked out while attached.

    Yields a list filled on exit: one entry per message, ``"F Query …"`` for the
    frontend, ``"B ReadyForQuery …"`` for the backend and so on.
    """
    import psycopg

    log = path / "wire.txt"
    messages: list[str] = []
    traced: list[Any] = []
    with log.open("w") as sink:

        def trace(dbapi_connection: Any, *_: Any) -> None:
            pgconn = dbapi_connection.pgconn
            pgconn.trace(sink.fileno())
            pgconn.set_trace_flags(
                psycopg.pq.Trace.SUPPRESS_TIMESTAMPS | psycopg.pq.Trace.REGRESS_MODE
            )
            traced.append(pgconn)

        sa.event.listen(store.engine, "checkout", trace)
        try:
            yield messages
        finally:
            sa.event.remove(store.engine, "checkout", trace)
            for pgconn in traced:
                pgconn.untrace()
    # one message per line, but a query's own line breaks are kept
    for line in re.split(r"\n(?=[FB]\t)", log.read_text().strip()):
        parts = line.split("\t")
        words = " ".join(parts[2:]).split()
        messages.append(" ".join([parts[0], *words]))


def _round_trips(messages: list[str]) -> int:
    """Each simple query or Sync ends with exactly one ReadyForQuery."""
    return sum(1 for m in messages if m.startswith("B ReadyForQuery"))


@pytest.mark.parametrize("sql_backend", POSTGRES)
@pytest.mark.parametrize("guessed", [False, True], ids=["locked", "guessed"])
def test_on_postgres_a_transition_takes_four_round_trips(
    open_store: StoreFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    guessed: bool,
) -> None:
    """BEGIN + directory lock, request CAS, head CAS + entry, COMMIT.

    Locking the directory (no guess), the BEGIN travels with the directory
    lock (one simple query). Guessing, the directory version is
    guessed: no lock statement, the request CAS checks and share-locks the
    directory row itself, and the BEGIN goes alone -- one statement fewer, the
    same four round trips.
    """
    store = open_store()
    flow = rf.ReleaseFlow(store, clock=Clock())
    staff(flow)
    request = flow.fire(new_inquiry(flow).id, "triage", actor="spoke.tran")
    request = flow.fire(
        request.id,
        TOGGLE[request.state],
        actor="coord.bui",
        expected_version=request.version,
    )  # fills the caches
    if not guessed:
        monkeypatch.setattr(SqlDirectory, "lock_guessing", SqlDirectory.lock)
    with _wire(store, tmp_path) as messages:
        moved = flow.fire(
            request.id,
            TOGGLE[request.state],
            actor="coord.bui",
            expected_version=request.version,
        )
    sent = [m for m in messages if m.startswith("F ")]
    queries = [m for m in sent if m.startswith(("F Query", "F Parse"))]
    if guessed:
        assert queries[0] == 'F Query "BEGIN ISOLATION LEVEL READ COMMITTED"'
        assert "UPDATE" in queries[1]
        assert "directory_state" in queries[1]
        assert "FOR SHARE" in queries[1]
        assert not any("SELECT" in q.split("EXISTS")[0] for q in queries[:2])
    else:
        assert queries[0].startswith(
            'F Query "BEGIN ISOLATION LEVEL READ COMMITTED; SELECT'
        )
        assert "FOR SHARE" in queries[0]
    assert not any(m.startswith('F Query "BEGIN"') for m in sent)
    assert sent[-1].startswith('F Query "COMMIT"')
    assert _round_trips(messages) == 4
    assert flow.get(request.id) == moved
    assert flow.audit.verify().ok
    raw = store.engine.raw_connection()
    try:  # the pooled connection is back out of autocommit mode
        assert raw.dbapi_connection.autocommit is False  # type: ignore[union-attr]
    finally:
        raw.close()


def _bump(store: SqlStore) -> DriverSql:
    d = store.tables.directory
    stmt = sa.update(d).where(d.c.id == 1).values(version=d.c.version + 1)
    return _driver_sql(stmt, store.engine.dialect, store.schema)


def _version(store: SqlStore) -> int:
    with store.unit_of_work(write=False) as uow:
        return int(uow.directory.lock())


def test_after_a_raw_commit_the_next_statement_begins_a_new_transaction(
    open_store: StoreFactory,
) -> None:
    """Lock (BEGIN carried), write, commit; a write after that is rolled back."""
    store = open_store()
    before = _version(store)
    bump = _bump(store)
    with store.unit_of_work() as uow:
        assert uow.directory.lock() == before
        assert uow.fast_rowcount(bump, {}) == 1
        uow.commit()
        assert uow.fast_rowcount(bump, {}) == 1
        assert uow.directory.lock() == before + 2  # this transaction's own write
        # leaves without commit: the second write must not stay
    assert _version(store) == before + 1
    for _ in range(3):  # pooled connections keep beginning transactions
        with store.unit_of_work() as uow:
            assert uow.fast_rowcount(bump, {}) == 1
    assert _version(store) == before + 1


def test_after_a_commit_on_the_wrapped_connection_the_next_statement_is_rolled_back(
    open_store: StoreFactory,
) -> None:
    """The raw path's transaction continued on SQLAlchemy's ``Connection``."""
    store = open_store()
    before = _version(store)
    d = store.tables.directory
    bump = sa.update(d).where(d.c.id == 1).values(version=d.c.version + 1)
    with store.unit_of_work() as uow:
        assert uow.directory.lock() == before  # raw path, BEGIN sent with it
        uow.run(bump)  # SQLAlchemy's Connection over the same connection
        uow.commit()
        uow.run(bump)
        uow.rollback()
        uow.run(bump)
        # leaves without commit
    assert _version(store) == before + 1
    with store.unit_of_work() as uow:
        uow.run(bump)  # an ordinary unit of work on a pooled connection
    assert _version(store) == before + 1


def test_a_failed_first_statement_leaves_nothing_behind(
    open_store: StoreFactory,
) -> None:
    """The statement carried with the BEGIN fails: typed error, nothing written."""
    store = open_store()
    before = _version(store)
    broken = DriverSql(
        text="SELECT no_such_column FROM nowhere_at_all",
        names=(),
        positional=False,
        processors={},
        constants={},
        literal="SELECT no_such_column FROM nowhere_at_all",
    )
    with store.unit_of_work() as uow, pytest.raises(StorageError):
        uow.fast_row(broken, {})
    with store.unit_of_work() as uow:
        assert uow.fast_rowcount(_bump(store), {}) == 1
        uow.commit()
    assert _version(store) == before + 1


@pytest.mark.parametrize("committer", ["raw", "connection"])
def test_on_sqlite_a_begin_refused_as_busy_after_commit_is_still_owed(
    tmp_path: Path, committer: str
) -> None:
    """After a commit, the next statement's BEGIN IMMEDIATE times out, then runs.

    ``committer``: the commit is the raw connection's, or the ``Connection``'s made
    over it.
    """
    path = tmp_path / "busy.db"
    store = SqlStore.open(f"sqlite:///{path}", busy_timeout=0.2)
    try:
        before = _version(store)
        bump = _bump(store)
        with store.unit_of_work() as uow:
            if committer == "raw":
                uow.directory.lock()
            else:
                uow.connection  # noqa: B018 - the commit below is the Connection's
            uow.commit()
            blocker = sqlite3.connect(path, isolation_level=None)
            blocker.execute("BEGIN IMMEDIATE")
            try:
                with pytest.raises(StorageBusyError):
                    uow.fast_rowcount(bump, {})
            finally:
                blocker.execute("ROLLBACK")
                blocker.close()
            assert uow.fast_rowcount(bump, {}) == 1  # in a transaction again
            assert uow.fast_rowcount(bump, {}) == 1
            # leaves without commit
        assert _version(store) == before
    finally:
        store.close()


@pytest.mark.parametrize("sql_backend", POSTGRES)
@pytest.mark.parametrize("end", ["commit", "rollback"])
def test_a_link_lost_after_the_sent_begin_and_a_wrap_ends_in_one_releaseflow_error(
    open_store: StoreFactory, end: str
) -> None:
    """BEGIN sent with the lock, then a ``Connection`` made, then the link cut.

    ``commit()`` must say the outcome is unknown (never a SQLAlchemy error from
    switching autocommit back), and neither end may check a new connection out
    of the pool to switch autocommit off on it (with the server down, that
    checkout's own error would replace the end's).
    """
    store = open_store()
    with store.unit_of_work(write=False) as uow:
        uow.connection  # noqa: B018 - a prepared pooled connection for the raw path
    checkouts: list[object] = []
    uow = store.unit_of_work()
    with uow:
        assert uow.directory.lock() >= 0  # BEGIN travels with the lock
        pid = uow.connection.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        admin = sa.create_engine(store.engine.url)
        try:
            with admin.connect() as conn:
                conn.exec_driver_sql(f"SELECT pg_terminate_backend({pid})")
                conn.commit()
        finally:
            admin.dispose()
        sa.event.listen(store.engine, "checkout", lambda *a: checkouts.append(a))
        if end == "commit":
            with pytest.raises(CommitOutcomeUnknownError):
                uow.commit()
        else:
            with pytest.raises(StorageUnavailableError):
                uow.rollback()
        assert checkouts == []
    assert _version(store) >= 0  # the pool recovers


@pytest.mark.parametrize("end", ["commit", "rollback"])
def test_after_the_connection_ends_a_transaction_a_driver_statement_begins_one(
    open_store: StoreFactory, end: str
) -> None:
    """Commit or roll back on the ``Connection``, then write on the cursor.

    The cursor's write must be inside a new transaction that leaving ``with``
    rolls back: on SQLite the driver is in autocommit mode, so without a BEGIN
    the write would stay.
    """
    store = open_store()
    before = _version(store)
    d = store.tables.directory
    core_bump = sa.update(d).where(d.c.id == 1).values(version=d.c.version + 1)
    bump = _bump(store)
    with store.unit_of_work() as uow:
        uow.directory.lock()
        uow.run(core_bump)  # a Connection: it ends the transaction below
        getattr(uow, end)()
        assert uow.fast_rowcount(bump, {}) == 1
        # leaves without commit: this write must not stay
    assert _version(store) == before + (1 if end == "commit" else 0)
    before = _version(store)
    with store.unit_of_work() as uow:
        uow.directory.lock()
        uow.run(core_bump)
        getattr(uow, end)()
        uow.run(core_bump)  # the Connection begins the next transaction itself
        assert uow.fast_rowcount(bump, {}) == 1  # and the cursor writes in it
        # leaves without commit
    assert _version(store) == before + (1 if end == "commit" else 0)


# -- SQLite, PostgreSQL: a write unit of work parks its idle connection ----------

PARKING = [b for b in SQL_BACKENDS if b in ("sqlite", "postgres")]
"""The configured backends whose stores park connections (a file, a server)."""


@pytest.fixture(name="sqlite_flow", params=PARKING)
def _sqlite_flow(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[rf.ReleaseFlow]:
    """A staffed flow on a store that parks connections (SQLite file, PostgreSQL)."""
    store = open_sql_store(str(request.param), tmp_path)
    flow = staff(rf.ReleaseFlow(store, clock=Clock()))
    yield flow
    store.close()


class _PoolTraffic:
    """Checkouts, checkins and invalidations of an engine's pool while attached."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.checkouts = 0
        self.checkins = 0
        self.invalidated = 0

    def _checkout(self, *_: Any) -> None:
        self.checkouts += 1

    def _checkin(self, *_: Any) -> None:
        self.checkins += 1

    def _invalidate(self, *_: Any) -> None:
        self.invalidated += 1

    def __enter__(self) -> _PoolTraffic:
        sa.event.listen(self.engine, "checkout", self._checkout)
        sa.event.listen(self.engine, "checkin", self._checkin)
        sa.event.listen(self.engine, "invalidate", self._invalidate)
        return self

    def __exit__(self, *_: object) -> None:
        sa.event.remove(self.engine, "checkout", self._checkout)
        sa.event.remove(self.engine, "checkin", self._checkin)
        sa.event.remove(self.engine, "invalidate", self._invalidate)


def _directory_version(store: SqlStore) -> int:
    with store.unit_of_work(write=False) as uow:
        return uow.directory.lock()


def test_committed_writes_reuse_one_parked_connection(
    sqlite_flow: rf.ReleaseFlow,
) -> None:
    """A committed write leaves no transaction: its connection is parked, reused."""
    store = sqlite_flow.store
    assert isinstance(store, SqlStore)
    request = sqlite_flow.fire(
        new_inquiry(sqlite_flow).id, "triage", actor="spoke.tran"
    )
    # (an actor's first fire reads its grants through SQLAlchemy: the store's
    # cache of them serves the next ones, which run on the raw path)
    for trigger in ("request_information", "information_received"):
        request = sqlite_flow.fire(request.id, trigger, actor="coord.bui")
    pool: Any = store.engine.pool
    assert pool.checkedout() == 1  # parked by the last write
    with _PoolTraffic(store.engine) as seen:
        for _ in range(3):
            request = sqlite_flow.fire(
                request.id,
                TOGGLE[request.state],
                actor="coord.bui",
                expected_version=request.version,
            )
    assert (seen.checkouts, seen.checkins) == (0, 0)
    assert pool.checkedout() == 1
    assert sqlite_flow.get(request.id) == request
    assert sqlite_flow.audit.verify().ok
    with _PoolTraffic(store.engine) as closing:
        store.close()
    assert closing.checkins == 1  # the store's close gives it back


def _raw_bump(uow: Any) -> None:
    """Advance the directory version on the unit of work's raw cursor."""
    assert uow._fast  # the raw cursor
    assert uow.fast_rowcount(_bump(uow.store), {}) == 1


def _give_up_after_a_write(store: SqlStore) -> None:
    with store.unit_of_work() as uow:
        _raw_bump(uow)
        raise RuntimeError("the caller gives up")


def _park_one(store: SqlStore) -> None:
    """Commit a raw-path write unit of work (which parks its connection)."""
    with store.unit_of_work() as uow:
        uow.directory.lock()
        uow.commit()
    assert store.engine.pool.checkedout() == 1  # type: ignore[attr-defined]


def test_a_failed_write_is_rolled_back_not_parked(
    sqlite_flow: rf.ReleaseFlow,
) -> None:
    """An open transaction goes back to the pool, rolled back; nothing is kept."""
    store = sqlite_flow.store
    assert isinstance(store, SqlStore)
    before = _directory_version(store)
    pool: Any = store.engine.pool
    _park_one(store)
    with _PoolTraffic(store.engine) as seen:
        with pytest.raises(RuntimeError):
            _give_up_after_a_write(store)
        assert (seen.checkouts, seen.checkins) == (0, 1)  # the parked one
        assert pool.checkedout() == 0
        # written after a commit and not committed: rolled back, not parked
        with store.unit_of_work() as uow:
            uow.directory.lock()
            uow.commit()
            _raw_bump(uow)
        assert (seen.checkouts, seen.checkins) == (1, 2)
        assert pool.checkedout() == 0
    assert _directory_version(store) == before
    # a committed write parks again, and the write that takes it begins cleanly
    for _ in range(2):
        with store.unit_of_work() as uow:
            _raw_bump(uow)
            uow.commit()
        assert pool.checkedout() == 1
    assert _directory_version(store) == before + 2


def test_a_parked_write_connection_of_a_disposed_pool_is_closed(
    sqlite_flow: rf.ReleaseFlow,
) -> None:
    store = sqlite_flow.store
    assert isinstance(store, SqlStore)
    request = new_inquiry(sqlite_flow)
    _park_one(store)
    with _PoolTraffic(store.engine) as seen:
        store.engine.dispose()
        request = sqlite_flow.fire(request.id, "triage", actor="spoke.tran")
        assert seen.invalidated == 1  # the old pool's connection, closed
    assert sqlite_flow.get(request.id) == request
    _park_one(store)  # the new pool's connection is parked
