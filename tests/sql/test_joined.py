"""Joining a host's SQLAlchemy transaction: commit together, roll back together.

Runs on the SQLite file backend and on every configured server backend. The host
keeps a table of its own (``<prefix>host_notes``) in the same database and writes to
it in the same transaction as releaseflow.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

import releaseflow as rf
from releaseflow import signals
from releaseflow.exceptions import (
    ConflictError,
    IdempotencyKeyReuseError,
    InvalidTransitionError,
    StorageError,
    ValidationError,
)
from releaseflow.storage.sql import SqlStore
from tests.conftest import STAFF, Clock, new_inquiry
from tests.sql.conftest import FILE_BACKENDS
from tests.sql_support import open_sql_store


class Setup:
    """A staffed flow on a fresh store, plus the host's own table and a signal log."""

    def __init__(self, store: SqlStore, backend: str) -> None:
        self.store = store
        self.backend = backend
        self.flow = rf.ReleaseFlow(store, clock=Clock())
        self.flow.directory.bootstrap("admin", unit="agency")
        for actor, role in STAFF.items():
            if role != "administrator":
                self.flow.directory.grant(actor, role, unit="agency", by="admin")
        prefix = getattr(store.tables, "prefix", "rf_")
        self.notes = sa.Table(
            f"{prefix}host_notes",
            sa.MetaData(),
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("text", sa.String(100), nullable=False),
        )
        with store.engine.begin() as conn:
            self.notes.create(conn)
        self.heard: list[tuple[str, Any]] = []

    def listen(self, *names: str) -> None:
        for name in names:
            signal = getattr(signals, name)

            def receiver(sender: Any, *, _name: str = name, **payload: Any) -> None:
                assert sender is self.flow
                self.heard.append((_name, payload.get("entry") or payload))

            signal.connect(receiver, sender=self.flow, weak=False)
            self._receivers.append((signal, receiver))

    _receivers: list[tuple[Any, Any]]

    def note_texts(self) -> list[str]:
        with self.store.engine.connect() as conn:
            rows = conn.execute(sa.select(self.notes.c.text).order_by(self.notes.c.id))
            return [str(r[0]) for r in rows]

    def drop(self) -> None:
        for signal, receiver in self._receivers:
            signal.disconnect(receiver)
        with self.store.engine.begin() as conn:
            self.notes.drop(conn)


@pytest.fixture(name="setup", params=FILE_BACKENDS)
def _setup(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Setup]:
    backend = str(request.param)
    store = open_sql_store(backend, tmp_path)
    Setup._receivers = []
    setup = Setup(store, backend)
    setup.listen("request_created", "request_transitioned", "audit_entry_written")
    try:
        yield setup
    finally:
        setup.drop()
        store.close()


def _insert(conn: Connection | Session, setup: Setup, note_id: int, text: str) -> None:
    conn.execute(sa.insert(setup.notes).values(id=note_id, text=text))


Connection = sa.engine.Connection


def test_host_commit_makes_both_durable_and_signals_follow(setup: Setup) -> None:
    flow = setup.flow
    req = new_inquiry(flow)
    setup.heard.clear()
    with setup.store.engine.connect() as conn:
        conn.begin()
        joined = flow.joined(conn)
        _insert(conn, setup, 1, "before")
        moved = joined.fire(req.id, "triage", actor="spoke.tran")
        created = new_inquiry(joined, title="Tạo trong giao dịch của host")
        _insert(conn, setup, 2, "after")
        assert moved.state == "drafting"
        # inside the host's transaction releaseflow reads its own writes
        assert joined.get(req.id).version == moved.version
        assert len(joined.audit.history(created.id)) == 1
        # nothing is sent, and nothing is visible outside, before the host commits
        assert setup.heard == []
        assert flow.get(req.id).version == req.version
        conn.commit()
    assert setup.note_texts() == ["before", "after"]
    assert flow.get(req.id).state == "drafting"
    assert flow.get(created.id).title == "Tạo trong giao dịch của host"
    assert [e.trigger for e in flow.audit.history(req.id)] == ["create", "triage"]
    assert flow.audit.verify().ok
    names = [name for name, _ in setup.heard]
    assert names.count("request_transitioned") == 1
    assert names.count("request_created") == 1
    assert names.count("audit_entry_written") == 2
    written = [e for name, e in setup.heard if name == "audit_entry_written"]
    assert {e.request_id for e in written} == {req.id, created.id}
    # the committed connection's next transaction does not send them again
    with setup.store.engine.connect() as conn:
        conn.begin()
        _insert(conn, setup, 3, "later")
        conn.commit()
    assert len(setup.heard) == 4


def test_host_rollback_undoes_both_and_drops_signals(setup: Setup) -> None:
    flow = setup.flow
    req = new_inquiry(flow)
    heads = flow.audit.heads()
    setup.heard.clear()
    with setup.store.engine.connect() as conn:
        conn.begin()
        joined = flow.joined(conn)
        _insert(conn, setup, 1, "doomed")
        joined.fire(req.id, "triage", actor="spoke.tran")
        created = new_inquiry(joined)
        conn.rollback()
    assert setup.note_texts() == []
    assert setup.heard == []
    assert flow.get(req.id).state == req.state
    with pytest.raises(rf.exceptions.RequestNotFoundError):
        flow.get(created.id)
    assert flow.audit.heads() == heads
    # a normal operation afterwards works on the unchanged chain
    after = flow.fire(req.id, "triage", actor="spoke.tran")
    assert after.version == req.version + 1
    assert [name for name, _ in setup.heard] == [
        "request_transitioned",
        "audit_entry_written",
    ]
    assert flow.audit.verify().ok


def test_refusal_inside_rolls_back_only_its_savepoint(setup: Setup) -> None:
    flow = setup.flow
    req = new_inquiry(flow)
    setup.heard.clear()
    with setup.store.engine.connect() as conn:
        conn.begin()
        joined = flow.joined(conn)
        _insert(conn, setup, 1, "kept")
        with pytest.raises(ConflictError):
            joined.fire(
                req.id, "triage", actor="spoke.tran", expected_version=req.version + 5
            )
        with pytest.raises(InvalidTransitionError):
            joined.fire(req.id, "approve_release", actor="head.pham")
        # the host's transaction is still usable, with its own earlier write
        _insert(conn, setup, 2, "also kept")
        assert (
            conn.execute(sa.select(sa.func.count()).select_from(setup.notes)).scalar()
            == 2
        )
        moved = joined.fire(
            req.id, "triage", actor="spoke.tran", expected_version=req.version
        )
        conn.commit()
    assert setup.note_texts() == ["kept", "also kept"]
    assert flow.get(req.id).version == moved.version == req.version + 1
    assert [e.trigger for e in flow.audit.history(req.id)] == ["create", "triage"]
    assert [name for name, _ in setup.heard] == [
        "request_transitioned",
        "audit_entry_written",
    ]
    assert flow.audit.verify().ok


def test_idempotency_keys_behave_as_in_normal_mode(setup: Setup) -> None:
    flow = setup.flow
    req = new_inquiry(flow)
    with setup.store.engine.connect() as conn:
        conn.begin()
        joined = flow.joined(conn)
        first = joined.fire(req.id, "triage", actor="spoke.tran", idempotency_key="k1")
        again = joined.fire(req.id, "triage", actor="spoke.tran", idempotency_key="k1")
        assert again == first
        with pytest.raises(IdempotencyKeyReuseError):
            joined.fire(req.id, "submit", actor="comms.nguyen", idempotency_key="k1")
        conn.commit()
    # after the host's commit the key replays in normal mode too
    assert (
        flow.fire(req.id, "triage", actor="spoke.tran", idempotency_key="k1") == first
    )
    assert [e.trigger for e in flow.audit.history(req.id)] == ["create", "triage"]
    assert flow.audit.verify().ok


def test_a_database_conflict_inside_leaves_the_host_transaction_usable(
    setup: Setup,
) -> None:
    """Two hosts use one idempotency key at once: the second hits the unique index.

    The second host's ``create`` waits for the first host's transaction, then its
    INSERT violates the key's unique index (PostgreSQL aborts the transaction up
    to the savepoint; MariaDB the statement): one ``ConflictError``, its savepoint
    rolled back, and the second host's own writes still commit. SQLite serialises
    the two hosts (``BEGIN IMMEDIATE``), so there the second one replays instead.
    """
    flow = setup.flow
    setup.heard.clear()
    entered = threading.Event()
    outcome: dict[str, Any] = {}

    def second_host() -> None:
        try:
            with setup.store.engine.connect() as conn:
                conn.begin()
                entered.set()  # SQLite: joined() waits here for the first host
                joined = flow.joined(conn)
                _insert(conn, setup, 2, "second host")
                try:
                    outcome["result"] = new_inquiry(joined, idempotency_key="same")
                except rf.exceptions.ReleaseflowError as exc:
                    outcome["error"] = exc
                _insert(conn, setup, 3, "second host, after")
                conn.commit()
        except BaseException as exc:  # reported to the test thread
            outcome["crash"] = exc
            entered.set()

    with setup.store.engine.connect() as conn:
        conn.begin()
        joined = flow.joined(conn)
        _insert(conn, setup, 1, "first host")
        first = new_inquiry(joined, idempotency_key="same")
        worker = threading.Thread(target=second_host)
        worker.start()
        entered.wait(30)
        time.sleep(0.5)  # let the second host reach the key's index entry
        conn.commit()
    worker.join(60)
    assert not worker.is_alive()
    assert "crash" not in outcome, outcome.get("crash")
    if setup.backend == "sqlite":
        assert outcome["result"] == first
    else:
        assert isinstance(outcome.get("error"), ConflictError), outcome
    assert setup.note_texts() == ["first host", "second host", "second host, after"]
    assert [r.id for r in flow.find(limit=10)] == [first.id]
    assert [name for name, _ in setup.heard] == [
        "request_created",
        "audit_entry_written",
    ]
    assert flow.audit.verify().ok


@pytest.mark.parametrize("join_first", [True, False])
def test_rolled_back_host_savepoint_drops_what_ran_inside(
    setup: Setup, join_first: bool
) -> None:
    flow = setup.flow
    req = new_inquiry(flow)
    other = new_inquiry(flow)
    setup.heard.clear()
    with setup.store.engine.connect() as conn:
        conn.begin()
        joined = flow.joined(conn) if join_first else None
        _insert(conn, setup, 1, "outer")
        if joined is not None:
            joined.fire(other.id, "triage", actor="spoke.tran")  # kept
        nested = conn.begin_nested()
        joined = joined or flow.joined(conn)
        joined.fire(req.id, "triage", actor="spoke.tran")
        kept_inside = conn.begin_nested()  # released: its work is kept
        joined.fire(req.id, "submit", actor="comms.nguyen")
        kept_inside.commit()
        nested.rollback()
        created = new_inquiry(joined)
        conn.commit()
    assert setup.note_texts() == ["outer"]
    assert flow.get(req.id).version == req.version
    assert flow.get(created.id).version == 1
    names = [name for name, _ in setup.heard]
    expected = ["request_created", "audit_entry_written"]
    if join_first:
        assert flow.get(other.id).state == "drafting"
        expected = ["request_transitioned", "audit_entry_written", *expected]
    assert names == expected
    assert flow.audit.verify().ok


@pytest.mark.parametrize("outcome", ["commit", "rollback"])
def test_orm_session_joins_too(setup: Setup, outcome: str) -> None:
    flow = setup.flow
    req = new_inquiry(flow)
    setup.heard.clear()
    with Session(setup.store.engine) as session:
        joined = flow.joined(session)
        moved = joined.fire(req.id, "triage", actor="spoke.tran")
        _insert(session, setup, 1, "orm")
        assert setup.heard == []
        if outcome == "commit":
            session.commit()
        else:
            session.rollback()
    if outcome == "commit":
        assert setup.note_texts() == ["orm"]
        assert flow.get(req.id).version == moved.version
        assert [name for name, _ in setup.heard] == [
            "request_transitioned",
            "audit_entry_written",
        ]
    else:
        assert setup.note_texts() == []
        assert flow.get(req.id).version == req.version
        assert setup.heard == []
    assert flow.audit.verify().ok


def test_a_failed_host_commit_sends_nothing(setup: Setup) -> None:
    """COMMIT itself fails: a deferred constraint the host's own rows violate.

    PostgreSQL: a deferred unique constraint; SQLite: a deferred foreign key.
    MariaDB checks every constraint at once, so its COMMIT cannot fail this way.
    """
    if setup.backend not in ("postgres", "sqlite"):
        pytest.skip("MariaDB has no deferred constraints")
    flow = setup.flow
    req = new_inquiry(flow)
    setup.heard.clear()
    table = f"rf_defer_{uuid.uuid4().hex[:8]}"
    if setup.backend == "postgres":
        ddl = [
            f"CREATE TABLE {table} (x int, CONSTRAINT {table}_u UNIQUE (x)"
            " DEFERRABLE INITIALLY DEFERRED)"
        ]
        violate = f"INSERT INTO {table} VALUES (1), (1)"
        drop = [f"DROP TABLE {table}"]
    else:
        ddl = [
            f"CREATE TABLE {table}_p (id INTEGER PRIMARY KEY)",
            f"CREATE TABLE {table} (x INTEGER REFERENCES {table}_p (id)"
            " DEFERRABLE INITIALLY DEFERRED)",
        ]
        violate = f"INSERT INTO {table} VALUES (99)"
        drop = [f"DROP TABLE {table}", f"DROP TABLE {table}_p"]
    with setup.store.engine.begin() as conn:
        for statement in ddl:
            conn.exec_driver_sql(statement)
    try:
        with setup.store.engine.connect() as conn:
            conn.begin()
            joined = flow.joined(conn)
            conn.exec_driver_sql(violate)
            joined.fire(req.id, "triage", actor="spoke.tran")
            with pytest.raises(sa.exc.IntegrityError):
                conn.commit()
        assert setup.heard == []
        assert flow.get(req.id).version == req.version
        assert flow.audit.verify().ok
        # the failed host transaction left nothing behind: normal work goes on
        assert flow.fire(req.id, "triage", actor="spoke.tran").state == "drafting"
        assert [name for name, _ in setup.heard] == [
            "request_transitioned",
            "audit_entry_written",
        ]
    finally:
        with setup.store.engine.begin() as conn:
            for statement in drop:
                conn.exec_driver_sql(statement)


def test_bad_hosts_are_refused(setup: Setup, tmp_path: Path) -> None:
    with pytest.raises(ValidationError):
        setup.flow.joined("postgresql://not-a-connection")
    memory = rf.ReleaseFlow.open("memory://")
    with setup.store.engine.connect() as conn, pytest.raises(StorageError):
        memory.joined(conn)
    conn = setup.store.engine.connect()
    conn.close()
    with pytest.raises(StorageError):
        setup.flow.joined(conn)
    # a joined flow whose host connection was closed refuses with a typed error
    with setup.store.engine.connect() as conn:
        conn.begin()
        joined = setup.flow.joined(conn)
    with pytest.raises(StorageError):
        joined.get(uuid.uuid4())


def test_an_unsafe_host_connection_is_refused_before_anything_is_written(
    setup: Setup,
) -> None:
    """A host engine's connection gets the same start-up checks as the store's own."""
    flow = setup.flow
    req = new_inquiry(flow)
    setup.heard.clear()
    host_engine = sa.create_engine(setup.store.engine.url)
    try:
        with host_engine.connect() as conn:
            unsafe = {
                "sqlite": "PRAGMA synchronous = OFF",
                "postgres": "SET synchronous_commit = off",
                "mariadb": "SET SESSION sql_mode = ''",
            }[setup.backend]
            conn.exec_driver_sql(unsafe)
            conn.commit()
            conn.begin()
            joined = flow.joined(conn)
            _insert(conn, setup, 1, "host")
            with pytest.raises(rf.exceptions.UnsafeConfigurationError):
                joined.fire(req.id, "triage", actor="spoke.tran")
            conn.commit()
    finally:
        host_engine.dispose()
    assert setup.note_texts() == ["host"]
    assert flow.get(req.id).version == req.version
    assert setup.heard == []
    assert flow.audit.verify().ok


def test_after_commit_callbacks_of_the_store_view(
    setup: Setup, caplog: pytest.LogCaptureFixture
) -> None:
    """``uow.after_commit`` runs after the host's COMMIT, if the unit of work committed.

    One that raises is logged and neither fails the commit nor stops the others.
    """
    ran: list[str] = []

    def broken() -> None:
        raise RuntimeError("receiver bug")

    with setup.store.engine.connect() as conn:
        conn.begin()
        view = setup.store.joined(conn)
        with view.unit_of_work() as uow:
            assert uow.joined
            uow.after_commit(broken)
            uow.after_commit(lambda: ran.append("committed"))
            uow.commit()
        with view.unit_of_work() as uow:
            uow.after_commit(lambda: ran.append("never committed"))
        _insert(conn, setup, 1, "host")
        assert ran == []
        conn.commit()
    assert ran == ["committed"]
    assert setup.note_texts() == ["host"]
    assert "after-commit callback" in caplog.text
    with setup.store.unit_of_work() as uow:
        assert not uow.joined
