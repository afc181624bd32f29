"""Opening SQL test stores: a fresh, empty store per call, cleaned up afterwards.

* ``sqlite``: a WAL file under the test's ``tmp_path``;
* ``sqlite-memory``: an in-memory database (``sqlite://``, StaticPool);
* ``postgres`` / ``mariadb``: the server named by ``RELEASEFLOW_TEST_POSTGRES_URL`` /
  ``RELEASEFLOW_TEST_MARIADB_URL``, with a table prefix unique to the store. Its
  tables are dropped on ``close()`` (and, for stores a test forgot to close, when
  the process exits). An unreachable server raises: tests fail, never skip.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import threading
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from releaseflow.storage.sql import SqlStore

SQL_URL_ENV = {
    "postgres": "RELEASEFLOW_TEST_POSTGRES_URL",
    "mariadb": "RELEASEFLOW_TEST_MARIADB_URL",
}

_leftovers: dict[str, tuple[str, str | None]] = {}
_leftovers_lock = threading.Lock()
_issued: list[str] = []
"""Every prefix :func:`unique_prefix` handed out and no leak check has seen yet."""


def backend_names(local: Sequence[str]) -> list[str]:
    """``local`` backends plus each server whose URL variable is set.

    ``RELEASEFLOW_TEST_BACKENDS`` (comma-separated) narrows the list; a name such
    as ``sqlite`` also selects its variants (``sqlite-memory``).
    """
    names = [
        *local,
        *(name for name, env in SQL_URL_ENV.items() if os.environ.get(env)),
    ]
    wanted = os.environ.get("RELEASEFLOW_TEST_BACKENDS")
    if wanted:
        chosen = {w.strip() for w in wanted.split(",")}
        names = [n for n in names if n in chosen or n.split("-")[0] in chosen]
    return names


ROOT = Path(__file__).resolve().parents[1]


def child_env(**extra: str) -> dict[str, str]:
    """Environment of a child Python process: this checkout's ``src`` and tests.

    ``src`` comes first, so a child imports the releaseflow under test, not
    whichever checkout the virtual environment's editable install points at.
    """
    return {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}", **extra}


def server_url(backend: str) -> str:
    """The URL of a server backend (raises if its variable is not set)."""
    url = os.environ.get(SQL_URL_ENV[backend])
    if not url:
        raise RuntimeError(f"{SQL_URL_ENV[backend]} is not set")
    return url


def unique_prefix() -> str:
    """A table prefix no other test uses (checked for leftovers after the test)."""
    prefix = f"t{uuid.uuid4().hex[:10]}_"
    _issued.append(prefix)
    return prefix


def leaked_tables() -> list[str]:
    """Tables still on the servers under prefixes issued since the last call.

    Every test that takes a prefix must drop its tables before it ends (closing a
    store from :func:`open_sql_store` does); the autouse fixture in
    ``tests/conftest.py`` fails a test that leaves any.
    """
    prefixes, _issued[:] = list(_issued), []
    if not prefixes:
        return []
    found: list[str] = []
    for backend in SQL_URL_ENV:
        url = os.environ.get(SQL_URL_ENV[backend])
        if not url:
            continue
        engine = sa.create_engine(url, poolclass=sa.NullPool)
        try:
            with engine.connect() as conn:
                names = conn.execute(
                    sa.text(
                        "SELECT table_schema, table_name"
                        " FROM information_schema.tables WHERE table_name LIKE 't%'"
                    )
                ).all()
        finally:
            engine.dispose()
        found += [
            f"{backend}: {schema}.{name}"
            for schema, name in names
            if any(str(name).startswith(p) for p in prefixes)
        ]
    return found


def drop_tables(
    url_or_engine: str | sa.Engine, prefix: str, schema: str | None = None
) -> None:
    """Drop every table whose name starts with ``prefix`` (test clean-up)."""
    engine = (
        url_or_engine
        if isinstance(url_or_engine, sa.Engine)
        else sa.create_engine(url_or_engine)
    )
    try:
        with engine.begin() as conn:
            names = [
                n
                for n in sa.inspect(conn).get_table_names(schema=schema)
                if n.startswith(prefix)
            ]
            md = sa.MetaData()
            tables = [sa.Table(n, md, schema=schema) for n in names]
            md.drop_all(conn, tables=tables)
    finally:
        if not isinstance(url_or_engine, sa.Engine):
            engine.dispose()


class DroppingSqlStore(SqlStore):
    """A store that drops its own tables when closed (server backends in tests)."""

    test_url: str = ""

    def close(self) -> None:
        """Drop this store's tables, then close."""
        if self._closed:
            return
        try:
            self.engine.dispose()
            drop_tables(self.test_url, self.tables.prefix, self.schema)
            with _leftovers_lock:
                _leftovers.pop(self.tables.prefix, None)
        finally:
            super().close()


@atexit.register
def _drop_leftovers() -> None:
    with _leftovers_lock:
        pending = dict(_leftovers)
        _leftovers.clear()
    for prefix, (url, schema) in pending.items():
        with contextlib.suppress(Exception):  # best effort at exit
            drop_tables(url, prefix, schema)


def sqlite_url(tmp_path: Path) -> str:
    """A fresh SQLite file URL under ``tmp_path``."""
    return f"sqlite:///{tmp_path / f'rf-{uuid.uuid4().hex[:8]}.db'}"


def open_sql_store(backend: str, tmp_path: Path, **options: Any) -> SqlStore:
    """Open a fresh SQL store for ``backend`` (sqlite, sqlite-memory, postgres, mariadb)."""
    if backend == "sqlite":
        return SqlStore.open(sqlite_url(tmp_path), **options)
    if backend == "sqlite-memory":
        return SqlStore.open("sqlite://", **options)
    url = server_url(backend)
    prefix = options.pop("table_prefix", None) or unique_prefix()
    with _leftovers_lock:
        _leftovers[prefix] = (url, options.get("schema"))
    store = DroppingSqlStore.open(url, table_prefix=prefix, **options)
    store.test_url = url
    return store
