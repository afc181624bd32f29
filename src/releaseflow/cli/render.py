r"""Output of the command line: rich tables, JSON or CSV, all injection-safe.

Every value shown in a table is plain text (no rich markup) with control, format
and bidi characters written as ``\\uXXXX``, so stored text cannot restyle or
rewrite the terminal (ASVS 16.4.1). CSV cells are neutralised like exports.
"""

from __future__ import annotations

import csv
import json
import sys
import unicodedata
from collections.abc import Sequence
from typing import Any, Final, TextIO

from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..exports import neutralise_cell

__all__ = ["FORMATS", "emit", "safe_text"]

FORMATS: Final = ("table", "json", "csv")


def safe_text(value: object) -> str:
    """``value`` as one line with control and format characters escaped."""
    if value is None:
        return ""
    out = []
    for char in str(value):
        if char == " " or unicodedata.category(char)[0] not in ("C", "Z"):
            out.append(char)
        else:
            out.append(f"\\u{ord(char):04x}")
    return "".join(out)


def _cell(value: object) -> str:
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return "" if value is None else str(value)


def emit(
    fmt: str,
    columns: Sequence[str],
    rows: Sequence[dict[str, Any]],
    *,
    title: str | None = None,
    out: TextIO | None = None,
) -> None:
    """Print ``rows`` (JSON-ready dicts) in ``fmt``: table, json or csv."""
    stream = out or sys.stdout
    if fmt == "json":
        stream.write(json.dumps(list(rows), ensure_ascii=False, indent=2) + "\n")
        return
    if fmt == "csv":
        writer = csv.writer(stream, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow([neutralise_cell(_cell(row.get(c))) for c in columns])
        return
    table = Table(title=title, show_lines=False)
    for column in columns:
        table.add_column(column, overflow="fold", no_wrap=column.endswith("id"))
    for row in rows:
        table.add_row(*(Text(safe_text(_cell(row.get(c)))) for c in columns))
    Console(file=stream, width=200, highlight=False).print(table)
