"""Report facts: the stored columns, the documents and the audit log agree (issue 6).

The fast path reads a request's facts from its row (SQL) or its document (memory)
when it was last changed before the cut-off, and replays the audit log otherwise.
These tests check each source against the others, so a drift in any of them fails.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import releaseflow as rf
from releaseflow import reports
from releaseflow.demo import seed
from releaseflow.reports import compute
from releaseflow.reports.facts import EVENTS, Facts, History, event, from_request
from releaseflow.reports.row_facts import FACT_COLUMNS, request_facts
from releaseflow.storage.sql import SqlStore, head_revision, upgrade
from tests.conftest import Clock
from tests.reports.conftest import NOW
from tests.reports.test_registered_late import register_late
from tests.sql.conftest import FILE_BACKENDS
from tests.sql.test_migrations import _downgrade
from tests.sql_support import drop_tables, server_url, sqlite_url, unique_prefix

Q3 = (datetime(2026, 6, 30, 17, tzinfo=UTC), datetime(2026, 9, 30, 17, tzinfo=UTC))


def _stored_columns(flow: rf.ReleaseFlow) -> dict[str, dict[str, Any]]:
    store: Any = flow.store
    t = store.tables.requests
    cols = [t.c.id, *(t.c[n] for n in FACT_COLUMNS)]
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(*cols)).all()
    return {r[0]: dict(zip(FACT_COLUMNS, r[1:], strict=True)) for r in rows}


def _normal(cols: dict[str, Any]) -> dict[str, Any]:
    return {**cols, "fact_in_scope": bool(cols["fact_in_scope"])}


def _replayed(flow: rf.ReleaseFlow, cutoff: datetime) -> dict[str, Facts]:
    """Every request received in Q3 before ``cutoff``, replayed from the audit log.

    Only requests the log knew at the cut-off: those whose ``created`` entry is
    before it (a letter registered late, with an earlier ``received_at``, is not).
    """
    entries = list(flow.audit.entries())
    created = {str(e.request_id): e.at for e in entries if e.event.value == "created"}
    found = {
        str(r.id): History(r.model_dump(mode="json"))
        for r in flow.find(limit=1000)
        if Q3[0] <= r.received_at < min(cutoff, Q3[1]) and created[str(r.id)] < cutoff
    }
    for e in entries:
        h = found.get(str(e.request_id))
        if h is not None and e.event.value in EVENTS and Q3[0] <= e.at < cutoff:
            h.events.append(event(e.at, e.to_state, _plain(e.payload)))
    return {rid: h.resolve(cutoff) for rid, h in found.items()}


def _plain(value: Any) -> Any:
    import json

    return json.loads(json.dumps(value, default=str))


def test_stored_fact_columns_equal_the_documents(seeded: rf.ReleaseFlow) -> None:
    """Every write kept the fact columns equal to ``request_facts(document)``."""
    if not hasattr(seeded.store, "tables"):
        pytest.skip("the in-memory store derives facts on the fly")
    stored = _stored_columns(seeded)
    docs = {str(r.id): r for r in seeded.find(limit=1000)}
    assert set(stored) == set(docs)
    assert len(docs) > 10
    for rid, r in docs.items():
        assert _normal(stored[rid]) == request_facts(r), rid


@pytest.mark.parametrize(
    "cutoff",
    [NOW, datetime(2026, 9, 30, 16, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)],
)
def test_document_facts_equal_the_audit_replay(
    seeded: rf.ReleaseFlow, cutoff: datetime
) -> None:
    """For a request last changed before the cut-off, document == replayed log."""
    replayed = _replayed(seeded, cutoff)
    checked = 0
    for r in seeded.find(limit=1000):
        rid = str(r.id)
        if rid not in replayed or r.updated_at >= cutoff:
            continue
        mine = from_request(r, cutoff)
        assert replace(mine, title=None) == replace(replayed[rid], title=None), rid
        checked += 1
    assert checked >= 10


@pytest.mark.parametrize("hour", [(7, 14, 5), (8, 12, 4), (9, 3, 4)])
def test_as_of_report_equals_a_full_replay(
    seeded: rf.ReleaseFlow, hour: tuple[int, int, int]
) -> None:
    """Mid-request: settled requests come from facts, moving ones from the log."""
    as_of = datetime(2026, *hour, tzinfo=UTC)
    moving = [r for r in seeded.find(limit=1000) if r.updated_at >= as_of]
    assert moving, "the demo must have requests still moving after as_of"
    report = reports.build(seeded, "2026-Q3", as_of=as_of)
    facts = sorted(_replayed(seeded, as_of).values(), key=lambda f: f.id)
    want = compute.outcomes(facts)
    for name in ("received", "released", "refused", "withdrawn", "pending"):
        assert getattr(report.totals, name) == getattr(want, name), name
    per_rule, overall = compute.deadline_stats(facts, as_of)
    assert report.deadlines == per_rule
    assert report.deadlines_overall == overall
    assert report.time_to_release == compute.durations(facts)


@pytest.fixture(name="target", params=FILE_BACKENDS)
def _target(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    backend = str(request.param)
    url = sqlite_url(tmp_path) if backend == "sqlite" else server_url(backend)
    prefix = unique_prefix()
    yield url, prefix
    drop_tables(url, prefix)


def test_revision_0005_backfills_the_fact_columns(target: tuple[str, str]) -> None:
    """Down to 0004 (no columns), up again: the backfill rebuilds them exactly."""
    url, prefix = target
    clock = Clock(NOW)
    store = SqlStore.open(url, table_prefix=prefix)
    flow = rf.ReleaseFlow(store, clock=clock)
    seed(flow, date(2026, 9, 15))
    clock.now = NOW
    before = reports.to_json(reports.build(flow, "2026-Q3"))
    stored = _stored_columns(flow)
    store.close()

    _downgrade(url, prefix, "0004")
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        names = {c["name"] for c in sa.inspect(conn).get_columns(f"{prefix}requests")}
    engine.dispose()
    assert not names & set(FACT_COLUMNS)

    assert upgrade(url, table_prefix=prefix) == head_revision()
    store = SqlStore.open(url, table_prefix=prefix, migrate=False)
    try:
        flow = rf.ReleaseFlow(store, clock=clock)
        assert _stored_columns(flow) == stored
        assert reports.to_json(reports.build(flow, "2026-Q3")) == before
    finally:
        store.close()


def test_deadline_encoding_at_any_cut_off(seeded: rf.ReleaseFlow) -> None:
    """Met on time, met late, paused, cancelled and running deadlines decode right."""
    from releaseflow.models import DeadlineStatus
    from releaseflow.reports.row_facts import deadline_states, encode_deadlines, micros

    r = next(x for x in seeded.find(limit=1000) if x.deadlines)
    d = r.deadlines[0]
    due = d.due_at
    early = due - timedelta(hours=1)
    made = [
        d.model_copy(
            update={"rule_id": "a", "status": DeadlineStatus.MET, "met_at": early}
        ),
        d.model_copy(
            update={"rule_id": "b", "status": DeadlineStatus.MET, "met_at": due}
        ),
        d.model_copy(update={"rule_id": "c", "status": DeadlineStatus.PAUSED}),
        d.model_copy(update={"rule_id": "d", "status": DeadlineStatus.CANCELLED}),
        d.model_copy(update={"rule_id": "e", "status": DeadlineStatus.RUNNING}),
    ]
    encoded = encode_deadlines(r.model_copy(update={"deadlines": tuple(made)}))
    before = deadline_states(encoded, micros(early))
    assert before == {"a": "met", "b": "missed", "c": "open", "e": "open"}
    assert deadline_states(encoded, micros(due))["e"] == "missed"
    assert encode_deadlines(r.model_copy(update={"deadlines": ()})) is None


def test_press_keys_count_linked_contacts_apart() -> None:
    """A requester linked to a stored contact is keyed by that contact."""
    from releaseflow.reports.row_facts import press_keys

    plain = {
        "type": "journalist",
        "name": "An",
        "organisation": "Báo",
        "press_card": "1",
    }
    assert press_keys(plain) == ("Báo", "An (1)")
    linked = {**plain, "contact_id": "c-1"}
    assert press_keys(linked) == ("Báo", "An [contact c-1]")
    agency = {"type": "press_agency", "name": "TTXVN", "contact_id": "c-2"}
    assert press_keys(agency) == ("TTXVN [contact c-2]", None)
    assert press_keys({"type": "citizen", "name": "B"}) == (None, None)
    assert press_keys(None) == (None, None)


def test_rows_without_facts_are_replayed(seeded: rf.ReleaseFlow) -> None:
    """A row whose fact columns are empty (written around the engine) still counts."""
    if not hasattr(seeded.store, "tables"):
        pytest.skip("only SQL rows carry fact columns")
    import gc

    before = reports.build(seeded, "2026-Q3")
    store: Any = seeded.store
    t = store.tables.requests
    with store.engine.begin() as conn:
        conn.execute(sa.update(t).values({n: None for n in FACT_COLUMNS}))
    after = reports.build(seeded, "2026-Q3")
    assert after.model_dump(exclude={"meta"}) == before.model_dump(exclude={"meta"})
    assert gc.isenabled()


def _indexes(url: str, prefix: str) -> set[str]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            found = sa.inspect(conn).get_indexes(f"{prefix}requests")
    finally:
        engine.dispose()
    return {str(ix["name"]) for ix in found}


def _plans(url: str, prefix: str) -> list[str]:
    """SQLite's query plan of both report scans (fact rows and counts)."""
    from releaseflow.reports.aggregate import counts_statement
    from releaseflow.reports.facts import Window
    from releaseflow.reports.sql_source import facts_statement
    from releaseflow.storage.sql.schema import build_tables

    requests = build_tables(prefix).requests
    window = Window(Q3[0], Q3[1], Q3[1], "danang", frozenset({"press_inquiry"}))
    engine = sa.create_engine(url)

    def explain(_conn, _cursor, statement, params, _context, _many):  # type: ignore[no-untyped-def]
        return f"EXPLAIN QUERY PLAN {statement}", params

    sa.event.listen(engine, "before_cursor_execute", explain, retval=True)
    out = []
    try:
        with engine.connect() as conn:
            for stmt in (
                facts_statement(requests, window),
                counts_statement(requests, window),
            ):
                rows = conn.execute(stmt).cursor.fetchall()
                out.append(" ".join(str(r[-1]) for r in rows))
    finally:
        engine.dispose()
    return out


def test_revision_0007_adds_the_covering_report_index(target: tuple[str, str]) -> None:
    """Populated 0006 -> head: SQLite scans the index alone, every report unchanged."""
    url, prefix = target
    clock = Clock(NOW)
    store = SqlStore.open(url, table_prefix=prefix)
    flow = rf.ReleaseFlow(store, clock=clock)
    seed(flow, date(2026, 9, 15))
    clock.now = NOW
    as_of = datetime(2026, 8, 12, 4, tzinfo=UTC)
    before = [
        reports.to_json(reports.build(flow, "2026-Q3", **kw))
        for kw in ({}, {"ids": False}, {"as_of": as_of}, {"unit": "danang/soyte"})
    ]
    store.close()
    index = f"ix_{prefix}requests_report"
    sqlite = url.startswith("sqlite")
    assert (index in _indexes(url, prefix)) is sqlite

    _downgrade(url, prefix, "0006")
    assert index not in _indexes(url, prefix)
    if sqlite:
        assert not any("COVERING INDEX" in p for p in _plans(url, prefix))

    assert upgrade(url, table_prefix=prefix) == head_revision()
    assert (index in _indexes(url, prefix)) is sqlite
    if sqlite:
        for plan in _plans(url, prefix):
            assert f"USING COVERING INDEX {index}" in plan, plan
    store = SqlStore.open(url, table_prefix=prefix, migrate=False)
    try:
        flow = rf.ReleaseFlow(store, clock=clock)
        after = [
            reports.to_json(reports.build(flow, "2026-Q3", **kw))
            for kw in ({}, {"ids": False}, {"as_of": as_of}, {"unit": "danang/soyte"})
        ]
    finally:
        store.close()
    strip = [_without_generated(t) for t in before]
    assert [_without_generated(t) for t in after] == strip


def _without_generated(text: str) -> str:
    import json

    plain = json.loads(text)
    plain["meta"].pop("generated_at")
    return json.dumps(plain, sort_keys=True)


def _change_after(flow: rf.ReleaseFlow, clock: Clock, at: datetime) -> set[str]:
    """At ``at``: retract a released request, withdraw and close others."""
    from releaseflow.exceptions import ReleaseflowError

    clock.now = at
    changed: set[str] = set()
    wanted = [("retract", {"reason": "Số liệu sai."})] * 2 + [
        ("withdraw", {"reason": "Người hỏi rút yêu cầu."}),
        ("report", {}),
    ]
    actors = ("spoke.tran", "head.pham", "spoke.lam", "head.dinh")
    for trigger, payload in wanted:
        done = False
        for r in sorted(flow.find(limit=1000), key=lambda r: str(r.id)):
            if str(r.id) in changed:
                continue
            for actor in actors:
                try:
                    flow.fire(r.id, trigger, actor=actor, **payload)
                except ReleaseflowError:
                    continue
                changed.add(str(r.id))
                clock.now += timedelta(minutes=5)
                done = True
                break
            if done:
                break
        assert done, f"no request could {trigger}"
    return changed


def _replayed_report(
    flow: rf.ReleaseFlow, fast: reports.Report, cutoff: datetime
) -> reports.Report:
    """The report assembled from a replay of the whole audit log (no fast path)."""
    from releaseflow.reports.build import _assemble
    from releaseflow.reports.period import Period

    m = fast.meta
    facts = sorted(_replayed(flow, cutoff).values(), key=lambda f: f.id)
    period = Period(m.period, m.first_day, m.last_day)
    return _assemble(m, facts, period, cutoff, compute.DEFAULT_OBLIGATIONS)


def test_fast_path_equals_a_replay_of_the_log_after_late_changes(
    seeded: rf.ReleaseFlow, clock: Clock
) -> None:
    """Late retractions, withdrawals, closings and registrations: equal to a replay.

    A past period's report is as it was (letters received in it but registered
    after its cut-off stay out), and every figure (ids included) equals a full
    replay of the log, both for the past period and for an as-of cut-off after the
    changes (which counts the late letters).
    """
    past = (date(2026, 7, 1), date(2026, 9, 10))
    before = reports.build(seeded, past)
    cutoff = before.meta.cutoff
    changed = _change_after(seeded, clock, NOW + timedelta(days=1))
    # received on 5 September (in the past period), registered a month later
    registered = register_late(
        seeded,
        clock,
        clock.now + timedelta(minutes=5),
        datetime(2026, 9, 5, tzinfo=UTC),
    )
    moving = {str(r.id) for r in seeded.find(limit=1000) if r.updated_at >= cutoff}
    assert changed | registered <= moving
    assert any(r.state == "retracted" for r in seeded.find(limit=1000))

    after = reports.build(seeded, past)
    skip = {"meta", "plans"}
    assert after.model_dump(exclude=skip) == before.model_dump(exclude=skip)
    replay = _replayed_report(seeded, after, cutoff)
    assert after.model_dump(exclude=skip) == replay.model_dump(exclude=skip)
    counted = reports.build(seeded, past, ids=False)
    assert [(r.section, r.key, r.metric, r.value) for r in counted.rows()] == [
        (r.section, r.key, r.metric, r.value) for r in after.rows()
    ]

    clock.now = NOW + timedelta(days=2)
    wide = (date(2026, 7, 1), date(2026, 10, 31))
    late = reports.build(seeded, wide, as_of=clock.now - timedelta(hours=1))
    assert late.meta.partial
    replay = _replayed_report(seeded, late, late.meta.cutoff)
    assert late.model_dump(exclude=skip) == replay.model_dump(exclude=skip)
    assert late.correction_outcomes, "the demo has correction requests"
    assert registered <= set(late.totals.received.listed)
