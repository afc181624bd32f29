"""Count-only reports (``ids=False``) and drill-down by query (issue 6)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

import releaseflow as rf
from releaseflow import reports
from releaseflow.exceptions import ValidationError
from releaseflow.reports import Report
from tests.reports import brute

AS_OF = datetime(2026, 8, 1, tzinfo=UTC)


def _mid_release(flow: rf.ReleaseFlow) -> tuple[rf.Request, datetime]:
    """A released request and the instant of its release (a cut-off it crosses)."""
    released = [r for r in brute.requests(flow) if r.release is not None]
    r = min(released, key=lambda r: (r.received_at, str(r.id)))
    assert r.release is not None
    return r, r.release.at


def _strip(value: Any) -> Any:
    """A dumped report with every figure's ids dropped (tuples as lists)."""
    if isinstance(value, dict):
        return {k: None if k == "ids" else _strip(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_strip(v) for v in value]
    return value


def _same_numbers(full: Report, counted: Report) -> None:
    a, b = full.model_dump(), counted.model_dump()
    for key in a:
        if key not in ("meta", "plans"):
            assert _strip(a[key]) == _strip(b[key]), key
    assert counted.plans == full.plans
    meta = {"generated_at", "ids"}
    assert full.meta.model_dump(exclude=meta) == counted.meta.model_dump(exclude=meta)
    assert full.meta.ids
    assert not counted.meta.ids


@pytest.mark.parametrize(
    "kw",
    [{}, {"unit": "danang/soyte"}, {"as_of": AS_OF}, {"kinds": ["press_inquiry"]}],
    ids=["all", "unit", "as_of", "kinds"],
)
def test_count_only_report_has_the_same_numbers(
    seeded: rf.ReleaseFlow, kw: dict[str, Any]
) -> None:
    """Aggregated in SQL or not, every number equals the full report's."""
    full = reports.build(seeded, "2026-Q3", **kw)
    counted = reports.build(seeded, "2026-Q3", ids=False, **kw)
    _same_numbers(full, counted)
    rows = list(counted.rows())
    assert [(r.section, r.key, r.metric, r.value) for r in rows] == [
        (r.section, r.key, r.metric, r.value) for r in full.rows()
    ]
    assert all(r.ids == () for r in rows if r.section != "plans")
    assert counted.totals.received.ids is None
    assert counted.totals.received.value == full.totals.received.value > 0


def test_count_only_report_replays_requests_changed_after_the_cut_off(
    seeded: rf.ReleaseFlow,
) -> None:
    """A request released after the cut-off counts as it stood (from the log)."""
    moving, as_of = _mid_release(seeded)
    counted = reports.build(seeded, "2026-Q3", as_of=as_of, ids=False)
    found = [r for r in brute.requests(seeded) if r.received_at < as_of]
    assert moving in found
    assert moving.updated_at >= as_of
    for name in ("released", "refused", "withdrawn", "pending"):
        want = sum(brute.outcome(r, as_of) == name for r in found)
        assert getattr(counted.totals, name).value == want
    full = reports.build(seeded, "2026-Q3", as_of=as_of)
    _same_numbers(full, counted)
    assert str(moving.id) not in full.totals.released.listed
    assert str(moving.id) in reports.drilldown(
        seeded, counted, "totals", "all", "received"
    )


@pytest.mark.parametrize("mid", [False, True], ids=["now", "as_of"])
def test_every_drilldown_lists_exactly_its_figure(
    seeded: rf.ReleaseFlow, mid: bool
) -> None:
    """Drill-down of each figure: its value in ids, the full report's ids, brute force."""
    as_of = _mid_release(seeded)[1] if mid else None
    counted = reports.build(seeded, "2026-Q3", as_of=as_of, ids=False)
    full = reports.build(seeded, "2026-Q3", as_of=as_of)
    want = {(r.section, r.key, r.metric): r.ids for r in full.rows()}
    for row in counted.rows():
        ids = reports.drilldown(seeded, counted, row.section, row.key, row.metric)
        assert len(ids) == len(set(ids)) == row.value
        assert ids == want[(row.section, row.key, row.metric)]
    cutoff = counted.meta.cutoff
    found = [r for r in brute.requests(seeded) if r.received_at < cutoff]
    for name in ("released", "refused", "withdrawn", "pending"):
        ids = reports.drilldown(seeded, counted, "totals", "all", name)
        assert set(ids) == {
            str(r.id) for r in found if brute.outcome(r, cutoff) == name
        }


def test_drilldown_of_a_full_report_and_unknown_figures(seeded: rf.ReleaseFlow) -> None:
    """A full report answers from its own ids; an unknown figure is named."""
    full = reports.build(seeded, "2026-Q3")
    got = reports.drilldown(seeded, full, "totals", "all", "received")
    assert got == full.totals.received.ids
    with pytest.raises(ValidationError) as err:
        reports.drilldown(seeded, full, "totals", "all", "nope")
    assert err.value.field == "figure"


def test_count_only_json_is_small_canonical_and_renders(seeded: rf.ReleaseFlow) -> None:
    """Ids are null in the JSON; it reads back; CSV and Markdown still render."""
    counted = reports.build(seeded, "2026-Q3", ids=False)
    text = reports.to_json(counted)
    assert text == json.dumps(
        counted.model_dump(mode="json"),
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    assert json.loads(text)["totals"]["received"] == {
        "ids": None,
        "value": counted.totals.received.value,
    }
    assert reports.from_json(text) == counted
    full_text = reports.to_json(reports.build(seeded, "2026-Q3"))
    assert len(text) < len(full_text)
    assert "totals,all,received," in reports.to_csv(counted)
    assert reports.to_markdown(counted)


@pytest.mark.parametrize("mid", [False, True], ids=["now", "as_of"])
def test_drilldown_by_query_rebuilds_nothing(
    seeded: rf.ReleaseFlow, mid: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On SQL, figures picked by fact columns come from one query plus the replay."""
    import sys

    from releaseflow.reports.drill import figure_filter
    from releaseflow.storage.sql.schema import build_tables

    if not hasattr(seeded.store, "tables"):
        pytest.skip("only SQL stores answer drill-downs by query")
    as_of = _mid_release(seeded)[1] if mid else None
    counted = reports.build(seeded, "2026-Q3", as_of=as_of, ids=False)
    full = reports.build(seeded, "2026-Q3", as_of=as_of)
    want = {(r.section, r.key, r.metric): r.ids for r in full.rows()}

    def no_rebuild(*_a: Any, **_k: Any) -> Report:
        raise AssertionError("the report was rebuilt")

    monkeypatch.setattr(sys.modules["releaseflow.reports.build"], "build", no_rebuild)
    requests = build_tables("x_").requests
    by_query = [
        r
        for r in counted.rows()
        if figure_filter(requests, r.section, r.key, r.metric) is not None
    ]
    sections = {r.section for r in by_query}
    assert {"totals", "by_kind", "by_channel", "press_agencies"} <= sections
    for row in by_query:
        ids = reports.drilldown(seeded, counted, row.section, row.key, row.metric)
        assert ids == want[(row.section, row.key, row.metric)], row
    with pytest.raises(AssertionError, match="rebuilt"):
        reports.drilldown(seeded, counted, "deadlines", "all", "met")


def test_drilldown_by_query_is_one_snapshot_of_the_requests(
    seeded: rf.ReleaseFlow,
) -> None:
    """A request changed by another writer during a drill-down is counted once.

    The servers read committed: two statements of one read transaction may see two
    snapshots. A request settled at the cut-off that another writer changes right
    after the drill-down's first read must not be found settled by one statement
    and moving by the next (listed twice, the drill-down would refuse the report).
    """
    import sqlalchemy as sa

    store: Any = seeded.store
    if not hasattr(store, "tables"):
        pytest.skip("only SQL stores answer drill-downs by query")
    counted = reports.build(seeded, "2026-Q3", as_of=AS_OF, ids=False)
    full = reports.build(seeded, "2026-Q3", as_of=AS_OF)
    settled = [
        r
        for r in brute.requests(seeded)
        if r.received_at < AS_OF and r.updated_at < AS_OF
    ]
    assert settled
    target = str(min(settled, key=lambda r: str(r.id)).id)
    assert target in full.totals.received.listed
    t = store.tables.requests
    fired: list[str] = []

    def concurrent_write(conn: Any, *_args: Any) -> None:
        if fired or conn.info.get("rf_test_writer"):
            return
        fired.append(target)
        with store.engine.connect() as other:
            other.info["rf_test_writer"] = True
            other = other.execution_options(**store.uow_options(True))
            with other.begin():
                other.execute(
                    sa.update(t)
                    .where(t.c.id == target)
                    .values(updated_at=datetime(2026, 10, 1, 2, tzinfo=UTC))
                )

    if store.memory:
        pytest.skip("one in-memory connection: no second writer")
    sa.event.listen(store.engine, "after_cursor_execute", concurrent_write)
    try:
        ids = reports.drilldown(seeded, counted, "totals", "all", "received")
    finally:
        sa.event.remove(store.engine, "after_cursor_execute", concurrent_write)
    assert fired
    assert ids == full.totals.received.ids


@pytest.mark.parametrize(
    ("period", "kw"),
    [
        ("2026-Q3", {"unit": "danang/soyte"}),
        ("2026-Q3", {"kinds": ["press_inquiry", "correction_request"]}),
        ("2026-Q3", {"unit": "danang", "as_of": AS_OF}),
        ("2025-Q4", {}),
    ],
    ids=["unit", "kinds", "subunits_as_of", "empty"],
)
def test_drilldown_by_query_keeps_the_reports_unit_and_kinds(
    seeded: rf.ReleaseFlow, period: str, kw: dict[str, Any]
) -> None:
    """Narrowed reports and an empty period drill down to the full report's ids.

    Every figure of a report narrowed by unit (with sub-units) or kinds, or of an
    empty period.
    """
    counted = reports.build(seeded, period, ids=False, **kw)
    full = reports.build(seeded, period, **kw)
    want = {(r.section, r.key, r.metric): r.ids for r in full.rows()}
    rows = list(counted.rows())
    assert rows
    for row in rows:
        ids = reports.drilldown(seeded, counted, row.section, row.key, row.metric)
        assert ids == want[(row.section, row.key, row.metric)], row
    received = full.totals.received.value
    if period == "2025-Q4":
        assert received == 0
    else:
        # narrowed: fewer than the whole quarter, but not nothing
        assert 0 < received < reports.build(seeded, period).totals.received.value
