"""CSV: one row per figure, with its drill-down ids, for spreadsheets and scripts.

UTF-8 with a byte-order mark (spreadsheet programs then read Vietnamese correctly);
every text cell that a spreadsheet would read as a formula is neutralised exactly as
:mod:`releaseflow.exports` does for the audit export.
"""

from __future__ import annotations

import csv
import io
from typing import Final

from ..exports import neutralise_cell
from .model import Report

__all__ = ["CSV_COLUMNS", "to_csv"]

CSV_COLUMNS: Final = ("section", "key", "metric", "value", "request_ids")
BOM: Final = "\ufeff"


def to_csv(report: Report, *, bom: bool = True) -> str:
    """The report's figures as CSV text (``bom``: start with U+FEFF)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in report.rows():
        writer.writerow(
            [
                neutralise_cell(row.section),
                neutralise_cell(row.key),
                neutralise_cell(row.metric),
                str(row.value),
                " ".join(row.ids),
            ]
        )
    return (BOM if bom else "") + out.getvalue()
