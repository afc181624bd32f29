"""When the next periodic release is due (Decree 09/2017 Art. 5)."""

from __future__ import annotations

import calendar as _gregorian
from datetime import date

from releaseflow.calendar.base import WorkingCalendar
from releaseflow.deadlines.models import PeriodicObligation
from releaseflow.exceptions import ValidationError

__all__ = ["add_months", "next_periodic_due"]


def add_months(day: date, months: int) -> date:
    """Return ``day`` plus ``months`` calendar months, clamped to the month's end.

    Args:
        day: The start date.
        months: Months to add (>= 0).

    Returns:
        The shifted date.

    Example:
        >>> add_months(date(2026, 1, 31), 1)
        datetime.date(2026, 2, 28)
    """
    if months < 0:
        raise ValidationError("months must be >= 0", field="months")
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, _gregorian.monthrange(year, month)[1]))


def next_periodic_due(
    obligation: PeriodicObligation, last_done: date, calendar: WorkingCalendar
) -> date:
    """Return the last day by which the next occurrence is due.

    The obligation is "at least once every ``every_months`` months": the next
    occurrence is due ``every_months`` months after ``last_done``; a due day on a
    rest day moves to the next working day (Civil Code Art. 148).

    Args:
        obligation: The periodic obligation.
        last_done: The local date of the last occurrence.
        calendar: The agency's working calendar.

    Returns:
        The due date (a working day).
    """
    due = add_months(last_done, obligation.every_months)
    return due if calendar.is_working_day(due) else calendar.next_working_day(due)
