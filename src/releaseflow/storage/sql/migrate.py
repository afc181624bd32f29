"""Alembic migrations shipped inside the package, with their own version table.

The version table is ``{table_prefix}alembic_version`` (``rf_alembic_version`` by
default): a host's own ``alembic_version`` is never read or written. Concurrent
migrators are serialised (PostgreSQL advisory lock, MariaDB ``GET_LOCK``, SQLite
``BEGIN IMMEDIATE``) and re-check the revision once they hold the lock.
"""

from __future__ import annotations

import functools
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine

from ...exceptions import SchemaOutdatedError, StorageError
from . import engine as engines
from .errors import translate
from .schema import Tables, build_tables

__all__ = ["current_revision", "ensure_schema", "head_revision", "upgrade"]

SCRIPT_LOCATION: Final = "releaseflow:migrations"


def _config(prefix: str, schema: str | None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", SCRIPT_LOCATION)
    cfg.attributes["table_prefix"] = prefix
    cfg.attributes["schema"] = schema
    return cfg


@functools.cache
def head_revision() -> str:
    """The newest revision this release of releaseflow knows."""
    head = ScriptDirectory.from_config(_config("rf_", None)).get_current_head()
    if head is None:  # pragma: no cover - the package ships revisions
        raise StorageError("no migrations found")
    return head


def _current(conn: Connection, tables: Tables, schema: str | None) -> str | None:
    context = MigrationContext.configure(
        conn,
        opts={
            "version_table": tables.version_table,
            "version_table_schema": schema,
        },
    )
    return context.get_current_revision()


def current_revision(
    target: str | sa.URL | Engine,
    *,
    table_prefix: str = "rf_",
    schema: str | None = None,
) -> str | None:
    """The revision the database is at (None for an empty database)."""
    engine = engines.make_engine(target, busy_timeout=5.0)
    try:
        with translate(), engine.connect() as conn:
            return _current(conn, build_tables(table_prefix), schema)
    finally:
        if not isinstance(target, Engine):
            engine.dispose()


@contextmanager
def _migration_lock(conn: Connection, prefix: str) -> Iterator[None]:
    key = zlib.crc32(f"releaseflow-migrate:{prefix}".encode())
    name = conn.dialect.name
    if name == "postgresql":
        conn.exec_driver_sql(f"SELECT pg_advisory_lock({key})")
        conn.commit()
        try:
            yield
        finally:
            conn.exec_driver_sql(f"SELECT pg_advisory_unlock({key})")
            conn.commit()
    elif name in ("mysql", "mariadb"):
        conn.exec_driver_sql(f"SELECT GET_LOCK('rf_migrate_{key}', 60)")
        conn.commit()
        try:
            yield
        finally:
            conn.exec_driver_sql(f"SELECT RELEASE_LOCK('rf_migrate_{key}')")
            conn.commit()
    else:
        yield


def _upgrade(engine: Engine, tables: Tables, schema: str | None) -> str:
    head = head_revision()
    with engine.connect() as conn:
        conn = conn.execution_options(**{engines.BEGIN_OPTION: "BEGIN IMMEDIATE"})
        with _migration_lock(conn, tables.prefix):
            with conn.begin():
                current = _current(conn, tables, schema)
                cfg = _config(tables.prefix, schema)
                cfg.attributes["connection"] = conn
                if current is None and not _any_table(conn, tables, schema):
                    # A brand-new database: create the newest schema at once and
                    # stamp it (the revisions' end state, much faster on MariaDB).
                    translated = conn.execution_options(
                        schema_translate_map={None: schema}
                    )
                    tables.metadata.create_all(translated)
                    command.stamp(cfg, "head")
                elif current != head:
                    command.upgrade(cfg, "head")
            if conn.in_transaction():
                conn.commit()
    return head


def _any_table(conn: Connection, tables: Tables, schema: str | None) -> bool:
    names = set(sa.inspect(conn).get_table_names(schema=schema))
    return any(table.name in names for table in tables.metadata.sorted_tables)


def ensure_schema(
    engine: Engine, tables: Tables, *, schema: str | None, migrate: bool
) -> None:
    """Bring the schema to the newest revision, or refuse an outdated one.

    Raises:
        SchemaOutdatedError: migrations are pending and ``migrate`` is False.
    """
    head = head_revision()
    with translate():
        with engine.connect() as conn:
            current = _current(conn, tables, schema)
        if current == head:
            return
        if not migrate:
            raise SchemaOutdatedError(
                f"database schema is at revision {current or 'none'}, this release"
                f" needs {head}; run `releaseflow db upgrade`",
            )
        _upgrade(engine, tables, schema)


def upgrade(
    target: str | sa.URL | Engine,
    *,
    table_prefix: str = "rf_",
    schema: str | None = None,
    revision: str = "head",
) -> str:
    """Run pending migrations (what ``releaseflow db upgrade`` calls).

    Args:
        target: a database URL or a host ``Engine``.
        table_prefix: the prefix of releaseflow's tables.
        schema: the database schema holding them.
        revision: the revision to reach (``"head"`` by default; tests use older
            ones to build databases of earlier releases).

    Returns:
        The revision the database is at afterwards.
    """
    engine = engines.make_engine(target, busy_timeout=5.0)
    tables = build_tables(table_prefix)
    try:
        engines.check_dialect(engine)
        with translate():
            if revision == "head":
                return _upgrade(engine, tables, schema)
            with engine.connect() as conn:
                conn = conn.execution_options(
                    **{engines.BEGIN_OPTION: "BEGIN IMMEDIATE"}
                )
                with _migration_lock(conn, tables.prefix), conn.begin():
                    cfg = _config(tables.prefix, schema)
                    cfg.attributes["connection"] = conn
                    command.upgrade(cfg, revision)
                    return _current(conn, tables, schema) or ""
    finally:
        if not isinstance(target, Engine):
            engine.dispose()
