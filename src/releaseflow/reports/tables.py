"""A format-neutral view of a report: titled tables of labelled cells.

Markdown, DOCX and XLSX all render these tables, so the three never disagree on
what a report says. Cells are raw values (text, int, float or None); each format
escapes text its own way. Each row keeps the ids behind it for drill-down.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Final

from .model import DeadlineStats, Durations, Figure, Outcomes, Report
from .period import AGENCY_TZ

__all__ = ["UNBOUNDED", "Cell", "Table", "hours", "tables"]

Cell = str | int | float | None
Gettext = Callable[[str], str]
_OUTCOMES = ("received", "released", "refused", "withdrawn", "pending")


@dataclass
class Table:
    """One titled table; ``key`` is stable across languages (sheet names, anchors)."""

    key: str
    title: str
    headers: list[str]
    rows: list[list[Cell]] = field(default_factory=list)
    ids: list[tuple[str, ...]] = field(default_factory=list)

    def add(self, cells: list[Cell], ids: tuple[str, ...] = ()) -> None:
        """Append a row and the ids behind it."""
        self.rows.append(cells)
        self.ids.append(ids)


def hours(seconds: int | None) -> float | None:
    """Seconds as hours, one decimal place."""
    return None if seconds is None else round(seconds / 3600, 1)


def _outcome_table(
    key: str, title: str, groups: Mapping[str, Outcomes], _: Gettext
) -> Table:
    t = Table(key, title, [_("Item"), *(_(m) for m in _OUTCOMES)])
    for name, o in groups.items():
        figs = [getattr(o, m) for m in _OUTCOMES]
        t.add([_(name), *(f.value for f in figs)], o.received.listed)
    return t


def _figure_table(
    key: str, title: str, figs: Mapping[str, Figure], _: Gettext
) -> Table:
    t = Table(key, title, [_("Item"), _("Count")])
    for name, fig in figs.items():
        t.add([_(name), fig.value], fig.listed)
    return t


def _deadline_table(report: Report, _: Gettext) -> Table:
    t = Table(
        "deadlines",
        _("Deadlines"),
        [_("Rule"), _("met"), _("missed"), _("open"), _("Rate")],
    )

    def add(name: str, s: DeadlineStats) -> None:
        ids = s.met.listed + s.missed.listed + s.open.listed
        t.add([name, s.met.value, s.missed.value, s.open.value, s.on_time_rate], ids)

    for rule, stats in report.deadlines.items():
        add(rule, stats)
    add(_("all"), report.deadlines_overall)
    return t


def _duration_table(report: Report, _: Gettext) -> Table:
    t = Table(
        "time_to_release",
        _("Time to release"),
        [
            _("Item"),
            _("Count"),
            f"{_('Median')} ({_('hours')})",
            f"{_('P90')} ({_('hours')})",
        ],
    )
    rows: list[tuple[str, Durations]] = [
        (_("all"), report.time_to_release),
        (_("incident_statement"), report.incident_response),
        (_("fake_news_response"), report.fake_news_response),
    ]
    for name, d in rows:
        t.add(
            [name, d.count.value, hours(d.median_seconds), hours(d.p90_seconds)],
            d.count.listed,
        )
    return t


def _incident_table(report: Report, _: Gettext) -> Table:
    t = Table(
        "incidents",
        _("Incident statements"),
        [_("Title"), _("Received"), f"{_('Response')} ({_('hours')})"],
    )
    for item in report.incidents:
        local = item.received_at.astimezone(AGENCY_TZ).strftime("%Y-%m-%d %H:%M")
        t.add([item.title, local, hours(item.response_seconds)], (item.id,))
    return t


def _obligation_table(report: Report, _: Gettext) -> Table:
    t = Table(
        "obligations",
        _("Periodic obligations"),
        [_("Obligation"), _("Bucket"), _("Required"), _("released"), _("Status")],
    )
    for ob in report.obligations:
        t.add(
            [_(ob.name), ob.bucket, ob.required, ob.released.value, _(ob.status)],
            ob.released.listed,
        )
    return t


def _policy_table(report: Report, _: Gettext) -> Table:
    p = report.policy_drafts
    t = Table(
        "policy_drafts",
        _("Policy drafts"),
        [_("In scope"), _("Communicated"), _("Share"), _("Target")],
    )
    t.add(
        [p.in_scope.value, p.communicated.value, p.share, p.target], p.in_scope.listed
    )
    return t


def _plan_table(report: Report, _: Gettext) -> Table:
    t = Table(
        "plans",
        _("Plan progress"),
        [
            _("Plan"),
            _("Status"),
            _("done"),
            _("late"),
            _("not_started"),
            _("unplanned"),
        ],
    )
    for plan in report.plans:
        items = plan.items
        t.add(
            [
                f"{plan.unit} {plan.year}",
                _(plan.state),
                items["done"].value,
                items["late"].value,
                items["not_started"].value,
                plan.unplanned.value,
            ],
            plan.done_by.listed + plan.unplanned.listed,
        )
    return t


def _capped(t: Table, limit: int | None, _: Gettext) -> Table:
    """At most ``limit`` rows, then one row saying how many more the full forms hold."""
    if limit is None or len(t.rows) <= limit:
        return t
    more = len(t.rows) - limit
    out = Table(t.key, t.title, t.headers, t.rows[:limit], t.ids[:limit])
    note: list[Cell] = [_("more_rows").format(count=more)]
    out.add(note + [None] * (len(t.headers) - 1))
    return out


#: Tables with one row per request or per person: unbounded as the data grows.
UNBOUNDED: Final = ("incidents", "press_agencies", "journalists")


def tables(report: Report, _: Gettext, *, limit: int | None = None) -> list[Table]:
    """Every table of ``report``, labelled with ``_`` (a gettext function).

    With ``limit``, the tables that grow with the data (:data:`UNBOUNDED`) keep
    their first ``limit`` rows plus a row counting the rest (full lists are in the
    JSON, CSV and XLSX forms).
    """
    return [
        _capped(t, limit, _) if t.key in UNBOUNDED else t
        for t in _all_tables(report, _)
    ]


def _all_tables(report: Report, _: Gettext) -> list[Table]:
    return [
        _outcome_table("summary", _("Summary"), {"all": report.totals}, _),
        _outcome_table("by_kind", _("By request kind"), report.by_kind, _),
        _outcome_table("by_channel", _("By channel"), report.by_channel, _),
        _figure_table(
            "by_release_form", _("By release form"), report.by_release_form, _
        ),
        _figure_table(
            "refusals", _("Refusals by legal ground"), report.refusals_by_ground, _
        ),
        _deadline_table(report, _),
        _duration_table(report, _),
        _incident_table(report, _),
        _outcome_table(
            "corrections", _("Correction requests"), {"all": report.corrections}, _
        ),
        _figure_table(
            "correction_outcomes",
            _("Correction outcomes"),
            report.correction_outcomes,
            _,
        ),
        _outcome_table(
            "fake_news", _("Fake-news responses"), {"all": report.fake_news}, _
        ),
        _obligation_table(report, _),
        _policy_table(report, _),
        _figure_table(
            "press_agencies", _("Press agencies served"), report.press_agencies, _
        ),
        _figure_table("journalists", _("Journalists served"), report.journalists, _),
        _plan_table(report, _),
    ]
