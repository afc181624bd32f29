"""Attacks on PostgreSQL's parked write connection (review of the parking change).

Whatever way a write unit of work ends -- an exception of any kind, a statement
that failed, a COMMIT that failed, uncommitted work after a commit, a rollback --
the next unit of work never starts on a connection with a transaction open or
aborted, and the pool never gets a connection back in autocommit mode. A backend
the server terminated, while parked or while in use, is a typed error (never a
hang nor a wrong result) and the store recovers.
"""

from __future__ import annotations

import contextlib
import signal
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

import releaseflow as rf
from releaseflow.exceptions import ReleaseflowError, StorageError
from releaseflow.storage.sql import SqlStore
from releaseflow.storage.sql.raw_reads import Parking
from tests.conftest import Clock, staff
from tests.sql.conftest import SQL_BACKENDS
from tests.sql.guessing import toggle, warm
from tests.sql_support import drop_tables, server_url

POSTGRES = [b for b in SQL_BACKENDS if b == "postgres"]

_IDLE, _INTRANS, _INERROR = 0, 2, 3  # libpq PQTRANS_* values


class _Interrupt(BaseException):
    """A KeyboardInterrupt-like exception (not an ``Exception``)."""


class _Watch:
    """Every connection taken from the parking and every pool checkin."""

    def __init__(self, store: SqlStore, monkeypatch: pytest.MonkeyPatch) -> None:
        self.taken: list[tuple[int, bool]] = []  # (libpq status, autocommit)
        self.checkins: list[bool] = []  # autocommit mode on the way back
        original = Parking.take

        def take(parking: Parking, pid: int | None = None) -> Any:
            leased = original(parking, pid)
            if leased is not None:
                dbapi = leased._fairy.dbapi_connection
                self.taken.append((dbapi.info.transaction_status, dbapi.autocommit))
            return leased

        monkeypatch.setattr(Parking, "take", take)
        sa.event.listen(store.engine, "checkin", self._in)

    def _in(self, dbapi: Any, *_: Any) -> None:
        if dbapi is not None:
            self.checkins.append(bool(dbapi.autocommit))

    def clean(self) -> bool:
        """Every take idle and in autocommit; every checkin out of autocommit."""
        return all(t == (_IDLE, True) for t in self.taken) and not any(self.checkins)


@pytest.fixture(name="pg", params=POSTGRES)
def _pg(request: pytest.FixtureRequest) -> Iterator[tuple[rf.ReleaseFlow, SqlStore]]:
    url, prefix = server_url(str(request.param)), f"s6park_{uuid.uuid4().hex[:8]}_"
    store = SqlStore.open(url, table_prefix=prefix)
    try:
        yield staff(rf.ReleaseFlow(store, clock=Clock())), store
    finally:
        store.close()
        drop_tables(url, prefix)


def _parked(store: SqlStore) -> Any:
    assert store.parking is not None
    slot = store.parking._slot
    return slot[0]._fairy.dbapi_connection if slot else None


def _version(store: SqlStore) -> int:
    with store.unit_of_work(write=False) as uow:
        return int(uow.directory.lock())


def _fail_statement(uow: Any) -> None:
    """A statement that fails inside the open transaction (caught)."""
    with pytest.raises(Exception):  # noqa: B017,PT011 - the driver's own error
        uow._cursor.execute("SELECT 1/0")


def _deferred_duplicate(uow: Any) -> None:
    """Work whose COMMIT fails: a deferred unique constraint broken."""
    uow._cursor.execute(
        "CREATE TEMP TABLE s6park_tmp (k int UNIQUE DEFERRABLE INITIALLY DEFERRED)"
    )
    uow._cursor.execute("INSERT INTO s6park_tmp VALUES (1), (1)")


def _exit_base_exception(store: SqlStore) -> bool:
    with pytest.raises(_Interrupt), store.unit_of_work() as uow:  # noqa: PT012
        uow.directory.bump()
        raise _Interrupt
    return False


def _exit_failed_statement_caught(store: SqlStore) -> bool:
    with store.unit_of_work() as uow:
        uow.directory.bump()
        _fail_statement(uow)  # the transaction is aborted; left as it is
    return False


def _exit_failed_statement_raised(store: SqlStore) -> bool:
    with pytest.raises(StorageError), store.unit_of_work() as uow:  # noqa: PT012
        uow.directory.bump()
        uow.run(sa.text("SELECT 1/0"))
    return False


def _exit_write_after_commit(store: SqlStore) -> bool:
    with store.unit_of_work() as uow:
        uow.directory.bump()
        uow.commit()
        uow.directory.bump()  # never committed
    return True


def _exit_rolled_back(store: SqlStore) -> bool:
    with store.unit_of_work() as uow:
        uow.directory.bump()
        uow.rollback()
    return False


def _exit_commit_failed(store: SqlStore) -> bool:
    with pytest.raises(ReleaseflowError), store.unit_of_work() as uow:  # noqa: PT012
        uow.directory.bump()
        _deferred_duplicate(uow)
        uow.commit()
    return False


def _exit_commit_failed_caught(store: SqlStore) -> bool:
    with store.unit_of_work() as uow:
        uow.directory.bump()
        _deferred_duplicate(uow)
        with pytest.raises(ReleaseflowError):
            uow.commit()
    return False


EXITS = {
    f.__name__.removeprefix("_exit_"): f
    for f in (
        _exit_base_exception,
        _exit_failed_statement_caught,
        _exit_failed_statement_raised,
        _exit_write_after_commit,
        _exit_rolled_back,
        _exit_commit_failed,
        _exit_commit_failed_caught,
    )
}


@pytest.mark.parametrize("exit_", list(EXITS))
def test_no_unit_of_work_starts_on_a_dirty_parked_connection(
    pg: tuple[rf.ReleaseFlow, SqlStore], exit_: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    flow, store = pg
    request = warm(flow)
    assert _parked(store) is not None  # the exit below starts on a parked one
    before = _version(store)
    watch = _Watch(store, monkeypatch)
    committed_one = EXITS[exit_](store)
    parked = _parked(store)
    if parked is not None:  # only ever idle, in autocommit, no temp table left
        assert (parked.info.transaction_status, parked.autocommit) == (_IDLE, True)
        cur = parked.cursor()
        cur.execute("SELECT count(*) FROM pg_class WHERE relname = 's6park_tmp'")
        assert cur.fetchone() == (0,)
        cur.close()
    assert _version(store) == before + (1 if committed_one else 0)
    for _ in range(3):  # later fires and reads: right, on clean connections
        request = toggle(flow, request, "coord.bui")
        assert flow.get(request.id) == request
    assert watch.taken  # the parking was used again afterwards
    assert watch.clean(), (watch.taken, watch.checkins)
    assert flow.audit.verify().ok


def _terminate(pid: int) -> None:
    killer = sa.create_engine(server_url("postgres"), poolclass=sa.NullPool)
    try:
        with killer.connect() as conn:
            conn.execute(sa.text("SELECT pg_terminate_backend(:p)"), {"p": pid})
    finally:
        killer.dispose()


def test_a_terminated_parked_link_then_a_single_read(
    pg: tuple[rf.ReleaseFlow, SqlStore],
) -> None:
    """The read that finds it: a typed error or the right answer, then recovery."""
    flow, store = pg
    request = toggle(flow, warm(flow), "coord.bui")
    history = flow.audit.history(request.id)  # a single read, not cached
    parked = _parked(store)
    assert parked is not None
    _terminate(parked.info.backend_pid)
    with contextlib.suppress(StorageError):  # or the right answer
        assert flow.audit.history(request.id) == history
    assert _parked(store) is not parked
    assert flow.audit.history(request.id) == history
    request = toggle(flow, request, "coord.bui")
    assert flow.get(request.id) == request
    assert flow.audit.verify().ok


def test_a_terminated_parked_link_then_close(
    pg: tuple[rf.ReleaseFlow, SqlStore],
) -> None:
    """Closing the store with a dead connection parked neither raises nor hangs."""
    flow, store = pg
    warm(flow)
    parked = _parked(store)
    assert parked is not None
    _terminate(parked.info.backend_pid)
    store.close()
    assert _parked(store) is None


def test_a_backend_terminated_inside_the_unit_of_work(
    pg: tuple[rf.ReleaseFlow, SqlStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed between its write and its COMMIT: a typed error, never parked."""
    flow, store = pg
    request = warm(flow)
    parked = _parked(store)
    assert parked is not None
    before = _version(store)
    watch = _Watch(store, monkeypatch)
    with pytest.raises(StorageError), store.unit_of_work() as uow:  # noqa: PT012
        assert uow._raw.dbapi_connection is parked  # it took the parked one
        uow.directory.bump()
        _terminate(parked.info.backend_pid)
        uow.commit()
    assert _parked(store) is None
    assert _version(store) == before  # the server rolled it back
    for _ in range(3):
        request = toggle(flow, request, "coord.bui")
        assert flow.get(request.id) == request
    assert _parked(store) not in (None, parked)
    pool: Any = store.engine.pool
    assert pool.checkedout() == 1  # the parked one: nothing else held
    assert watch.clean(), (watch.taken, watch.checkins)
    assert flow.audit.verify().ok


def test_an_interrupt_in_the_middle_of_a_statement(
    pg: tuple[rf.ReleaseFlow, SqlStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A signal's BaseException during a statement (raised once the driver returns)."""
    flow, store = pg
    request = warm(flow)
    assert _parked(store) is not None
    before = _version(store)
    watch = _Watch(store, monkeypatch)

    def interrupt(*_: object) -> None:
        raise _Interrupt

    previous = signal.signal(signal.SIGALRM, interrupt)
    try:
        with pytest.raises(_Interrupt), store.unit_of_work() as uow:  # noqa: PT012
            uow.directory.bump()
            signal.setitimer(signal.ITIMER_REAL, 0.2)
            uow._cursor.execute("SELECT pg_sleep(1)")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    parked = _parked(store)
    assert parked is None or (parked.info.transaction_status, parked.autocommit) == (
        _IDLE,
        True,
    )
    assert _version(store) == before
    for _ in range(3):
        request = toggle(flow, request, "coord.bui")
        assert flow.get(request.id) == request
    assert watch.clean(), (watch.taken, watch.checkins)
    assert flow.audit.verify().ok
