"""Parallel verify and unvalidated entry reads give exactly what the slow paths give.

* ``verify(workers=n)`` forks workers over ledger ranges; its report -- first bad
  entry, every problem, counts -- must equal the one-process report, for clean logs,
  for every tampered row of the tamper matrix, for edited request rows and anchors.
* History and query pages build entries without validation where the row reads
  plainly; they must equal the validated entries (and odd rows must read, or fail,
  exactly as validation makes them).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

import releaseflow as rf
import releaseflow.audit as audit_module
from releaseflow.chain import VerifyReport
from releaseflow.exceptions import ValidationError
from releaseflow.queries import AuditQuery, sql_query
from releaseflow.storage.sql import SqlStore
from tests.audit.test_verify_fast import TAMPERS, _fill, _same, _tamper
from tests.conftest import BACKENDS, make_store

SQL_BACKENDS = [b for b in BACKENDS if b != "memory"]


@pytest.fixture(name="sql_store", params=SQL_BACKENDS)
def _sql_store(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[SqlStore]:
    store = make_store(str(request.param), tmp_path, ledger_count=5)
    assert isinstance(store, SqlStore)
    yield store
    store.close()


@pytest.fixture(name="forked")
def _forked(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Records, per verify call, whether the forked workers produced the report."""
    ran: list[bool] = []
    real = audit_module._verify_parallel

    def spy(*args: Any) -> VerifyReport | None:
        report = real(*args)
        ran.append(report is not None)
        return report

    monkeypatch.setattr(audit_module, "_verify_parallel", spy)
    return ran


def _both(flow: rf.ReleaseFlow, forked: list[bool], **kw: Any) -> VerifyReport:
    before = len(forked)
    one = flow.audit.verify(workers=1, **kw)
    assert len(forked) == before  # workers=1 never forks
    for workers in (2, 3, 5):
        many = flow.audit.verify(workers=workers, **kw)
        assert forked[-1] is True  # the workers really ran
        _same(many, one)
        assert many.problems == one.problems
        assert many.anchor_checked == one.anchor_checked
    return one


def test_parallel_equals_one_process_on_a_clean_log(
    sql_store: SqlStore, forked: list[bool]
) -> None:
    _fill(sql_store, 120, seed=4)
    report = _both(rf.ReleaseFlow(sql_store), forked)
    assert report.ok
    assert report.entries_checked == 120


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.parametrize("name", sorted(TAMPERS))
def test_parallel_names_the_same_first_bad_entry(
    sql_store: SqlStore, forked: list[bool], name: str
) -> None:
    _fill(sql_store, 80, seed=3)
    with sql_store.unit_of_work(write=False) as uow:
        count = sum(1 for _ in uow.audit.entries(ledger=2))
    _tamper(sql_store, 2, max(count // 2, 1), TAMPERS[name])
    flow = rf.ReleaseFlow(sql_store)
    try:
        one = flow.audit.verify(workers=1)
    except Exception as exc:  # the row cannot be read at all: both paths raise
        with pytest.raises(type(exc)):
            flow.audit.verify(workers=2)
        assert forked == [False]  # a failed worker: redone in one process
        return
    report = _both(flow, forked)
    assert not one.ok
    assert report.first_bad is not None
    assert report.first_bad.ledger == 2


def test_parallel_reports_edited_requests_and_anchors(
    flow: rf.ReleaseFlow, forked: list[bool]
) -> None:
    if not isinstance(flow.store, SqlStore) or flow.store.memory:
        pytest.skip("SQL stores in a file or on a server")
    from tests.conftest import STAFF, new_inquiry, to_approved

    flow.directory.bootstrap("admin", unit="agency")
    for actor, role in STAFF.items():
        if role != "administrator":
            flow.directory.grant(actor, role, unit="agency", by="admin")
    requests = [to_approved(flow, new_inquiry(flow)) for _ in range(3)]
    requests += [new_inquiry(flow) for _ in range(3)]
    anchor = flow.audit.anchor(key=b"k")
    assert _both(flow, forked, anchor=anchor, key=b"k").ok
    t = flow.store.tables.requests
    with flow.store.unit_of_work() as uow:
        for request in requests[::2]:
            forged = request.model_copy(update={"state": "released"})
            uow.run(
                sa.update(t)
                .where(t.c.id == str(request.id))
                .values(doc=forged.model_dump_json())
            )
        uow.commit()
    report = _both(flow, forked, anchor=anchor, key=b"k")
    assert {p.request_id for p in report.problems} == {r.id for r in requests[::2]}
    # a wrong key: the anchor check fails the same way in both
    assert not _both(flow, forked, anchor=anchor, key=b"other").ok


@pytest.mark.parametrize("workers", [0, -1, 65, 2.0, "2", True])
def test_bad_worker_counts_are_validation_errors(
    flow: rf.ReleaseFlow, workers: Any
) -> None:
    with pytest.raises(ValidationError) as info:
        flow.audit.verify(workers=workers)
    assert info.value.field == "workers"


def test_small_logs_and_memory_stores_stay_in_one_process(
    flow: rf.ReleaseFlow, forked: list[bool]
) -> None:
    flow.directory.bootstrap("admin", unit="agency")
    assert flow.audit.verify().ok  # below PARALLEL_FROM: no fork
    assert forked == []
    report = flow.audit.verify(workers=2)
    can_fork = isinstance(flow.store, SqlStore) and not flow.store.memory
    assert report.ok
    assert forked == ([True] if can_fork else [])


# -- entries read without validation ---------------------------------------------


def _validated(store: SqlStore, q: AuditQuery, limit: int) -> list[rf.AuditEntry]:
    with store.unit_of_work(write=False) as uow:
        return sql_query(uow.connection, store.tables.audit, q, after=None, limit=limit)


def test_fast_entries_equal_validated_entries(sql_store: SqlStore) -> None:
    _fill(sql_store, 300, seed=21)  # non-ASCII, nested payloads, nulls
    flow = rf.ReleaseFlow(sql_store)
    for order in ("time", "sequence"):
        q = AuditQuery(order=order)
        fast = flow.audit.query(q, limit=1000).entries
        slow = _validated(sql_store, q, 1000)
        assert fast == slow
        assert [e.model_dump_json() for e in fast] == [
            e.model_dump_json() for e in slow
        ]
        assert [e.model_fields_set for e in fast] == [e.model_fields_set for e in slow]
        assert all(
            type(e.request_id) is type(s.request_id)
            for e, s in zip(fast, slow, strict=True)
        )
    # entries own their payloads: changing one changes no other
    first, second = flow.audit.query(limit=2).entries
    first.payload["mutated"] = True
    assert "mutated" not in flow.audit.query(limit=1).entries[0].payload
    assert "mutated" not in second.payload


ODD_ROWS: dict[str, dict[str, Any]] = {
    "event_unknown": {"event": "teleported"},
    "request_id_upper": {"request_id": "ABCDEF12-3456-4789-8ABC-DEF123456789"},
    "request_id_junk": {"request_id": "not-a-uuid"},
    "request_kind_unknown": {"request_kind": "gossip"},
    "roles_not_list": {"roles": '"head"'},
    "roles_numbers": {"roles": "[1, 2]"},
    "payload_list": {"payload": "[1,2]"},
    "payload_junk": {"payload": "{oops"},
    "payload_nested": {"payload": '{"a":{"b":[1,{"c":null}]}}'},
}


@pytest.mark.parametrize("name", sorted(ODD_ROWS))
def test_odd_rows_read_exactly_as_validation_reads_them(
    sql_store: SqlStore, name: str
) -> None:
    _fill(sql_store, 20, seed=8)
    _tamper(sql_store, 1, 1, ODD_ROWS[name])
    flow = rf.ReleaseFlow(sql_store)
    q = AuditQuery(order="sequence")
    try:
        slow = _validated(sql_store, q, 1000)
    except Exception as exc:
        with pytest.raises(type(exc)):
            flow.audit.query(q, limit=1000)
        return
    assert flow.audit.query(q, limit=1000).entries == slow


# -- the command line ------------------------------------------------------------


def test_cli_verify_with_workers_names_the_first_bad_entry(
    tmp_path: Any, forked: list[bool]
) -> None:
    import sqlite3

    from releaseflow.cli import EXIT_FAILED
    from tests.cli.conftest import run

    url = f"sqlite:///{tmp_path / 'agency.db'}"
    assert run("--db", url, "demo", "--today", "2026-03-20")[0] == 0
    code, out, _ = run("--db", url, "audit", "verify", "--workers", "2")
    assert code == 0, out
    assert "OK" in out
    assert forked == [True]
    with sqlite3.connect(tmp_path / "agency.db") as conn:
        ledger, seq, rid = conn.execute(
            "SELECT ledger, seq, request_id FROM rf_audit_entries"
            " WHERE request_id IS NOT NULL ORDER BY ledger DESC, seq LIMIT 1"
        ).fetchone()
        conn.execute(
            "UPDATE rf_audit_entries SET actor='mallory' WHERE ledger=? AND seq=?",
            (ledger, seq),
        )
    for workers in ("1", "3"):
        code, _, err = run("--db", url, "audit", "verify", "--workers", workers)
        assert code == EXIT_FAILED
        assert f"ledger {ledger} seq {seq} request {rid}" in err
    assert forked == [True, True]
    assert run("--db", url, "audit", "verify", "--workers", "0")[0] != 0


def test_parallel_names_each_kind_of_edited_request(
    sql_store: SqlStore, forked: list[bool]
) -> None:
    """Workers pass over agreeing requests by their replayed tuple; edits still show.

    One request's state, another's version, content hash, classification edited
    behind the library's back: the workers' report equals the one-process report
    and names exactly those requests.
    """
    from tests.conftest import STAFF, new_inquiry, to_approved

    flow = rf.ReleaseFlow(sql_store)
    flow.directory.bootstrap("admin", unit="agency")
    for actor, role in STAFF.items():
        if role != "administrator":
            flow.directory.grant(actor, role, unit="agency", by="admin")
    requests = [to_approved(flow, new_inquiry(flow)) for _ in range(4)]
    requests += [new_inquiry(flow) for _ in range(4)]
    assert _both(flow, forked).ok
    edits: list[dict[str, Any]] = [
        {"state": "released"},
        {"version": 99},
        {"content_hash": "f" * 64},
        {"classification": rf.Classification.RESTRICTED},
    ]
    t = sql_store.tables.requests
    with sql_store.unit_of_work() as uow:
        for request, update in zip(requests[1::2], edits, strict=True):
            forged = request.model_copy(update=update)
            uow.run(
                sa.update(t)
                .where(t.c.id == str(request.id))
                .values(doc=forged.model_dump_json())
            )
        uow.commit()
    report = _both(flow, forked)
    assert {p.request_id for p in report.problems} == {r.id for r in requests[1::2]}


def _staffed_requests(flow: rf.ReleaseFlow, count: int) -> list[rf.Request]:
    from tests.conftest import STAFF, new_inquiry, to_approved

    flow.directory.bootstrap("admin", unit="agency")
    for actor, role in STAFF.items():
        if role != "administrator":
            flow.directory.grant(actor, role, unit="agency", by="admin")
    made = [to_approved(flow, new_inquiry(flow)) for _ in range(count)]
    store = flow.store
    assert isinstance(store, SqlStore)
    # request ids are random: add requests until both workers own some
    for _ in range(50):
        if len({_worker_of(store, r.id) for r in made}) == 2:
            break
        made.append(to_approved(flow, new_inquiry(flow)))
    return made


def _worker_of(store: SqlStore, rid: Any) -> int:
    """Which of two workers (split of ``_parallel_plan``) owns ``rid``'s ledger."""
    from releaseflow.chain import ledger_for

    return (
        0 if ledger_for(str(rid), store.ledger_count) < store.ledger_count // 2 else 1
    )


@pytest.mark.parametrize(
    "edit", ["other_worker", "upper_case", "unknown_id", "whole_request"]
)
def test_parallel_equals_one_process_when_entries_change_request(
    sql_store: SqlStore, forked: list[bool], edit: str
) -> None:
    """An entry's request_id edited to a request another worker owns (or to none).

    One process replays the bogus entry into the request it now names (its stored
    state then disagrees); the workers must say exactly the same, though the
    worker that reads the row does not own that request.
    """
    import uuid

    flow = rf.ReleaseFlow(sql_store)
    requests = _staffed_requests(flow, 6)
    anchor = flow.audit.anchor(key=b"k")
    assert _both(flow, forked, anchor=anchor, key=b"k").ok
    victim = requests[0]
    others = [
        r
        for r in requests
        if _worker_of(sql_store, r.id) != _worker_of(sql_store, victim.id)
    ]
    assert others  # _staffed_requests saw to it
    target = str(uuid.UUID(int=7)) if edit == "unknown_id" else str(others[0].id)
    if edit == "upper_case":  # another spelling of that id: read as the same id
        target = target.upper()
    t = sql_store.tables.audit
    with sql_store.unit_of_work() as uow:
        rows = uow.run(
            sa.select(t.c.ledger, t.c.seq)
            .where(t.c.request_id == str(victim.id))
            .order_by(t.c.ledger, t.c.seq)
        ).all()
        picked = rows if edit == "whole_request" else [rows[len(rows) // 2]]
        for ledger, seq in picked:
            uow.run(
                sa.update(t)
                .where(t.c.ledger == ledger, t.c.seq == seq)
                .values(request_id=target)
            )
        uow.commit()
    one = flow.audit.verify(workers=1, anchor=anchor, key=b"k")
    assert not one.ok
    many = flow.audit.verify(workers=2, anchor=anchor, key=b"k")
    assert forked[-1] is True
    assert many.problems == one.problems
    assert many.first_bad == one.first_bad
    assert many.entries_checked == one.entries_checked
    assert many.anchor_checked == one.anchor_checked
    _both(flow, forked, anchor=anchor, key=b"k")
    _both(flow, forked)  # and without the anchor


def test_entries_of_unstored_requests_keep_the_workers_merge(
    sql_store: SqlStore,
) -> None:
    """Random entries name requests nobody stores, on any ledger: no fallback.

    One process compares stored requests only, so those replays cannot change its
    report; the workers' merged report stands (the tamper matrix above runs on such
    logs and so checks the merge, not the one-process fallback).
    """
    _fill(sql_store, 120, seed=4)
    service = rf.ReleaseFlow(sql_store).audit
    split = service._parallel_plan(2)
    assert split is not None
    assert [service._verify_part(r, {}).foreign for r in split] == [False, False]
