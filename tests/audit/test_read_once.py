"""The light read path: one-statement audit reads without a transaction.

``history(id)`` and a query page without a reader run in ``SqlStore.read_once``:
SQLite sends no ``BEGIN``, PostgreSQL runs the SELECT in autocommit (no BEGIN or
ROLLBACK round trips), MariaDB keeps an ordinary read transaction. Results are
those of an ordinary read unit of work; audited reads (``by=``) stay
transactional. Rows are built by ``audit_reads._quick`` exactly as validation
builds them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event

import releaseflow as rf
from releaseflow.demo import seed
from releaseflow.exceptions import RequestNotFoundError, StorageError
from releaseflow.models import AuditEntry
from releaseflow.storage.sql import SqlStore, audit_reads, raw_reads

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(name="sql_flow")
def _sql_flow(flow: rf.ReleaseFlow) -> rf.ReleaseFlow:
    if not isinstance(flow.store, SqlStore):
        pytest.skip("SQL stores only")
    seed(flow, date(2026, 3, 20))
    return flow


def _store(flow: rf.ReleaseFlow) -> SqlStore:
    store = flow.store
    assert isinstance(store, SqlStore)
    return store


class _Seen:
    """Statements run (through SQLAlchemy) and the driver's transaction state."""

    def __init__(self) -> None:
        self.statements: list[str] = []
        self.in_transaction: list[bool] = []


@pytest.fixture(name="seen")
def _seen(sql_flow: rf.ReleaseFlow) -> Iterator[_Seen]:
    """Listen for cursor executes (which also turns the driver path off)."""
    engine = _store(sql_flow).engine
    seen = _Seen()

    def after(conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
        seen.statements.append(statement)
        dbapi = conn.connection.dbapi_connection
        if conn.dialect.name == "postgresql":
            # psycopg: 0 = IDLE (no transaction open after the statement)
            seen.in_transaction.append(dbapi.info.transaction_status != 0)
        elif conn.dialect.name == "sqlite":
            seen.in_transaction.append(bool(dbapi.in_transaction))

    event.listen(engine, "after_cursor_execute", after)
    try:
        yield seen
    finally:
        event.remove(engine, "after_cursor_execute", after)


def _rid(flow: rf.ReleaseFlow) -> str:
    entry = flow.audit.query(trigger="refuse", limit=1).entries[0]
    assert entry.request_id is not None
    return str(entry.request_id)


def test_history_and_page_run_without_a_transaction(
    sql_flow: rf.ReleaseFlow, seen: _Seen
) -> None:
    rid = _rid(sql_flow)
    dialect = _store(sql_flow).dialect
    for read in (
        lambda: sql_flow.audit.history(rid),
        lambda: sql_flow.audit.query(actor="spoke.tran", limit=5),
    ):
        seen.statements.clear()
        seen.in_transaction.clear()
        read()
        selects = [
            s for s in seen.statements if s.lstrip().upper().startswith("SELECT")
        ]
        assert selects, seen.statements
        if dialect in ("sqlite", "postgresql"):
            assert not any(
                s.strip().upper().startswith("BEGIN") for s in seen.statements
            )
            assert seen.in_transaction == [False] * len(seen.in_transaction)
            assert seen.in_transaction


def test_an_ordinary_read_still_opens_a_transaction(
    sql_flow: rf.ReleaseFlow, seen: _Seen
) -> None:
    """The check above can fail: the same probe sees a read unit of work's BEGIN."""
    store = _store(sql_flow)
    if store.dialect not in ("sqlite", "postgresql"):
        pytest.skip("transaction probe for SQLite and PostgreSQL")
    # the connection the last write parked goes back to the pool, so the read
    # takes a connection already checked (a new one's first-use PRAGMAs run
    # outside any transaction)
    leased = store.parking.take() if store.parking is not None else None
    if leased is not None:
        leased.give_back()
    with store.unit_of_work(write=False) as uow:
        uow.scalar(sa.select(sa.func.count()).select_from(store.tables.audit))
    assert seen.in_transaction
    assert all(seen.in_transaction)
    if store.is_sqlite:
        assert any(s.strip().upper().startswith("BEGIN") for s in seen.statements)


def test_audited_reads_stay_transactional(sql_flow: rf.ReleaseFlow) -> None:
    before = len(sql_flow.audit.query(event="read", limit=1000).entries)
    sql_flow.audit.query(by="head.dinh", limit=3)
    after = sql_flow.audit.query(event="read", limit=1000).entries
    assert len(after) == before + 1


def test_light_reads_equal_ordinary_reads(sql_flow: rf.ReleaseFlow) -> None:
    store = _store(sql_flow)
    rid = _rid(sql_flow)
    fast = sql_flow.audit.history(rid)
    with store.unit_of_work(write=False) as uow:
        slow = list(uow.audit.entries(request_id=sql_flow._request_id(rid)))
    assert fast == slow
    assert [e.model_dump() for e in fast] == [e.model_dump() for e in slow]
    cursor = None
    pages: list[AuditEntry] = []
    while True:
        page = sql_flow.audit.query(unit="danang/stttt", limit=7, cursor=cursor)
        pages += page.entries
        cursor = page.next_cursor
        if cursor is None:
            break
    with store.unit_of_work(write=False) as uow:
        every = list(uow.audit.entries())
    wanted = {
        (e.ledger, e.seq) for e in every if (e.unit or "").startswith("danang/stttt")
    }
    assert {(e.ledger, e.seq) for e in pages} == wanted


def test_missing_request_and_closed_store(sql_flow: rf.ReleaseFlow) -> None:
    with pytest.raises(RequestNotFoundError):
        sql_flow.audit.history("00000000-0000-4000-8000-000000000000")
    store = _store(sql_flow)
    store.close()
    with pytest.raises(StorageError):
        store.read_once()


def test_a_driver_error_is_one_typed_error(sql_flow: rf.ReleaseFlow) -> None:
    store = _store(sql_flow)
    with store.read_once() as uow, pytest.raises(StorageError):
        uow.fast_select("SELECT no_such_column FROM no_such_table", ())
    # the pooled connection is still usable afterwards
    assert sql_flow.audit.history(_rid(sql_flow))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_reads_on_its_own_connection(sql_flow: rf.ReleaseFlow) -> None:
    store = _store(sql_flow)
    if store.memory:
        pytest.skip("a file or a server")
    rid = _rid(sql_flow)
    expected = [e.hash for e in sql_flow.audit.history(rid)]
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 1
        try:
            code = 0 if [e.hash for e in sql_flow.audit.history(rid)] == expected else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert [e.hash for e in sql_flow.audit.history(rid)] == expected


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_never_takes_or_fills_the_parents_parking(
    sql_flow: rf.ReleaseFlow,
) -> None:
    """A forked child's single read hands the parking the child's own pid.

    (The store's fork check reads it.) The parent's parked connection is set
    aside, never used, and the child's own is not parked in the parent's slot.
    """
    store = _store(sql_flow)
    if store.memory or store.parking is None:
        pytest.skip("a file or a server, with parking")
    rid = _rid(sql_flow)
    expected = [e.hash for e in sql_flow.audit.history(rid)]
    parked = list(store.parking._slot)
    assert len(parked) == 1  # the read above parked its connection
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 1
        try:
            before = len(raw_reads._inherited)
            again = [e.hash for e in sql_flow.audit.history(rid)]
            set_aside = raw_reads._inherited[before:] == parked
            code = 0 if again == expected and set_aside else 2
            if code == 0 and store.parking._slot:
                code = 3  # the child parked its connection in the parent's slot
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert [e.hash for e in sql_flow.audit.history(rid)] == expected


# -- the quick row builder ----------------------------------------------------------


def _rows(flow: rf.ReleaseFlow) -> tuple[list[str], list[tuple[Any, ...]], Any]:
    store = _store(flow)
    t = store.tables.audit
    with store.unit_of_work(write=False) as uow:
        result = uow.connection.exec_driver_sql(
            str(
                sa.select(t)
                .order_by(t.c.ledger, t.c.seq)
                .compile(
                    dialect=uow.connection.dialect,
                    compile_kwargs={"literal_binds": True},
                )
            )
        )
        keys = list(result.keys())
        rows = [tuple(r) for r in result.fetchall()]
        dialect = uow.connection.dialect
    processor = t.c.at.type.dialect_impl(dialect).result_processor(dialect, None)
    return keys, rows, processor


def test_quick_entries_equal_validated_entries(sql_flow: rf.ReleaseFlow) -> None:
    keys, rows, processor = _rows(sql_flow)
    assert tuple(keys) == tuple(AuditEntry.model_fields)
    quick = [audit_reads._quick(row, processor) for row in rows]
    assert all(q is not None for q in quick)
    for row, entry in zip(rows, quick, strict=True):
        assert entry is not None
        m = dict(zip(keys, row, strict=True))
        if processor is not None:
            m["at"] = processor(m["at"])
        m["roles"] = tuple(json.loads(m["roles"]))
        m["payload"] = json.loads(m["payload"])
        valid = AuditEntry.model_validate(m)
        assert entry == valid
        assert entry.model_dump() == valid.model_dump()
        assert entry.model_fields_set == valid.model_fields_set
        assert (
            entry.at.tzinfo is valid.at.tzinfo
            or entry.at.utcoffset() == valid.at.utcoffset()
        )
        assert {k: type(v) for k, v in vars(entry).items()} == {
            k: type(v) for k, v in vars(valid).items()
        }


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("ledger", True),
        ("seq", "7"),
        ("event", "no_such_event"),
        ("request_id", "NOT-A-UUID"),
        ("request_version", 1.5),
        ("request_kind", "no_such_kind"),
        ("unit", 3),
        ("actor", None),
        ("roles", '{"a": 1}'),
        ("roles", "not json"),
        ("payload", "[1, 2]"),
        ("at", "2026-01-01T00:00:00"),
        ("at", "2026-13-01 00:00:00.000000"),
        ("content_hash", 5),
        ("canon_version", None),
    ],
)
def test_unusual_rows_leave_the_quick_path(
    sql_flow: rf.ReleaseFlow, column: str, value: Any
) -> None:
    keys, rows, processor = _rows(sql_flow)
    row = list(rows[0])
    row[keys.index(column)] = value
    assert audit_reads._quick(tuple(row), processor) is None
    assert audit_reads._quick(tuple(row[:-1]), processor) is None


def _validated(keys: list[str], row: tuple[Any, ...], processor: Any) -> AuditEntry:
    m = dict(zip(keys, row, strict=True))
    if processor is not None:
        m["at"] = processor(m["at"])
    m["roles"] = tuple(json.loads(m["roles"]))
    m["payload"] = json.loads(m["payload"])
    return AuditEntry.model_validate(m)


def test_a_batch_with_an_unusual_row_reads_as_validated(
    sql_flow: rf.ReleaseFlow,
) -> None:
    """One odd row in a batch is validated; the others keep their order and values."""
    keys, rows, processor = _rows(sql_flow)
    assert len(rows) >= 3
    odd = list(rows[1])
    odd[keys.index("seq")] = str(odd[keys.index("seq")])  # text: validation's lax int
    batch = [rows[0], tuple(odd), *rows[2:]]
    assert audit_reads._quick(tuple(odd), processor) is None
    read = audit_reads.entries_from_rows(keys, batch, at_processor=processor)
    assert read == [_validated(keys, row, processor) for row in rows]
    assert [type(e.seq) for e in read] == [int] * len(rows)


def test_nested_payloads_are_each_entrys_own(sql_flow: rf.ReleaseFlow) -> None:
    """A nested payload read twice (the second time from the cache) is not shared."""
    keys, rows, processor = _rows(sql_flow)
    at = keys.index("payload")
    nested = {"form": "x", "deadlines": [{"rule_id": "r", "status": "met"}], "n": 1.5}
    row = list(rows[0])
    row[at] = json.dumps(nested)
    first, second = (
        audit_reads.entries_from_rows(keys, [tuple(row)], at_processor=processor)[0]
        for _ in range(2)
    )
    assert first.payload == second.payload == nested
    assert first == second == _validated(keys, tuple(row), processor)
    for entry in (first, second):  # built from the text, then from the cache
        entry.payload["deadlines"][0]["status"] = "changed"
        entry.payload["deadlines"].append({})
        again = audit_reads.entries_from_rows(
            keys, [tuple(row)], at_processor=processor
        )
        assert again[0].payload == nested


# -- SQLite's ``at`` text: which strings skip validation ------------------------------

_AT = "2026-03-04 12:34:56.123456"
_AT_ACCEPTED = [_AT, "0001-01-01 00:00:00.000000", "9999-12-31 23:59:59.999999"]
_AT_VALIDATED = [  # each read by the validating path instead
    "2026-03-04T12:34:56.123456",  # another separator
    "2026-03-04 12:34:56",  # no fraction
    "2026-03-04 12:34:56.123",  # a short fraction
    "2026-03-04 12:34:56.1234567",  # a long one
    "2026-03-04 12:34:56,123456",  # a comma
    "2026-03-04 12:34:56.12345Z",  # a zone
    "2026-03-04 12:34:56.123+00",
    "2026-03-04 12:34:56.123456+00:00",
    "2026-03-04 12:34:5+.123456",
    "2026-W10-3 12:34:56.123456",  # a week date (fromisoformat reads it)
    "20260304 123456.1234567890",  # basic form, same length
    "2026-02-30 12:34:56.123456",  # the form, but no such day
    "2026-03-04 24:00:00.000000",
    "\uff12026-03-04 12:34:56.123456",  # a full-width digit
    "2026-03-04 12:34:56.12345\u0663",  # an Arabic-Indic digit
    " 2026-03-04 12:34:56.123456",
    "2026-03-04 12:34:56.123456\n",
    "",
]


def _at_by_regex(text: str) -> datetime | None:
    """The rule the quick path has always had: the regex, then fromisoformat."""
    if audit_reads._SQLITE_AT.fullmatch(text) is None:
        return None
    try:
        return datetime.fromisoformat(text).replace(tzinfo=UTC)
    except ValueError:
        return None


def _at_variants() -> list[str]:
    """Every one-character change of a valid stamp over an awkward alphabet."""
    alphabet = "0959-+:. ,TWZz\x00\uff10\u0663\u00b2"
    return [_AT[:i] + c + _AT[i + 1 :] for i in range(len(_AT)) for c in alphabet]


def test_sqlite_at_text_accepts_exactly_the_regexs_form() -> None:
    for text in _AT_ACCEPTED:
        at = audit_reads._sqlite_at(text)
        assert at == datetime.fromisoformat(text).replace(tzinfo=UTC)
        assert at is not None
        assert at.tzinfo is UTC
    for text in _AT_VALIDATED:
        assert audit_reads._sqlite_at(text) is None, text
    variants = _at_variants()
    assert sum(_at_by_regex(v) is not None for v in variants) > 50
    assert sum(_at_by_regex(v) is None for v in variants) > 50
    for text in [*variants, *_AT_ACCEPTED, *_AT_VALIDATED]:
        assert audit_reads._sqlite_at(text) == _at_by_regex(text), text


def test_the_quick_row_reads_at_text_as_sqlite_at(sql_flow: rf.ReleaseFlow) -> None:
    """The row loop's inlined check agrees with ``_sqlite_at`` on every string."""
    keys, rows, processor = _rows(sql_flow)
    row = list(rows[0])
    at = keys.index("at")
    for text in [*_at_variants(), *_AT_ACCEPTED, *_AT_VALIDATED]:
        row[at] = text
        entry = audit_reads._quick(tuple(row), processor)
        expected = audit_reads._sqlite_at(text)
        if expected is None:
            assert entry is None, text
        else:
            assert entry is not None, text
            assert entry.at == expected, text
            assert entry.at.tzinfo is UTC
