"""Report periods: a month, a quarter, a year or an explicit range of days.

Periods are calendar days in the agency time zone (Asia/Ho_Chi_Minh, UTC+7, which
has kept no daylight saving since 1975), so a request received at 23:30 local time on
30 September belongs to the third quarter even though it is 16:30 UTC.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Final

from ..exceptions import ValidationError

__all__ = ["AGENCY_TZ", "Period", "PeriodSpec", "parse_period"]

#: The agency time zone: Vietnam, UTC+7 all year.
AGENCY_TZ: Final = timezone(timedelta(hours=7), "Asia/Ho_Chi_Minh")

_QUARTER: Final = re.compile(r"^(\d{4})-Q([1-4])$")
_MONTH: Final = re.compile(r"^(\d{4})-(\d{2})$")
_YEAR: Final = re.compile(r"^(\d{4})$")

#: What :func:`parse_period` accepts.
PeriodSpec = str | tuple[date, date]


@dataclass(frozen=True)
class Period:
    """A half-open range of local days ``[first, last]`` with its label."""

    label: str
    first: date
    last: date
    """Inclusive."""

    @property
    def start(self) -> datetime:
        """The first instant of the period (aware, UTC)."""
        return datetime.combine(self.first, time(0), AGENCY_TZ).astimezone(UTC)

    @property
    def end(self) -> datetime:
        """The instant just after the period (exclusive, aware, UTC)."""
        after = self.last + timedelta(days=1)
        return datetime.combine(after, time(0), AGENCY_TZ).astimezone(UTC)


def _bad(message: str) -> ValidationError:
    return ValidationError(message, field="period", rule="period")


def _month_end(year: int, month: int) -> date:
    nxt = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
    return nxt - timedelta(days=1)


def _from_text(text: str) -> Period:
    if m := _QUARTER.match(text):
        year, q = int(m[1]), int(m[2])
        first = date(year, 3 * q - 2, 1)
        return Period(text, first, _month_end(year, 3 * q))
    if m := _MONTH.match(text):
        year, month = int(m[1]), int(m[2])
        if not 1 <= month <= 12:
            raise _bad(f"period {text!r}: month must be 01-12")
        return Period(text, date(year, month, 1), _month_end(year, month))
    if m := _YEAR.match(text):
        year = int(m[1])
        return Period(text, date(year, 1, 1), date(year, 12, 31))
    raise _bad(
        f"period {text!r} is not YYYY, YYYY-MM, YYYY-Qn or a (start, end) pair of dates"
    )


def parse_period(spec: PeriodSpec, *, now: datetime) -> Period:
    """Parse ``spec`` and refuse periods that end before they start or lie ahead.

    Args:
        spec: ``"2026"``, ``"2026-07"``, ``"2026-Q3"`` or ``(first_day, last_day)``
            (both inclusive, local dates).
        now: the engine's current time; a period that starts after it is refused.

    Raises:
        ValidationError: ``field="period"`` for malformed, reversed or future periods.
    """
    if isinstance(spec, str):
        period = _from_text(spec.strip())
    elif (
        isinstance(spec, tuple)
        and len(spec) == 2
        and all(isinstance(d, date) and not isinstance(d, datetime) for d in spec)
    ):
        first, last = spec
        if last < first:
            raise _bad(f"period ends ({last}) before it starts ({first})")
        period = Period(f"{first.isoformat()}..{last.isoformat()}", first, last)
    else:
        raise _bad("period must be a string or a (start, end) pair of dates")
    if period.start > now:
        raise _bad(f"period {period.label} starts in the future")
    return period
