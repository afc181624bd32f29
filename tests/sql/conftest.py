"""Fixtures of the SQL backend tests: every SQL backend configured for this run."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from releaseflow.storage.sql import SqlStore
from tests.sql_support import SQL_URL_ENV, backend_names, open_sql_store


def sql_backends() -> list[str]:
    """SQL backends of this run (narrowed by ``RELEASEFLOW_TEST_BACKENDS``)."""
    return backend_names(["sqlite", "sqlite-memory"])


SQL_BACKENDS = sql_backends()
SERVER_BACKENDS = [b for b in SQL_BACKENDS if b in SQL_URL_ENV]
FILE_BACKENDS = [b for b in SQL_BACKENDS if b != "sqlite-memory"]

StoreFactory = Callable[..., SqlStore]


@pytest.fixture(name="sql_backend", params=SQL_BACKENDS)
def _sql_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(name="open_store")
def _open_store(sql_backend: str, tmp_path: Path) -> Iterator[StoreFactory]:
    """Open stores of ``sql_backend``; all closed (and dropped) after the test."""
    opened: list[SqlStore] = []

    def factory(**options: Any) -> SqlStore:
        store = open_sql_store(sql_backend, tmp_path, **options)
        opened.append(store)
        return store

    yield factory
    for store in reversed(opened):
        store.close()
