"""The plan-progress report: figures traceable, against brute force (issue 6)."""

from __future__ import annotations

from datetime import date

import releaseflow as rf
from releaseflow import reports
from releaseflow.chain import anchor_digest
from tests.planning.test_media import _agency
from tests.planning.test_plans import OFFICER, _approved, _item, _release


def test_plan_report_figures(staffed: rf.ReleaseFlow) -> None:
    flow = staffed
    plan = flow.plans.create(unit="agency", year=2026, title="KH", actor=OFFICER)
    for n, day in enumerate([date(2026, 1, 5), date(2026, 2, 1), date(2026, 12, 1)]):
        plan = flow.plans.add_item(
            plan.id, actor=OFFICER, **_item(topic=f"T{n}", planned_date=day)
        )
    plan = flow.plans.submit(plan.id, actor=OFFICER)
    plan = flow.plans.approve(plan.id, actor="head.pham")
    done, spare = _release(flow), _release(flow)
    flow.plans.link_request(done.id, plan.items[0].id, OFFICER)
    agency = _agency(flow)
    tasks = [
        flow.media.commission(
            plan_item_id=plan.items[i].id,
            contact_id=agency.id,
            description=f"Đặt hàng {i}",
            budget_vnd=1_000_000 * (i + 1),
            actor=OFFICER,
        )
        for i in range(3)
    ]
    flow.media.record_outcome(tasks[0].id, outcome="Xong", actor=OFFICER)
    flow.media.record_outcome(
        tasks[1].id, outcome="Huỷ", state="cancelled", actor=OFFICER
    )

    report = reports.plan_progress(flow, plan.id, date(2026, 3, 2))
    assert report.items["done"].ids == (str(plan.items[0].id),)
    assert report.items["late"].ids == (str(plan.items[1].id),)
    assert report.items["not_started"].ids == (str(plan.items[2].id),)
    assert sum(f.value for f in report.items.values()) == len(plan.items)
    assert report.done_by.ids == (str(done.id),)
    assert report.unplanned.ids == (str(spare.id),)
    c = report.commissions
    assert c.tasks.value == 3
    assert sum(f.value for f in c.by_state.values()) == c.tasks.value
    assert c.by_state["delivered"].ids == (str(tasks[0].id),)
    assert c.by_state["cancelled"].ids == (str(tasks[1].id),)
    assert c.budget_vnd == 1_000_000 + 3_000_000
    assert c.delivered_budget_vnd == 1_000_000
    assert report.anchor_digest == anchor_digest(report.heads)
    assert report.anchor_digest == flow.audit.anchor().digest
    assert flow.audit.verify().ok


def test_empty_plan_report(staffed: rf.ReleaseFlow) -> None:
    plan = _approved(staffed)
    report = reports.plan_progress(staffed, str(plan.id), date(2026, 1, 1))
    assert report.commissions.tasks.value == 0
    assert report.items["not_started"].value == 1
