"""The transition's own row building and binding store what the general path stores.

A transition builds its request and audit rows with ``_value_`` (no enum property
call) and binds aware datetimes with one fused function per dialect. Each is
pinned here to the general path: SQLAlchemy Core with the column types' own bind
processing, from rows built with ``.value`` and ``model_dump_json``. The stored
rows are compared raw (no result processing), byte for byte.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects.mysql.pymysql import dialect as mysql_dialect
from sqlalchemy.dialects.postgresql.psycopg import dialect as pg_dialect
from sqlalchemy.dialects.sqlite.pysqlite import dialect as sqlite_dialect

import releaseflow as rf
from releaseflow.reports.row_facts import request_facts
from releaseflow.storage.sql import SqlStore
from releaseflow.storage.sql.schema import build_tables
from releaseflow.storage.sql.statements import (
    _fused,
    _naive_utc,
    build_driver_statements,
    build_statements,
)
from releaseflow.storage.sql.types import UtcDateTime
from tests.conftest import Clock, new_inquiry, staff
from tests.sql.conftest import StoreFactory
from tests.sql_support import unique_prefix

TOGGLE = {"drafting": "request_information", "gathering": "information_received"}

DIALECTS = {
    "postgresql": pg_dialect,
    "mariadb": mysql_dialect,
    "sqlite": sqlite_dialect,
}

SAMPLES = [
    datetime(2026, 3, 2, 9, 30, 0, 123456, tzinfo=UTC),
    datetime(2026, 3, 29, 1, 59, 59, 999999, tzinfo=timezone(timedelta(hours=2))),
    datetime(1999, 12, 31, 23, 0, 0, 1, tzinfo=timezone(timedelta(hours=-5))),
    datetime(2031, 7, 4, 0, 0, tzinfo=timezone(timedelta(hours=5, minutes=45))),
    datetime(9, 2, 3, 4, 5, 6, tzinfo=UTC),
]


# -- binding: the fused processors ----------------------------------------------


def _utc_processors(dialect_name: str) -> list[tuple[Any, Any]]:
    """(fast, general) bind processors of every UtcDateTime parameter."""
    dialect = DIALECTS[dialect_name]()
    tables = build_tables("hb_")
    sql = build_statements(tables)
    driver = build_driver_statements(sql, dialect, None)
    general = UtcDateTime()._cached_bind_processor(dialect)  # type: ignore[attr-defined]
    assert general is not None
    pairs = []
    for name in driver.__dataclass_fields__:
        compiled = getattr(driver, name)
        if compiled is None:
            continue
        stmt: Any = getattr(sql, name)
        binds = stmt.compile(dialect=dialect).binds
        for param, proc in compiled.processors.items():
            if isinstance(binds[param].type, UtcDateTime):
                pairs.append((proc, general))
    assert pairs
    return pairs


@pytest.mark.parametrize("dialect_name", sorted(DIALECTS))
def test_fused_datetime_binding_gives_the_general_value(dialect_name: str) -> None:
    for fast, general in _utc_processors(dialect_name):
        if dialect_name != "sqlite":
            assert fast is _naive_utc  # the fast path is in use
        for value in [*SAMPLES, None]:
            mine, theirs = fast(value), general(value)
            assert type(mine) is type(theirs)
            assert mine == theirs
            if isinstance(mine, datetime):
                assert mine.tzinfo is None
        for bind in (fast, general):
            with pytest.raises(ValueError, match="naive"):
                bind(datetime(2026, 1, 1))


def test_a_processor_that_differs_is_not_replaced() -> None:
    """The fused function is used only where it gives what the general one gives."""
    dialect = pg_dialect()
    general = UtcDateTime()._cached_bind_processor(dialect)  # type: ignore[attr-defined]
    assert _fused(UtcDateTime(), dialect, general) is _naive_utc

    def keeps_zone(value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive")
        return value

    def accepts_naive(value: datetime | None) -> datetime | None:
        return None if value is None else value.replace(tzinfo=None)

    def as_text(value: datetime | None) -> str | None:
        out = general(value)
        return None if out is None else out.isoformat(" ")

    for other in (keeps_zone, accepts_naive, as_text):
        assert _fused(UtcDateTime(), dialect, other) is other
    assert _fused(sa.Integer(), dialect, general) is general


# -- stored rows: transition path vs general path ------------------------------


def _raw(
    conn: sa.Connection, table: sa.Table, order: list[str]
) -> list[tuple[Any, ...]]:
    """Every row of ``table`` as the driver returns it (no type processing)."""
    cols = [sa.column(c.name) for c in table.c]
    stmt = (
        sa.select(*cols)
        .select_from(sa.table(table.name, schema=table.schema))
        .order_by(*[sa.column(n) for n in order])
    )
    return [tuple(row) for row in conn.execute(stmt)]


def _general_request_row(request: rf.Request) -> dict[str, Any]:
    return {
        "id": str(request.id),
        "kind": request.kind.value,
        "definition": request.definition,
        "definition_version": request.definition_version,
        "state": request.state,
        "version": request.version,
        "unit": request.unit,
        "created_by": request.created_by,
        "created_at": request.created_at,
        "updated_at": request.updated_at,
        "received_at": request.received_at,
        "next_due_at": request.next_due_at,
        "doc": request.model_dump_json(),
        **request_facts(request),
    }


def _plain_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _general_audit_row(entry: rf.AuditEntry) -> dict[str, Any]:
    plain = json.loads(entry.model_dump_json())
    return {
        "ledger": entry.ledger,
        "seq": entry.seq,
        "event": entry.event.value,
        "request_id": None if entry.request_id is None else str(entry.request_id),
        "request_version": entry.request_version,
        "request_kind": None
        if entry.request_kind is None
        else entry.request_kind.value,
        "unit": entry.unit,
        "from_state": entry.from_state,
        "to_state": entry.to_state,
        "trigger": entry.trigger,
        "actor": entry.actor,
        "roles": _plain_json(plain["roles"]),
        "at": entry.at,
        "payload": _plain_json(plain["payload"]),
        "content_hash": entry.content_hash,
        "prev_hash": entry.prev_hash,
        "hash": entry.hash,
        "canon_version": entry.canon_version,
        "hash_alg": entry.hash_alg,
    }


def test_transition_rows_are_the_rows_the_general_path_stores(
    open_store: StoreFactory,
) -> None:
    store = open_store()
    flow = rf.ReleaseFlow(store, clock=Clock())
    staff(flow)
    request = flow.fire(new_inquiry(flow).id, "triage", actor="spoke.tran")
    for _ in range(3):  # remembered request: the slim compare-and-set
        request = flow.fire(
            request.id,
            TOGGLE[request.state],
            actor="coord.bui",
            expected_version=request.version,
        )
    request = flow.fire(request.id, TOGGLE[request.state], actor="coord.bui")
    entries = list(flow.audit.entries())
    assert len(entries) >= 6

    general: SqlStore = open_store(table_prefix=unique_prefix())
    with general.engine.begin() as conn:
        conn.execute(
            sa.insert(general.tables.requests), [_general_request_row(request)]
        )
        conn.execute(
            sa.insert(general.tables.audit), [_general_audit_row(e) for e in entries]
        )
    with store.engine.connect() as conn:
        stored_requests = _raw(conn, store.tables.requests, ["id"])
        stored_audit = _raw(conn, store.tables.audit, ["ledger", "seq"])
    with general.engine.connect() as conn:
        general_requests = _raw(conn, general.tables.requests, ["id"])
        general_audit = _raw(conn, general.tables.audit, ["ledger", "seq"])
    assert stored_requests == general_requests
    assert stored_audit == general_audit


def test_postgresql_statements_bind_by_position_with_the_same_sql() -> None:
    """PostgreSQL gets ``%s`` and a tuple: the SQL of ``%(name)s``, names in order."""
    dialect = pg_dialect()
    assert dialect.paramstyle == "pyformat"
    sql = build_statements(build_tables("hb_"))
    driver = build_driver_statements(sql, dialect, "hb_schema")
    options = {
        "schema_translate_map": {None: "hb_schema"},
        "render_schema_translate": True,
    }
    named = re.compile(r"%\(([^)]+)\)s")
    checked = 0
    for name in driver.__dataclass_fields__:
        compiled = getattr(driver, name)
        source = f"{name}_shared" if name.endswith("_dir") else name
        general = getattr(sql, source).compile(dialect=dialect, **options)
        assert compiled.positional, name
        assert named.sub("%s", general.string) == compiled.text, name
        assert list(compiled.names) == named.findall(general.string), name
        # (the values themselves: tests/sql/test_driver_params.py)
        checked += 1
    assert checked == len(driver.__dataclass_fields__)
