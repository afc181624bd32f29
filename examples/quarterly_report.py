"""Seed a SQLite database with a quarter, then write its report in every format.

Besides the demo quarter (``releaseflow.demo.seed``) the example keeps an annual
communication plan for the health department (an item done by a released request,
one late, one not started yet), a journalist from the press network who sends a
request (``flow.media.add_contact`` / ``flow.media.requester_for``) and a press
agency commissioned for a plan item, so every table of the samples has rows.

Run ``python examples/quarterly_report.py --out docs/samples`` to refresh the samples
in the documentation; without ``--out`` the files go to a temporary folder.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from datetime import UTC, date, datetime
from pathlib import Path

import releaseflow as rf
from releaseflow import reports
from releaseflow.demo import seed
from releaseflow.reports.charts import deadlines_png, outcomes_png
from releaseflow.reports.labels import labels
from releaseflow.reports.render_docx import write_docx
from releaseflow.reports.render_xlsx import write_xlsx

NOW = datetime(2026, 10, 1, 3, 0, tzinfo=UTC)  # 10:00 on 1 October, Vietnam
PLANNING = datetime(2026, 9, 16, 2, 0, tzinfo=UTC)  # 09:00 on 16 September
OFFICER = "comms.nguyen"


def seed_plan(flow: rf.ReleaseFlow) -> None:
    """An approved 2026 plan with items, a press contact's request and a task."""
    unit = "danang/soyte"
    plan = flow.plans.create(
        unit=unit, year=2026, title="Kế hoạch truyền thông năm 2026", actor=OFFICER
    )
    for topic, day, budget in (
        ("Tiêm chủng mở rộng", date(2026, 7, 15), 20_000_000),
        ("Phòng chống sốt xuất huyết", date(2026, 8, 20), 15_000_000),
        ("Dự thảo quy định khám chữa bệnh từ xa", date(2026, 12, 1), 30_000_000),
    ):
        plan = flow.plans.add_item(
            plan.id,
            actor=OFFICER,
            topic=topic,
            stage="drafting",
            channel="press_conference",
            responsible_unit=unit,
            planned_date=day,
            budget_vnd=budget,
        )
    plan = flow.plans.submit(plan.id, actor=OFFICER)
    plan = flow.plans.approve(plan.id, actor="head.pham")
    released = [
        r
        for r in flow.find(unit=unit, limit=100)
        if r.release is not None and r.kind.value == "press_inquiry"
    ]
    flow.plans.link_request(released[0].id, plan.items[0].id, OFFICER)
    journalist = flow.media.add_contact(
        unit=unit,
        kind="journalist",
        name="Trần Thị M",
        organisation="Báo Tuổi Trẻ",
        press_card="PV-1187",
        email="tranthim@tuoitre.vn",
        actor=OFFICER,
    )
    flow.create(
        "press_inquiry",
        title="Số ca sốt xuất huyết tháng 9",
        body="Đề nghị cung cấp số ca mắc sốt xuất huyết trong tháng 9.",
        actor=OFFICER,
        unit=unit,
        channel="electronic",
        requester=flow.media.requester_for(journalist.id),
    )
    agency = flow.media.add_contact(
        unit=unit,
        kind="press_agency",
        name="Báo Đà Nẵng",
        organisation="Báo Đà Nẵng",
        email="toasoan@baodanang.vn",
        actor=OFFICER,
    )
    flow.media.commission(
        plan_item_id=plan.items[0].id,
        contact_id=agency.id,
        description="Chuyên trang tiêm chủng mở rộng",
        budget_vnd=12_000_000,
        actor=OFFICER,
    )


def write_all(report: reports.Report, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = {name: out / f"quarterly_report.{name}" for name in reports_formats()}
    paths["json"].write_text(reports.to_json(report, indent=2) + "\n", "utf-8")
    paths["csv"].write_text(reports.to_csv(report), "utf-8", newline="")
    paths["md"].write_text(reports.to_markdown(report, lang="vi"), "utf-8")
    write_xlsx(report, paths["xlsx"])
    write_docx(report, paths["docx"], agency="Sở Y tế thành phố Đà Nẵng")
    paths["png"].write_bytes(outcomes_png(report, labels("vi")))
    deadlines = out / "quarterly_report_deadlines.png"
    deadlines.write_bytes(deadlines_png(report, labels("vi")))
    return [*paths.values(), deadlines]


def reports_formats() -> tuple[str, ...]:
    return ("json", "csv", "md", "xlsx", "docx", "png")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=None, help="Output folder.")
    args = parser.parse_args(argv or [])
    with tempfile.TemporaryDirectory() as tmp:
        moment = [PLANNING]
        flow = rf.ReleaseFlow.open(
            f"sqlite:///{tmp}/agency.db", clock=lambda: moment[0]
        )
        try:
            seed(flow, date(2026, 9, 15))
            seed_plan(flow)
            moment[0] = NOW
            report = reports.build(flow, "2026-Q3", unit="danang/soyte")
        finally:
            flow.close()
        out = args.out or Path(tmp) / "out"
        written = write_all(report, out)
        print(
            f"2026-Q3 danang/soyte: {report.totals.received.value} requests,"
            f" {report.totals.released.value} released,"
            f" on-time rate {report.deadlines_overall.on_time_rate}"
        )
        for path in written:
            print(f"wrote {path.name} ({path.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
