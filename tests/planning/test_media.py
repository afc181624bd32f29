"""The media network: press contacts and commissioned tasks (issue 6, item 5)."""

from __future__ import annotations

from datetime import date

import pytest

import releaseflow as rf
from releaseflow.chain import ledger_for
from releaseflow.exceptions import (
    ConflictError,
    InvalidTransitionError,
    NotFoundError,
    NotPermittedError,
    ValidationError,
)
from releaseflow.planning import (
    MEDIA_STREAM,
    CommsPlan,
    ContactKind,
    PressContact,
    TaskState,
)
from tests.planning.test_plans import OFFICER, _approved, _count


def _agency(flow: rf.ReleaseFlow, actor: str = "admin") -> PressContact:
    return flow.media.add_contact(
        unit="agency",
        kind="press_agency",
        name="Báo Đà Nẵng",
        organisation="Báo Đà Nẵng",
        email="toasoan@baodanang.vn",
        phone="+84 236 3821 000",
        actor=actor,
    )


def test_contacts_are_stored_versioned_and_audited(staffed: rf.ReleaseFlow) -> None:
    flow = staffed
    before = _count(flow)
    agency = _agency(flow)
    journalist = flow.media.add_contact(
        unit="agency",
        kind=ContactKind.JOURNALIST,
        name="Hoàng Thị E",
        organisation="Báo Đà Nẵng",
        press_card="PC-123456",
        actor=OFFICER,
    )
    updated = flow.media.update_contact(
        journalist.id, actor="admin", expected_version=1, phone="0905 000 111"
    )
    assert (updated.version, updated.phone) == (2, "0905 000 111")
    retired = flow.media.update_contact(agency.id, actor=OFFICER, active=False)
    assert not retired.active
    assert retired.version == 2
    assert flow.media.contacts(unit="agency") == [retired, updated]
    assert flow.media.contact(journalist.id) == updated
    entries = [
        e for e in flow.audit.entries() if e.event is rf.AuditEvent.MEDIA_CHANGED
    ]
    assert len(entries) == _count(flow) - before == 4
    ledger = ledger_for(MEDIA_STREAM, flow.store.ledger_count)
    assert {e.ledger for e in entries} == {ledger}
    assert {e.payload["contact"]["press_card"] for e in entries} >= {"PC-123456"}
    assert flow.audit.verify().ok


@pytest.mark.parametrize(
    "bad",
    [
        {"kind": "blogger"},
        {"email": "not-an-email"},
        {"phone": "call me"},
        {"name": ""},
        {"unit": "Bad Unit"},
    ],
)
def test_bad_contacts_change_nothing(
    staffed: rf.ReleaseFlow, bad: dict[str, str]
) -> None:
    flow = staffed
    count = _count(flow)
    fields = {"unit": "agency", "kind": "journalist", "name": "A", "actor": OFFICER}
    fields.update(bad)
    with pytest.raises(ValidationError):
        flow.media.add_contact(**fields)  # type: ignore[arg-type]
    assert flow.media.contacts() == []
    assert _count(flow) == count


def test_contact_permissions_and_conflicts(staffed: rf.ReleaseFlow) -> None:
    flow = staffed
    with pytest.raises(NotPermittedError):
        _agency(flow, actor="review.le")
    agency = _agency(flow)
    count = _count(flow)
    with pytest.raises(NotPermittedError):
        flow.media.update_contact(agency.id, actor="spoke.tran", name="X")
    with pytest.raises(ConflictError):
        flow.media.update_contact(
            agency.id, actor="admin", expected_version=7, name="X"
        )
    with pytest.raises(ValidationError):
        flow.media.update_contact(agency.id, actor="admin", version=9)
    with pytest.raises(ValidationError):
        flow.media.update_contact(agency.id, actor="admin", email="nope")
    assert flow.media.contact(agency.id) == agency
    assert _count(flow) == count


def test_commission_and_outcome(staffed: rf.ReleaseFlow) -> None:
    flow = staffed
    plan = _approved(flow)
    item = plan.items[0]
    agency = _agency(flow)
    before = _count(flow)
    task = flow.media.commission(
        plan_item_id=item.id,
        contact_id=agency.id,
        description="Loạt bài về dự thảo Luật Phòng bệnh",
        budget_vnd=15_000_000,
        actor=OFFICER,
    )
    assert (task.state, task.version, task.plan_id) == (TaskState.ORDERED, 1, plan.id)
    done = flow.media.record_outcome(task.id, outcome="Đã đăng 3 bài", actor="comms.vo")
    assert (done.state, done.version, done.outcome) == (
        TaskState.DELIVERED,
        2,
        "Đã đăng 3 bài",
    )
    assert flow.media.tasks(plan_id=plan.id) == [done]
    assert flow.media.task(task.id) == done
    assert _count(flow) - before == 2
    with pytest.raises(InvalidTransitionError):
        flow.media.record_outcome(task.id, outcome="lại", actor=OFFICER)
    assert flow.audit.verify().ok


def test_bad_commissions_change_nothing(staffed: rf.ReleaseFlow) -> None:
    flow = staffed
    plan = _approved(flow)
    item = plan.items[0]
    agency = _agency(flow)
    journalist = flow.media.add_contact(
        unit="agency", kind="journalist", name="B", actor=OFFICER
    )
    draft = _draft_other(flow)
    count = _count(flow)
    base = {
        "plan_item_id": item.id,
        "contact_id": agency.id,
        "description": "Đặt hàng",
        "budget_vnd": 1_000,
        "actor": OFFICER,
    }
    cases = [
        ({"budget_vnd": -5}, ValidationError),
        ({"budget_vnd": item.budget_vnd + 1}, ValidationError),
        ({"contact_id": journalist.id}, ValidationError),
        ({"plan_item_id": draft.items[0].id}, InvalidTransitionError),
        ({"actor": "head.pham"}, NotPermittedError),
        ({"plan_item_id": "00000000-0000-4000-8000-000000000000"}, NotFoundError),
    ]
    for change, error in cases:
        with pytest.raises(error):
            flow.media.commission(**{**base, **change})  # type: ignore[arg-type]
    task = flow.media.commission(**base)  # type: ignore[arg-type]
    count += 1
    with pytest.raises(ValidationError):
        flow.media.record_outcome(task.id, outcome="x", state="ordered", actor=OFFICER)
    with pytest.raises(ValidationError):
        flow.media.record_outcome(task.id, outcome="  ", actor=OFFICER)
    with pytest.raises(NotPermittedError):
        flow.media.record_outcome(task.id, outcome="x", actor="admin")
    assert flow.media.tasks() == [task]
    assert _count(flow) == count
    assert flow.audit.verify().ok


def _draft_other(flow: rf.ReleaseFlow) -> CommsPlan:
    plan = flow.plans.create(unit="agency/ttyt", year=2026, title="KH", actor=OFFICER)
    return flow.plans.add_item(
        plan.id,
        actor=OFFICER,
        topic="Chủ đề",
        stage="issuing",
        channel="portal_posting",
        responsible_unit="agency/ttyt",
        planned_date=date(2026, 5, 1),
        budget_vnd=1,
    )


def test_cancelled_task_frees_budget(staffed: rf.ReleaseFlow) -> None:
    flow = staffed
    item = _approved(flow).items[0]
    agency = _agency(flow)
    args = {
        "plan_item_id": item.id,
        "contact_id": agency.id,
        "description": "Toàn bộ",
        "budget_vnd": item.budget_vnd,
        "actor": OFFICER,
    }
    task = flow.media.commission(**args)  # type: ignore[arg-type]
    flow.media.record_outcome(task.id, outcome="Huỷ", state="cancelled", actor=OFFICER)
    assert flow.media.commission(**args).state is TaskState.ORDERED  # type: ignore[arg-type]
    assert flow.audit.verify().ok
