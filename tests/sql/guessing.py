"""Shared set-up of the directory-guess tests: two stores on one database.

``two_flows`` gives two stores (two processes' worth of caches) on one SQLite file
or, when configured, one PostgreSQL database (the backends that guess), the first
with the usual staff; ``warm`` makes a request whose fires the first store's
caches serve, so its next fire guesses the directory version.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import releaseflow as rf
from releaseflow.ports import DirectoryMoved
from releaseflow.storage.sql import SqlStore
from releaseflow.storage.sql.repositories import SqlDirectory
from tests.conftest import Clock, new_inquiry, staff
from tests.sql.conftest import SQL_BACKENDS
from tests.sql_support import open_sql_store

GUESS_BACKENDS = [b for b in SQL_BACKENDS if b in ("sqlite", "postgres")]
"""The configured backends whose transitions guess the directory version."""

TOGGLE = {"drafting": "request_information", "gathering": "information_received"}
"""A pair of transitions a coordinating officer can fire back and forth."""


def _two_flows(
    backend: str, tmp_path: Path
) -> Iterator[tuple[rf.ReleaseFlow, rf.ReleaseFlow]]:
    here = open_sql_store(backend, tmp_path)
    url = here.engine.url.render_as_string(hide_password=False)
    there = SqlStore.open(url, table_prefix=here.tables.prefix, migrate=False)
    clock = Clock()
    yield staff(rf.ReleaseFlow(here, clock=clock)), rf.ReleaseFlow(there, clock=clock)
    there.close()
    here.close()


@pytest.fixture(name="two_flows", params=GUESS_BACKENDS)
def two_flows_fixture(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[rf.ReleaseFlow, rf.ReleaseFlow]]:
    """Two stores (two processes' worth of caches) on one database."""
    yield from _two_flows(str(request.param), tmp_path)


@pytest.fixture(name="pg_flows", params=[b for b in GUESS_BACKENDS if b == "postgres"])
def pg_flows_fixture(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[rf.ReleaseFlow, rf.ReleaseFlow]]:
    """:func:`two_flows_fixture` on PostgreSQL only (when configured).

    For a change another process commits inside a guessed transition: on SQLite
    the transition holds the database's write lock from its BEGIN, so there is no
    such window.
    """
    yield from _two_flows(str(request.param), tmp_path)


def toggle(
    flow: rf.ReleaseFlow, request: rf.Request, actor: str, **kw: Any
) -> rf.Request:
    """Fire the :data:`TOGGLE` transition of ``request``'s state, at its version."""
    return flow.fire(
        request.id,
        TOGGLE[request.state],
        actor=actor,
        expected_version=request.version,
        **kw,
    )


def warm(flow: rf.ReleaseFlow, actor: str = "coord.bui") -> rf.Request:
    """A request toggled by ``actor`` until the store's caches serve the fire.

    A history read between the toggles: every connection the store's pool holds
    has been prepared (a write on a connection not yet prepared goes SQLAlchemy's
    way, where no guess is made) whether or not writes take the connection reads
    park.
    """
    request = flow.fire(new_inquiry(flow).id, "triage", actor="spoke.tran")
    for _ in range(2):
        request = toggle(flow, request, actor)
        flow.audit.history(request.id)
    return toggle(flow, request, actor)


@pytest.fixture(name="moved")
def moved_fixture(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Each stale guess found (``SqlDirectory.confirm`` raising ``DirectoryMoved``)."""
    found: list[int] = []
    original = SqlDirectory.confirm

    def spy(self: SqlDirectory) -> None:
        try:
            original(self)
        except DirectoryMoved:
            found.append(1)
            raise

    monkeypatch.setattr(SqlDirectory, "confirm", spy)
    return found


def waiting_for_lock(url: str, like: str, timeout: float = 10.0) -> bool:
    """Whether some backend waits for a lock on a statement matching ``like``."""
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                found = conn.execute(
                    sa.text(
                        "SELECT count(*) FROM pg_stat_activity"
                        " WHERE wait_event_type = 'Lock' AND query LIKE :q"
                    ),
                    {"q": like},
                ).scalar()
            if found:
                return True
            time.sleep(0.05)
        return False
    finally:
        engine.dispose()
