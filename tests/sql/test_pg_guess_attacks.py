"""Attacks on the PostgreSQL directory-version guess (review of e69ecf1).

A warm PostgreSQL transition decides on the store's cached directory snapshot and
checks it only in the request compare-and-set, ``… AND EXISTS (SELECT 1 FROM
directory_state WHERE id = 1 AND version = :b_dir FOR SHARE)``. These tests put a
third party where READ COMMITTED could let the check go stale: the request row
held by another transaction while the compare-and-set runs (the EXISTS runs first,
the request row is then waited for and re-checked), a directory writer arriving
during that wait, and one committing a request change meanwhile. The property: no
transition commits after a revocation it did not see -- the revocation waits for
it, or it is refused -- with nothing half-written and the usual errors.
"""

from __future__ import annotations

import threading
import uuid
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
from tests import sql_support
from tests.conftest import Clock, new_inquiry, staff, to_approved
from tests.sql.conftest import FILE_BACKENDS
from tests.sql.guessing import (
    GUESS_BACKENDS,
    TOGGLE,
    moved_fixture,  # noqa: F401  (the moved fixture)
    toggle,
    waiting_for_lock,
    warm,
)
from tests.sql_support import open_sql_store

Flows = tuple[rf.ReleaseFlow, rf.ReleaseFlow]
LIMIT = 20.0
_STARTED: list[_Thread] = []
"""Threads a test started (joined before its stores close)."""


def _store(flow: rf.ReleaseFlow) -> SqlStore:
    store = flow.store
    assert isinstance(store, SqlStore)
    return store


def _two(backend: str, tmp_path: Path) -> Iterator[Flows]:
    prefix = f"s6rev_{uuid.uuid4().hex[:8]}_"
    sql_support._issued.append(prefix)
    here = open_sql_store(backend, tmp_path, table_prefix=prefix)
    url = here.engine.url.render_as_string(hide_password=False)
    there = SqlStore.open(url, table_prefix=prefix, migrate=False)
    clock = Clock()
    yield staff(rf.ReleaseFlow(here, clock=clock)), rf.ReleaseFlow(there, clock=clock)
    while _STARTED:  # (a failed test's threads end before their stores close)
        _STARTED.pop()._thread.join(LIMIT)
    there.close()
    here.close()


@pytest.fixture(name="flows", params=[b for b in GUESS_BACKENDS if b == "postgres"])
def _flows(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Flows]:
    """Two stores (two processes' caches) on one PostgreSQL database."""
    yield from _two(str(request.param), tmp_path)


@pytest.fixture(name="any_flows", params=FILE_BACKENDS)
def _any_flows(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Flows]:
    """Two stores on one database of every file or server backend configured."""
    yield from _two(str(request.param), tmp_path)


class _Thread:
    """A call in a thread: what it returned or raised, and when it ended."""

    def __init__(self, call: Callable[[], Any]) -> None:
        self.value: Any = None
        self.error: BaseException | None = None
        self.done = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(call,), daemon=True)
        self._thread.start()
        _STARTED.append(self)

    def _run(self, call: Callable[[], Any]) -> None:
        try:
            self.value = call()
        except BaseException as exc:  # the test inspects it
            self.error = exc
        finally:
            self.done.set()

    def join(self) -> None:
        self._thread.join(LIMIT)
        assert self.done.is_set()


class _RowHolder:
    """Another transaction holding a request row's lock (``SELECT … FOR UPDATE``)."""

    def __init__(self, store: SqlStore, request_id: uuid.UUID) -> None:
        url = store.engine.url.render_as_string(hide_password=False)
        self._engine = sa.create_engine(url, poolclass=sa.NullPool)
        self._conn = self._engine.connect()
        t = store.tables.requests
        self._t = t
        self._id = str(request_id)
        row = self._conn.execute(
            sa.select(t.c.version).where(t.c.id == self._id).with_for_update()
        ).first()
        assert row is not None

    def bump_version(self) -> None:
        """Move the held row's version on (as a committed transition would)."""
        t = self._t
        self._conn.execute(
            sa.update(t).where(t.c.id == self._id).values(version=t.c.version + 1)
        )

    def end(self, *, commit: bool) -> None:
        if commit:
            self._conn.commit()
        else:
            self._conn.rollback()
        self._conn.close()
        self._engine.dispose()


def _revoke(flow: rf.ReleaseFlow) -> Callable[[], Any]:
    return lambda: flow.directory.revoke(
        "coord.bui", "coordinating_officer", unit="agency", by="admin"
    )


# -- the request row is held while the guessed compare-and-set runs ----------------


@pytest.mark.parametrize("folded", [False, True], ids=["plain-cas", "folded-head"])
def test_a_revoke_arriving_while_the_cas_waits_for_the_request_row_waits_too(
    flows: Flows, moved: list[int], folded: bool
) -> None:
    """The EXISTS share-locks the directory row before the request row is waited for.

    Another transaction holds the request row; the guessed transition's CAS takes
    the directory share lock (InitPlan) and waits for the request row. A revocation
    from another process then arrives: it must wait for the transition (which
    commits first, decided on a directory that was current until its commit), not
    commit while the transition waits (the transition would then commit an
    approval-after-revocation, decided on the grant the revocation removed).
    """
    here, there = flows
    store = _store(here)
    url = store.engine.url.render_as_string(hide_password=False)
    prefix = store.tables.prefix
    request = warm(here)
    if folded:
        store.caches.head_misses = 1.0
    holder = _RowHolder(store, request.id)
    fire = _Thread(lambda: toggle(here, request, "coord.bui"))
    try:
        assert waiting_for_lock(url, f"%{prefix}requests%"), (
            "the CAS did not wait for the row"
        )
        revoke = _Thread(_revoke(there))
        # the revocation blocks on the directory row the CAS share-locked
        assert waiting_for_lock(url, f"UPDATE {prefix}directory_state%")
        assert not revoke.done.wait(0.3), "the revocation ran past the waiting CAS"
    finally:
        holder.end(commit=False)
    fire.join()
    revoke.join()
    assert fire.error is None, fire.error
    assert revoke.error is None
    assert revoke.value is True
    done = fire.value
    assert done.version == request.version + 1
    assert moved == []  # the guess held all along
    entry = here.audit.history(request.id)[-1]
    assert entry.actor == "coord.bui"
    assert "coordinating_officer" in entry.roles
    assert not here.directory.grants("coord.bui")
    # and the revocation now holds for this store's next transition
    with pytest.raises(NotPermittedError):
        toggle(here, done, "coord.bui")
    assert here.get(done.id) == done
    assert here.audit.verify().ok


@pytest.mark.parametrize("folded", [False, True], ids=["plain-cas", "folded-head"])
def test_a_request_change_committed_while_the_cas_waits_is_a_conflict(
    flows: Flows, moved: list[int], folded: bool
) -> None:
    """The re-check after the wait fails on the request version: ConflictError.

    The directory share lock the EXISTS took is still held, so the refusal's
    confirm finds the guess current and the caller gets the usual conflict (with
    the actual version), not ``DirectoryMoved`` and not a retry that loops.
    """
    here, _ = flows
    store = _store(here)
    url = store.engine.url.render_as_string(hide_password=False)
    request = warm(here)
    if folded:
        store.caches.head_misses = 1.0
    entries = len(here.audit.history(request.id))
    holder = _RowHolder(store, request.id)
    holder.bump_version()
    fire = _Thread(lambda: toggle(here, request, "coord.bui"))
    try:
        assert waiting_for_lock(url, f"%{store.tables.prefix}requests%")
    finally:
        holder.end(commit=True)
    fire.join()
    assert isinstance(fire.error, ConflictError), fire.error
    assert fire.error.actual_version == request.version + 1  # type: ignore[attr-defined]
    assert fire.error.expected_version == request.version  # type: ignore[attr-defined]
    assert moved == []
    assert len(here.audit.history(request.id)) == entries
    t = store.tables.requests
    with store.engine.connect() as conn:
        stored = conn.execute(
            sa.select(t.c.version).where(t.c.id == str(request.id))
        ).scalar()
    assert stored == request.version + 1  # the holder's change, nothing of ours


def test_a_revoke_committed_while_the_cas_waits_for_the_directory_refuses(
    flows: Flows, moved: list[int]
) -> None:
    """Revoker holds the directory row, a request-row holder queues too: refused.

    The revocation's bump holds the directory row (uncommitted) when the guessed
    CAS starts; the CAS waits on it, the revocation commits, the CAS re-checks the
    new row version and matches nothing; decided again under the lock: refused.
    """
    here, there = flows
    store = _store(here)
    other = _store(there)
    url = store.engine.url.render_as_string(hide_password=False)
    request = warm(here)
    entries = len(here.audit.history(request.id))
    held, release = threading.Event(), threading.Event()

    def writer() -> None:
        with other.unit_of_work() as uow:
            assert uow.directory.remove_grant(
                "coord.bui", "coordinating_officer", "agency"
            )
            held.set()
            assert release.wait(LIMIT)
            uow.commit()

    revoke = _Thread(writer)
    assert held.wait(LIMIT)
    fire = _Thread(lambda: toggle(here, request, "coord.bui"))
    try:
        assert waiting_for_lock(url, f"%{store.tables.prefix}requests%")
    finally:
        release.set()
    revoke.join()
    fire.join()
    assert revoke.error is None, revoke.error
    assert isinstance(fire.error, NotPermittedError), fire.error
    assert moved == [1]
    assert here.get(request.id) == request
    assert len(here.audit.history(request.id)) == entries
    assert here.audit.verify().ok


class _Pause:
    """A test hook that stops its flow at ``point`` until released."""

    def __init__(self, point: str) -> None:
        self.point = point
        self.reached = threading.Event()
        self.go = threading.Event()

    def __call__(self, point: str) -> None:
        if point == self.point and not self.reached.is_set():
            self.reached.set()
            assert self.go.wait(LIMIT), "the test never released the flow"


def _lock_reads(monkeypatch: pytest.MonkeyPatch, store: SqlStore) -> list[int]:
    """Each directory version read under the lock by ``store``'s units of work."""
    reads: list[int] = []
    original = SqlDirectory._lock

    def spy(self: SqlDirectory) -> int:
        if self._uow.store is store:
            reads.append(1)
        return original(self)

    monkeypatch.setattr(SqlDirectory, "_lock", spy)
    return reads


@pytest.mark.parametrize("what", ["grant", "authorisation"])
def test_a_guessed_transition_before_its_commit_makes_a_revocation_wait(
    flows: Flows, moved: list[int], monkeypatch: pytest.MonkeyPatch, what: str
) -> None:
    """Approval first: the revocation commits after the transition, never before.

    grant: a warm toggle (the guess is never read: the EXISTS holds the lock) is
    paused just before COMMIT while another process revokes the actor's role.
    authorisation: a release on an authorisation (the guess is confirmed by the
    authorisation read) is paused there while another process revokes the
    authorisation. Either revocation must wait for the paused COMMIT.
    """
    here, there = flows
    store = _store(here)
    url = store.engine.url.render_as_string(hide_password=False)
    request = warm(here)
    if what == "grant":
        actor = "coord.bui"
        target = request
        trigger = TOGGLE[target.state]
        payload: dict[str, Any] = {}

        def revoke() -> Any:
            return there.directory.revoke(
                actor, "coordinating_officer", unit="agency", by="admin"
            )

    else:
        actor = "speaker.mai"
        target = to_approved(here, new_inquiry(here))
        trigger = "release"
        payload = {"form": "written_answer"}
        auth = there.directory.authorise(
            actor,
            target.id,
            reference="QĐ 15/QĐ-UBND",
            published_at="https://danang.gov.vn/nguoi-phat-ngon",
            valid_until=there.now() + timedelta(days=2),
            by="head.pham",
        )
        for _ in range(2):  # this store's snapshot catches up with it
            request = toggle(here, request, "coord.bui")
        moved.clear()

        def revoke() -> Any:
            return there.directory.revoke_authorisation(auth.id, by="head.pham")

    assert store.caches.current_directory() is not None
    reads = _lock_reads(monkeypatch, store)
    pause = _Pause("before_commit")
    paused = rf.ReleaseFlow(store, clock=here._clock, test_hook=pause)
    fire = _Thread(
        lambda: paused.fire(
            target.id,
            trigger,
            actor=actor,
            expected_version=target.version,
            **payload,
        )
    )
    try:
        assert pause.reached.wait(LIMIT), fire.error
        if what == "grant":
            assert reads == []  # decided on the guess, checked only by the CAS
        revoking = _Thread(revoke)
        assert waiting_for_lock(url, f"UPDATE {store.tables.prefix}directory_state%")
        assert not revoking.done.wait(0.3), "the revocation ran past the transition"
    finally:
        pause.go.set()
    fire.join()
    revoking.join()
    assert fire.error is None, fire.error
    assert revoking.error is None, revoking.error
    assert moved == []
    done = fire.value
    assert done.version == target.version + 1
    entry = here.audit.history(target.id)[-1]
    assert entry.actor == actor
    assert entry.request_version == done.version
    assert here.audit.verify().ok


def test_an_authorisation_revoked_elsewhere_refuses_the_release(
    flows: Flows, moved: list[int]
) -> None:
    """Decided on a snapshot holding the authorisation: confirmed, moved, refused."""
    here, there = flows
    request = warm(here)
    target = to_approved(here, new_inquiry(here))
    auth = there.directory.authorise(
        "speaker.mai",
        target.id,
        reference="QĐ 15/QĐ-UBND",
        published_at="https://danang.gov.vn/nguoi-phat-ngon",
        valid_until=there.now() + timedelta(days=2),
        by="head.pham",
    )
    for _ in range(2):  # this store's snapshot catches up with it
        request = toggle(here, request, "coord.bui")
    moved.clear()
    entries = len(here.audit.history(target.id))
    there.directory.revoke_authorisation(auth.id, by="head.pham")
    with pytest.raises(NotPermittedError):
        here.fire(
            target.id,
            "release",
            actor="speaker.mai",
            expected_version=target.version,
            form="written_answer",
        )
    assert moved == [1]  # the snapshot held the authorisation; the read moved it
    assert len(here.audit.history(target.id)) == entries
    assert here.get(target.id).state == "approved"
    assert here.audit.verify().ok


# -- retries, idempotency keys, paths that must not guess -------------------------


def test_a_stale_guess_with_an_idempotency_key_applies_once(
    flows: Flows, moved: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """DirectoryMoved on the first attempt: one write, one key, one replay."""
    here, there = flows
    request = warm(here)
    # another process's directory change the cache has not seen (grant someone)
    there.directory.grant("comms.nguyen", "reviewer", unit="agency", by="admin")
    done = toggle(here, request, "coord.bui", idempotency_key="s6rev-key-1")
    assert moved == [1]
    assert done.version == request.version + 1
    again = toggle(here, request, "coord.bui", idempotency_key="s6rev-key-1")
    assert again == done
    trail = here.audit.history(request.id)
    assert [e.request_version for e in trail] == list(range(1, done.version + 1))
    assert here.audit.verify().ok


def test_without_version_check_nothing_is_guessed(
    flows: Flows, moved: list[int]
) -> None:
    """store.version_check = False: the directory lock is read, never guessed."""
    here, there = flows
    store = _store(here)
    request = warm(here)
    store.version_check = False
    try:
        there.directory.revoke(
            "coord.bui", "coordinating_officer", unit="agency", by="admin"
        )
        with pytest.raises(NotPermittedError):
            toggle(here, request, "coord.bui")
    finally:
        store.version_check = True
    assert moved == []  # refused on a read under the lock, not on a stale guess
    assert here.get(request.id) == request


def test_a_joined_transition_reads_the_directory_under_the_lock(
    flows: Flows, moved: list[int]
) -> None:
    """A host transaction is not the raw path: no guess, the revoke is seen."""
    here, there = flows
    store = _store(here)
    request = warm(here)
    there.directory.revoke(
        "coord.bui", "coordinating_officer", unit="agency", by="admin"
    )
    with (
        store.engine.connect() as conn,
        conn.begin(),
        pytest.raises(NotPermittedError),
    ):
        toggle(here.joined(conn), request, "coord.bui")
    assert moved == []
    assert here.get(request.id) == request


def test_a_revoke_in_the_same_host_transaction_refuses_the_fire(
    flows: Flows, moved: list[int]
) -> None:
    """A directory writer in the transition's own transaction: never decided stale.

    The host revokes and fires in one transaction (the joined path, which reads
    the directory under the lock); the warm store's snapshot still holds the
    grant. Refused, and nothing of the refused call is left (its savepoint).
    """
    here, _ = flows
    store = _store(here)
    request = warm(here)
    with store.engine.connect() as conn, conn.begin():
        joined = here.joined(conn)
        assert joined.directory.revoke(
            "coord.bui", "coordinating_officer", unit="agency", by="admin"
        )
        with pytest.raises(NotPermittedError):
            toggle(joined, request, "coord.bui")
    assert moved == []
    assert here.get(request.id) == request
    assert not here.directory.grants("coord.bui")  # the host committed the revoke
    with pytest.raises(NotPermittedError):  # and this store's snapshot is stale
        toggle(here, request, "coord.bui")
    assert here.get(request.id) == request
    assert here.audit.verify().ok


def test_a_missing_directory_row_and_another_process_revoking(
    any_flows: Flows,
) -> None:
    """No version row: a revoke in another process must still reach this one.

    (A hole older than the guess: with the row gone every bump updated nothing, so
    the version stayed 0 and every process's snapshot at 0 stayed current -- a
    cached grant outlived its revocation, read under the lock or guessed alike.
    The bump now puts the row back, past 0.)
    """
    here, there = any_flows
    store = _store(here)
    with store.engine.begin() as conn:
        conn.execute(sa.delete(store.tables.directory))
    request = warm(here)
    there.directory.revoke(
        "coord.bui", "coordinating_officer", unit="agency", by="admin"
    )
    with pytest.raises(NotPermittedError):
        toggle(here, request, "coord.bui")
    assert here.get(request.id) == request
    assert not there.directory.grants("coord.bui")
    assert here.audit.verify().ok
