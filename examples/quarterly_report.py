"""Seed a SQLite database with a quarter, then write its report in every format.

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
        flow = rf.ReleaseFlow.open(f"sqlite:///{tmp}/agency.db", clock=lambda: NOW)
        try:
            seed(flow, date(2026, 9, 15))
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
