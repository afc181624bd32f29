"""The query page's shortcuts agree with the general code they stand in for.

A page (``flow.audit.query``) reads its rows on the driver's cursor and builds the
entries without validation (:mod:`releaseflow.storage.sql.audit_reads`), converts
its time bounds for SQLite without SQLAlchemy's processors, and writes the next
cursor's JSON directly. Each shortcut is pinned here against the code it replaces.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

import releaseflow as rf
from releaseflow.canonical import format_timestamp
from releaseflow.demo import seed
from releaseflow.exceptions import ValidationError
from releaseflow.models import AuditEntry
from releaseflow.queries import (
    AuditQuery,
    _cursor_body,
    _cursor_json,
    make_query,
    sql_statement,
)
from releaseflow.storage.sql import SqlStore, audit_reads
from releaseflow.storage.sql.types import UtcDateTime

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


# -- the cursor's JSON ----------------------------------------------------------


def _entries() -> list[AuditEntry]:
    base = AuditEntry.model_validate(
        {
            "ledger": 3,
            "seq": 7,
            "event": "created",
            "request_id": None,
            "request_version": None,
            "request_kind": None,
            "unit": None,
            "from_state": None,
            "to_state": None,
            "trigger": None,
            "content_hash": None,
            "canon_version": 1,
            "hash_alg": "sha256",
            "actor": "alice",
            "roles": ("reviewer",),
            "at": datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=UTC),
            "payload": {},
            "prev_hash": "0" * 64,
            "hash": "1" * 64,
        }
    )
    moments = [
        datetime(1, 1, 1, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(2026, 1, 1, 7, tzinfo=timezone(timedelta(hours=7))),
        datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC),
    ]
    return [
        base,
        base.model_copy(update={"ledger": 0, "seq": 0}),
        base.model_copy(update={"ledger": 2**31 - 1, "seq": 2**63 - 1}),
        *(base.model_copy(update={"at": at}) for at in moments),
    ]


@pytest.mark.parametrize("order", ["time", "sequence"])
def test_cursor_body_is_the_json_encoders_text(order: str) -> None:
    queries = [
        AuditQuery(order=order),  # type: ignore[arg-type]
        make_query({"actor": "Bé.Ngọc", "order": order, "unit": "a/b_c.d"}),
    ]
    for query in queries:
        for entry in _entries():
            body = {
                "v": 1,
                "o": order,
                "q": query.fingerprint(),
                "l": entry.ledger,
                "s": entry.seq,
                "t": format_timestamp(entry.at) if order == "time" else None,
            }
            expected = json.dumps(body, sort_keys=True, separators=(",", ":"))
            assert _cursor_body(entry, query) == expected == _cursor_json(body)


def test_cursor_body_of_an_odd_value_is_the_encoders() -> None:
    """A value the direct text does not cover goes through the JSON encoder."""
    entry = _entries()[0].model_construct(  # not validated: a bool where an int is
        **{**vars(_entries()[0]), "seq": True}
    )
    query = AuditQuery()
    text = _cursor_body(entry, query)
    assert json.loads(text)["s"] is True
    assert '"s":true' in text


# -- SQLite's time bounds ---------------------------------------------------------


def _sqlalchemy_processor() -> Any:
    dialect = sqlite.dialect()
    bind = sa.bindparam("x", type_=UtcDateTime())
    processors = bind.compile(dialect=dialect)._bind_processors
    return processors["x"]


_MOMENTS = [
    datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=UTC),
    datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC),  # no microseconds
    datetime(2026, 1, 1, 6, 59, tzinfo=timezone(timedelta(hours=7))),  # day before
    datetime(2026, 1, 1, 23, tzinfo=timezone(timedelta(hours=-5, minutes=-30))),
    datetime(2, 1, 1, tzinfo=UTC),
    datetime(999, 12, 31, 23, 59, 59, 1, tzinfo=UTC),  # a year of three digits
    datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    datetime(2026, 11, 1, 1, 30, tzinfo=ZoneInfo("America/New_York")),
    datetime(2026, 11, 1, 1, 30, fold=1, tzinfo=ZoneInfo("America/New_York")),
]


def test_utc_text_is_sqlalchemys_processing() -> None:
    process = _sqlalchemy_processor()
    for moment in _MOMENTS:
        assert audit_reads._utc_text(moment) == process(moment), moment
    naive = datetime(2026, 1, 1)
    with pytest.raises(ValueError, match="naive") as ours:
        audit_reads._utc_text(naive)
    with pytest.raises(ValueError, match="naive") as theirs:
        process(naive)
    assert str(ours.value) == str(theirs.value)
    far = datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1)))  # before year 1 in UTC
    with pytest.raises(OverflowError):
        process(far)
    with pytest.raises(OverflowError):
        audit_reads._utc_text(far)


class _Moment(datetime):
    pass


def test_utc_text_remembered_is_sqlalchemys_processing() -> None:
    """Warm: equal UTC datetimes share a text; nothing else is remembered."""
    process = _sqlalchemy_processor()
    audit_reads._utc_texts.clear()
    moments = [
        _Moment(2026, 3, 4, 5, 6, 7, 891012, tzinfo=UTC),  # first: not remembered
        *_MOMENTS,
        datetime(2026, 3, 4, 5, 6, 7, 891011, fold=1, tzinfo=UTC),
        datetime(2026, 3, 4, 12, 6, 7, 891011, tzinfo=timezone(timedelta(hours=7))),
        _Moment(2026, 3, 4, 5, 6, 7, 891011, tzinfo=UTC),
        datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=ZoneInfo("UTC")),
    ]
    for _ in range(2):
        for moment in [*moments, *reversed(moments)]:
            assert audit_reads._utc_text(moment) == process(moment), moment
    assert audit_reads._utc_texts
    for moment in audit_reads._utc_texts:
        assert type(moment) is datetime
        assert moment.tzinfo is UTC
    with pytest.raises(ValueError, match="naive"):
        audit_reads._utc_text(datetime(2026, 3, 4, 5, 6, 7, 891011))


def test_only_sqlites_default_datetime_text_is_converted_directly() -> None:
    dialect = sqlite.dialect()
    assert audit_reads._is_sqlite_utc(UtcDateTime(), dialect)
    assert not audit_reads._is_sqlite_utc(sa.DateTime(), dialect)
    assert not audit_reads._is_sqlite_utc(UtcDateTime(), postgresql.dialect())

    class Other(UtcDateTime):
        cache_ok = True

        def load_dialect_impl(self, dialect: sa.Dialect) -> Any:
            return sqlite.DATETIME(storage_format="%(year)04d/%(month)02d/%(day)02d")

    assert not audit_reads._is_sqlite_utc(Other(), dialect)


@pytest.fixture(name="sql_flow")
def _sql_flow(flow: rf.ReleaseFlow) -> rf.ReleaseFlow:
    if not isinstance(flow.store, SqlStore):
        pytest.skip("SQL stores only")
    seed(flow, date(2026, 3, 20))
    return flow


def test_a_pages_parameters_are_sqlalchemys(sql_flow: rf.ReleaseFlow) -> None:
    """The driver's parameters of a page are those SQLAlchemy would bind."""
    store = sql_flow.store
    assert isinstance(store, SqlStore)
    dialect = store.engine.dialect
    since = datetime(2026, 1, 1, 7, tzinfo=timezone(timedelta(hours=7)))
    query = make_query({"actor": "spoke.tran", "since": since, "until": _MOMENTS[0]})
    stmt, params = sql_statement(
        store.dialect, store.tables.audit, query, after=None, limit=51
    )
    prepared = audit_reads._prepared(stmt, store.tables.audit, dialect, store.schema)
    assert prepared is not None
    compiled: Any = stmt.compile(dialect=dialect)
    expected = compiled.construct_params(params)
    for name, process in compiled._bind_processors.items():
        if expected.get(name) is not None:
            expected[name] = process(expected[name])
    args = prepared.args(params)
    if prepared.names is None:
        assert args == {k: expected[k] for k in args}
        assert set(args) >= set(params)
    else:
        assert args == tuple(expected[n] for n in prepared.names)
    if dialect.name == "sqlite":
        assert prepared.processors["f_since"] is audit_reads._utc_text
        assert "2026-01-01 00:00:00.000000" in args


# -- the entries ------------------------------------------------------------------


def _rows(flow: rf.ReleaseFlow) -> tuple[list[str], list[tuple[Any, ...]], Any]:
    store = flow.store
    assert isinstance(store, SqlStore)
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


def _validated(keys: list[str], row: tuple[Any, ...], processor: Any) -> AuditEntry:
    m = dict(zip(keys, row, strict=True))
    if processor is not None:
        m["at"] = processor(m["at"])
    m["roles"] = tuple(json.loads(m["roles"]))
    m["payload"] = json.loads(m["payload"])
    return AuditEntry.model_validate(m)


def _same(read: list[AuditEntry], valid: list[AuditEntry]) -> None:
    assert read == valid
    for entry, other in zip(read, valid, strict=True):
        assert entry.model_fields_set == other.model_fields_set
        assert {k: type(v) for k, v in vars(entry).items()} == {
            k: type(v) for k, v in vars(other).items()
        }
        assert list(vars(entry)) == list(vars(other))  # the same field order
        assert type(vars(entry)) is dict
        assert entry.__pydantic_extra__ is None
        assert entry.__pydantic_private__ is None


def _forget() -> None:
    audit_reads._uuids.clear()
    audit_reads._uuids[None] = None
    audit_reads._role_tuples.clear()


def test_entries_read_with_cold_and_warm_lookups_are_validated_entries(
    sql_flow: rf.ReleaseFlow,
) -> None:
    """First read fills the request-id and roles lookups; the second reads from them."""
    keys, rows, processor = _rows(sql_flow)
    valid = [_validated(keys, row, processor) for row in rows]
    _forget()
    cold = audit_reads.entries_from_rows(keys, rows, at_processor=processor)
    assert any(rid is not None for rid in audit_reads._uuids)
    assert audit_reads._role_tuples
    warm = audit_reads.entries_from_rows(keys, rows, at_processor=processor)
    _same(cold, valid)
    _same(warm, valid)
    # each entry owns its values: nothing mutable is shared between entries
    fields = [id(e.model_fields_set) for e in cold + warm]
    payloads = [id(e.payload) for e in cold + warm]
    dicts = [id(vars(e)) for e in cold + warm]
    assert len(set(fields)) == len(fields)
    assert len(set(payloads)) == len(payloads)
    assert len(set(dicts)) == len(dicts)


def test_emptied_lookups_make_a_row_unusual_not_wrong(
    sql_flow: rf.ReleaseFlow,
) -> None:
    """A lookup emptied between filling and reading: the row is validated instead."""
    keys, rows, processor = _rows(sql_flow)
    _forget()
    audit_reads._uuids.clear()  # even None's entry is gone
    values, plain = audit_reads._shells(rows[:3], processor, fill=False)
    assert values == [None, None, None]
    assert not plain
    read = audit_reads.entries_from_rows(keys, rows[:3], at_processor=processor)
    _same(read, [_validated(keys, row, processor) for row in rows[:3]])
    _forget()


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("event", "no_such_event"),
        ("request_id", "4076B0CD-D27A-4524-A6A6-E6FD267F88A9"),  # upper case
        ("request_kind", "no_such_kind"),
        ("roles", '["a", 1]'),
    ],
)
def test_unusual_looked_up_values_are_validated_warm_or_cold(
    sql_flow: rf.ReleaseFlow, column: str, value: Any
) -> None:
    keys, rows, processor = _rows(sql_flow)
    row = list(rows[0])
    row[keys.index(column)] = value
    odd = tuple(row)
    for _ in range(2):  # cold, then with everything else looked up before
        assert audit_reads._quick(odd, processor) is None
        assert audit_reads._quick(rows[1], processor) is not None
    if column == "request_id":  # read (validated) as the same UUID
        read = audit_reads.entries_from_rows(
            keys, [rows[1], odd], at_processor=processor
        )
        assert read == [_validated(keys, r, processor) for r in (rows[1], odd)]


def test_cursor_stamp_is_format_timestamp() -> None:
    from releaseflow.queries import _cursor_stamp

    for moment in [*_MOMENTS, *(e.at for e in _entries())]:
        assert _cursor_stamp(moment) == format_timestamp(moment), moment
    naive = datetime(2026, 1, 1)
    with pytest.raises(ValidationError):
        _cursor_stamp(naive)


def test_naive_driver_times_read_as_replace_reads_them() -> None:
    """PostgreSQL's naive UTC times: the quick path's UTC equals ``replace``'s."""
    combine = audit_reads._combine
    for moment in _MOMENTS:
        for naive in (moment.replace(tzinfo=None), moment.replace(tzinfo=None, fold=1)):
            ours = combine(naive, naive.time(), UTC)
            assert ours == naive.replace(tzinfo=UTC)
            assert ours.fold == naive.fold
            assert ours.tzinfo is UTC
            assert type(ours) is datetime
            read = audit_reads._time(naive, None)
            assert read == naive.replace(tzinfo=UTC)
            assert read is not None
            assert read.fold == naive.fold


def test_fingerprint_digests_the_models_json_text() -> None:
    import hashlib

    from releaseflow.canonical import canonical_bytes

    queries = [
        AuditQuery(),
        make_query({"actor": "Bé.Ngọc", "order": "sequence", "unit": "a/b_c.d"}),
        make_query(
            {
                "since": _MOMENTS[2],
                "until": _MOMENTS[0],
                "role": 'x"y\\z',
                "request_id": "4076b0cd-d27a-4524-a6a6-e6fd267f88a9",
                "include_subunits": False,
            }
        ),
        AuditQuery(scope=("a", "b/c")),
    ]
    for query in queries:
        plain = json.loads(query.model_dump_json())
        expected = hashlib.sha256(canonical_bytes(plain)).hexdigest()[:16]
        assert query.fingerprint() == expected


def test_a_statement_of_the_columns_in_another_order_reads_the_same(
    sql_flow: rf.ReleaseFlow,
) -> None:
    """``run_entries`` remembers a statement's column names as they are."""
    store = sql_flow.store
    assert isinstance(store, SqlStore)
    t = store.tables.audit
    order = (t.c.ledger, t.c.seq)
    reordered = sa.select(*reversed(list(t.c))).order_by(*order)
    whole = sa.select(t).order_by(*order)
    for _ in range(2):  # the second run reads the names the first remembered
        with store.unit_of_work(write=False) as uow:
            odd = audit_reads.run_entries(uow, t, reordered, {})
            plain = audit_reads.run_entries(uow, t, whole, {})
        assert odd
        _same(odd, plain)
