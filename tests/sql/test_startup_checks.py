"""T41: unsafe configurations are refused at start-up with UnsafeConfigurationError."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa

from releaseflow.exceptions import UnsafeConfigurationError
from releaseflow.storage.sql import SqlStore
from tests.sql.conftest import SQL_BACKENDS
from tests.sql_support import server_url, unique_prefix


def test_own_sqlite_file_runs_wal_and_full(tmp_path: Path) -> None:
    store = SqlStore.open(f"sqlite:///{tmp_path / 'a.db'}")
    try:
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000
    finally:
        store.close()


def _table_names(engine: sa.Engine, prefix: str = "rf_") -> list[str]:
    with engine.connect() as conn:
        names = sa.inspect(conn).get_table_names()
    return [n for n in names if n.startswith(prefix)]


def test_host_sqlite_engine_without_wal_is_refused(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'host.db'}")
    try:
        with pytest.raises(UnsafeConfigurationError, match="WAL"):
            SqlStore.open(engine)
        assert _table_names(engine) == []  # refused before any table was made
    finally:
        engine.dispose()


def test_host_sqlite_engine_with_synchronous_normal_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "host.db"
    with sqlite3.connect(path) as raw:
        raw.execute("PRAGMA journal_mode=WAL")
    raw.close()
    engine = sa.create_engine(f"sqlite:///{path}")

    @sa.event.listens_for(engine, "connect")
    def _normal(dbapi_connection: sqlite3.Connection, _record: object) -> None:
        dbapi_connection.execute("PRAGMA synchronous=NORMAL")

    try:
        with pytest.raises(UnsafeConfigurationError, match="synchronous"):
            SqlStore.open(engine)
        assert _table_names(engine) == []
    finally:
        engine.dispose()


def test_host_sqlite_engine_with_safe_pragmas_is_accepted(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'host.db'}")

    @sa.event.listens_for(engine, "connect")
    def _safe(dbapi_connection: sqlite3.Connection, _record: object) -> None:
        dbapi_connection.execute("PRAGMA journal_mode=WAL")
        dbapi_connection.execute("PRAGMA synchronous=FULL")

    try:
        store = SqlStore.open(engine)
        with store.unit_of_work() as uow:
            assert uow.directory.lock() == 0
        store.close()
        with engine.connect() as conn:  # the host's engine is left open and usable
            assert conn.exec_driver_sql("SELECT 1").scalar() == 1
    finally:
        engine.dispose()


def test_dialect_without_sane_rowcount_is_refused(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'x.db'}")
    engine.dialect.supports_sane_rowcount = False
    try:
        with pytest.raises(UnsafeConfigurationError, match="row"):
            SqlStore.open(engine)
    finally:
        engine.dispose()


needs_mariadb = pytest.mark.skipif(
    "mariadb" not in SQL_BACKENDS, reason="RELEASEFLOW_TEST_MARIADB_URL not set"
)


@needs_mariadb
def test_mariadb_without_strict_mode_is_refused() -> None:
    engine = sa.create_engine(
        server_url("mariadb"),
        connect_args={"init_command": "SET SESSION sql_mode=''"},
    )
    try:
        prefix = unique_prefix()
        with pytest.raises(UnsafeConfigurationError, match="strict"):
            SqlStore.open(engine, table_prefix=prefix)
        assert _table_names(engine, prefix) == []  # no migration ran
    finally:
        engine.dispose()


@needs_mariadb
def test_mariadb_without_utf8mb4_is_refused() -> None:
    engine = sa.create_engine(server_url("mariadb"), connect_args={"charset": "utf8"})
    try:
        prefix = unique_prefix()
        with pytest.raises(UnsafeConfigurationError, match="utf8mb4"):
            SqlStore.open(engine, table_prefix=prefix)
        assert _table_names(engine, prefix) == []  # no migration ran
    finally:
        engine.dispose()


@needs_mariadb
def test_mariadb_identifiers_compare_byte_for_byte() -> None:
    from tests.sql_support import open_sql_store

    store = open_sql_store("mariadb", Path())
    try:
        with store.engine.connect() as conn:
            for column in ("id", "created_by", "state"):
                collation = conn.exec_driver_sql(
                    "SELECT collation_name FROM information_schema.columns"
                    " WHERE table_schema = DATABASE() AND table_name = %s"
                    " AND column_name = %s",
                    (store.tables.requests.name, column),
                ).scalar()
                assert collation == "utf8mb4_nopad_bin"
            fsp = conn.exec_driver_sql(
                "SELECT datetime_precision FROM information_schema.columns"
                " WHERE table_schema = DATABASE() AND table_name = %s"
                " AND column_name = 'created_at'",
                (store.tables.requests.name,),
            ).scalar()
            assert fsp == 6
    finally:
        store.close()
