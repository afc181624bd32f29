"""The directory-version guess on PostgreSQL: as safe as the share lock it replaces.

A warm transition on PostgreSQL sends no ``SELECT … FOR SHARE`` of the directory
row: the request compare-and-set matches only while that row is at the guessed
version and share-locks it there until commit (``EXISTS (SELECT … FOR SHARE)``).
These tests put another process's directory change at every point a guess can
meet it -- committed between the guess and the compare-and-set, committed between
the guess and a refusal, and held uncommitted while the transition runs -- and
check the answer is the one a read under the lock gives, with nothing written on a
stale decision. The statement list of a warm transition on the raw cursor pins
what is sent (one statement fewer than with the read; PostgreSQL's BEGIN, which
travelled with that read, now goes on its own: the same round trips).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import releaseflow as rf
from releaseflow.exceptions import NotPermittedError
from releaseflow.storage.sql import SqlStore
from releaseflow.storage.sql.repositories import SqlDirectory, SqlRequests
from releaseflow.storage.sql.store import SqlUnitOfWork
from tests.conftest import Clock, staff
from tests.sql.guessing import (
    GUESS_BACKENDS,
    moved_fixture,  # noqa: F401  (the moved fixture)
    pg_flows_fixture,  # noqa: F401  (the pg_flows fixture)
    toggle,
    two_flows_fixture,  # noqa: F401  (the two_flows fixture)
    waiting_for_lock,
    warm,
)
from tests.sql_support import open_sql_store

Flows = tuple[rf.ReleaseFlow, rf.ReleaseFlow]


def _store(flow: rf.ReleaseFlow) -> SqlStore:
    store = flow.store
    assert isinstance(store, SqlStore)
    return store


def _once_before(
    monkeypatch: pytest.MonkeyPatch, cls: type, name: str, hook: Callable[[], None]
) -> list[int]:
    """Run ``hook`` once, just before the first call of ``cls.name``.

    (For ``lock_guessing``: just after it, once it guessed -- the guess is then
    taken and the decision not yet made.)
    """
    original = getattr(cls, name)
    ran: list[int] = []

    def wrapped(self: Any, *args: Any, **kw: Any) -> Any:
        after = name == "lock_guessing"
        if not ran and not after:
            ran.append(1)
            hook()
        result = original(self, *args, **kw)
        if not ran and after and self._uow.directory_guess is not None:
            ran.append(1)
            hook()
        return result

    monkeypatch.setattr(cls, name, wrapped)
    return ran


# -- what a warm transition sends --------------------------------------------------


class _Recorder:
    """A DB-API cursor that records each SQL statement (first word, table)."""

    def __init__(self, cursor: Any, prefix: str, seen: list[str]) -> None:
        self._cursor = cursor
        self._prefix = prefix
        self._seen = seen
        self.texts: list[str] = []

    def execute(self, sql: str, *args: Any) -> Any:
        for statement in str(sql).split(";"):
            words = statement.split()
            if not words:
                continue
            table = next((w for w in words[1:] if w.startswith(self._prefix)), "")
            table = table.removeprefix(self._prefix).split(".")[0]
            self._seen.append(f"{words[0].upper()} {table}".strip())
            self.texts.append(statement)
        return self._cursor.execute(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)


@pytest.fixture(name="raw_statements")
def _raw_statements(
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[list[str], list[str]]]:
    """Statements the raw path's cursor runs: (first word and table, full texts)."""
    seen: list[str] = []
    texts: list[str] = []
    original = SqlUnitOfWork._open_raw

    def spy(self: SqlUnitOfWork, options: Any) -> bool:
        ok = original(self, options)
        # (SQLite parks the cursor with its connection: a recorder comes back)
        if ok and not isinstance(self._cursor, _Recorder):
            recorder = _Recorder(self._cursor, self.store.tables.prefix, seen)
            recorder.texts = texts
            self._cursor = recorder
        return ok

    monkeypatch.setattr(SqlUnitOfWork, "_open_raw", spy)
    return seen, texts


def test_a_warm_transition_sends_no_directory_read(
    two_flows: Flows, raw_statements: tuple[list[str], list[str]]
) -> None:
    here, _ = two_flows
    store = _store(here)
    request = warm(here)
    seen, texts = raw_statements
    seen.clear()
    texts.clear()
    request = toggle(here, request, "coord.bui")
    if store.dialect == "postgresql":
        # (it was "BEGIN; SELECT directory_state … FOR SHARE", one simple query)
        assert seen == ["BEGIN", "UPDATE requests", "WITH ledger_heads"]
        cas = texts[1]
        assert "directory_state" in cas
        assert "FOR SHARE" in cas
    else:  # SQLite: BEGIN IMMEDIATE on the connection, not the cursor
        assert seen == [
            "UPDATE requests",
            "UPDATE ledger_heads",
            "INSERT audit_entries",
        ]
        assert "directory_state" in texts[0]
    assert here.get(request.id) == request
    assert here.audit.verify().ok


def test_the_folded_head_lock_also_checks_and_locks_the_directory(
    pg_flows: Flows, raw_statements: tuple[list[str], list[str]]
) -> None:
    """Writers sharing a ledger: the CAS that returns the locked head guesses too."""
    here, _ = pg_flows
    store = _store(here)
    request = warm(here)
    seen, texts = raw_statements
    seen.clear()
    texts.clear()
    store.caches.head_misses = 1.0
    request = toggle(here, request, "coord.bui")
    assert seen[:2] == ["BEGIN", "WITH requests"]
    assert "directory_state" in texts[1]
    assert "FOR SHARE" in texts[1]
    assert here.get(request.id) == request
    assert here.audit.verify().ok


# -- another process's change between the guess and the compare-and-set ------------


@pytest.mark.parametrize("folded", [False, True], ids=["plain-cas", "folded-head"])
def test_a_revoke_committed_before_the_cas_refuses(
    pg_flows: Flows,
    moved: list[int],
    monkeypatch: pytest.MonkeyPatch,
    folded: bool,
) -> None:
    """Decided on the cached grant, revoked before the write: refused, not granted."""
    here, there = pg_flows
    request = warm(here)
    entries = len(here.audit.history(request.id))
    ran = _once_before(
        monkeypatch,
        SqlRequests,
        "update",
        lambda: there.directory.revoke(
            "coord.bui", "coordinating_officer", unit="agency", by="admin"
        ),
    )
    if folded:
        _store(here).caches.head_misses = 1.0
    with pytest.raises(NotPermittedError):
        toggle(here, request, "coord.bui")
    assert ran == [1]
    assert moved == [1]  # the compare-and-set matched nothing: decided again
    assert here.get(request.id) == request  # nothing written
    assert len(here.audit.history(request.id)) == entries
    assert here.audit.verify().ok


def test_a_grant_committed_after_the_guess_allows_after_the_retry(
    pg_flows: Flows, moved: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Refused on the cached grants, granted meanwhile: allowed, as a read would."""
    here, there = pg_flows
    request = toggle(here, warm(here), "coord.bui")
    assert request.state == "drafting"  # not a comms officer's trigger here
    with pytest.raises(NotPermittedError):
        toggle(here, request, "comms.nguyen")  # caches comms.nguyen's grants
    ran = _once_before(
        monkeypatch,
        SqlDirectory,
        "lock_guessing",
        lambda: there.directory.grant(
            "comms.nguyen", "coordinating_officer", unit="agency", by="admin"
        ),
    )
    done = toggle(here, request, "comms.nguyen")
    assert ran == [1]
    assert moved == [1]
    assert done.version == request.version + 1
    entry = here.audit.history(request.id)[-1]
    assert entry.actor == "comms.nguyen"
    assert "coordinating_officer" in entry.roles
    assert here.audit.verify().ok


# -- a directory writer holding its lock while the transition runs ------------------


@pytest.mark.parametrize(
    ("change", "actor", "outcome"),
    [
        ("revoke", "coord.bui", "refused"),
        ("grant", "comms.nguyen", "allowed"),
        ("rollback", "coord.bui", "allowed"),
    ],
)
def test_a_directory_writer_holding_its_lock_is_waited_for(
    pg_flows: Flows, change: str, actor: str, outcome: str
) -> None:
    """The guessed transition waits for the writer, then answers on what it left.

    revoke: decided on the cached grant, the CAS's share lock waits, sees the new
    version, and the decision taken again refuses. grant: refused on the cached
    grants, the confirming read waits, and the decision taken again allows.
    rollback: the version never moved; the guess stands once the lock is free.
    """
    here, there = pg_flows
    request = toggle(here, warm(here), "coord.bui")
    assert request.state == "drafting"  # not a comms officer's trigger here
    if actor == "comms.nguyen":
        with pytest.raises(NotPermittedError):
            toggle(here, request, actor)  # caches comms.nguyen's grants
    entries = len(here.audit.history(request.id))
    other = _store(there)
    held, release = threading.Event(), threading.Event()
    failures: list[BaseException] = []
    results: list[Any] = []

    def writer() -> None:
        try:
            with other.unit_of_work() as uow:
                if change == "grant":
                    grant = rf.Grant(
                        actor=actor,
                        role=rf.Role.COORDINATING_OFFICER,
                        unit="agency",
                        granted_by="admin",
                        granted_at=there.now(),
                    )
                    uow.directory.add_grant(grant)
                else:
                    assert uow.directory.remove_grant(
                        "coord.bui", "coordinating_officer", "agency"
                    )
                held.set()
                release.wait(30)
                if change != "rollback":
                    uow.commit()
        except BaseException as exc:
            failures.append(exc)
            held.set()

    def transition() -> None:
        try:
            results.append(toggle(here, request, actor))
        except BaseException as exc:
            results.append(exc)

    w = threading.Thread(target=writer)
    w.start()
    assert held.wait(30)
    f = threading.Thread(target=transition)
    f.start()
    url = other.engine.url.render_as_string(hide_password=False)
    try:
        waited = waiting_for_lock(url, f"%{other.tables.prefix}%")
    finally:
        release.set()
        w.join(30)
        f.join(30)
    assert not failures
    assert waited  # the guessed transition did not run past the writer's lock
    assert len(results) == 1
    if outcome == "refused":
        assert isinstance(results[0], NotPermittedError)
        assert here.get(request.id) == request
        assert len(here.audit.history(request.id)) == entries
    else:
        done = results[0]
        assert isinstance(done, rf.Request), done
        assert done.version == request.version + 1
        assert here.audit.history(request.id)[-1].actor == actor
    assert here.audit.verify().ok


@pytest.mark.parametrize("backend", GUESS_BACKENDS)
def test_a_missing_directory_row_reads_as_version_zero_as_before(
    backend: str, tmp_path: Path
) -> None:
    """No version row from the start: read as 0, by a read and by a guess of 0.

    PostgreSQL's check finds no row to lock at 0; the version read under the lock
    then confirms the guess, and the plain compare-and-set decides (no false
    conflict). (SQLite's check reads a missing row as 0 itself.)
    """
    store = open_sql_store(backend, tmp_path)
    try:
        flow = staff(rf.ReleaseFlow(store, clock=Clock()))
        # (after the staff's grants: a bump puts the row back, past 0)
        with store.engine.begin() as conn:
            conn.execute(sa.delete(store.tables.directory))
        request = warm(flow)
        assert store.caches.current_directory() is not None
        assert store.caches.current_directory().version == 0  # type: ignore[union-attr]
        for _ in range(3):
            request = toggle(flow, request, "coord.bui")
        assert flow.get(request.id) == request
        assert flow.audit.verify().ok
    finally:
        store.close()
