"""A report counts what was known at its cut-off: backdated registrations stay out.

A letter received on 20 September but registered on 2 October carries
``received_at`` in Q3 and a ``created`` audit entry after the Q3 cut-off. The Q3
report (cut-off 30 September, 24:00 local) did not know it, so no report with that
cut-off counts it, in any figure or list, whenever it is computed; a report whose
cut-off is after the registration counts it in the period of its ``received_at``.
This keeps a frozen or submitted report reproducible from the log, and its
drill-down working.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import releaseflow as rf
from releaseflow import reports
from releaseflow.reports import Report
from tests.conftest import Clock
from tests.reports.conftest import NOW

#: The day the late letters are registered (after the Q3 cut-off).
REGISTERED = NOW + timedelta(days=1)
#: The day they were received (in Q3).
RECEIVED = datetime(2026, 9, 20, 2, 0, tzinfo=UTC)
#: A period that holds the receipt and whose end is after the registration.
WIDE = (date(2026, 7, 1), date(2026, 10, 31))
SKIP = {"meta", "plans"}


def register_late(
    flow: rf.ReleaseFlow,
    clock: Clock,
    at: datetime = REGISTERED,
    received: datetime = RECEIVED,
) -> set[str]:
    """At ``at``: register three letters received at ``received`` (20 September).

    A journalist's inquiry (press figures), an incident statement (the incident
    list) and a citizen's request registered for handling (deadline figures).
    """
    clock.now = at
    press = flow.create(
        rf.RequestKind.PRESS_INQUIRY,
        title="Thư hỏi nhận ngày 20/9",
        body="Nội dung",
        actor="coord.bui",
        unit="danang/soyte",
        channel="post",
        received_at=received,
        requester={
            "type": "journalist",
            "name": "Lê Văn Muộn",
            "organisation": "Báo Muộn",
        },
    )
    incident = flow.create(
        rf.RequestKind.INCIDENT_STATEMENT,
        title="Sự cố nhận ngày 20/9",
        body="Nội dung",
        actor="spoke.tran",
        unit="danang/soyte/bv-dakhoa",
        received_at=received,
    )
    citizen = flow.create(
        rf.RequestKind.CITIZEN_INFO_REQUEST,
        title="Yêu cầu nhận ngày 20/9",
        body="Nội dung",
        actor="focal.ho",
        unit="danang/soyte",
        channel="post",
        received_at=received,
        requester={"type": "citizen", "name": "Trần Thị Gửi"},
    )
    citizen = flow.fire(citizen.id, "register", actor="focal.ho")
    assert citizen.deadlines, "a registered citizen request has deadlines"
    clock.now = at + timedelta(hours=2)
    return {str(press.id), str(incident.id), str(citizen.id)}


def _all_ids(report: Report) -> set[str]:
    """Every request id any figure or list of ``report`` names."""
    out: set[str] = set()
    for row in report.rows():
        out |= set(row.ids or ())
    out |= {str(i.id) for i in report.incidents}
    return out


def _values(report: Report) -> list[tuple[str, str, str, int]]:
    return [(r.section, r.key, r.metric, r.value) for r in report.rows()]


def _drills_to(flow: rf.ReleaseFlow, counted: Report, full: Report) -> None:
    """Every figure of the count-only report drills down to the full report's ids."""
    want = {(r.section, r.key, r.metric): r.ids for r in full.rows()}
    rows = list(counted.rows())
    assert rows
    for row in rows:
        ids = reports.drilldown(flow, counted, row.section, row.key, row.metric)
        assert ids == want[(row.section, row.key, row.metric)], row


def test_backdated_registration_is_not_in_the_earlier_report(
    seeded: rf.ReleaseFlow, clock: Clock
) -> None:
    """Q3 made before the late letters: same figures after, drill-down still works."""
    full = reports.build(seeded, "2026-Q3")
    counted = reports.build(seeded, "2026-Q3", ids=False)
    late = register_late(seeded, clock)
    assert not late & _all_ids(full)

    again = reports.build(seeded, "2026-Q3")
    assert again.model_dump(exclude=SKIP) == full.model_dump(exclude=SKIP)
    assert not late & _all_ids(again)
    recount = reports.build(seeded, "2026-Q3", ids=False)
    assert _values(recount) == _values(counted)
    # the report made before the registrations still drills down (was: "counts
    # 14 but 15"), and so does the one made after
    _drills_to(seeded, counted, again)
    _drills_to(seeded, recount, again)


def test_a_cut_off_after_the_registration_counts_it(
    seeded: rf.ReleaseFlow, clock: Clock
) -> None:
    """As-of reports: before the registration without them, after it with them."""
    late = register_late(seeded, clock)
    before_at = REGISTERED - timedelta(hours=1)
    after_at = REGISTERED + timedelta(hours=1)
    before = reports.build(seeded, WIDE, as_of=before_at)
    after = reports.build(seeded, WIDE, as_of=after_at)
    assert not late & _all_ids(before)
    assert late <= set(after.totals.received.ids or ())
    assert after.totals.received.value == before.totals.received.value + len(late)
    assert late <= set(after.totals.pending.ids or ())
    assert late & {str(i.id) for i in after.incidents}
    assert late & {
        i for s in after.deadlines.values() for i in s.missed.listed + s.open.listed
    }
    assert late & set(
        after.journalists.get("Lê Văn Muộn", reports.Figure.of(())).listed
    )
    for as_of, full in ((before_at, before), (after_at, after)):
        counted = reports.build(seeded, WIDE, as_of=as_of, ids=False)
        assert _values(counted) == _values(full)
        _drills_to(seeded, counted, full)
    # a report computed now (cut-off: now) counts them in the period received
    year = reports.build(seeded, "2026")
    assert late <= set(year.totals.received.ids or ())


def test_count_only_report_made_before_the_registration_drills_by_rebuild(
    seeded: rf.ReleaseFlow, clock: Clock
) -> None:
    """Figures without a query (deadlines, durations) are rebuilt at the cut-off."""
    clock.now = REGISTERED - timedelta(minutes=30)
    counted = reports.build(
        seeded, WIDE, as_of=REGISTERED - timedelta(hours=1), ids=False
    )
    full = reports.build(seeded, WIDE, as_of=REGISTERED - timedelta(hours=1))
    register_late(seeded, clock)
    by_rebuild: list[Any] = [
        r for r in counted.rows() if r.section in ("deadlines", "deadlines_overall")
    ]
    assert by_rebuild
    want = {(r.section, r.key, r.metric): r.ids for r in full.rows()}
    for row in by_rebuild:
        ids = reports.drilldown(seeded, counted, row.section, row.key, row.metric)
        assert ids == want[(row.section, row.key, row.metric)], row


def test_the_created_entry_carries_the_instant_of_created_at(
    staffed: rf.ReleaseFlow,
) -> None:
    """One clock read for the row and its entry: no cut-off can fall between them."""
    base = datetime(2026, 9, 30, 16, 59, 59, 999_998, tzinfo=UTC)
    ticks = iter(range(1_000))

    def ticking() -> datetime:  # a new microsecond on every read
        return base + timedelta(microseconds=next(ticks))

    flow = rf.ReleaseFlow(staffed.store, clock=ticking)
    request = flow.create(
        rf.RequestKind.PRESS_INQUIRY,
        title="Câu hỏi",
        body="Nội dung",
        actor="comms.nguyen",
        unit="agency",
        channel="electronic",
        requester={"type": "journalist", "name": "E", "organisation": "Báo"},
    )
    (created,) = flow.audit.history(request.id)
    assert created.event is rf.AuditEvent.CREATED
    assert created.at == request.created_at
