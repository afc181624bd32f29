"""JSON: the canonical, machine-readable form of a report.

Keys sorted, no insignificant whitespace, UTF-8 text (``ensure_ascii=False``), so
the same report always gives the same bytes; that is what
:func:`releaseflow.reports.submit.submit_report` freezes on the audit log.
"""

from __future__ import annotations

import json

from .model import Report

__all__ = ["from_json", "to_json"]


def to_json(report: Report, *, indent: int | None = None) -> str:
    """The report as canonical JSON text (``indent`` for a human-friendly form)."""
    plain = report.model_dump(mode="json")
    separators = (",", ":") if indent is None else (",", ": ")
    return json.dumps(
        plain, sort_keys=True, ensure_ascii=False, separators=separators, indent=indent
    )


def from_json(text: str) -> Report:
    """Read a report back from :func:`to_json` output."""
    return Report.model_validate_json(text)
