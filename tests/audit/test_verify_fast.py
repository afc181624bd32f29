"""The fast verify path (raw rows, no models) agrees with the model path exactly.

``flow.audit.verify()`` on a SQL store hashes stored rows directly
(:func:`releaseflow.chain.raw_canonical`); the model path reads every row as an
``AuditEntry`` and hashes ``model_dump()``. These tests pin the two together: the
same canonical bytes for random entries (non-ASCII, nested payloads, nulls), and
the same report -- first bad entry included -- for tampered rows, including values
only a direct database write could produce.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
import sqlalchemy as sa

import releaseflow as rf
from releaseflow.canonical import canonical_bytes
from releaseflow.chain import (
    _EVENTS,
    _KINDS,
    _MODEL_ORDER,
    RAW_FIELDS,
    Replay,
    VerifyReport,
    _NotFastError,
    raw_canonical,
    seal,
    verify_stream,
)
from releaseflow.models import AuditEntry, ChainHead
from releaseflow.storage.sql import SqlStore
from releaseflow.vocabulary import AuditEvent, RequestKind
from tests.conftest import BACKENDS, make_store

SQL_BACKENDS = [b for b in BACKENDS if b != "memory"]
TEXTS = [
    "plain",
    "Hoàng Thị E",
    "Báo Đà Nẵng",
    "中文",
    "emoji 😀",
    'quote " and \\ backslash',
    "tab\tnew\nline",
    "\u00e9t\u00e9",
    "",
    "%_ like * wildcards",
    "\x01 control",
]


def _value(rng: random.Random, depth: int) -> Any:
    choice = rng.randrange(8 if depth < 4 else 5)
    if choice == 0:
        return None
    if choice == 1:
        return rng.choice([True, False])
    if choice == 2:
        return rng.choice([0, -1, 7, 2**70, -(2**40)])
    if choice in (3, 4):
        return rng.choice(TEXTS)
    if choice == 5:
        return [_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {
        rng.choice(TEXTS) + str(i): _value(rng, depth + 1)
        for i in range(rng.randrange(4))
    }


def _draft(rng: random.Random, at: datetime) -> dict[str, Any]:
    maybe = lambda v: None if rng.random() < 0.3 else v  # noqa: E731
    return {
        "event": rng.choice(list(AuditEvent)),
        "request_id": maybe(UUID(int=rng.getrandbits(128), version=4)),
        "request_version": maybe(rng.randrange(1, 50)),
        "request_kind": maybe(rng.choice(list(RequestKind))),
        "unit": maybe(rng.choice(["agency", "agency/ttyt", "danang/lab/a_b"])),
        "from_state": maybe(rng.choice(["drafting", "in_review"])),
        "to_state": maybe(rng.choice(["approved", "released"])),
        "trigger": maybe(rng.choice(["submit", "release"])),
        "actor": rng.choice(["comms.nguyen", "spoke.tran", "người.dùng"]),
        "roles": tuple(rng.sample(["head", "auditor", "spokesperson"], 2)),
        "at": at,
        "payload": _value(rng, 0) if rng.random() < 0.1 else _object(rng),
        "content_hash": maybe("a" * 64),
    }


def _object(rng: random.Random) -> dict[str, Any]:
    return {f"k{i}{rng.choice(TEXTS)}": _value(rng, 1) for i in range(rng.randrange(5))}


def _fill(store: SqlStore, entries: int, seed: int) -> list[AuditEntry]:
    """Append ``entries`` random sealed entries (ledgers at random)."""
    rng = random.Random(seed)
    at = datetime(2026, 1, 1, tzinfo=UTC)
    sealed = []
    with store.unit_of_work() as uow:
        for _ in range(entries):
            at += timedelta(microseconds=rng.randrange(1, 10**9))
            draft = _draft(rng, at)
            if not isinstance(draft["payload"], dict):
                draft["payload"] = {"value": draft["payload"]}
            head = uow.audit.lock_head(rng.randrange(store.ledger_count))
            entry = seal(draft, head)
            uow.audit.append(entry)
            sealed.append(entry)
        uow.commit()
    return sealed


@pytest.fixture(name="sql_store", params=SQL_BACKENDS)
def _sql_store(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[SqlStore]:
    store = make_store(str(request.param), tmp_path, ledger_count=4)
    assert isinstance(store, SqlStore)
    yield store
    store.close()


def _model_report(flow: rf.ReleaseFlow) -> VerifyReport:
    """verify() as it was before the fast path: every row read as a model."""
    replay = Replay()
    with flow.store.unit_of_work(write=False) as uow:
        heads = uow.audit.heads()

        def feed() -> Iterator[AuditEntry]:
            for entry in uow.audit.entries():
                replay.feed(entry)
                yield entry

        report = verify_stream(feed(), heads)
        for request in uow.requests.iter_all():
            flow.audit._compare(request, replay, report)
    return report


def _same(fast: VerifyReport, model: VerifyReport) -> None:
    assert fast.problems == model.problems
    assert fast.entries_checked == model.entries_checked
    assert fast.ledgers_checked == model.ledgers_checked
    assert fast.first_bad == model.first_bad


def test_raw_fields_are_the_canonical_key_order() -> None:
    assert RAW_FIELDS[-1] == "hash"
    assert list(RAW_FIELDS[:-1]) == sorted(_MODEL_ORDER)
    assert set(RAW_FIELDS) == set(AuditEntry.model_fields)
    # enum values are written unescaped on the fast path
    for value in _EVENTS | _KINDS:
        assert json.dumps(value) == f'"{value}"'


def test_fast_bytes_equal_model_bytes_on_random_entries(sql_store: SqlStore) -> None:
    sealed = _fill(sql_store, 400, seed=11)
    fast = 0
    with sql_store.unit_of_work(write=False) as uow:
        rows = list(uow.audit.iter_raw())
        assert len(rows) == len(sealed)
        for row in rows:
            entry = uow.audit.raw_entry(row)
            expected = canonical_bytes(entry.model_dump(exclude={"hash"}))
            try:
                data, payload = raw_canonical(row)
            except _NotFastError:
                continue
            fast += 1
            assert data == expected
            assert payload == entry.payload
    assert fast == len(sealed)  # every well-formed row takes the fast path
    flow = rf.ReleaseFlow(sql_store)
    report = flow.audit.verify()
    assert report.ok, report.problems
    _same(report, _model_report(flow))


def _tamper(store: SqlStore, ledger: int, at_seq: int, values: dict[str, Any]) -> None:
    t = store.tables.audit
    with store.unit_of_work() as uow:
        stmt = sa.update(t).where(t.c.ledger == ledger, t.c.seq == at_seq)
        uow.run(stmt.values(**values))
        uow.commit()


def _raw_sqlite(store: SqlStore, sql: str, params: dict[str, Any]) -> None:
    with store.unit_of_work() as uow:
        uow.run(sa.text(sql), params)
        uow.commit()


TAMPERS: dict[str, dict[str, Any]] = {
    "actor": {"actor": "mallory"},
    "actor_non_nfc": {"actor": "e\u0301"},
    "event_unknown": {"event": "teleported"},
    "event_other": {"event": "read"},
    "request_id_upper": {"request_id": "ABCDEF12-3456-4789-8ABC-DEF123456789"},
    "request_id_other": {"request_id": "12345678-1234-4234-8234-123456789abc"},
    "request_id_null": {"request_id": None},
    "request_version": {"request_version": 99},
    "request_kind_unknown": {"request_kind": "gossip"},
    "unit": {"unit": "elsewhere"},
    "from_state": {"from_state": "forged"},
    "to_state_null": {"to_state": None},
    "trigger": {"trigger": "forged"},
    "roles": {"roles": '["head"]'},
    "roles_not_list": {"roles": '"head"'},
    "roles_spaced": {"roles": '[ "head" ]'},
    "payload": {"payload": '{"forged":true}'},
    "payload_float": {"payload": '{"x":1.5}'},
    "payload_nan": {"payload": '{"x":NaN}'},
    "payload_list": {"payload": "[1,2]"},
    "payload_deep": {"payload": '{"a":' * 20 + "1" + "}" * 20},
    "payload_non_nfc": {"payload": '{"x":"e\u0301"}'},
    "payload_unsorted": {"payload": '{"b":1,"a":2}'},
    "payload_escaped": {"payload": '{"x":"\\u00e9"}'},
    "content_hash": {"content_hash": "e" * 64},
    "prev_hash": {"prev_hash": "d" * 64},
    "hash": {"hash": "c" * 64},
    "canon_version": {"canon_version": 2},
    "hash_alg": {"hash_alg": "md5"},
    "seq": {"seq": 1000},
}


# a row the model path cannot read raises mid-stream; psycopg then warns when the
# abandoned server-side cursor is collected (both paths alike)
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.parametrize("name", sorted(TAMPERS))
@pytest.mark.parametrize("position", ["first", "middle", "last"])
def test_tampered_rows_give_the_same_report(
    sql_store: SqlStore, name: str, position: str
) -> None:
    _fill(sql_store, 60, seed=3)
    with sql_store.unit_of_work(write=False) as uow:
        count = sum(1 for e in uow.audit.entries(ledger=1))
    seq = {"first": 1, "middle": count // 2, "last": count}[position]
    _tamper(sql_store, 1, seq, TAMPERS[name])
    flow = rf.ReleaseFlow(sql_store)
    try:
        model = _model_report(flow)
    except Exception as exc:  # the model path could not even read the row
        with pytest.raises(type(exc)):
            flow.audit.verify()
        return
    fast = flow.audit.verify()
    assert not fast.ok
    _same(fast, model)
    assert fast.first_bad is not None
    assert fast.first_bad.ledger == 1


@pytest.mark.skipif("sqlite" not in SQL_BACKENDS, reason="SQLite only")
@pytest.mark.parametrize(
    "at",
    [
        "2026-01-01 10:00:00",  # no fraction: fromisoformat reads it
        "2026-01-01T10:00:00.000001",
        "2026-02-30 10:00:00.000000",  # no such day: both paths refuse to read it
        "2026-01-01 10:00:00.000000+07:00",
        "garbage",
    ],
)
def test_sqlite_odd_stored_times_agree(tmp_path: Any, at: str) -> None:
    store = make_store("sqlite", tmp_path, ledger_count=1)
    assert isinstance(store, SqlStore)
    try:
        _fill(store, 5, seed=1)
        _raw_sqlite(
            store, "UPDATE rf_audit_entries SET at = :at WHERE seq = 3", {"at": at}
        )
        flow = rf.ReleaseFlow(store)
        try:
            model = _model_report(flow)
        except Exception as exc:
            with pytest.raises(type(exc)):
                flow.audit.verify()
            return
        _same(flow.audit.verify(), model)
    finally:
        store.close()


def test_replayed_state_mismatch_is_reported_alike(flow: rf.ReleaseFlow) -> None:
    """Through the service: a request row edited behind the library's back."""
    if not isinstance(flow.store, SqlStore):
        pytest.skip("SQL stores only")
    from tests.conftest import STAFF, new_inquiry, to_approved

    flow.directory.bootstrap("admin", unit="agency")
    for actor, role in STAFF.items():
        if role != "administrator":
            flow.directory.grant(actor, role, unit="agency", by="admin")
    request = to_approved(flow, new_inquiry(flow))
    other = new_inquiry(flow)
    t = flow.store.tables.requests
    forged = request.model_copy(update={"state": "released"}).model_dump_json()
    classified = other.model_copy(
        update={"classification": rf.Classification.RESTRICTED}
    )
    with flow.store.unit_of_work() as uow:
        uow.run(sa.update(t).where(t.c.id == str(request.id)).values(doc=forged))
        uow.run(
            sa.update(t)
            .where(t.c.id == str(other.id))
            .values(doc=classified.model_dump_json())
        )
        uow.commit()
    fast = flow.audit.verify()
    _same(fast, _model_report(flow))
    assert {p.request_id for p in fast.problems} == {request.id, other.id}


def test_memory_store_keeps_the_model_path() -> None:
    from releaseflow.storage.memory import InMemoryStore

    flow = rf.ReleaseFlow(InMemoryStore())
    flow.directory.bootstrap("admin", unit="agency")
    assert flow.audit.verify().ok


def test_anchor_checks_agree(sql_store: SqlStore) -> None:
    _fill(sql_store, 30, seed=9)
    flow = rf.ReleaseFlow(sql_store)
    anchor = flow.audit.anchor(key=b"k")
    assert flow.audit.verify(anchor=anchor, key=b"k").ok
    heads = {h.ledger: h for h in anchor.heads}
    last = heads[2]
    t = sql_store.tables.audit
    with sql_store.unit_of_work() as uow:
        uow.run(sa.delete(t).where(t.c.ledger == 2, t.c.seq == last.seq))
        before = ChainHead(ledger=2, seq=last.seq - 1, hash="0" * 64)
        uow.run(
            sa.update(sql_store.tables.heads)
            .where(sql_store.tables.heads.c.ledger == 2)
            .values(seq=before.seq)
        )
        uow.commit()
    report = flow.audit.verify(anchor=anchor, key=b"k")
    assert not report.ok
    assert report.anchor_checked
    assert any("truncated" in p.problem for p in report.problems)


@pytest.mark.parametrize(
    "edit",
    [
        # a later duplicate key is the one the model reads
        lambda doc: doc[:-1] + ',"state":"released"}',
        lambda doc: doc[:-1] + ',"version":99}',
        lambda doc: doc.replace('"classification":"public"', '"classification":7'),
        lambda doc: doc.replace('"version":', '"version":1.0,"x":', 1),
        lambda doc: "[" + doc + "]",
        lambda doc: doc[:-1] + ',"note":"\\ud800"}',  # a lone surrogate
        lambda doc: doc[:7] + doc[7:43].upper() + doc[43:],  # the id in capitals
        lambda doc: doc[:7] + doc[7:43].replace("-", "") + "    " + doc[43:],
    ],
)
def test_request_states_read_documents_as_the_model_does(
    flow: rf.ReleaseFlow, edit: Any
) -> None:
    """``_request_state`` gives the model's fields, or fails where the model fails."""
    from releaseflow.storage.sql.repositories import _request_state
    from tests.conftest import new_inquiry

    flow.directory.bootstrap("admin", unit="agency")
    flow.directory.grant("comms.nguyen", "comms_officer", unit="agency", by="admin")
    doc = edit(new_inquiry(flow).model_dump_json())
    try:
        request = rf.Request.model_validate_json(doc)
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        with pytest.raises(type(exc)):
            _request_state(doc)
        return
    assert _request_state(doc) == (
        request.id,
        request.state,
        request.version,
        request.content_hash,
        request.classification.value,
    )


def _scan(store: SqlStore, replay: Replay) -> tuple[Any, int]:
    """scan_rows over the store's raw rows; and how many rows left the fast path."""
    import releaseflow.chain as chain_module

    slow = 0
    general = chain_module._scan_one

    def counted(*args: Any) -> None:
        nonlocal slow
        slow += 1
        general(*args)

    chain_module._scan_one = counted  # type: ignore[assignment]
    try:
        with store.unit_of_work(write=False) as uow:
            scan = chain_module.scan_rows(
                uow.audit.iter_raw(), read_entry=uow.audit.raw_entry, replay=replay
            )
    finally:
        chain_module._scan_one = general  # type: ignore[assignment]
    return scan, slow


def test_every_clean_row_takes_the_fast_path(sql_store: SqlStore) -> None:
    """The fast template writes every field exactly as canonical JSON does.

    A row whose fast text differed from the canonical bytes in any field would
    fail its hash there and go to the general check (``_scan_one``); on a clean
    log none does (once the days are known), and the replay equals the model's.
    """
    _fill(sql_store, 400, seed=21)
    _scan(sql_store, Replay())  # learns the days (the first row of each is slow)
    replay = Replay()
    scan, slow = _scan(sql_store, replay)
    assert slow == 0
    assert scan.report.ok
    assert scan.report.entries_checked == 400
    model = Replay()
    with sql_store.unit_of_work(write=False) as uow:
        for entry in uow.audit.entries():
            model.feed(entry)
    assert model.requests  # random versions: jumps, classifications, states
    assert {UUID(k) for k in replay._raw} == set(model.requests)
    for rid, expected in model.requests.items():
        assert replay.replayed(rid) == expected


def _naive_text(row: Any) -> bytes:
    """A too-trusting canonical text of a raw row: values written as they are."""
    m = dict(zip(RAW_FIELDS, row, strict=True))
    m["at"] = str(m["at"]).replace(" ", "T") + "Z"
    m["payload"] = json.loads(m["payload"])
    m["roles"] = json.loads(m["roles"])
    del m["hash"]
    return json.dumps(
        m, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str
    ).encode()


FORGED: dict[str, Any] = {
    "request_id_upper": {"request_id": "ABCDEF12-3456-4789-8ABC-DEF123456789"},
    "request_id_short": {"request_id": "abc"},
    "at_no_fraction": {"at": "2026-01-01 10:00:00"},
    "at_t": {"at": "2026-01-01T10:00:00.000001"},
    "actor_non_nfc": {"actor": "e\u0301"},
    "content_hash_quote": {"content_hash": 'a"b'},
    "content_hash_non_nfc": {"content_hash": "e\u0301"},
    "payload_unsorted": {"payload": '{"b":1,"a":2}'},
    "canon_version": {"canon_version": 2},
    "hash_alg": {"hash_alg": "md5"},
    "prev_hash": {"prev_hash": "d" * 64},
    "prev_hash_quote": {"prev_hash": 'd"' * 32},
    "seq": {"seq": 1000},
    "request_version_text": {"request_version": "5x"},
}
SQLITE_ONLY = frozenset({"at_no_fraction", "at_t", "request_version_text"})


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.parametrize("name", sorted(FORGED))
def test_forged_rows_hashed_naively_give_the_model_report(
    sql_store: SqlStore, name: str
) -> None:
    """A row whose stored hash is the hash of a naive text of its odd values.

    A fast path that wrote such a value as it is (instead of refusing the row)
    would find the hash right and pass a row the model path fails, or the reverse.
    """
    _fill(sql_store, 40, seed=5)
    with sql_store.unit_of_work(write=False) as uow:
        count = sum(1 for _ in uow.audit.entries(ledger=1))
    seq = max(count // 2, 1)
    values = FORGED[name]
    if name in SQLITE_ONLY:  # values only SQLite's flexible typing stores
        if not sql_store.is_sqlite:
            pytest.skip("a stored value only SQLite keeps")
        ((column, value),) = values.items()
        _raw_sqlite(
            sql_store,
            f"UPDATE rf_audit_entries SET {column} = :v WHERE ledger = 1 AND seq = :seq",
            {"v": value, "seq": seq},
        )
    else:
        _tamper(sql_store, 1, seq, values)
    with sql_store.unit_of_work(write=False) as uow:
        at_seq = values.get("seq", seq)
        row = next(r for r in uow.audit.iter_raw() if r[7] == 1 and r[14] == at_seq)
    digest = hashlib.sha256(_naive_text(row)).hexdigest()
    _tamper(sql_store, 1, at_seq, {"hash": digest})
    if seq < count:  # keep the next link, so only this row is in question
        _tamper(sql_store, 1, seq + 1, {"prev_hash": digest})
    flow = rf.ReleaseFlow(sql_store)
    try:
        model = _model_report(flow)
    except Exception as exc:
        with pytest.raises(type(exc)):
            flow.audit.verify()
        return
    _same(flow.audit.verify(), model)


@pytest.mark.parametrize("rehash", [True, False])
@pytest.mark.parametrize(
    "change",
    [
        {"canon_version": True},
        {"canon_version": 1.0},
        {"ledger": 1.0},
        {"seq": "same"},
        {"request_version": True},
    ],
)
def test_fast_path_equals_the_general_check_on_odd_driver_values(
    tmp_path: Any, change: dict[str, Any], rehash: bool
) -> None:
    """Values no driver gives today (floats, booleans) but a key lookup confuses.

    The row -- with its stored hash, or hashed naively so that the hash fits its
    written values -- is checked by scan_rows and by the general per-row check
    alone: the same scan results, or the same exception.
    """
    import releaseflow.chain as chain_module

    store = make_store("sqlite", tmp_path, ledger_count=2)
    assert isinstance(store, SqlStore)
    try:
        _fill(store, 30, seed=8)
        with store.unit_of_work(write=False) as uow:
            rows = [list(r) for r in uow.audit.iter_raw()]
            at = next(  # a row the fast path takes, followed by one of its ledger
                i
                for i, r in enumerate(rows[:-1])
                if r[7] == 1
                and r[14] >= 2
                and rows[i + 1][7] == 1
                and chain_module._fast_template(tuple(r))
                is not chain_module._NO_TEMPLATE
            )
            for name, value in change.items():
                where = RAW_FIELDS.index(name)
                rows[at][where] = float(rows[at][where]) if value == "same" else value
            if rehash:
                rows[at][18] = hashlib.sha256(_naive_text(rows[at])).hexdigest()
                rows[at + 1][9] = rows[at][18]
            frozen = [tuple(r) for r in rows]
            general = chain_module.RowScan()
            replay = Replay()
            try:
                for row in frozen:
                    chain_module._scan_one(
                        row,
                        general.states,
                        general.report,
                        uow.audit.raw_entry,
                        replay,
                        {},
                    )
            except Exception as exc:
                with pytest.raises(type(exc)):
                    chain_module.scan_rows(
                        iter(frozen), read_entry=uow.audit.raw_entry, replay=Replay()
                    )
                return
            fast = chain_module.scan_rows(
                iter(frozen), read_entry=uow.audit.raw_entry, replay=Replay()
            )
        assert fast.report.problems == general.report.problems
        assert fast.report.entries_checked == general.report.entries_checked
        assert {k: (s.seq, s.hash) for k, s in fast.states.items()} == {
            k: (s.seq, s.hash) for k, s in general.states.items()
        }
    finally:
        store.close()


@pytest.mark.parametrize(
    ("odd", "canonical"),
    [
        ('a"b', False),
        ("a\\b", False),
        ("a\x01b", False),
        ("e\u0301", False),  # not NFC: refused
        ("a-b", True),  # written as it is by canonical JSON too
        ("ab cd", True),
    ],
)
def test_content_hash_is_never_written_unescaped(
    tmp_path: Any, odd: str, canonical: bool
) -> None:
    """A row hashed over its content hash written between quotes as it is.

    The fast path writes a content hash of ASCII letters and digits as it is;
    any other one must be escaped as canonical JSON escapes it (or the row sent
    to the general check). Where that text is not canonical, the forged row is
    the first bad one in both: the same scan results.
    """
    import releaseflow.chain as chain_module

    store = make_store("sqlite", tmp_path, ledger_count=2)
    assert isinstance(store, SqlStore)
    try:
        _fill(store, 30, seed=8)
        with store.unit_of_work(write=False) as uow:
            rows = [list(r) for r in uow.audit.iter_raw()]
            at = next(  # a fast row with a content hash, then one of its ledger
                i
                for i, r in enumerate(rows[:-1])
                if r[7] == 1
                and r[14] >= 2
                and r[3] is not None
                and rows[i + 1][7] == 1
                and chain_module._fast_template(tuple(r))
                is not chain_module._NO_TEMPLATE
            )
            place = "f" * 64
            rows[at][3] = place
            text, _ = chain_module.raw_canonical(tuple(rows[at]))
            forged = text.replace(f'"{place}"'.encode(), f'"{odd}"'.encode())
            assert forged != text
            rows[at][3] = odd
            rows[at][18] = hashlib.sha256(forged).hexdigest()
            rows[at + 1][9] = rows[at][18]
            frozen = [tuple(r) for r in rows]
            general = chain_module.RowScan()
            for row in frozen:
                chain_module._scan_one(
                    row,
                    general.states,
                    general.report,
                    uow.audit.raw_entry,
                    Replay(),
                    {},
                )
            fast = chain_module.scan_rows(
                iter(frozen), read_entry=uow.audit.raw_entry, replay=Replay()
            )
        # the next row (its prev_hash changed) fails its hash in any case
        first = general.report.problems[0]
        assert (first.ledger, first.seq) == (1, frozen[at][14] + canonical)
        assert fast.report.problems == general.report.problems
        assert fast.report.entries_checked == general.report.entries_checked
        assert {k: (s.seq, s.hash) for k, s in fast.states.items()} == {
            k: (s.seq, s.hash) for k, s in general.states.items()
        }
    finally:
        store.close()


def test_sqlite_raw_rows_cross_fetch_batches_whole(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite's raw rows are fetched in batches: every row once, in order."""
    from releaseflow.storage.sql import audit_reads
    from releaseflow.storage.sql.audit_reads import raw_statement

    store = make_store("sqlite", tmp_path, ledger_count=2)
    assert isinstance(store, SqlStore)
    try:
        _fill(store, 30, seed=3)
        with store.unit_of_work(write=False) as uow:
            t = uow.tables.audit
            expected = [
                tuple(r) for r in uow.connection.execute(raw_statement(t, True))
            ]
            assert len(expected) > 14
            for size in (1, 7, len(expected), len(expected) + 1):
                monkeypatch.setattr(audit_reads, "_SQLITE_FETCH", size)
                assert [tuple(r) for r in uow.audit.iter_raw()] == expected
                part = [tuple(r) for r in uow.audit.iter_raw(ledgers=(1, 1))]
                assert part == [r for r in expected if r[7] == 1]
    finally:
        store.close()
