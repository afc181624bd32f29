"""Engines and connections: SQLite done right, start-up safety checks.

SQLite follows SQLAlchemy's documented pysqlite recipe: the driver's own
transaction handling is switched off (``isolation_level = None``) and the ``begin``
event emits ``BEGIN IMMEDIATE`` for write units of work (``BEGIN`` for reads), so a
writer takes the lock up front instead of failing at its first write. Files run in
WAL mode with ``synchronous=FULL``; a host engine configured otherwise is refused.
"""

from __future__ import annotations

import math
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import StaticPool

from ...exceptions import UnsafeConfigurationError
from .errors import translate

__all__ = [
    "BEGIN_OPTION",
    "READY",
    "SKIP_BEGIN",
    "check_dialect",
    "check_settings",
    "is_memory",
    "make_engine",
    "on_begin",
    "prepare_connection",
    "restore_connection",
]

#: Execution option carrying the SQLite BEGIN statement of a unit of work.
BEGIN_OPTION: Final = "releaseflow_sqlite_begin"
READY: Final = "releaseflow_ready"
"""Connection-info key: the connection has had its first-use checks."""
SKIP_BEGIN: Final = "releaseflow_skip_begin"
"""Connection-info key: the unit of work sent BEGIN itself (raw path); skip it once."""
_SAVED: Final = "releaseflow_saved_isolation"
_SUPPORTED: Final = {"sqlite", "postgresql", "mysql", "mariadb"}


def is_memory(engine: Engine) -> bool:
    """Whether ``engine`` is an in-memory SQLite database."""
    url = engine.url
    database = url.database or ""
    return database in ("", ":memory:") or url.query.get("mode") == "memory"


def make_engine(target: str | sa.URL | Engine, *, busy_timeout: float) -> Engine:
    """Return ``target`` if it is an engine, else a new engine with safe settings."""
    if isinstance(target, Engine):
        if target.dialect.name == "sqlite":
            _listen_begin(target)
        return target
    with translate():
        url = sa.make_url(target)
        backend = url.get_backend_name()
        if backend == "sqlite":
            return _sqlite_engine(url, busy_timeout)
        if backend == "postgresql":
            ms = max(1, int(busy_timeout * 1000))
            return sa.create_engine(
                url,
                isolation_level="READ COMMITTED",
                connect_args={
                    "options": f"-c lock_timeout={ms}",
                    "connect_timeout": 10,
                },
            )
        if backend in ("mysql", "mariadb"):
            secs = max(1, math.ceil(busy_timeout))
            args: dict[str, Any] = {
                "init_command": f"SET SESSION innodb_lock_wait_timeout={secs}",
                "connect_timeout": 10,
            }
            if "charset" not in url.query:
                args["charset"] = "utf8mb4"
            return sa.create_engine(
                url, isolation_level="READ COMMITTED", connect_args=args
            )
        return sa.create_engine(url)


def _sqlite_engine(url: sa.URL, busy_timeout: float) -> Engine:
    memory = (url.database or "") in ("", ":memory:")
    options: dict[str, Any] = {
        "connect_args": {"check_same_thread": False, "timeout": busy_timeout}
    }
    if memory:
        options["poolclass"] = StaticPool
    engine = sa.create_engine(url, **options)
    busy_ms = max(1, int(busy_timeout * 1000))

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {busy_ms}")
            cursor.execute("PRAGMA foreign_keys = ON")
            if not memory:
                cursor.execute("PRAGMA journal_mode = WAL")
                cursor.execute("PRAGMA synchronous = FULL")
        finally:
            cursor.close()

    _listen_begin(engine)
    return engine


def on_begin(conn: Connection) -> None:
    """The ``begin`` listener: emit the unit of work's SQLite BEGIN statement."""
    statement = conn.get_execution_options().get(BEGIN_OPTION)
    if statement is None:
        return  # a host's own transaction: leave it alone
    if conn.info.pop(SKIP_BEGIN, None):
        return  # the unit of work began this transaction on the raw connection
    dbapi = conn.connection.dbapi_connection
    if dbapi is not None and dbapi.isolation_level is not None:
        conn.info[_SAVED] = dbapi.isolation_level
        dbapi.isolation_level = None
    dispatch = conn.dispatch
    if dbapi is None or dispatch.before_cursor_execute or dispatch.after_cursor_execute:
        conn.exec_driver_sql(statement)
    else:
        # nobody traces statements: skip SQLAlchemy's execution machinery (a
        # driver error here is translated by the unit of work, like any other)
        dbapi.execute(statement)


def _listen_begin(engine: Engine) -> None:
    if not event.contains(engine, "begin", on_begin):
        event.listen(engine, "begin", on_begin)


def check_dialect(engine: Engine) -> None:
    """Refuse dialects releaseflow cannot trust (unknown, or unreliable row counts)."""
    dialect = engine.dialect
    if dialect.name not in _SUPPORTED:
        raise UnsafeConfigurationError(
            f"dialect {dialect.name!r} is not supported (sqlite, postgresql, mysql)"
        )
    if not dialect.supports_sane_rowcount:
        raise UnsafeConfigurationError(
            f"dialect {dialect.name}+{dialect.driver} does not report reliable row"
            " counts; compare-and-set would be unsafe"
        )


class _SettingsProbe:
    """What :func:`prepare_connection` reads of a store, before the store exists."""

    def __init__(self, engine: Engine, busy_timeout: float) -> None:
        self.dialect = engine.dialect.name
        self.is_sqlite = self.dialect == "sqlite"
        self.memory = self.is_sqlite and is_memory(engine)
        self.busy_timeout = busy_timeout


def check_settings(engine: Engine, *, busy_timeout: float) -> None:
    """Run the per-connection safety checks once, before anything is written.

    :func:`prepare_connection` repeats them on every new pooled connection; this
    early run makes an unsafe server (MariaDB without strict mode or utf8mb4, a
    SQLite file without WAL + FULL, PostgreSQL with ``synchronous_commit=off``)
    refuse the store before migrations create or change a single table.
    """
    with translate(), engine.connect() as conn:
        prepare_connection(conn, _SettingsProbe(engine, busy_timeout))


def prepare_connection(conn: Connection, store: Any) -> None:
    """On a connection's first use, apply per-connection settings and check them."""
    if conn.info.get(READY):
        return
    with translate():
        if store.is_sqlite:
            _check_sqlite(conn, store)
        elif store.dialect in ("mysql", "mariadb"):
            _check_mysql(conn)
        else:
            _check_postgres(conn)
        conn.rollback()
    conn.info[READY] = True


def _check_sqlite(conn: Connection, store: Any) -> None:
    busy_ms = max(1, int(store.busy_timeout * 1000))
    conn.exec_driver_sql(f"PRAGMA busy_timeout = {busy_ms}")
    if store.memory:
        return
    mode = str(conn.exec_driver_sql("PRAGMA journal_mode").scalar()).lower()
    sync = int(conn.exec_driver_sql("PRAGMA synchronous").scalar() or 0)
    if mode != "wal":
        raise UnsafeConfigurationError(
            f"SQLite journal_mode is {mode!r}; releaseflow needs WAL"
        )
    if sync < 2:
        raise UnsafeConfigurationError(
            f"SQLite synchronous is {sync}; releaseflow needs FULL (2) or EXTRA (3)"
        )


def _check_mysql(conn: Connection) -> None:
    row = conn.exec_driver_sql(
        "SELECT @@SESSION.sql_mode, @@SESSION.character_set_client,"
        " @@SESSION.character_set_connection, @@GLOBAL.innodb_flush_log_at_trx_commit"
    ).one()
    modes = {m.strip().upper() for m in str(row[0] or "").split(",")}
    if not modes & {"STRICT_TRANS_TABLES", "STRICT_ALL_TABLES"}:
        raise UnsafeConfigurationError(
            "MariaDB sql_mode is not strict; values could be truncated silently"
        )
    if row[1] != "utf8mb4" or row[2] != "utf8mb4":
        raise UnsafeConfigurationError(
            f"MariaDB connection character set is {row[1]}/{row[2]}; use utf8mb4"
        )
    if int(row[3]) != 1:
        raise UnsafeConfigurationError(
            "innodb_flush_log_at_trx_commit must be 1 (committed work could be lost)"
        )


def _check_postgres(conn: Connection) -> None:
    setting = str(conn.exec_driver_sql("SHOW synchronous_commit").scalar())
    if setting == "off":
        raise UnsafeConfigurationError(
            "PostgreSQL synchronous_commit is off; acknowledged commits could be lost"
        )


def restore_connection(conn: Connection) -> None:
    """Give a host's SQLite connection its own transaction handling back."""
    saved = conn.info.pop(_SAVED, None)
    if saved is not None:
        dbapi = conn.connection.dbapi_connection
        if dbapi is not None:
            dbapi.isolation_level = saved
