"""XLSX: one sheet of labelled tables with native bar charts, one of drill-down rows.

Written with openpyxl in write-only (streaming) mode, so memory stays flat however
many rows the drill-down sheet holds; a figure's ids are split over rows of at most
:data:`IDS_PER_CELL` ids (a cell holds at most 32,767 characters). Every text cell goes through
:func:`releaseflow.exports.neutralise_cell`, so a name like ``=HYPERLINK(...)`` is
stored as text, never as a formula.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, BinaryIO

from ..exports import neutralise_cell
from .labels import labels
from .model import Report
from .tables import Cell, Table, tables

__all__ = ["IDS_PER_CELL", "write_xlsx"]

_CHARTED = ("by_kind", "deadlines")
#: Ids per drill-down cell: a spreadsheet cell holds at most 32,767 characters, so
#: a long list continues on the next rows (section, key, metric left empty).
IDS_PER_CELL = 800


def _value(cell: Cell) -> Any:
    if isinstance(cell, str):
        return neutralise_cell(cell.replace("\x00", ""))
    return cell


def _chart(t: Table, first_row: int) -> tuple[Any, tuple[int, int, tuple[int, int]]]:
    from openpyxl.chart import BarChart

    chart = BarChart()
    chart.type = "bar" if t.key == "by_kind" else "col"
    chart.grouping = "stacked" if t.key == "by_kind" else "clustered"
    if t.key == "by_kind":
        chart.overlap = 100
    chart.title = t.title
    chart.height, chart.width = 9, 18
    last_row = first_row + len(t.rows)
    cols = (3, 6) if t.key == "by_kind" else (2, 4)
    return chart, (first_row, last_row, cols)


def write_xlsx(
    report: Report, target: str | Path | BinaryIO, *, lang: str = "vi"
) -> None:
    """Write the report as an XLSX workbook to ``target`` (a path or binary file)."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.chart import Reference
    from openpyxl.styles import Font

    _ = labels(lang)
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(_("Summary")[:31])
    bold = Font(bold=True)

    def header(values: list[str]) -> list[Any]:
        cells = []
        for v in values:
            c = WriteOnlyCell(ws, value=_value(v))
            c.font = bold
            cells.append(c)
        return cells

    m = report.meta
    ws.append(header([_("report_title")]))
    ws.append([_("Period"), m.period, m.first_day.isoformat(), m.last_day.isoformat()])
    ws.append([_("Unit"), _value(m.unit or _("All units"))])
    ws.append([_("Cut-off"), m.cutoff.isoformat()])
    ws.append([_("Audit anchor"), m.anchor_digest])
    row = 5
    pending: list[tuple[Table, int]] = []
    for t in tables(report, _):
        ws.append([])
        ws.append(header([t.title]))
        ws.append(header(t.headers))
        row += 3
        if t.key in _CHARTED and t.rows:
            pending.append((t, row))
        for cells in t.rows:
            ws.append([_value(c) for c in cells])
            row += 1
    for t, at in pending:
        chart, (first, last, (lo, hi)) = _chart(t, at)
        data = Reference(ws, min_col=lo, max_col=hi, min_row=first, max_row=last)
        cats = Reference(ws, min_col=1, min_row=first + 1, max_row=last)
        chart.add_data(data, titles_from_data=True)
        chart.set_categories(cats)
        ws.add_chart(chart, f"H{at}")
    ids = wb.create_sheet(_("Request ids")[:31])
    ids.append(header(["section", "key", "metric", "value", "request_ids"]))
    for r in report.rows():
        lead = [_value(r.section), _value(r.key), _value(r.metric), r.value]
        for start in range(0, max(len(r.ids), 1), IDS_PER_CELL):
            chunk = " ".join(r.ids[start : start + IDS_PER_CELL])
            ids.append([*lead, chunk] if start == 0 else [None] * 4 + [chunk])
    wb.save(target)
