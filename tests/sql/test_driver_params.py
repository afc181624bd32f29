"""Driver parameters of the hot-path statements equal SQLAlchemy's own bind processing.

``DriverSql.parameters`` takes the values in one call and skips processors that map
None to None; on SQLite, ``UtcDateTime`` columns use one fused function. For every
statement of every dialect, the result must be what the compiled statement's own
processors give, value for value, and a naive datetime must still be refused.
"""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.engine import Dialect

from releaseflow.exceptions import StorageError
from releaseflow.storage.sql.schema import build_tables
from releaseflow.storage.sql.statements import (
    DriverSql,
    build_driver_statements,
    build_statements,
)
from releaseflow.storage.sql.store import _driver_params
from releaseflow.storage.sql.types import UtcDateTime

DIALECTS: dict[str, Dialect] = {
    "sqlite": sqlite.dialect(),
    "postgresql": postgresql.psycopg.dialect(),  # type: ignore[no-untyped-call]
    "mariadb": mysql.pymysql.dialect(is_mariadb=True),
}

INSTANTS = [
    datetime(2026, 3, 2, 9, 30, 0, 123456, tzinfo=UTC),
    datetime(2026, 3, 2, 9, 30, tzinfo=timezone(timedelta(hours=7))),
    datetime(9, 12, 31, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=-3))),
    datetime(9999, 12, 31, 12, 0, tzinfo=UTC),
]


CORE = build_statements(build_tables("dp_"))


def _statements(dialect: Dialect) -> dict[str, DriverSql]:
    driver = build_driver_statements(CORE, dialect, None)
    found = {f.name: getattr(driver, f.name) for f in fields(driver)}
    return {name: stmt for name, stmt in found.items() if stmt is not None}


def _raw(name: str, dialect: Dialect) -> dict[str, Any]:
    """SQLAlchemy's own bind processors of statement ``name`` for ``dialect``."""
    compiled: Any = getattr(CORE, name).compile(dialect=dialect)
    return dict(compiled._bind_processors)


def _sample(stmt: DriverSql, kinds: dict[str, Any], i: int) -> dict[str, Any]:
    """Values for every parameter: instants for typed ones (None every other)."""
    out: dict[str, Any] = {}
    for n, name in enumerate(stmt.names):
        if name in stmt.processors:
            kind = kinds[name]
            if isinstance(kind, datetime):
                out[name] = None if (n + i) % 3 == 0 else INSTANTS[(n + i) % 4]
            else:
                out[name] = None if (n + i) % 2 == 0 else kind
        else:
            out[name] = f"{name}-{i}"
    return out


def _reference(stmt: DriverSql, raw: dict[str, Any], params: dict[str, Any]) -> Any:
    """The parameters as the compiled statement's own processors make them."""
    values = [
        stmt.constants[name] if name in stmt.constants else params[name]
        for name in stmt.names
    ]
    return [
        raw[name](value) if name in raw else value
        for name, value in zip(stmt.names, values, strict=True)
    ]


@pytest.mark.parametrize("dialect_name", sorted(DIALECTS))
def test_driver_parameters_equal_sqlalchemy_processing(dialect_name: str) -> None:
    """Every statement, dialect and sample: the same values in the same order."""
    dialect = DIALECTS[dialect_name]
    checked = 0
    for name, stmt in _statements(dialect).items():
        raw = _raw(name, dialect)
        types = getattr(CORE, name).compile(dialect=dialect).binds
        kinds: dict[str, Any] = {
            n: INSTANTS[0] if isinstance(types[n].type, UtcDateTime) else True
            for n in stmt.processors
        }
        for i in range(6):
            params = _sample(stmt, kinds, i)
            got = stmt.parameters(params)
            want = _reference(stmt, raw, params)
            if stmt.positional:
                assert got == tuple(want), (name, i)
            else:
                assert got == dict(zip(stmt.names, want, strict=True)), (name, i)
            checked += 1
    assert checked >= 6 * 9  # every statement the dialect has


@pytest.mark.parametrize("dialect_name", sorted(DIALECTS))
def test_a_naive_datetime_is_still_refused(dialect_name: str) -> None:
    """A naive datetime in a UTC column is a StorageError, fused processor or not."""
    stmt = _statements(DIALECTS[dialect_name])["audit_insert"]
    params: dict[str, Any] = {name: f"{name}-0" for name in stmt.names}
    params["at"] = datetime(2026, 3, 2, 9, 30)
    with pytest.raises(StorageError):
        _driver_params(stmt, params)
    params["at"] = INSTANTS[1]
    _driver_params(stmt, params)


def test_sqlite_datetimes_are_one_call_with_the_same_text() -> None:
    """On SQLite the UTC columns use the fused processor, giving SQLAlchemy's text."""
    stmt = _statements(DIALECTS["sqlite"])["request_cas"]
    raw = _raw("request_cas", DIALECTS["sqlite"])
    fused = [n for n in stmt.processors if stmt.processors[n] is not raw[n]]
    assert "v_updated_at" in fused
    for name in fused:
        for instant in INSTANTS:
            assert stmt.processors[name](instant) == raw[name](instant)
    assert stmt.processors["v_updated_at"](INSTANTS[1]) == "2026-03-02 02:30:00.000000"


def test_a_missing_parameter_is_a_storage_error() -> None:
    """A parameter left out is refused (KeyError becomes StorageError)."""
    stmt = _statements(DIALECTS["sqlite"])["head_advance"]
    params = {name: 1 for name in stmt.names[1:]}
    with pytest.raises(StorageError):
        _driver_params(stmt, params)
