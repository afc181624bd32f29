"""DOCX: the report as a Vietnamese administrative document (python-docx).

Layout after Decree 30/2020/NĐ-CP: A4, margins 2 cm top and bottom, 3 cm left,
2 cm right; Times New Roman 13 pt; the agency name on the left and the national
name and motto on the right of the header; place and date; the title "BÁO CÁO";
the tables; the PNG charts; the signature block. Vietnamese by default.

python-docx writes text through lxml, which escapes XML markup; characters XML 1.0
cannot hold (control characters) are removed first, so free text cannot inject
markup or break the file.
"""

from __future__ import annotations

import io
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO, Final

from .charts import deadlines_png, outcomes_png
from .labels import labels
from .model import Report
from .period import AGENCY_TZ
from .tables import Cell, Table, tables

__all__ = ["FONT", "MAX_ROWS", "clean_docx_text", "write_docx"]

FONT: Final = "Times New Roman"
#: Rows kept in a table that grows with the data (the rest is counted).
MAX_ROWS: Final = 50
SIZE_PT: Final = 13


def clean_docx_text(value: Cell) -> str:
    """A cell as text XML can hold: NFC, control characters dropped."""
    if value is None:
        return "\u2013"
    if isinstance(value, float):
        return f"{value:g}"
    text = unicodedata.normalize("NFC", str(value))
    return "".join(
        " " if ch in "\t\r\n" else ch
        for ch in text
        if ch in "\t\r\n" or unicodedata.category(ch) != "Cc"
    )


def _setup(doc: Any) -> None:
    from docx.enum.section import WD_ORIENT
    from docx.oxml.ns import qn
    from docx.shared import Cm, Pt

    section = doc.sections[0]
    section.orientation = WD_ORIENT.PORTRAIT
    section.page_width, section.page_height = Cm(21), Cm(29.7)
    section.top_margin = section.bottom_margin = Cm(2)
    section.left_margin, section.right_margin = Cm(3), Cm(2)
    style = doc.styles["Normal"]
    style.font.name = FONT
    style.font.size = Pt(SIZE_PT)
    style.element.rPr.rFonts.set(qn("w:eastAsia"), FONT)


def _para(
    doc: Any,
    text: str,
    *,
    bold: bool = False,
    align: str = "left",
    italic: bool = False,
    size: int | None = None,
    underline: bool = False,
) -> Any:
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Pt

    p = doc.add_paragraph()
    p.alignment = getattr(WD_ALIGN_PARAGRAPH, align.upper())
    run = p.add_run(clean_docx_text(text))
    run.bold, run.italic, run.underline = bold, italic, underline
    run.font.name = FONT
    if size:
        run.font.size = Pt(size)
    return p


def _header(doc: Any, report: Report, _: Callable[[str], str], agency: str) -> None:
    grid = doc.add_table(rows=1, cols=2)
    left, right = grid.rows[0].cells
    for cell, lines in (
        (left, [(agency.upper(), True, False)]),
        (right, [(_("national_name"), True, False), (_("national_motto"), True, True)]),
    ):
        cell.paragraphs[0].text = ""
        for i, (text, bold, underline) in enumerate(lines):
            p = cell.paragraphs[0] if i == 0 else cell.add_paragraph()
            from docx.enum.text import WD_ALIGN_PARAGRAPH

            p.alignment = WD_ALIGN_PARAGRAPH.CENTER
            run = p.add_run(clean_docx_text(text))
            run.bold, run.underline = bold, underline
    day = report.meta.generated_at.astimezone(AGENCY_TZ)
    place = _("place_date").format(
        day=f"{day.day:02d}", month=f"{day.month:02d}", year=day.year, date=day.date()
    )
    _para(doc, place, italic=True, align="right")


def _table(doc: Any, t: Table) -> None:
    _para(doc, t.title, bold=True)
    if not t.rows:
        return
    grid = doc.add_table(rows=1, cols=len(t.headers))
    grid.style = "Table Grid"
    for cell, text in zip(grid.rows[0].cells, t.headers, strict=True):
        cell.text = clean_docx_text(text)
        for run in cell.paragraphs[0].runs:
            run.bold = True
    for row in t.rows:
        cells = grid.add_row().cells
        for cell, value in zip(cells, row, strict=True):
            cell.text = clean_docx_text(value)


def write_docx(
    report: Report,
    target: str | Path | BinaryIO,
    *,
    lang: str = "vi",
    agency: str | None = None,
    charts: bool = True,
    max_rows: int = MAX_ROWS,
) -> None:
    """Write the report as a DOCX administrative document to ``target``.

    python-docx builds the whole document in memory, so what goes in is bounded:
    the tables hold counts (no drill-down ids), and the tables that grow with the
    data (incidents, press agencies, journalists) keep ``max_rows`` rows plus a
    row counting the rest; the full lists are in the JSON, CSV and XLSX forms.

    Args:
        report: the report.
        target: a path or a binary file.
        lang: ``vi`` (default) or ``en``.
        agency: the agency name for the header (default: the report's unit).
        charts: embed the PNG charts.
        max_rows: rows kept in each unbounded table.
    """
    from docx import Document
    from docx.shared import Cm

    _ = labels(lang)
    doc = Document()
    _setup(doc)
    m = report.meta
    _header(doc, report, _, agency or m.unit or _("All units"))
    title = _("report_title")
    words = title.split()
    lead = next((i for i, w in enumerate(words) if not w.isupper()), len(words))
    head, rest = " ".join(words[:lead]), " ".join(words[lead:])
    _para(doc, head, bold=True, align="center", size=14)
    _para(doc, rest, bold=True, align="center")
    _para(doc, _("recipient"), align="center")
    _para(doc, f"{_('Period')}: {m.period} ({m.first_day} \u2013 {m.last_day})")
    _para(doc, f"{_('Unit')}: {m.unit or _('All units')}")
    _para(doc, f"{_('Cut-off')}: {m.cutoff.astimezone(AGENCY_TZ):%Y-%m-%d %H:%M}")
    _para(doc, f"{_('Audit anchor')}: {m.anchor_digest}", size=9)
    for t in tables(report, _, limit=max_rows):
        _table(doc, t)
    if charts:
        _para(doc, _("Charts"), bold=True)
        for png in (outcomes_png(report, _), deadlines_png(report, _)):
            doc.add_picture(io.BytesIO(png), width=Cm(15))
    _para(doc, _("signature"), bold=True, align="right")
    doc.save(str(target) if isinstance(target, Path) else target)
