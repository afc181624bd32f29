"""Deadlines on requests: planned at receipt, paused, extended, met, swept, recomputed."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

import releaseflow as rf
from releaseflow.tracking import DeadlineState
from tests.conftest import Clock

# The conftest clock starts Monday 2026-03-02 09:00 in Hanoi (02:00 UTC).


def citizen_request(flow: rf.ReleaseFlow, channel: str = "electronic") -> rf.Request:
    return flow.create(
        rf.RequestKind.CITIZEN_INFO_REQUEST,
        title="Đề nghị cung cấp kế hoạch tiêm chủng",
        body="Xin cung cấp kế hoạch tiêm chủng năm 2026 của trung tâm.",
        actor="focal.ho",
        unit="agency",
        channel=channel,
        requester={"type": "citizen", "name": "Trần Văn F"},
    )


def states(flow: rf.ReleaseFlow, request: rf.Request) -> dict[str, DeadlineState]:
    return {v.rule_id: v.state for v in flow.deadlines(request.id)}


def due(flow: rf.ReleaseFlow, request: rf.Request, rule_id: str) -> datetime:
    return next(v.due_at for v in flow.deadlines(request.id) if v.rule_id == rule_id)


def local_midnight(day: int, month: int = 3) -> datetime:
    """The exclusive end of ``day`` in Hanoi, as UTC (17:00 the same day)."""
    return datetime(2026, month, day, 17, 0, tzinfo=UTC)


def snapshot(flow: rf.ReleaseFlow, request: rf.Request) -> tuple[Any, ...]:
    current = flow.get(request.id)
    return (
        current.version,
        current.state,
        current.deadlines,
        len(flow.audit.history(request.id)),
    )


def test_press_inquiry_gets_the_agency_default_with_an_explanation(
    staffed: rf.ReleaseFlow,
) -> None:
    """A press inquiry carries the agency's 2-working-day default, explained."""
    from tests.conftest import new_inquiry

    request = new_inquiry(staffed)
    [view] = staffed.deadlines(request.id)
    assert view.rule_id == "agency.press_inquiry.answer"
    assert view.due_at == local_midnight(4)  # Tue 3 and Wed 4 March
    assert view.state is DeadlineState.RUNNING
    assert any("counting starts 2026-03-03" in line for line in view.explanation)


def test_electronic_simple_request_is_due_in_three_working_days(
    staffed: rf.ReleaseFlow,
) -> None:
    """LATI Art. 30(3): electronic, simple: 3 working days from the day after receipt."""
    request = citizen_request(staffed)
    assert due(
        staffed, request, "lati2016.electronic.simple.provide"
    ) == local_midnight(5)


def test_complex_assessment_replans_from_receipt(staffed: rf.ReleaseFlow) -> None:
    """Post, complex: notify within 3 WD and answer within 15 WD; simple rule cancelled."""
    request = citizen_request(staffed, channel="post")
    request = staffed.fire(request.id, "register", actor="focal.ho")
    request = staffed.fire(request.id, "assess", actor="focal.ho", complexity="complex")
    found = states(staffed, request)
    assert found["lati2016.post_fax.simple.provide"] is DeadlineState.CANCELLED
    assert found["lati2016.post_fax.complex.notify_deadline"] is DeadlineState.RUNNING
    # 15 working days from Tue 3 March: 3-6, 9-13, 16-20, 23 March
    assert due(staffed, request, "lati2016.post_fax.complex.provide") == local_midnight(
        23
    )
    request = staffed.fire(
        request.id, "notify_deadline", actor="focal.ho", deadline="2026-03-20"
    )
    found = states(staffed, request)
    assert found["lati2016.post_fax.complex.notify_deadline"] is DeadlineState.MET
    assert found["lati2016.post_fax.complex.provide"] is DeadlineState.RUNNING


def test_waiting_on_the_requester_pauses_the_clock(
    staffed: rf.ReleaseFlow, clock: Clock
) -> None:
    """Two working days spent waiting for a clarification push the due date by two."""
    request = citizen_request(staffed)
    rule = "lati2016.electronic.simple.provide"
    request = staffed.fire(request.id, "register", actor="focal.ho")
    request = staffed.fire(request.id, "assess", actor="focal.ho", complexity="simple")
    request = staffed.fire(
        request.id, "request_clarification", actor="focal.ho", question="?"
    )
    assert states(staffed, request)[rule] is DeadlineState.PAUSED
    clock.advance(days=2)  # Wednesday 4 March, 09:00
    request = staffed.fire(request.id, "clarification_received", actor="focal.ho")
    assert states(staffed, request)[rule] is DeadlineState.RUNNING
    assert due(staffed, request, rule) == local_midnight(9)  # Thu 5 + 2 WD -> Mon 9


def test_extension_needs_a_reason_and_moves_the_deadline(
    staffed: rf.ReleaseFlow,
) -> None:
    """A form-04 extension is audited with its reason; without one nothing changes."""
    request = citizen_request(staffed, channel="post")
    for trigger, extra in [
        ("register", {}),
        ("assess", {"complexity": "complex"}),
        ("notify_deadline", {"deadline": "2026-03-20"}),
    ]:
        request = staffed.fire(request.id, trigger, actor="focal.ho", **extra)
    before = snapshot(staffed, request)
    with pytest.raises(rf.exceptions.MissingPayloadError):
        staffed.fire(request.id, "extend", actor="focal.ho", extension=5)
    with pytest.raises(rf.exceptions.ValidationError):
        staffed.fire(
            request.id, "extend", actor="focal.ho", extension=16, reason="too long"
        )
    assert snapshot(staffed, request) == before
    request = staffed.fire(
        request.id,
        "extend",
        actor="focal.ho",
        extension=5,
        reason="Cần tổng hợp số liệu",
    )
    moved = due(staffed, request, "lati2016.post_fax.complex.provide")
    # 5 calendar days after Mon 23 March is Sat 28: Art. 148 moves it to Mon 30
    assert moved == local_midnight(30)
    entry = staffed.audit.history(request.id)[-1]
    assert entry.payload["reason"] == "Cần tổng hợp số liệu"
    assert entry.payload["deadlines"]


def test_unknown_complexity_is_refused_and_changes_nothing(
    staffed: rf.ReleaseFlow,
) -> None:
    """``complexity`` must be simple or complex."""
    request = staffed.fire(citizen_request(staffed).id, "register", actor="focal.ho")
    before = snapshot(staffed, request)
    with pytest.raises(rf.exceptions.ValidationError) as info:
        staffed.fire(request.id, "assess", actor="focal.ho", complexity="medium")
    assert info.value.field == "complexity"
    assert snapshot(staffed, request) == before


def test_release_meets_and_late_release_misses(
    staffed: rf.ReleaseFlow, clock: Clock
) -> None:
    """A press answer released after its due time is recorded as missed."""
    from tests.conftest import new_inquiry, to_approved

    on_time = to_approved(staffed, new_inquiry(staffed))
    late = to_approved(staffed, new_inquiry(staffed))
    staffed.fire(on_time.id, "release", actor="spoke.tran", form="written_answer")
    clock.advance(days=5)
    assert {r.id for r in staffed.find(overdue=True)} == {late.id}
    staffed.fire(late.id, "release", actor="spoke.tran", form="written_answer")
    assert states(staffed, on_time) == {
        "agency.press_inquiry.answer": DeadlineState.MET
    }
    assert states(staffed, late) == {
        "agency.press_inquiry.answer": DeadlineState.MISSED
    }
    assert staffed.find(overdue=True) == []


def test_sweep_sends_each_notice_once(staffed: rf.ReleaseFlow, clock: Clock) -> None:
    """Due-soon then missed are each signalled exactly once, however often it runs."""
    from releaseflow.testing import capture_signals
    from tests.conftest import new_inquiry

    request = new_inquiry(staffed)
    with capture_signals() as seen:
        assert staffed.sweep_deadlines().notices == []
        clock.advance(days=1, hours=20)  # Wed 05:00 local: due Thu 00:00, 19 h left
        first = staffed.sweep_deadlines()
        again = staffed.sweep_deadlines()
        clock.advance(days=2)
        missed = staffed.sweep_deadlines()
        staffed.sweep_deadlines()
    assert [n.kind for n in first.notices] == ["due_soon"]
    assert again.notices == []
    assert [n.kind for n in missed.notices] == ["missed"]
    names = [name for name in seen.names() if name.startswith("deadline")]
    assert names == ["deadline-due-soon", "deadline-missed"]
    assert all(n.request_id == request.id for n in first.notices + missed.notices)


def test_calendar_override_recomputes_and_audits(staffed: rf.ReleaseFlow) -> None:
    """A new day off moves open deadlines; each move and the change are audited."""
    from tests.conftest import new_inquiry

    request = new_inquiry(staffed)
    change = staffed.add_calendar_override(
        day=date(2026, 3, 3),
        kind="extra_day_off",
        name="Nghỉ bù",
        legal_source="Công văn số 1/VPCP (test)",
        actor="admin",
    )
    assert change.recomputed == (request.id,)
    assert due(staffed, request, "agency.press_inquiry.answer") == local_midnight(5)
    last = staffed.audit.history(request.id)[-1]
    assert last.event is rf.AuditEvent.DEADLINES_RECOMPUTED
    assert staffed.audit.verify().ok
    reopened = rf.ReleaseFlow(staffed.store, clock=staffed._clock)
    assert reopened.calendar.version == staffed.calendar.version
    assert not reopened.calendar.is_working_day(date(2026, 3, 3))


def test_calendar_override_is_guarded(staffed: rf.ReleaseFlow) -> None:
    """Only administrators change the calendar, and every entry names its source."""
    from tests.conftest import new_inquiry

    request = new_inquiry(staffed)
    before = snapshot(staffed, request), staffed.calendar.version
    with pytest.raises(rf.exceptions.NotPermittedError):
        staffed.add_calendar_override(
            day=date(2026, 3, 3),
            kind="extra_day_off",
            name="x",
            legal_source="CV 1",
            actor="head.pham",
        )
    with pytest.raises(rf.exceptions.CalendarError):
        staffed.add_calendar_override(
            day=date(2026, 3, 3),
            kind="extra_day_off",
            name="x",
            legal_source=" ",
            actor="admin",
        )
    with pytest.raises(rf.exceptions.ValidationError):
        staffed.add_calendar_override(
            day=date(2026, 3, 3),
            kind="holiday-ish",
            name="x",
            legal_source="CV 1",
            actor="admin",
        )
    assert (snapshot(staffed, request), staffed.calendar.version) == before
