"""Every format opens, holds the expected text with diacritics, and escapes free text."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from pathlib import Path

import docx
import openpyxl
import pytest

import releaseflow as rf
from releaseflow import reports
from releaseflow.reports.charts import deadlines_png, outcomes_png
from releaseflow.reports.labels import labels
from releaseflow.reports.render_docx import write_docx
from releaseflow.reports.render_xlsx import write_xlsx
from tests.conftest import Clock
from tests.reports.conftest import NOW

EVIL_ORG = '=HYPERLINK("http://x.example","Báo")'
EVIL_NAME = "[bấm](javascript:alert(1)) <script>x</script> | *đậm*"
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(name="evil")
def _evil(seeded: rf.ReleaseFlow, clock: Clock) -> reports.Report:
    """The Q3 report after a journalist's request with hostile names.

    Registered on the day it arrives (20 September): a report counts only the
    requests registered before its cut-off (the end of Q3).
    """
    clock.now = datetime(2026, 9, 20, 2, 0, tzinfo=UTC)
    seeded.create(
        rf.RequestKind.PRESS_INQUIRY,
        title="@SUM(A1:A9)\nTiêu đề",
        body="Nội dung",
        actor="coord.bui",
        unit="danang/soyte",
        channel="phone",
        received_at=datetime(2026, 9, 20, 2, 0, tzinfo=UTC),
        requester={"type": "journalist", "name": EVIL_NAME, "organisation": EVIL_ORG},
    )
    clock.now = NOW
    return reports.build(seeded, "2026-Q3")


def test_csv_has_bom_and_neutralises_formulas(evil: reports.Report) -> None:
    """CSV starts with a BOM; a formula-like organisation is stored as text."""
    text = reports.to_csv(evil)
    assert text.startswith("\ufeffsection,key,metric,value,request_ids")
    rows = list(csv.reader(io.StringIO(text[1:])))
    keys = [r[1] for r in rows if r[0] == "press_agencies"]
    assert "'" + EVIL_ORG in keys
    assert not any(cell.startswith(("=", "+", "@")) for r in rows for cell in r)
    assert "Báo Đà Nẵng" in keys


def test_markdown_escapes_markup(evil: reports.Report) -> None:
    """Links, HTML and table pipes in names are inert in Markdown."""
    md = reports.to_markdown(evil, lang="vi")
    assert "<script>" not in md
    assert "](javascript" not in md
    assert "\\[bấm\\]\\(javascript:alert\\(1\\)\\) &lt;script" in md
    assert "\\| \\*đậm\\*" in md
    assert "# BÁO CÁO Công tác phát ngôn" in md
    assert "Trả lời phỏng vấn, câu hỏi của báo chí" in md


def test_markdown_in_english(seeded: rf.ReleaseFlow) -> None:
    """The English catalogue labels the same tables."""
    md = reports.to_markdown(reports.build(seeded, "2026-Q3"), lang="en")
    assert "## By request kind" in md
    assert "| Press inquiries | 3 |" in md


def test_xlsx_opens_with_cells_charts_and_no_formulas(
    evil: reports.Report, tmp_path: Path
) -> None:
    """The workbook holds Vietnamese labels, figures, native charts, text not formulas."""
    report = evil
    path = tmp_path / "r.xlsx"
    write_xlsx(report, path)
    wb = openpyxl.load_workbook(path)
    summary, ids = wb.worksheets
    values = [c for row in summary.iter_rows(values_only=True) for c in row if c]
    assert "Trả lời phỏng vấn, câu hỏi của báo chí" in values
    assert "Hoàng Thị E (PV-0421)" in values
    assert "'" + EVIL_ORG in values
    assert not any(isinstance(v, str) and v.startswith("=") for v in values)
    row = next(r for r in summary.iter_rows(values_only=True) if r[0] == "Tất cả")
    assert row[1] == report.totals.received.value
    assert len(summary._charts) == 2
    flat = list(ids.iter_rows(values_only=True))
    assert flat[0] == ("section", "key", "metric", "value", "request_ids")
    assert len(flat) == 1 + len(list(report.rows()))  # every list fits one cell


def test_docx_is_an_administrative_document(
    evil: reports.Report, tmp_path: Path
) -> None:
    """A4, Times New Roman 13 pt, national header, title, figures, charts."""
    report = evil
    path = tmp_path / "r.docx"
    write_docx(report, path, agency="Sở Y tế thành phố Đà Nẵng")
    d = docx.Document(str(path))
    section = d.sections[0]
    assert round(section.page_width.cm, 1) == 21.0
    assert round(section.page_height.cm, 1) == 29.7
    assert d.styles["Normal"].font.name == "Times New Roman"
    assert d.styles["Normal"].font.size.pt == 13
    header = d.tables[0].rows[0].cells
    assert "SỞ Y TẾ THÀNH PHỐ ĐÀ NẴNG" in header[0].text
    assert "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" in header[1].text
    assert "Độc lập - Tự do - Hạnh phúc" in header[1].text
    texts = [p.text for p in d.paragraphs]
    assert "BÁO CÁO" in texts
    cells = {c.text for t in d.tables[1:] for r in t.rows for c in r.cells}
    assert EVIL_NAME in cells  # stored as text, escaped by the XML writer
    assert "Trả lời phỏng vấn, câu hỏi của báo chí" in cells
    assert len(d.inline_shapes) == 2


def test_charts_render_png(seeded: rf.ReleaseFlow) -> None:
    """Both charts are non-empty PNG images."""
    report = reports.build(seeded, "2026-Q3")
    for draw in (outcomes_png, deadlines_png):
        png = draw(report, labels("vi"))
        assert png.startswith(PNG)
        assert len(png) > 5000


def test_docx_bounds_tables_that_grow_with_the_data(
    evil: reports.Report, tmp_path: Path
) -> None:
    """Unbounded tables keep ``max_rows`` rows plus one counting the rest."""
    report = evil
    assert len(report.journalists) > 1
    path = tmp_path / "r.docx"
    write_docx(report, path, charts=False, max_rows=1, lang="en")
    texts = [
        [c.text for c in r.cells]
        for t in docx.Document(str(path)).tables
        for r in t.rows
    ]
    more = [t for t in texts if t[0].startswith("… and ")]
    assert f"… and {len(report.journalists) - 1} more rows" in more[-1][0]
    names = [t[0] for t in texts]
    kept, dropped, *_ = report.journalists
    assert kept in names
    assert dropped not in names


def test_xlsx_splits_long_id_lists_over_rows(
    seeded: rf.ReleaseFlow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No cell holds more than IDS_PER_CELL ids; every id is still there, in order."""
    from releaseflow.reports import render_xlsx

    monkeypatch.setattr(render_xlsx, "IDS_PER_CELL", 3)
    report = reports.build(seeded, "2026-Q3")
    path = tmp_path / "r.xlsx"
    write_xlsx(report, path)
    rows = list(openpyxl.load_workbook(path).worksheets[1].iter_rows(values_only=True))
    ids: list[str] = []
    for row in rows[1:]:
        if row[0] == "totals" and row[2] == "received":
            ids = (row[4] or "").split()
        elif row[0] is None and ids and len(ids) % 3 == 0 and not row[3]:
            ids += (row[4] or "").split()
        elif ids:
            break
    assert len(report.totals.received.ids) > 3
    assert tuple(ids) == report.totals.received.ids
    assert all(len((r[4] or "").split()) <= 3 for r in rows[1:])
