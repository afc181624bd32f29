"""Annual communication plans: lifecycle, separation, bad input, progress (issue 6)."""

from __future__ import annotations

import random
from datetime import date
from typing import Any

import pytest

import releaseflow as rf
from releaseflow.chain import ledger_for
from releaseflow.exceptions import (
    ConflictError,
    InvalidTransitionError,
    NotFoundError,
    NotPermittedError,
    SeparationOfDutiesError,
    ValidationError,
)
from releaseflow.planning import (
    PLANNING_STREAM,
    CommsPlan,
    ItemStatus,
    PlanStage,
    PlanState,
)
from tests.conftest import Clock, new_inquiry, to_approved

OFFICER = "comms.nguyen"


def _item(**overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "topic": "Luật Phòng bệnh (dự thảo)",
        "policy_ref": "Dự thảo Luật Phòng bệnh",
        "stage": "drafting",
        "channel": "press_conference",
        "responsible_unit": "agency/ttyt",
        "planned_date": date(2026, 6, 1),
        "budget_vnd": 20_000_000,
    }
    fields.update(overrides)
    return fields


def _draft(flow: rf.ReleaseFlow, items: int = 1) -> CommsPlan:
    plan = flow.plans.create(
        unit="agency", year=2026, title="Kế hoạch truyền thông 2026", actor=OFFICER
    )
    for n in range(items):
        plan = flow.plans.add_item(plan.id, actor=OFFICER, **_item(topic=f"Chủ đề {n}"))
    return plan


def _approved(flow: rf.ReleaseFlow, items: int = 1) -> CommsPlan:
    plan = flow.plans.submit(_draft(flow, items).id, actor=OFFICER)
    return flow.plans.approve(plan.id, actor="head.pham")


def _count(flow: rf.ReleaseFlow) -> int:
    return sum(1 for _ in flow.audit.entries())


def _release(flow: rf.ReleaseFlow) -> rf.Request:
    request = to_approved(flow, new_inquiry(flow))
    return flow.fire(request.id, "release", actor="spoke.tran", form="written_answer")


def test_lifecycle_is_stored_versioned_and_audited(staffed: rf.ReleaseFlow) -> None:
    flow = staffed
    before = _count(flow)
    plan = _draft(flow, items=2)
    assert plan.version == 3
    assert plan.state is PlanState.DRAFT
    item = plan.items[0]
    assert item.stage is PlanStage.DRAFTING
    plan = flow.plans.edit_item(plan.id, item.id, actor="comms.vo", budget_vnd=5)
    assert plan.item(item.id).budget_vnd == 5
    plan = flow.plans.submit(plan.id, actor=OFFICER, expected_version=plan.version)
    assert plan.state is PlanState.SUBMITTED
    assert plan.submitted_by == OFFICER
    plan = flow.plans.approve(plan.id, actor="head.pham")
    assert plan.state is PlanState.APPROVED
    assert (plan.approved_by, plan.version) == ("head.pham", 6)
    assert flow.plans.get(plan.id) == plan
    assert flow.plans.find(unit="agency", year=2026) == [plan]
    assert flow.plans.find(year=2025) == []

    entries = [e for e in flow.audit.entries() if e.event is rf.AuditEvent.PLAN_CHANGED]
    assert len(entries) == _count(flow) - before == 6
    assert [e.trigger for e in sorted(entries, key=lambda e: e.seq)] == [
        "create_plan",
        "add_item",
        "add_item",
        "edit_item",
        "submit_plan",
        "approve_plan",
    ]
    assert {e.payload["plan_id"] for e in entries} == {str(plan.id)}
    assert sorted(e.payload["plan_version"] for e in entries) == [1, 2, 3, 4, 5, 6]
    ledger = ledger_for(PLANNING_STREAM, flow.store.ledger_count)
    assert {e.ledger for e in entries} == {ledger}
    assert flow.audit.verify().ok


def test_rejected_plan_goes_back_to_draft(staffed: rf.ReleaseFlow) -> None:
    plan = flow_plan = flow = staffed
    plan = flow.plans.submit(_draft(flow_plan).id, actor=OFFICER)
    plan = flow.plans.reject(plan.id, actor="head.pham", reason="Thiếu ngân sách")
    assert plan.state is PlanState.DRAFT
    assert plan.submitted_by is None
    plan = flow.plans.add_item(plan.id, actor=OFFICER, **_item())
    assert len(plan.items) == 2
    assert flow.audit.verify().ok


@pytest.mark.parametrize(
    ("actor", "action", "error"),
    [
        ("comms.nguyen", "approve", SeparationOfDutiesError),  # submitter (no head)
        ("review.le", "approve", NotPermittedError),
        ("spoke.tran", "approve", NotPermittedError),
        ("comms.vo", "approve", NotPermittedError),
        ("head.pham", "add_item", NotPermittedError),
        ("admin", "add_item", NotPermittedError),
        ("stranger", "submit", NotPermittedError),
    ],
)
def test_deny_by_default(
    staffed: rf.ReleaseFlow, actor: str, action: str, error: type[Exception]
) -> None:
    flow = staffed
    plan = _draft(flow)
    if action == "approve":
        plan = flow.plans.submit(plan.id, actor=OFFICER)
        if error is SeparationOfDutiesError:
            flow.directory.grant(OFFICER, "head", unit="agency", by="admin")
    count = _count(flow)
    calls = {
        "approve": lambda: flow.plans.approve(plan.id, actor=actor),
        "add_item": lambda: flow.plans.add_item(plan.id, actor=actor, **_item()),
        "submit": lambda: flow.plans.submit(plan.id, actor=actor),
    }
    with pytest.raises(error):
        calls[action]()
    assert flow.plans.get(plan.id) == plan
    assert _count(flow) == count
    assert flow.audit.verify().ok


def test_submitter_who_is_also_head_cannot_approve(staffed: rf.ReleaseFlow) -> None:
    flow = staffed
    flow.directory.grant("head.pham", "comms_officer", unit="agency", by="admin")
    plan = _draft(flow)
    plan = flow.plans.submit(plan.id, actor="head.pham")
    with pytest.raises(SeparationOfDutiesError):
        flow.plans.approve(plan.id, actor="head.pham")
    flow.directory.grant("deputy.ngo", "head", unit="agency", by="admin")
    assert flow.plans.approve(plan.id, actor="deputy.ngo").state is PlanState.APPROVED


BAD_ITEMS: list[tuple[dict[str, Any], str]] = [
    ({"budget_vnd": -1}, "item.budget_vnd"),
    ({"budget_vnd": 1.5}, "item.budget_vnd"),
    ({"budget_vnd": True}, "item.budget_vnd"),
    ({"stage": None}, "item.stage"),
    ({"stage": "someday"}, "item.stage"),
    ({"channel": "carrier_pigeon"}, "item.channel"),
    ({"responsible_unit": "Not A Unit!"}, "item.responsible_unit"),
    ({"planned_date": date(2027, 1, 1)}, "item.planned_date"),
    ({"topic": "bad\x00topic"}, "item.topic"),
]


@pytest.mark.parametrize(("bad", "field"), BAD_ITEMS)
def test_bad_items_change_nothing(
    staffed: rf.ReleaseFlow, bad: dict[str, Any], field: str
) -> None:
    flow = staffed
    plan = _draft(flow)
    count = _count(flow)
    with pytest.raises(ValidationError) as caught:
        flow.plans.add_item(plan.id, actor=OFFICER, **_item(**bad))
    assert caught.value.field == field
    with pytest.raises(ValidationError):
        flow.plans.edit_item(plan.id, plan.items[0].id, actor=OFFICER, **bad)
    assert flow.plans.get(plan.id) == plan
    assert _count(flow) == count
    assert flow.audit.verify().ok


def test_missing_stage_is_a_validation_error(staffed: rf.ReleaseFlow) -> None:
    plan = _draft(staffed)
    fields = _item()
    del fields["stage"]
    with pytest.raises(ValidationError) as caught:
        staffed.plans.add_item(plan.id, actor=OFFICER, **fields)
    assert caught.value.field == "item.stage"
    with pytest.raises(ValidationError):
        staffed.plans.edit_item(plan.id, plan.items[0].id, actor=OFFICER, id="x")


def test_no_edits_after_submission_or_approval(staffed: rf.ReleaseFlow) -> None:
    flow = staffed
    plan = _approved(flow)
    count = _count(flow)
    item = plan.items[0]
    with pytest.raises(InvalidTransitionError):
        flow.plans.add_item(plan.id, actor=OFFICER, **_item())
    with pytest.raises(InvalidTransitionError):
        flow.plans.edit_item(plan.id, item.id, actor=OFFICER, topic="Khác")
    with pytest.raises(InvalidTransitionError):
        flow.plans.remove_item(plan.id, item.id, actor=OFFICER)
    with pytest.raises(InvalidTransitionError):
        flow.plans.submit(plan.id, actor=OFFICER)
    with pytest.raises(InvalidTransitionError):
        flow.plans.approve(plan.id, actor="head.pham")
    assert flow.plans.get(plan.id) == plan
    assert _count(flow) == count


def test_other_bad_input(staffed: rf.ReleaseFlow) -> None:
    flow = staffed
    plan = _draft(flow)
    count = _count(flow)
    with pytest.raises(ConflictError):
        flow.plans.create(unit="agency", year=2026, title="Lần hai", actor=OFFICER)
    with pytest.raises(ValidationError):
        flow.plans.create(unit="agency", year=1999, title="Cũ", actor=OFFICER)
    with pytest.raises(ConflictError):
        flow.plans.add_item(plan.id, actor=OFFICER, expected_version=1, **_item())
    with pytest.raises(NotFoundError):
        flow.plans.get("00000000-0000-4000-8000-000000000000")
    with pytest.raises(ValidationError):
        flow.plans.get("not-a-uuid")
    with pytest.raises(ValidationError):
        flow.plans.submit(
            flow.plans.create(
                unit="agency/ttyt", year=2026, title="T", actor=OFFICER
            ).id,
            actor=OFFICER,
        )
    assert flow.plans.get(plan.id) == plan
    assert _count(flow) == count + 1  # only the second unit's plan was created


def test_link_request_rules(staffed: rf.ReleaseFlow) -> None:
    flow = staffed
    plan = flow.plans.create(unit="agency/ttyt", year=2026, title="KH", actor=OFFICER)
    for topic in ("A", "B"):
        plan = flow.plans.add_item(plan.id, actor=OFFICER, **_item(topic=topic))
    request = new_inquiry(flow)
    linked = flow.plans.link_request(request.id, plan.items[0].id, OFFICER)
    assert linked.items[0].request_ids == (request.id,)
    assert linked.version == plan.version + 1
    other = new_inquiry(flow)
    outside = new_inquiry(flow, unit="agency/pr")
    count = _count(flow)
    with pytest.raises(ValidationError):
        flow.plans.link_request(request.id, plan.items[1].id, OFFICER)
    with pytest.raises(NotPermittedError):
        flow.plans.link_request(other.id, plan.items[1].id, "review.le")
    with pytest.raises(ValidationError):
        flow.plans.link_request(outside.id, plan.items[1].id, OFFICER)
    with pytest.raises(NotFoundError):
        flow.plans.link_request(
            other.id, "00000000-0000-4000-8000-000000000000", OFFICER
        )
    with pytest.raises(rf.exceptions.RequestNotFoundError):
        flow.plans.link_request(
            "00000000-0000-4000-8000-000000000000", plan.items[1].id, OFFICER
        )
    assert flow.plans.get(plan.id) == linked
    assert _count(flow) == count
    assert flow.audit.verify().ok


def test_progress_matches_brute_force(staffed: rf.ReleaseFlow, clock: Clock) -> None:
    flow = staffed
    rng = random.Random(6)
    plan = flow.plans.create(unit="agency", year=2026, title="KH", actor=OFFICER)
    dates = [date(2026, 1, 15), date(2026, 3, 1), date(2026, 3, 2), date(2026, 9, 1)]
    for n in range(8):
        plan = flow.plans.add_item(
            plan.id,
            actor=OFFICER,
            **_item(topic=f"T{n}", planned_date=rng.choice(dates)),
        )
    plan = flow.plans.approve(
        flow.plans.submit(plan.id, actor=OFFICER).id, actor="head.pham"
    )
    released = [_release(flow) for _ in range(5)]
    pending = [new_inquiry(flow) for _ in range(2)]
    links = {}
    for request in [*released[:3], *pending]:
        item = rng.choice(plan.items)
        if any(request.id in ids for ids in links.values()):
            continue
        links.setdefault(item.id, []).append(request.id)
        plan = flow.plans.link_request(request.id, item.id, OFFICER)

    as_of = date(2026, 3, 2)
    progress = flow.plans.progress(plan.id, as_of)
    released_ids = {r.id for r in released}
    expected = {}
    for item in plan.items:
        if released_ids & set(links.get(item.id, [])):
            expected[item.id] = ItemStatus.DONE
        elif item.planned_date < as_of:
            expected[item.id] = ItemStatus.LATE
        else:
            expected[item.id] = ItemStatus.NOT_STARTED
    assert {i.item_id: i.status for i in progress.items} == expected
    linked_all = {rid for ids in links.values() for rid in ids}
    assert set(progress.unplanned) == released_ids - linked_all
    assert sum(progress.counts[s.value] for s in ItemStatus) == len(plan.items)
    # before anything was released (the day before), nothing is done
    early = flow.plans.progress(plan.id, date(2026, 3, 1))
    assert early.ids("done") == ()
    assert early.unplanned == ()
    assert flow.audit.verify().ok
