"""Markdown: a readable report for wikis, e-mail and merge requests.

Every cell is escaped: Markdown and HTML markup characters are backslash-escaped or
turned into entities, line breaks and control characters become spaces, so text a
journalist or citizen supplied (names, organisations, titles) cannot inject links,
images, HTML or table columns.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Final

from .labels import labels
from .model import Report
from .tables import Cell, Table, tables

__all__ = ["escape_markdown", "to_markdown"]

_SPECIAL: Final = re.compile(r"([\\`*_{}\[\]()#!|~>])")
_MAX_IDS: Final = 5


def escape_markdown(text: str) -> str:
    """``text`` as inert Markdown: one line, markup escaped, no raw HTML."""
    flat = "".join(
        " " if unicodedata.category(ch)[0] in ("C", "Z") else ch
        for ch in unicodedata.normalize("NFC", text)
    )
    flat = flat.replace("&", "&amp;").replace("<", "&lt;")
    return _SPECIAL.sub(r"\\\1", flat)


def _cell(value: Cell) -> str:
    if value is None:
        return "\u2013"
    if isinstance(value, float):
        return f"{value:g}"
    return escape_markdown(str(value))


def _ids(ids: tuple[str, ...]) -> str:
    shown = ", ".join(f"`{i[:8]}`" for i in ids[:_MAX_IDS])
    more = len(ids) - _MAX_IDS
    return shown + (f" … (+{more})" if more > 0 else "")


def _table(t: Table, ids_header: str, none: str) -> list[str]:
    lines = [f"## {escape_markdown(t.title)}", ""]
    if not t.rows:
        return [*lines, f"_{escape_markdown(none)}_", ""]
    head = [*(escape_markdown(h) for h in t.headers), escape_markdown(ids_header)]
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|" + "---|" * len(head))
    for row, ids in zip(t.rows, t.ids, strict=True):
        lines.append("| " + " | ".join([*(_cell(c) for c in row), _ids(ids)]) + " |")
    return [*lines, ""]


def to_markdown(report: Report, *, lang: str = "vi") -> str:
    """The report as Markdown in ``lang`` (``vi`` or ``en``)."""
    _ = labels(lang)
    m = report.meta
    lines = [
        f"# {escape_markdown(_('report_title'))}",
        "",
        f"- {_('Period')}: {escape_markdown(m.period)}"
        f" ({m.first_day.isoformat()} \u2013 {m.last_day.isoformat()})",
        f"- {_('Unit')}: {escape_markdown(m.unit or _('All units'))}",
        f"- {_('Cut-off')}: {m.cutoff.isoformat()}"
        + (f" ({escape_markdown(_('Partial period'))})" if m.partial else ""),
        f"- {_('Audit anchor')}: `{m.anchor_digest}`",
        "",
    ]
    for t in tables(report, _):
        lines += _table(t, _("Request ids"), _("none"))
    return "\n".join(lines)
