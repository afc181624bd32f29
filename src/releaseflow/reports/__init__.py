"""Periodic and ad-hoc reports on information work (seed letter point 9).

>>> from datetime import UTC, date, datetime
>>> import releaseflow as rf
>>> from releaseflow import reports
>>> from releaseflow.demo import seed
>>> flow = rf.ReleaseFlow.open("memory://", clock=lambda: datetime(2026, 10, 1, tzinfo=UTC))
>>> _ = seed(flow, date(2026, 9, 15))
>>> report = reports.build(flow, "2026-Q3", unit="danang/soyte")
>>> report.totals.received.value == len(report.totals.received.ids)
True
>>> print(reports.to_json(report)[:30])
{"by_channel":{"electronic":{"

Formats live in one module each (``render_json``, ``render_csv``, ``render_markdown``,
``render_xlsx``, ``render_docx``; charts in ``charts``); the optional ones need the
``reports`` extra (openpyxl, python-docx, matplotlib, babel).
"""

from __future__ import annotations

from .aggregate import drilldown
from .build import build
from .compute import DEFAULT_OBLIGATIONS, Obligation
from .model import (
    DeadlineStats,
    Durations,
    Figure,
    FigureRow,
    IncidentItem,
    ObligationResult,
    Outcomes,
    PolicyDrafts,
    Report,
    ReportMeta,
)
from .period import AGENCY_TZ, Period, parse_period
from .plans import CommissionFigures, PlanReport, plan_progress
from .render_csv import to_csv
from .render_json import from_json, to_json
from .render_markdown import to_markdown

__all__ = [
    "AGENCY_TZ",
    "DEFAULT_OBLIGATIONS",
    "CommissionFigures",
    "DeadlineStats",
    "Durations",
    "Figure",
    "FigureRow",
    "IncidentItem",
    "Obligation",
    "ObligationResult",
    "Outcomes",
    "Period",
    "PlanReport",
    "PolicyDrafts",
    "Report",
    "ReportMeta",
    "build",
    "drilldown",
    "from_json",
    "parse_period",
    "plan_progress",
    "to_csv",
    "to_json",
    "to_markdown",
]
