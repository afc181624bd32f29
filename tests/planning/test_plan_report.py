"""The plan-progress report: figures traceable, against brute force (issue 6)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import docx
import openpyxl

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


def test_plan_progress_is_part_of_the_period_report(
    staffed: rf.ReleaseFlow, tmp_path: Path
) -> None:
    """``build()`` carries each plan's progress; every format shows it (issue 6)."""
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
    day = flow.now().astimezone(reports.AGENCY_TZ).date()

    report = reports.build(flow, "2026")
    assert len(report.plans) == 1
    got = report.plans[0]
    want = reports.plan_progress(flow, plan.id, day)
    assert got.plan_id == want.plan_id == str(plan.id)
    assert got.as_of == day
    assert got.items == want.items
    assert got.done_by == want.done_by
    assert got.unplanned == want.unplanned
    assert got.done_by.ids == (str(done.id),)
    assert got.unplanned.ids == (str(spare.id),)
    assert got.state == "approved"

    assert reports.from_json(reports.to_json(report)).plans == report.plans
    rows = [r for r in report.rows() if r.section == "plans"]
    assert {r.metric for r in rows} == {
        "done",
        "late",
        "not_started",
        "done_by",
        "unplanned",
    }
    csv_text = reports.to_csv(report)
    assert f"plans,agency:2026:{plan.id},unplanned,1,{spare.id}" in csv_text
    assert "## Tiến độ kế hoạch truyền thông" in reports.to_markdown(report)
    assert "| agency 2026 | Approved | " in reports.to_markdown(report, lang="en")

    from releaseflow.reports.render_docx import write_docx
    from releaseflow.reports.render_xlsx import write_xlsx

    write_xlsx(report, tmp_path / "r.xlsx")
    wb = openpyxl.load_workbook(tmp_path / "r.xlsx")
    summary = [r for r in wb.worksheets[0].iter_rows(values_only=True)]
    assert ("agency 2026", "Đã duyệt", 1, *want_counts(want)) in summary
    write_docx(report, tmp_path / "r.docx", charts=False)
    cells = [
        tuple(c.text for c in r.cells)
        for t in docx.Document(str(tmp_path / "r.docx")).tables
        for r in t.rows
    ]
    assert ("agency 2026", "Đã duyệt", "1", "1", "1", "1") in cells


def want_counts(want: reports.PlanReport) -> tuple[int, int, int]:
    """late, not_started, unplanned counts of ``want``."""
    return (
        want.items["late"].value,
        want.items["not_started"].value,
        want.unplanned.value,
    )
