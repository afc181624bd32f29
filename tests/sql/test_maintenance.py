"""Operator tasks: append-only audit triggers (T24) and online SQLite backups (T17)."""

from __future__ import annotations

import shutil
import sqlite3
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

import releaseflow as rf
from releaseflow.chain import anchor_digest
from releaseflow.cli import cli
from releaseflow.exceptions import ValidationError
from releaseflow.storage.sql import (
    SqlStore,
    audit_protected,
    backup,
    protect_audit,
    unprotect_audit,
)
from releaseflow.storage.sql.maintenance import APPEND_ONLY_MESSAGE
from tests.conftest import Clock, new_inquiry, staff
from tests.sql.conftest import StoreFactory
from tests.sql_support import sqlite_url


def _staffed(store: SqlStore) -> rf.ReleaseFlow:
    return staff(rf.ReleaseFlow(store, clock=Clock()))


def _audit_rows(store: SqlStore) -> list[tuple[int, int, str]]:
    t = store.tables.audit
    with store.engine.connect() as conn:
        rows = conn.execute(
            sa.select(t.c.ledger, t.c.seq, t.c.actor).order_by(t.c.ledger, t.c.seq)
        ).all()
    return [(int(r[0]), int(r[1]), str(r[2])) for r in rows]


def _tamper(store: SqlStore, ledger: int, seq: int) -> None:
    t = store.tables.audit
    with store.engine.begin() as conn:
        conn.execute(
            sa.update(t)
            .where(t.c.ledger == ledger, t.c.seq == seq)
            .values(actor="someone.else")
        )


def _delete(store: SqlStore, ledger: int, seq: int) -> None:
    t = store.tables.audit
    with store.engine.begin() as conn:
        conn.execute(sa.delete(t).where(t.c.ledger == ledger, t.c.seq == seq))


def test_protected_audit_refuses_update_and_delete_and_the_engine_still_works(
    open_store: StoreFactory,
) -> None:
    store = open_store()
    flow = _staffed(store)
    request = flow.fire(new_inquiry(flow).id, "triage", actor="spoke.tran")
    assert not audit_protected(store)
    protect_audit(store)
    protect_audit(store)  # idempotent
    assert audit_protected(store)
    before = _audit_rows(store)
    ledger, seq, _actor = before[len(before) // 2]
    with pytest.raises(sa.exc.DBAPIError, match=APPEND_ONLY_MESSAGE):
        _tamper(store, ledger, seq)
    with pytest.raises(sa.exc.DBAPIError, match=APPEND_ONLY_MESSAGE):
        _delete(store, ledger, seq)
    assert _audit_rows(store) == before
    # releaseflow itself only ever inserts audit rows
    flow.fire(request.id, "submit", actor="comms.nguyen")
    flow.directory.grant("review.new", "reviewer", unit="agency", by="admin")
    assert len(_audit_rows(store)) == len(before) + 2
    assert flow.audit.verify().ok
    # removed (a supervised repair): the same edit now goes through, and the
    # chain, not the trigger, is what shows it
    unprotect_audit(store)
    assert not audit_protected(store)
    _tamper(store, ledger, seq)
    bad = flow.audit.verify().first_bad
    assert bad is not None
    assert (bad.ledger, bad.seq) == (ledger, seq)


@pytest.fixture(name="pg_store")
def _pg_store(sql_backend: str, open_store: StoreFactory) -> SqlStore:
    if sql_backend != "postgres":
        pytest.skip("PostgreSQL only")
    return open_store()


def test_postgres_refuses_truncate_of_a_protected_audit_table(
    pg_store: SqlStore,
) -> None:
    flow = _staffed(pg_store)
    new_inquiry(flow)
    protect_audit(pg_store)
    count = len(_audit_rows(pg_store))
    name = pg_store.tables.audit.name
    with (
        pytest.raises(sa.exc.DBAPIError, match=APPEND_ONLY_MESSAGE),
        pg_store.engine.begin() as conn,
    ):
        conn.exec_driver_sql(f'TRUNCATE "{name}"')
    assert len(_audit_rows(pg_store)) == count


def test_postgres_superuser_bypass_is_still_caught_by_verification(
    pg_store: SqlStore,
) -> None:
    """The documented limit: a superuser can switch triggers off for a session.

    ``session_replication_role = replica`` skips ordinary triggers; the edit then
    lands, and ``verify()`` names the exact entry.
    """
    flow = _staffed(pg_store)
    flow.fire(new_inquiry(flow).id, "triage", actor="spoke.tran")
    protect_audit(pg_store)
    ledger, seq, _actor = _audit_rows(pg_store)[1]
    t = pg_store.tables.audit
    with pg_store.engine.begin() as conn:
        conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
        conn.execute(
            sa.update(t)
            .where(t.c.ledger == ledger, t.c.seq == seq)
            .values(actor="someone.else")
        )
    assert audit_protected(pg_store)
    bad = flow.audit.verify().first_bad
    assert bad is not None
    assert (bad.ledger, bad.seq) == (ledger, seq)


# -- backups -------------------------------------------------------------------


def _count(path: Path, table: str) -> int:
    """Audit rows in the SQLite file at ``path`` alone (0 if it has no such table)."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        try:
            row = conn.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()
        except sqlite3.OperationalError as exc:
            if "no such table" not in str(exc):
                raise
            return 0
    return int(row[0])


def test_backup_under_load_is_a_consistent_verifiable_copy(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    store = SqlStore.open(url)
    try:
        flow = _staffed(store)
        ids = [new_inquiry(flow).id for _ in range(6)]
        stop = threading.Event()
        failures: list[BaseException] = []

        def write() -> None:
            n = 0
            try:
                while not stop.is_set():
                    rid = ids[n % len(ids)]
                    state = flow.get(rid).state
                    trigger = "triage" if state == "received" else None
                    if trigger is None:
                        flow.edit(rid, body=f"Bản nháp {n}.", actor="comms.nguyen")
                    else:
                        flow.fire(rid, trigger, actor="spoke.tran")
                    n += 1
            except BaseException as exc:  # reported by the main thread
                failures.append(exc)

        writer = threading.Thread(target=write)
        writer.start()
        try:
            while len(_audit_rows(store)) < 40:
                pass
            at_start = len(_audit_rows(store))
            result = backup(store, tmp_path / "copy.db")
            at_end = len(_audit_rows(store))
        finally:
            stop.set()
            writer.join()
        assert failures == []
    finally:
        store.close()
    copied = _count(result.path, store.tables.audit.name)
    assert at_start <= copied <= at_end
    assert copied >= 40
    copy = SqlStore.open(f"sqlite:///{result.path}", migrate=False)
    try:
        restored = rf.ReleaseFlow(copy)
        report = restored.audit.verify()  # chain, heads and replayed request state
        assert report.ok, report.first_bad
        heads = restored.audit.heads()
        assert tuple(heads) == result.heads
        assert anchor_digest(heads) == result.digest
        with copy.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
    finally:
        copy.close()


def test_copying_the_live_file_is_not_a_backup(tmp_path: Path) -> None:
    """Negative control for T17: ``cp`` of a WAL database misses committed work."""
    url = sqlite_url(tmp_path)
    live = Path(url.removeprefix("sqlite:///"))
    store = SqlStore.open(url)
    try:
        flow = _staffed(store)
        for _ in range(5):
            new_inquiry(flow)
        committed = len(_audit_rows(store))
        shutil.copyfile(live, tmp_path / "cp.db")  # the -wal file is left behind
        result = backup(store, tmp_path / "backup.db")
    finally:
        store.close()
    table = store.tables.audit.name
    assert _count(result.path, table) == committed
    assert _count(tmp_path / "cp.db", table) < committed


def test_backup_refuses_an_existing_target_and_non_sqlite_stores(
    tmp_path: Path, open_store: StoreFactory, sql_backend: str
) -> None:
    store = open_store()
    if sql_backend != "sqlite":
        with pytest.raises(ValidationError) as refused:
            backup(store, tmp_path / "x.db")
        assert refused.value.field == "store"
        assert not (tmp_path / "x.db").exists()
        return
    target = tmp_path / "taken.db"
    target.write_bytes(b"keep me")
    with pytest.raises(ValidationError) as refused:
        backup(store, target)
    assert refused.value.field == "target"
    assert target.read_bytes() == b"keep me"


def test_cli_backup_and_protect_audit(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    store = SqlStore.open(url)
    new_inquiry(_staffed(store))
    store.close()
    runner = CliRunner()
    out = runner.invoke(cli, ["--db", url, "db", "backup", str(tmp_path / "b.db")])
    assert out.exit_code == 0, out.output
    assert "anchor " in out.output
    assert (tmp_path / "b.db").exists()
    out = runner.invoke(cli, ["--db", url, "db", "protect-audit"])
    assert out.exit_code == 0, out.output
    assert "audit entries: protected" in out.output
    out = runner.invoke(cli, ["--db", url, "db", "protect-audit", "--remove"])
    assert "audit entries: not protected" in out.output
    out = runner.invoke(cli, ["--db", "memory://", "db", "backup", "x.db"])
    assert out.exit_code == 3
    assert "db" in out.output
