"""Pure deadline computation with a full explanation.

Semantics (see ``docs/explanation/working-days.md``):

* Day-based rules: counting starts the day after the local receipt day (Civil
  Code Art. 147); ``due_at`` is the **exclusive** end of the last day (next local
  midnight, in UTC). Calendar-day periods ending on a rest day move to the next
  working day (Art. 148).
* Hour rules: ``due_at = received_at + hours``, rest days not skipped.
* Pauses (waiting on the requester) are closed intervals ``[start, end]``. For
  working-day rules each pause adds ``working_days_between(local(start),
  local(end))`` working days: the day the pause starts still counts, the day it
  ends does not (counting resumes the next day, as after a receipt). Calendar-day
  rules add the calendar days between the two local dates; hour rules add the
  exact duration. A pause must start at or after receipt and before the deadline
  as computed so far; pauses must not overlap.
* An extension is counted from the end of the (paused) period, in its own unit.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from pydantic import AwareDatetime, BaseModel, ConfigDict
from pydantic import ValidationError as PydanticValidationError

from releaseflow.calendar.base import DayInfo, WorkingCalendar
from releaseflow.calendar.counting import (
    calendar_days_last_day,
    end_of_day_utc,
    local_date,
    require_aware,
)
from releaseflow.deadlines.models import DeadlineRule, Extension, Flag, Unit
from releaseflow.exceptions import CalendarError

__all__ = [
    "AppliedPause",
    "DeadlineComputation",
    "ExplainedDay",
    "Pause",
    "compute_deadline",
]


class Pause(BaseModel):
    """A closed interval during which the clock stops (waiting on the requester).

    Attributes:
        start: When the agency started waiting (aware).
        end: When the requester answered (aware).
        reason: Why (consent, payment, clarification...).
    """

    model_config = ConfigDict(frozen=True)

    start: AwareDatetime
    end: AwareDatetime
    reason: str = ""


class ExplainedDay(BaseModel):
    """A notable day inside the counted period.

    Attributes:
        day: The date.
        counted: True if it counted as a working day.
        reason: ``weekend``, ``holiday``, ``extra_day_off``, ``makeup_workday``...
        name: Holiday or announcement name.
        legal_source: The basis for its status.
    """

    model_config = ConfigDict(frozen=True)

    day: date
    counted: bool
    reason: str
    name: str = ""
    legal_source: str = ""

    @classmethod
    def of(cls, info: DayInfo) -> ExplainedDay:
        """Convert a calendar :class:`DayInfo`.

        Args:
            info: The calendar's description of the day.

        Returns:
            The explained day.
        """
        return cls(
            day=info.day,
            counted=info.working,
            reason=info.reason.value,
            name=info.name,
            legal_source=info.legal_source,
        )


class AppliedPause(BaseModel):
    """A pause and what it added to the deadline.

    Attributes:
        start: Pause start (UTC).
        end: Pause end (UTC).
        reason: Why the clock stopped.
        days_added: Working or calendar days added (day rules), else 0.
        duration_added: Exact duration added (hour rules), else zero.
    """

    model_config = ConfigDict(frozen=True)

    start: datetime
    end: datetime
    reason: str
    days_added: int
    duration_added: timedelta


class DeadlineComputation(BaseModel):
    """The result of :func:`compute_deadline`: the due instant and why.

    Attributes:
        due_at: Aware UTC instant; the act is on time if strictly before it.
        last_day: The local date the period ends (shown to people).
        rule_id: The rule applied.
        kind: Request kind.
        step: What is due.
        amount: Period length.
        unit: Period unit.
        legal_source: The rule's legal basis.
        flag: The rule's confidence flag.
        received_at: Receipt instant (UTC).
        timezone: The agency time zone used for days.
        calendar_version: The calendar's fingerprint.
        start_day: First day counted (day rules), else None.
        moved_by_art148: True if a calendar-day end was moved off a rest day.
        days: Rest days skipped and make-up days counted in the period.
        pauses: Pauses applied.
        extension: The extension applied, if any.
    """

    model_config = ConfigDict(frozen=True)

    due_at: datetime
    last_day: date
    rule_id: str
    kind: str
    step: str
    amount: int
    unit: Unit
    legal_source: str
    flag: Flag
    received_at: datetime
    timezone: str
    calendar_version: str
    start_day: date | None
    moved_by_art148: bool
    days: tuple[ExplainedDay, ...]
    pauses: tuple[AppliedPause, ...]
    extension: Extension | None

    @property
    def skipped_days(self) -> tuple[ExplainedDay, ...]:
        """The rest days inside the period (not counted)."""
        return tuple(d for d in self.days if not d.counted)

    def explanation(self) -> list[str]:
        """Return the explanation as human-readable lines.

        Returns:
            Lines: the rule and source, the start, each notable day, each
            pause, the extension and the result.
        """
        lines = [
            f"Rule {self.rule_id} [{self.flag.value}]: {self.step} within "
            f"{self.amount} {self.unit.value} - {self.legal_source}",
            f"Received {self.received_at.isoformat()} (time zone {self.timezone}); "
            + (
                f"counting starts {self.start_day.isoformat()}"
                if self.start_day
                else "counted from the moment"
            ),
        ]
        lines += [_day_line(d) for d in self.days]
        lines += [_pause_line(p) for p in self.pauses]
        if self.extension is not None:
            e = self.extension
            lines.append(
                f"Extended by {e.amount} {e.unit.value}: {e.reason} ({e.legal_source})"
            )
        if self.moved_by_art148:
            lines.append(
                "Last day fell on a rest day: moved to the next working day "
                "(Civil Code Art. 148)"
            )
        lines.append(
            f"Due before {self.due_at.isoformat()} "
            f"(last day {self.last_day.isoformat()})"
        )
        return lines


def _day_line(d: ExplainedDay) -> str:
    """One explanation line for a notable day."""
    verb = "counted" if d.counted else "skipped"
    detail = f", {d.name}" if d.name else ""
    source = f" [{d.legal_source}]" if d.legal_source else ""
    return f"{d.day.isoformat()} ({d.day:%a}) {verb}: {d.reason}{detail}{source}"


def _pause_line(p: AppliedPause) -> str:
    """One explanation line for a pause."""
    added = (
        f"{p.days_added} day(s)"
        if p.duration_added == timedelta(0)
        else str(p.duration_added)
    )
    why = p.reason or "no reason given"
    return f"Paused {p.start.isoformat()} - {p.end.isoformat()} ({why}): +{added}"


@dataclass(frozen=True)
class _End:
    """Where a period ends."""

    last_day: date
    due_at: datetime
    moved: bool


def compute_deadline(
    rule: DeadlineRule,
    received_at: datetime,
    calendar: WorkingCalendar,
    pauses: Iterable[Pause | tuple[datetime, datetime]] = (),
    extension: Extension | None = None,
) -> DeadlineComputation:
    """Compute when ``rule`` falls due for something received at ``received_at``.

    Args:
        rule: The deadline rule (from :meth:`RuleSet.rules_for`).
        received_at: Aware receipt (or event) instant.
        calendar: The agency's working calendar (its ``timezone`` defines days).
        pauses: Closed pauses, as :class:`Pause` or ``(start, end)`` pairs.
        extension: An extension granted, counted from the end of the period.

    Returns:
        The due instant (aware UTC) with its explanation.

    Raises:
        CalendarError: Naive datetimes (``field`` names which), bad or
            overlapping pauses, an extension unit that cannot combine with the
            rule, or a date outside the calendar's range.

    Example:
        >>> from datetime import datetime, timezone
        >>> from releaseflow.calendar import VietnamCalendar
        >>> from releaseflow.deadlines import default_rule_set
        >>> rule = default_rule_set().rule("lati2016.post_fax.simple.provide")
        >>> received = datetime(2026, 2, 13, 3, 0, tzinfo=timezone.utc)  # Fri 10:00 ICT
        >>> result = compute_deadline(rule, received, VietnamCalendar())
        >>> result.last_day, result.due_at.isoformat()
        (datetime.date(2026, 2, 27), '2026-02-27T17:00:00+00:00')
    """
    received = require_aware(received_at, "received_at").astimezone(UTC)
    _check_extension(rule, extension)
    applied: list[AppliedPause] = []
    for pause in _normalise(pauses, received):
        current = _end(rule, received, calendar, applied, extension)
        if pause.start >= current.due_at:
            raise CalendarError(
                f"pause starting {pause.start.isoformat()} is not before the deadline",
                field="pauses",
                rule="before_deadline",
            )
        applied.append(_apply_pause(rule, pause, calendar))
    end = _end(rule, received, calendar, applied, extension)
    return _result(rule, received, calendar, end, applied, extension)


def _check_extension(rule: DeadlineRule, extension: Extension | None) -> None:
    """Hour rules take hour extensions; day rules take day extensions."""
    if extension is None:
        return
    if (rule.unit is Unit.HOURS) != (extension.unit is Unit.HOURS):
        raise CalendarError(
            f"a {extension.unit.value} extension cannot extend "
            f"a {rule.unit.value} rule",
            field="extension",
            rule="unit",
        )


def _normalise(
    pauses: Iterable[Pause | tuple[datetime, datetime]], received: datetime
) -> list[Pause]:
    """Validate pauses: aware, ordered, after receipt, not overlapping."""
    out: list[Pause] = []
    for raw in pauses:
        try:
            pause = raw if isinstance(raw, Pause) else Pause(start=raw[0], end=raw[1])
        except (PydanticValidationError, TypeError, IndexError) as exc:
            raise CalendarError(
                f"bad pause {raw!r}: need aware (start, end)", field="pauses"
            ) from exc
        if pause.end < pause.start or pause.start < received:
            raise CalendarError(
                "a pause must run forwards from after receipt",
                field="pauses",
                rule="order",
            )
        out.append(pause)
    out.sort(key=lambda p: p.start)
    for before, after in itertools.pairwise(out):
        if after.start < before.end:
            raise CalendarError("pauses overlap", field="pauses", rule="no_overlap")
    return out


def _apply_pause(
    rule: DeadlineRule, pause: Pause, calendar: WorkingCalendar
) -> AppliedPause:
    """Measure what one pause adds, in the rule's unit."""
    start = pause.start.astimezone(UTC)
    end = pause.end.astimezone(UTC)
    days, duration = 0, timedelta(0)
    if rule.unit is Unit.HOURS:
        duration = end - start
    else:
        a = local_date(start, calendar.timezone, "pauses")
        b = local_date(end, calendar.timezone, "pauses")
        days = (
            calendar.working_days_between(a, b)
            if rule.unit is Unit.WORKING_DAYS
            else (b - a).days
        )
    return AppliedPause(
        start=start,
        end=end,
        reason=pause.reason,
        days_added=days,
        duration_added=duration,
    )


def _count(
    calendar: WorkingCalendar, start: date, n: int, unit: Unit
) -> tuple[date, bool]:
    """Last day of an ``n``-day period after ``start``; True if Art. 148 moved it."""
    if unit is Unit.WORKING_DAYS:
        return calendar.add_working_days(start, n), False
    last = calendar_days_last_day(calendar, start, n)
    return last, last != start + timedelta(days=n)


def _end(
    rule: DeadlineRule,
    received: datetime,
    calendar: WorkingCalendar,
    applied: list[AppliedPause],
    extension: Extension | None,
) -> _End:
    """Where the period ends given the pauses so far and the extension."""
    tz = calendar.timezone
    if rule.unit is Unit.HOURS:
        extra = sum((p.duration_added for p in applied), timedelta(0))
        ext = timedelta(hours=extension.amount if extension else 0)
        due = received + timedelta(hours=rule.amount) + extra + ext
        return _End(local_date(due, tz, "due_at"), due, False)
    day0 = local_date(received, tz, "received_at")
    last, moved = _count(
        calendar, day0, rule.amount + sum(p.days_added for p in applied), rule.unit
    )
    if extension is not None:
        last, moved = _count(calendar, last, extension.amount, extension.unit)
    return _End(last, end_of_day_utc(last, tz), moved)


def _result(
    rule: DeadlineRule,
    received: datetime,
    calendar: WorkingCalendar,
    end: _End,
    applied: list[AppliedPause],
    extension: Extension | None,
) -> DeadlineComputation:
    """Assemble the computation and its explanation."""
    hourly = rule.unit is Unit.HOURS
    day0 = local_date(received, calendar.timezone, "received_at")
    days = (
        ()
        if hourly
        else tuple(
            ExplainedDay.of(i) for i in calendar.explain_days(day0, end.last_day)
        )
    )
    return DeadlineComputation(
        due_at=end.due_at,
        last_day=end.last_day,
        rule_id=rule.id,
        kind=rule.kind,
        step=rule.step,
        amount=rule.amount,
        unit=rule.unit,
        legal_source=rule.legal_source,
        flag=rule.flag,
        received_at=received,
        timezone=calendar.timezone,
        calendar_version=calendar.version,
        start_day=None if hourly else day0 + timedelta(days=1),
        moved_by_art148=end.moved,
        days=days,
        pauses=tuple(applied),
        extension=extension,
    )
