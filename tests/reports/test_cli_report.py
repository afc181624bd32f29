"""``releaseflow report`` writes every format from a seeded SQLite database."""

from __future__ import annotations

import json
from pathlib import Path

import docx
import openpyxl
import pytest

from releaseflow.cli import EXIT_INPUT
from tests.cli.conftest import _db, run

__all__ = ["_db"]


@pytest.mark.parametrize("fmt", ["json", "csv", "md", "xlsx", "docx"])
def test_report_formats_to_file(db: str, tmp_path: Path, fmt: str) -> None:
    """Each format is written to -o and opens."""
    out = tmp_path / f"r.{fmt}"
    code, _, err = run(
        "--db", db, "report", "--period", "2026-Q1", "--unit", "danang/soyte",
        "--format", fmt, "-o", str(out),
    )  # fmt: skip
    assert code == 0, err
    assert "report 2026-Q1" in err
    if fmt == "json":
        assert json.loads(out.read_text("utf-8"))["meta"]["unit"] == "danang/soyte"
    elif fmt == "csv":
        assert out.read_text("utf-8").startswith("\ufeffsection,")
    elif fmt == "md":
        assert "BÁO CÁO" in out.read_text("utf-8")
    elif fmt == "xlsx":
        assert openpyxl.load_workbook(out).sheetnames[0] == "Tổng hợp"
    else:
        assert "CỘNG HÒA" in docx.Document(str(out)).tables[0].rows[0].cells[1].text


def test_report_json_to_stdout_and_bad_input(db: str) -> None:
    """JSON goes to stdout; bad periods and units exit with code 3."""
    code, out, _ = run("--db", db, "report", "--period", "2026-01..2026-03-31")
    assert code != 0
    code, out, _ = run("--db", db, "report", "--period", "2026-01-01..2026-03-31")
    assert code == 0
    assert json.loads(out)["meta"]["period"] == "2026-01-01..2026-03-31"
    code, _, err = run("--db", db, "report", "--period", "2026-Q3", "--unit", "x/y")
    assert code == EXIT_INPUT
    assert "unit" in err
    code, _, _ = run("--db", db, "report", "--period", "2026-Q1", "--format", "xlsx")
    assert code == 2


def test_report_no_ids_writes_counts_only(db: str) -> None:
    """--no-ids: the same numbers, ids null, meta.ids false."""
    code, full, _ = run("--db", db, "report", "--period", "2026-Q1")
    assert code == 0
    code, counted, _ = run("--db", db, "report", "--period", "2026-Q1", "--no-ids")
    assert code == 0
    a, b = json.loads(full), json.loads(counted)
    assert a["meta"]["ids"] is True
    assert b["meta"]["ids"] is False
    assert b["totals"]["received"]["ids"] is None
    assert b["totals"]["received"]["value"] == a["totals"]["received"]["value"]
    assert len(counted) < len(full)
