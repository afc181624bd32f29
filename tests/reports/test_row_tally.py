"""The SQL row tally against the facts read from documents and audit entries.

A full report on SQL counts settled requests straight from their fact rows (no
:class:`Facts` per request; ``build._Tally.add_rows``). Here every figure of it must
equal the report computed from the facts the port path derives from the request
documents and a replay of the audit log (``facts._collect_ports``), at cut-offs
that leave requests moving (replayed) and none.
"""

from __future__ import annotations

import importlib
from datetime import UTC, datetime
from operator import attrgetter

import pytest

import releaseflow as rf
from releaseflow import reports
from releaseflow.reports import compute as c
from releaseflow.reports.facts import Window, _collect_ports
from releaseflow.reports.period import parse_period

_build = importlib.import_module("releaseflow.reports.build")


@pytest.mark.parametrize(
    "as_of",
    [
        None,
        # each while one request of the demo quarter is moving (so replayed):
        datetime(2026, 7, 20, 3, tzinfo=UTC),  # an incident statement
        datetime(2026, 7, 24, 3, tzinfo=UTC),  # a periodic release
        datetime(2026, 7, 30, 4, tzinfo=UTC),  # a correction request
        datetime(2026, 8, 5, 3, tzinfo=UTC),  # a fake-news response
        datetime(2026, 9, 3, 4, tzinfo=UTC),  # a policy draft
    ],
)
@pytest.mark.parametrize("unit", [None, "danang/soyte"])
def test_row_tally_equals_the_documents_and_the_log(
    seeded: rf.ReleaseFlow, as_of: datetime | None, unit: str | None
) -> None:
    """Every figure, id list and listed item is the same on both paths."""
    if not hasattr(seeded.store, "engine"):
        pytest.skip("the in-memory store has no fact rows: it counts facts itself")
    report = reports.build(seeded, "2026-Q3", as_of=as_of, unit=unit)
    m = report.meta
    period = parse_period((m.first_day, m.last_day), now=m.cutoff)
    window = Window(m.start, m.end, m.cutoff, unit, None)
    with seeded.store.unit_of_work(write=False) as uow:
        facts = sorted(_collect_ports(uow, window), key=attrgetter("id"))
    assert facts, "the quarter must hold requests"
    want = _build._assemble(m, facts, period, m.cutoff, c.DEFAULT_OBLIGATIONS)
    got = report.model_copy(update={"plans": ()})
    assert got.model_dump() == want.model_dump()
    assert reports.to_json(got) == reports.to_json(want)
    if as_of is None and unit is None:
        # the seeded quarter exercises every section the tally fills specially
        assert want.incidents
        assert want.correction_outcomes
        assert want.obligations
        assert want.policy_drafts.in_scope.value
        assert want.fake_news.received.value
    if as_of is not None and unit is None:
        assert any(seeded.get(f.id).updated_at >= m.cutoff for f in facts), "no replay"


@pytest.mark.parametrize(
    "as_of",
    [
        None,
        datetime(2026, 7, 20, 3, tzinfo=UTC),
        datetime(2026, 7, 24, 3, tzinfo=UTC),
        datetime(2026, 8, 5, 3, tzinfo=UTC),
    ],
)
def test_count_only_rows_equal_the_full_report(
    seeded: rf.ReleaseFlow, as_of: datetime | None
) -> None:
    """Counted by ``Counter`` over row slices: every value and listed item as full."""
    full = reports.build(seeded, "2026-Q3", as_of=as_of)
    counted = reports.build(seeded, "2026-Q3", as_of=as_of, ids=False)
    assert [(r.section, r.key, r.metric, r.value) for r in counted.rows()] == [
        (r.section, r.key, r.metric, r.value) for r in full.rows()
    ]
    assert counted.incidents == full.incidents
    assert counted.time_to_release == full.time_to_release.model_copy(
        update={"count": counted.time_to_release.count}
    )
    assert [(o.bucket, o.status) for o in counted.obligations] == [
        (o.bucket, o.status) for o in full.obligations
    ]
