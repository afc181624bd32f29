"""PostgreSQL: a write unit of work parks its idle connection, as SQLite does.

A committed transition leaves its psycopg connection idle (no transaction open):
it is parked in autocommit mode, as a single read parks its own, and the next
write or single read takes it without a pool checkout and return. Anything else
goes back to the pool as before: a transaction left open, an error, a link the
server closed. A connection the pool gets back is out of autocommit mode.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

import releaseflow as rf
from releaseflow.exceptions import ConflictError, StorageUnavailableError
from releaseflow.storage.sql import SqlStore
from releaseflow.storage.sql.repositories import SqlDirectory
from tests.conftest import Clock, staff
from tests.sql.conftest import SQL_BACKENDS
from tests.sql.guessing import toggle, warm
from tests.sql_support import drop_tables, server_url, unique_prefix

POSTGRES = [b for b in SQL_BACKENDS if b == "postgres"]


@pytest.fixture(name="pg", params=POSTGRES)
def _pg(request: pytest.FixtureRequest) -> Iterator[tuple[rf.ReleaseFlow, SqlStore]]:
    """A staffed flow on a plain PostgreSQL store (its tables dropped after)."""
    url, prefix = server_url(str(request.param)), unique_prefix()
    store = SqlStore.open(url, table_prefix=prefix)
    try:
        yield staff(rf.ReleaseFlow(store, clock=Clock())), store
    finally:
        store.close()
        drop_tables(url, prefix)


class _Pool:
    """Checkouts and checkins (with the connection's autocommit mode) of a pool."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.checkouts = 0
        self.checkins: list[bool] = []

    def _out(self, *_: Any) -> None:
        self.checkouts += 1

    def _in(self, dbapi: Any, *_: Any) -> None:
        self.checkins.append(None if dbapi is None else bool(dbapi.autocommit))

    def __enter__(self) -> _Pool:
        sa.event.listen(self.engine, "checkout", self._out)
        sa.event.listen(self.engine, "checkin", self._in)
        return self

    def __exit__(self, *_: object) -> None:
        sa.event.remove(self.engine, "checkout", self._out)
        sa.event.remove(self.engine, "checkin", self._in)


def _parked(store: SqlStore) -> Any:
    assert store.parking is not None
    slot = store.parking._slot
    return slot[0]._fairy.dbapi_connection if slot else None


def test_warm_transitions_reuse_the_parked_connection(
    pg: tuple[rf.ReleaseFlow, SqlStore],
) -> None:
    flow, store = pg
    request = warm(flow)
    parked = _parked(store)
    assert parked is not None
    assert parked.autocommit is True  # parked as a single read parks it
    with _Pool(store.engine) as pool:
        for _ in range(4):
            request = toggle(flow, request, "coord.bui")
            flow.audit.history(request.id)  # reads take it too
    assert (pool.checkouts, pool.checkins) == (0, [])
    assert _parked(store) is parked
    assert flow.get(request.id) == request
    assert flow.audit.verify().ok
    with _Pool(store.engine) as closing:
        store.close()
    assert closing.checkins == [False]  # back to the pool out of autocommit


def test_a_refused_or_abandoned_write_goes_back_to_the_pool(
    pg: tuple[rf.ReleaseFlow, SqlStore],
) -> None:
    """An error or an uncommitted transaction: rolled back by the pool, not parked."""
    flow, store = pg
    request = warm(flow)
    assert _parked(store) is not None
    with _Pool(store.engine) as pool:
        with pytest.raises(ConflictError):
            flow.fire(
                request.id,
                "information_received",
                actor="coord.bui",
                expected_version=request.version - 1,
            )
        assert pool.checkins == [False]  # the parked one, out of autocommit
        assert _parked(store) is None
        with store.unit_of_work() as uow:  # written, never committed
            uow.directory.bump()
        assert pool.checkins == [False, False]
        assert _parked(store) is None
    with store.unit_of_work(write=False) as uow:
        before = uow.directory.lock()
    request = toggle(flow, request, "coord.bui")
    assert _parked(store) is not None  # a committed write parks again
    with store.unit_of_work(write=False) as uow:
        assert uow.directory.lock() == before  # the bump was rolled back
    assert flow.get(request.id) == request
    assert flow.audit.verify().ok


def test_a_parked_link_the_server_closed_is_one_error_then_replaced(
    pg: tuple[rf.ReleaseFlow, SqlStore],
) -> None:
    """As with a pooled connection (no pre-ping): the write that finds it fails."""
    flow, store = pg
    request = warm(flow)
    parked = _parked(store)
    assert parked is not None
    pid = parked.info.backend_pid
    killer = sa.create_engine(server_url("postgres"), poolclass=sa.NullPool)
    try:
        with killer.connect() as conn:
            conn.execute(sa.text("SELECT pg_terminate_backend(:p)"), {"p": pid})
    finally:
        killer.dispose()
    with pytest.raises(StorageUnavailableError):
        toggle(flow, request, "coord.bui")
    assert _parked(store) is not parked  # never parked again
    assert flow.get(request.id) == request  # nothing written
    request = toggle(flow, request, "coord.bui")
    request = toggle(flow, request, "coord.bui")
    parked_now = _parked(store)
    assert parked_now is not None
    assert parked_now is not parked
    assert flow.audit.verify().ok


@pytest.mark.parametrize("backend", POSTGRES)
def test_a_host_engine_is_never_parked_nor_guessed(
    backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, prefix = server_url(backend), unique_prefix()
    engine = sa.create_engine(url)
    guesses: list[int] = []
    original = SqlDirectory.lock_guessing

    def spy(self: SqlDirectory) -> int:
        version = original(self)
        guesses.append(self._uow.directory_guess or 0)
        return version

    monkeypatch.setattr(SqlDirectory, "lock_guessing", spy)
    try:
        store = SqlStore.open(engine, table_prefix=prefix)
        assert store.parking is None
        flow = staff(rf.ReleaseFlow(store, clock=Clock()))
        request = toggle(flow, warm(flow), "coord.bui")
        assert guesses  # asked,
        assert not any(guesses)  # never guessed
        pool: Any = engine.pool
        assert pool.checkedout() == 0  # every connection back in the host's pool
        assert flow.get(request.id) == request
        store.close()
    finally:
        engine.dispose()
        drop_tables(url, prefix)
