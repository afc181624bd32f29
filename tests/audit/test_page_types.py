"""Rows read without validation have exactly the column types validation keeps.

The quick row loop (``audit_reads._shells``) checks the types of the columns it
keeps as they are inline, one ``type()`` each, and relies on its dict lookups for
the event, kind, request id, roles and payload (their keys are text). Every column
is given odd values here -- a bool, a float, bytes, None, an unhashable list, a
subclass of the right type -- cold and warm, and each batch must read exactly as
the validating path reads it: the same entries with the same value types, or the
same error.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
import sqlalchemy as sa

import releaseflow as rf
from releaseflow.demo import seed
from releaseflow.models import AuditEntry
from releaseflow.storage.sql import SqlStore, audit_reads

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


class _Text(str):
    pass


class _Number(int):
    pass


class _Stamp(datetime):
    pass


@pytest.fixture(name="sql_flow")
def _sql_flow(flow: rf.ReleaseFlow) -> rf.ReleaseFlow:
    if not isinstance(flow.store, SqlStore):
        pytest.skip("SQL stores only")
    seed(flow, date(2026, 3, 20))
    return flow


def _rows(flow: rf.ReleaseFlow) -> tuple[list[str], list[tuple[Any, ...]], Any]:
    store = flow.store
    assert isinstance(store, SqlStore)
    t = store.tables.audit
    with store.unit_of_work(write=False) as uow:
        dialect = uow.connection.dialect
        result = uow.connection.exec_driver_sql(
            str(
                sa.select(t)
                .order_by(t.c.ledger, t.c.seq)
                .compile(dialect=dialect, compile_kwargs={"literal_binds": True})
            )
        )
        keys = list(result.keys())
        rows = [tuple(r) for r in result.fetchall()]
    processor = t.c.at.type.dialect_impl(dialect).result_processor(dialect, None)
    return keys, rows, processor


def _validated(keys: list[str], row: tuple[Any, ...], processor: Any) -> AuditEntry:
    """The general path (``entries_from_rows``'s validating branch), alone."""
    m = dict(zip(keys, row, strict=True))
    if processor is not None:
        m["at"] = processor(m["at"])
    roles = json.loads(m["roles"])
    m["roles"] = tuple(roles) if isinstance(roles, list) else roles
    m["payload"] = json.loads(m["payload"])
    return AuditEntry.model_validate(m)


def _outcome(read: Any) -> tuple[str, Any]:
    try:
        entries = read()
    except Exception as exc:  # the same kind of error either way
        return ("error", type(exc))
    return (
        "entries",
        [
            (
                e,
                [(k, type(v)) for k, v in vars(e).items()],
                e.model_fields_set,
                e.__pydantic_extra__,
                e.__pydantic_private__,
            )
            for e in entries
        ],
    )


def _odd_values(value: Any) -> list[Any]:
    odd: list[Any] = [True, 1.5, b"x", None, [1], 7, "7", "", "x" * 30]
    if type(value) is str:
        odd += [_Text(value), value.encode()]
    if type(value) is int:
        odd += [_Number(value), float(value), str(value)]
    if type(value) is datetime:
        odd += [
            _Stamp.combine(value.date(), value.time(), value.tzinfo),
            value.replace(tzinfo=UTC),
            value.replace(tzinfo=timezone(timedelta(hours=7))),
        ]
    return odd


_LOOKED_UP = {"event", "request_id", "request_kind", "roles", "payload"}


def test_every_column_of_an_odd_type_reads_as_validation_reads_it(
    sql_flow: rf.ReleaseFlow,
) -> None:
    keys, rows, processor = _rows(sql_flow)
    assert tuple(keys) == audit_reads._ORDER
    base = next(r for r in rows if r[keys.index("request_id")] is not None)
    other = rows[-1]
    checked = 0
    for column, allowed in zip(keys, audit_reads._SHAPE, strict=True):
        at = keys.index(column)
        for value in _odd_values(base[at]):
            odd = list(base)
            odd[at] = value
            row = tuple(odd)
            batch = [other, row, base]
            for _ in range(2):  # cold (lookups emptied), then warm
                if _ == 0:
                    audit_reads._uuids.clear()
                    audit_reads._uuids[None] = None
                    audit_reads._role_tuples.clear()
                    audit_reads._payloads.clear()
                quick = _outcome(
                    lambda b=batch: audit_reads.entries_from_rows(
                        keys, b, at_processor=processor
                    )
                )
                general = _outcome(
                    lambda b=batch: [_validated(keys, r, processor) for r in b]
                )
                assert quick == general, (column, value)
                looked_up = column in _LOOKED_UP and isinstance(value, str)
                if type(value) not in allowed and not looked_up:
                    # never read plainly, whatever the lookups hold (text of a
                    # subclass may be looked up: it reads as its equal text)
                    assert audit_reads._quick(row, processor) is None, (column, value)
                checked += 1
    assert checked > 19 * 2 * 9


def test_rows_of_another_length_are_validated(sql_flow: rf.ReleaseFlow) -> None:
    _, rows, processor = _rows(sql_flow)
    for row in (rows[0][:-1], (*rows[0], None)):
        assert audit_reads._quick(row, processor) is None
        shells, plain = audit_reads._shells([rows[1], row], processor)
        assert shells[1] is None
        assert not plain
