"""Operator tasks on a SQL store: online backups and database-level audit guards.

* :func:`backup` copies a live SQLite store with SQLite's online backup API: one
  consistent snapshot taken inside a read transaction, so writers keep working
  and every committed transition is either wholly in the copy or wholly absent.
  Copying the database file with ``cp`` while the store runs is *not* a backup:
  committed work still sitting in the ``-wal`` file is missing from the copy
  (``tests/sql/test_maintenance.py`` shows it). PostgreSQL and MariaDB are backed
  up with their own tools (``pg_dump``, ``mariadb-dump --single-transaction``).
* :func:`protect_audit` installs triggers that refuse ``UPDATE`` and ``DELETE`` of
  audit rows (and ``TRUNCATE`` on PostgreSQL) for every database user, releaseflow
  itself included: the engine only ever inserts audit rows. The triggers stop
  mistakes and application-level tampering; a database owner can still drop them,
  which is why the hash chain and external anchors remain the proof
  (``docs/explanation/audit-chain.md``).
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import sqlalchemy as sa

from ...chain import anchor_digest
from ...exceptions import StorageError, ValidationError
from ...models import ChainHead
from .errors import translate
from .store import SqlStore

__all__ = [
    "APPEND_ONLY_MESSAGE",
    "BackupResult",
    "audit_protected",
    "backup",
    "protect_audit",
    "unprotect_audit",
]

APPEND_ONLY_MESSAGE: Final = "releaseflow audit entries are append-only"
"""The error text the audit triggers raise (every backend)."""


@dataclass(frozen=True)
class BackupResult:
    """What :func:`backup` wrote.

    Attributes:
        path: the backup file.
        pages: database pages copied.
        heads: the ledger heads inside the copy (record them with the backup).
        digest: the anchor digest of ``heads`` (``chain.anchor_digest``); a store
            restored from this copy verifies against an anchor with this digest.
    """

    path: Path
    pages: int
    heads: tuple[ChainHead, ...]
    digest: str


def backup(store: SqlStore, target: str | os.PathLike[str]) -> BackupResult:
    """Copy a live SQLite store to ``target`` (a new file) as one consistent snapshot.

    Writers are not stopped: the copy is taken in one step inside a read
    transaction, so it holds exactly the transitions committed before the copy
    began. The copy is checked with ``PRAGMA integrity_check`` before returning.

    Raises:
        ValidationError: ``target`` exists (field ``target``), or the store is not
            a SQLite file (field ``store``: use ``pg_dump`` or ``mariadb-dump``).
        StorageError: the copy failed or did not pass the integrity check; a
            partly written ``target`` is removed.
    """
    if not store.is_sqlite or store.memory:
        raise ValidationError(
            "backup() copies SQLite files; back up PostgreSQL with pg_dump and"
            " MariaDB with mariadb-dump --single-transaction",
            field="store",
            rule="sqlite_file",
        )
    path = Path(target)
    if path.exists() or Path(f"{path}-wal").exists():
        raise ValidationError(
            f"backup target {path} already exists", field="target", rule="new_file"
        )
    store.check_fork()
    try:
        with translate():
            raw = store.engine.raw_connection()
            try:
                source = raw.dbapi_connection
                if not isinstance(source, sqlite3.Connection):
                    raise StorageError("the SQLite driver connection is not sqlite3")
                # rolled-back state: no transaction of ours pins an older snapshot
                source.rollback()
                copy = sqlite3.connect(path)
                try:
                    source.backup(copy, pages=-1)
                    result = _check_copy(copy, store, path)
                finally:
                    copy.close()
            finally:
                raw.close()
    except BaseException:
        for leftover in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            leftover.unlink(missing_ok=True)
        raise
    return result


def _check_copy(copy: sqlite3.Connection, store: SqlStore, path: Path) -> BackupResult:
    verdict = copy.execute("PRAGMA integrity_check").fetchall()
    if verdict != [("ok",)]:
        raise StorageError(f"the backup failed its integrity check: {verdict[:3]}")
    pages = int(copy.execute("PRAGMA page_count").fetchone()[0])
    heads_table = store.tables.heads.name
    rows = copy.execute(
        f'SELECT ledger, seq, hash FROM "{heads_table}" ORDER BY ledger'
    ).fetchall()
    heads = tuple(ChainHead(ledger=r[0], seq=r[1], hash=r[2]) for r in rows)
    return BackupResult(
        path=path, pages=pages, heads=heads, digest=anchor_digest(heads)
    )


# -- append-only triggers -------------------------------------------------------


def _names(store: SqlStore) -> tuple[str, str, str]:
    """(quoted audit table, trigger-name stem, quoted schema prefix for functions)."""
    preparer = store.engine.dialect.identifier_preparer
    table = store.tables.audit.name
    prefix = "" if store.schema is None else f"{preparer.quote_schema(store.schema)}."
    return f"{prefix}{preparer.quote(table)}", f"{table}_append_only", prefix


def _statements(store: SqlStore) -> list[str]:
    table, stem, schema = _names(store)
    message = APPEND_ONLY_MESSAGE
    if store.is_sqlite:
        return [
            f'CREATE TRIGGER IF NOT EXISTS "{stem}_{op.lower()}" BEFORE {op} ON {table}'
            f" BEGIN SELECT RAISE(ABORT, '{message}'); END"
            for op in ("UPDATE", "DELETE")
        ]
    if store.dialect == "postgresql":
        function = f'{schema}"{stem}"'
        return [
            f"CREATE OR REPLACE FUNCTION {function}() RETURNS trigger"
            " LANGUAGE plpgsql AS $$ BEGIN"
            f" RAISE EXCEPTION '{message}' USING ERRCODE = 'insufficient_privilege';"
            " END $$",
            f'DROP TRIGGER IF EXISTS "{stem}_row" ON {table}',
            f'CREATE TRIGGER "{stem}_row" BEFORE UPDATE OR DELETE ON {table}'
            f" FOR EACH ROW EXECUTE FUNCTION {function}()",
            f'DROP TRIGGER IF EXISTS "{stem}_truncate" ON {table}',
            f'CREATE TRIGGER "{stem}_truncate" BEFORE TRUNCATE ON {table}'
            f" FOR EACH STATEMENT EXECUTE FUNCTION {function}()",
        ]
    return [
        f"CREATE OR REPLACE TRIGGER `{stem}_{op.lower()}` BEFORE {op} ON {table}"
        f" FOR EACH ROW SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = '{message}'"
        for op in ("UPDATE", "DELETE")
    ]


def _drop_statements(store: SqlStore) -> list[str]:
    table, stem, schema = _names(store)
    if store.is_sqlite:
        return [f'DROP TRIGGER IF EXISTS "{stem}_{op}"' for op in ("update", "delete")]
    if store.dialect == "postgresql":
        return [
            f'DROP TRIGGER IF EXISTS "{stem}_row" ON {table}',
            f'DROP TRIGGER IF EXISTS "{stem}_truncate" ON {table}',
            f'DROP FUNCTION IF EXISTS {schema}"{stem}"()',
        ]
    return [f"DROP TRIGGER IF EXISTS `{stem}_{op}`" for op in ("update", "delete")]


def _run_ddl(store: SqlStore, statements: list[str]) -> None:
    store.check_fork()
    with translate(), store.engine.connect() as conn:
        for text in statements:
            conn.exec_driver_sql(text)
        conn.commit()


def protect_audit(store: SqlStore) -> None:
    """Install the append-only triggers on the store's audit table (idempotent).

    After this, ``UPDATE`` and ``DELETE`` of audit rows fail on every backend, and
    ``TRUNCATE`` fails on PostgreSQL (on MariaDB, withhold the ``DROP`` privilege
    from the application's user: ``TRUNCATE`` needs it and fires no trigger).
    MariaDB with binary logging needs ``log_bin_trust_function_creators`` or the
    ``SUPER`` privilege to create triggers.
    """
    _run_ddl(store, _statements(store))


def unprotect_audit(store: SqlStore) -> None:
    """Remove the append-only triggers (for a supervised repair; it is not audited)."""
    _run_ddl(store, _drop_statements(store))


def audit_protected(store: SqlStore) -> bool:
    """Whether every append-only trigger of this store's audit table is installed."""
    _table, stem, _schema = _names(store)
    if store.is_sqlite:
        wanted = {f"{stem}_update", f"{stem}_delete"}
        query = sa.text("SELECT name FROM sqlite_master WHERE type = 'trigger'")
    elif store.dialect == "postgresql":
        wanted = {f"{stem}_row", f"{stem}_truncate"}
        query = sa.text(
            "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal"
            " AND tgrelid = CAST(:table AS regclass)"
        ).bindparams(table=_names(store)[0])
    else:
        wanted = {f"{stem}_update", f"{stem}_delete"}
        query = sa.text(
            "SELECT trigger_name FROM information_schema.triggers"
            " WHERE event_object_schema = DATABASE()"
            " AND event_object_table = :table"
        ).bindparams(table=store.tables.audit.name)
    store.check_fork()
    with translate(), store.engine.connect() as conn:
        found = {str(name) for name in conn.execute(query).scalars()}
    return wanted <= found
