"""Review attacks on the parked write connection and the directory-version guess.

(SQLite and, when configured, PostgreSQL: the backends that park and guess.)

Each test sets up a way the two optimisations could go wrong and checks the
answer is the one the unoptimised path gives: threads of one store never hold one
connection at once, a forked child never uses its parent's parked connection, a
stale guess never decides a refusal, a conflict or an audit entry's roles, and the
guess signal never reaches a caller.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import releaseflow as rf
from releaseflow.exceptions import ConflictError, NotPermittedError
from releaseflow.storage.sql import SqlStore
from releaseflow.storage.sql.repositories import SqlDirectory
from releaseflow.storage.sql.store import SqlSingleRead, SqlUnitOfWork
from tests.conftest import Clock, new_inquiry, staff
from tests.sql.conftest import SQL_BACKENDS
from tests.sql.guessing import (
    TOGGLE,
    moved_fixture,  # noqa: F401  (the moved fixture)
    toggle,
    two_flows_fixture,  # noqa: F401  (the two_flows fixture)
    warm,
)
from tests.sql_support import drop_tables, server_url, sqlite_url, unique_prefix

# -- the directory guess -------------------------------------------------------


def test_request_and_directory_both_moved_is_the_conflict(
    two_flows: tuple[rf.ReleaseFlow, rf.ReleaseFlow], moved: list[int]
) -> None:
    """A read would refuse on the revoked grant, then report the moved request."""
    here, there = two_flows
    request = warm(here)
    entries = len(here.audit.history(request.id))
    toggle(there, request, "coord.bui")
    there.directory.revoke(
        "coord.bui", "coordinating_officer", unit="agency", by="admin"
    )
    with pytest.raises(ConflictError) as caught:
        toggle(here, request, "coord.bui")
    details: Any = caught.value
    assert details.actual_version == request.version + 1
    assert moved == [1]  # decided on the guess first
    assert len(here.audit.history(request.id)) == entries + 1
    assert here.audit.verify().ok


def test_an_authorisation_given_elsewhere_is_in_the_entry_roles(
    two_flows: tuple[rf.ReleaseFlow, rf.ReleaseFlow], moved: list[int]
) -> None:
    """Permitted either way: the entry's roles are still those of a fresh read."""
    here, there = two_flows
    request = warm(here)
    there.directory.authorise(
        "coord.bui",
        request.id,
        reference="QĐ 15/QĐ-UBND",
        published_at="https://danang.gov.vn/nguoi-phat-ngon",
        valid_until=there.now() + timedelta(days=2),
        by="head.pham",
    )
    done = toggle(here, request, "coord.bui")
    assert moved == [1]  # the guess (no authorisation) was stale
    entry = here.audit.history(done.id)[-1]
    assert entry.request_version == done.version
    assert "authorised_speaker" in entry.roles
    assert here.audit.verify().ok


def test_a_stale_guess_with_an_idempotency_key_applies_once(
    two_flows: tuple[rf.ReleaseFlow, rf.ReleaseFlow], moved: list[int]
) -> None:
    here, there = two_flows
    request = warm(here)
    there.directory.grant("comms.vo", "head", unit="agency", by="admin")  # moves it
    done = toggle(here, request, "coord.bui", idempotency_key="k-1")
    assert moved == [1]
    again = here.fire(
        request.id,
        TOGGLE[request.state],
        actor="coord.bui",
        expected_version=request.version,
        idempotency_key="k-1",
    )
    assert again == done
    assert moved == [1]
    assert here.get(request.id) == done
    assert here.audit.history(request.id)[-1].request_version == done.version
    assert here.audit.verify().ok


class _Roles:
    def __init__(self) -> None:
        self.table: dict[str, set[rf.Role]] = {
            "coord.bui": {rf.Role.COORDINATING_OFFICER},
            "spoke.tran": {rf.Role.SPOKESPERSON},
            "comms.nguyen": {rf.Role.COMMS_OFFICER},
        }

    def roles_for(self, actor: str, unit: str) -> set[rf.Role]:
        return self.table.get(actor, set())


def test_a_role_provider_with_the_directory_moved_elsewhere(
    two_flows: tuple[rf.ReleaseFlow, rf.ReleaseFlow],
) -> None:
    here, there = two_flows
    roles = _Roles()
    hosted = rf.ReleaseFlow(here.store, clock=Clock(), role_provider=roles)
    request = warm(hosted)
    there.directory.grant("comms.vo", "head", unit="agency", by="admin")
    request = toggle(hosted, request, "coord.bui")
    there.directory.revoke("comms.vo", "head", unit="agency", by="admin")
    roles.table["coord.bui"] = set()
    with pytest.raises(NotPermittedError):
        toggle(hosted, request, "coord.bui")
    assert hosted.get(request.id) == request
    assert here.audit.verify().ok


def test_refused_on_a_stale_guess_with_the_request_unread(
    two_flows: tuple[rf.ReleaseFlow, rf.ReleaseFlow], moved: list[int]
) -> None:
    """No expected version (the request is read), grant revoked elsewhere."""
    here, there = two_flows
    request = warm(here)
    there.directory.revoke(
        "coord.bui", "coordinating_officer", unit="agency", by="admin"
    )
    with pytest.raises(NotPermittedError):
        here.fire(request.id, TOGGLE[request.state], actor="coord.bui")
    assert moved == [1]
    there.directory.grant(
        "coord.bui", "coordinating_officer", unit="agency", by="admin"
    )
    done = here.fire(request.id, TOGGLE[request.state], actor="coord.bui")
    assert moved == [1, 1]
    assert done.version == request.version + 1
    assert here.audit.verify().ok


def test_an_uncached_actor_granted_elsewhere_is_decided_on_a_read(
    two_flows: tuple[rf.ReleaseFlow, rf.ReleaseFlow], moved: list[int]
) -> None:
    """The grants read (not in the snapshot) finds the guess stale mid-decision."""
    here, there = two_flows
    request = warm(here)
    there.directory.grant("comms.vo", "coordinating_officer", unit="agency", by="admin")
    done = toggle(here, request, "comms.vo")
    assert moved == [1]
    entry = here.audit.history(done.id)[-1]
    assert entry.actor == "comms.vo"
    assert "coordinating_officer" in entry.roles
    assert here.audit.verify().ok


# -- the parked write connection -----------------------------------------------

PARKING = [b for b in SQL_BACKENDS if b in ("sqlite", "postgres")]
"""The configured backends whose write units of work park their connection."""


@pytest.fixture(name="open_parking")
def _open_parking(tmp_path: Path) -> Iterator[Callable[..., SqlStore]]:
    """Open a plain ``SqlStore`` of a :data:`PARKING` backend (tables dropped after).

    Not the tests' dropping store: its ``close`` drops the tables (and disposes
    of the engine before the store's own close), which a test that closes the
    store mid-transaction or counts the pool's connections must not get.
    """
    dropped: list[tuple[str, str]] = []

    def factory(backend: str, **options: Any) -> SqlStore:
        if backend == "sqlite":
            return SqlStore.open(sqlite_url(tmp_path), **options)
        url, prefix = server_url(backend), unique_prefix()
        dropped.append((url, prefix))
        return SqlStore.open(url, table_prefix=prefix, **options)

    yield factory
    for url, prefix in dropped:
        drop_tables(url, prefix)


@pytest.mark.parametrize("backend", PARKING)
def test_threads_of_one_store_never_hold_one_connection_at_once(
    backend: str,
    open_parking: Callable[..., SqlStore],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = open_parking(backend, busy_timeout=30.0)
    flow = staff(rf.ReleaseFlow(store, clock=Clock()))
    held: set[int] = set()
    clashes: list[int] = []
    guard = threading.Lock()

    def take(conn: Any) -> int:
        key = id(conn)
        with guard:
            if key in held:
                clashes.append(key)
            held.add(key)
        return key

    def drop(key: int | None) -> None:
        if key is not None:
            with guard:
                held.discard(key)

    open_raw, exit_uow = SqlUnitOfWork._open_raw, SqlUnitOfWork.__exit__
    enter_read, exit_read = SqlSingleRead.__enter__, SqlSingleRead.__exit__

    def spy_open_raw(self: Any, options: Any) -> bool:
        ok = open_raw(self, options)
        if ok:
            self.__dict__["_spy"] = take(self._raw.dbapi_connection)
        return ok

    def spy_exit(self: Any, *exc: object) -> None:
        drop(self.__dict__.pop("_spy", None))
        exit_uow(self, *exc)

    def spy_enter_read(self: Any) -> Any:
        got = enter_read(self)
        lease = self._lease
        if lease is not None:
            self.__dict__["_spy"] = take(lease._fairy.dbapi_connection)
        return got

    def spy_exit_read(self: Any, *exc: object) -> None:
        drop(self.__dict__.pop("_spy", None))
        exit_read(self, *exc)

    monkeypatch.setattr(SqlUnitOfWork, "_open_raw", spy_open_raw)
    monkeypatch.setattr(SqlUnitOfWork, "__exit__", spy_exit)
    monkeypatch.setattr(SqlSingleRead, "__enter__", spy_enter_read)
    monkeypatch.setattr(SqlSingleRead, "__exit__", spy_exit_read)

    requests = [warm(flow) for _ in range(4)]
    errors: list[BaseException] = []
    finals: dict[int, rf.Request] = {}

    def work(n: int) -> None:
        request = requests[n]
        try:
            for _ in range(15):
                request = toggle(flow, request, "coord.bui")
                flow.audit.history(request.id)
            finals[n] = request
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors
    assert not clashes
    for request in finals.values():
        assert flow.get(request.id) == request
    assert flow.audit.verify().ok
    store.close()


@pytest.mark.parametrize("backend", PARKING)
def test_a_forked_child_never_uses_the_parent_parked_connection(
    backend: str, open_parking: Callable[..., SqlStore]
) -> None:
    store = open_parking(backend)
    flow = staff(rf.ReleaseFlow(store, clock=Clock()))
    request = warm(flow)
    pool: Any = store.engine.pool
    assert pool.checkedout() == 1  # parked by the last write
    lease: Any = store.parking._slot[0]  # type: ignore[union-attr]
    parked = lease._fairy.dbapi_connection
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through its exit status
        code = 1
        try:
            seen: list[Any] = []
            original = SqlUnitOfWork._open_raw

            def spy(self: Any, options: Any) -> bool:
                ok = original(self, options)
                if ok:
                    seen.append(self._raw.dbapi_connection)
                return ok

            SqlUnitOfWork._open_raw = spy  # type: ignore[method-assign]
            moved = toggle(flow, request, "coord.bui")
            moved = toggle(flow, moved, "coord.bui")
            ok = bool(seen) and all(conn is not parked for conn in seen)
            # neither used nor closed: the parent's link stays the parent's
            ok = ok and lease._fairy is not None and lease._fairy.is_valid
            code = 0 if ok and moved.version == request.version + 2 else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0
    request = flow.get(request.id)
    request = toggle(flow, request, "coord.bui")
    assert request.version >= 3
    # the parent still parks and reuses its own connection
    assert store.parking._slot[0]._fairy.dbapi_connection is parked  # type: ignore[union-attr]
    assert flow.audit.verify().ok
    store.close()


@pytest.mark.parametrize("backend", PARKING)
def test_a_write_nested_in_a_parked_read_and_a_read_in_a_write(
    backend: str, open_parking: Callable[..., SqlStore]
) -> None:
    store = open_parking(backend)
    flow = staff(rf.ReleaseFlow(store, clock=Clock()))
    request = warm(flow)
    pool: Any = store.engine.pool
    with store.read_once() as outer:
        # the read holds the parked connection; a write meanwhile takes the pool's
        outer_conn = outer._lease._fairy.dbapi_connection  # type: ignore[attr-defined]
        request = toggle(flow, request, "coord.bui")
        assert flow.get(request.id) == request  # a read inside
    assert outer_conn is not None
    assert pool.checkedout() == 1
    with store.unit_of_work() as uow:
        uow.directory.lock()
        assert flow.audit.history(request.id)[-1].request_version == request.version
        uow.commit()
    assert pool.checkedout() == 1
    request = toggle(flow, request, "coord.bui")
    assert flow.audit.verify().ok
    store.close()
    assert pool.checkedout() == 0


def test_a_host_engine_is_never_parked_nor_guessed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'host.db'}")

    @sa.event.listens_for(engine, "connect")
    def _wal(dbapi: Any, _: Any) -> None:
        dbapi.execute("PRAGMA journal_mode = WAL")
        dbapi.execute("PRAGMA synchronous = FULL")

    store = SqlStore.open(engine)
    assert store.parking is None
    guesses: list[int] = []
    original = SqlDirectory.lock_guessing

    def spy(self: SqlDirectory) -> int:
        version = original(self)
        guesses.append(self._uow.directory_guess or 0)
        return version

    monkeypatch.setattr(SqlDirectory, "lock_guessing", spy)
    flow = staff(rf.ReleaseFlow(store, clock=Clock()))
    request = warm(flow)
    request = toggle(flow, request, "coord.bui")
    assert guesses  # asked,
    assert not any(guesses)  # never guessed
    pool: Any = engine.pool
    assert pool.checkedout() == 0
    store.close()
    engine.dispose()


@pytest.mark.parametrize("backend", PARKING)
@pytest.mark.parametrize("end", ["dispose", "close"])
def test_dispose_or_close_while_a_write_holds_the_parked_connection(
    backend: str, open_parking: Callable[..., SqlStore], end: str
) -> None:
    store = open_parking(backend)
    flow = staff(rf.ReleaseFlow(store, clock=Clock()))
    request = warm(flow)
    old: Any = store.engine.pool
    assert old.checkedout() == 1
    returned: list[Any] = []
    sa.event.listen(old, "checkin", lambda dbapi, _: returned.append(dbapi))
    with store.unit_of_work() as uow:
        assert old.checkedout() == 1  # the parked one, taken
        held = uow._raw.dbapi_connection
        uow.directory.lock()
        if end == "dispose":
            store.engine.dispose()
        else:
            store.close()
        uow.commit()
    assert returned == [held]  # back to its own pool, not parked
    assert store.parking is not None
    assert not store.parking._slot
    # the replaced pool keeps what came back after its engine let it go (any
    # connection checked out across a dispose does): closed here, not at exit
    old.dispose()
    if end == "dispose":
        # (the new pool's first connection is checked on SQLAlchemy's path)
        for _ in range(2):
            request = toggle(flow, request, "coord.bui")
        new: Any = store.engine.pool
        assert new is not old
        assert new.checkedout() == 1
        assert flow.audit.verify().ok
        store.close()
        assert new.checkedout() == 0


def test_a_store_that_does_not_guess_never_has_confirm_called(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``confirm`` is the guessing protocol's only where ``lock_guessing`` is too.

    A store of a host (here the memory store) whose directory has a ``confirm``
    of its own meaning must get the refusal a store without one gets.
    """
    from releaseflow.storage import memory

    calls: list[object] = []

    def confirm(self: object, grant: object) -> None:  # an unrelated method
        calls.append(grant)

    monkeypatch.setattr(memory._Directory, "confirm", confirm, raising=False)
    flow = staff(rf.ReleaseFlow(memory.InMemoryStore(), clock=Clock()))
    request = new_inquiry(flow)
    with pytest.raises(NotPermittedError):
        flow.fire(request.id, "triage", actor="comms.nguyen")
    assert calls == []
    assert flow.get(request.id) == request
