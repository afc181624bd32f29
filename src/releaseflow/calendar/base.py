"""The working-calendar interface and the counting algorithms every calendar shares.

A *working day* is a day on which the agency's office is open. Counting follows
Civil Code 2015 Art. 147: the day a period starts from is not counted.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Protocol, runtime_checkable

from releaseflow.exceptions import CalendarError

__all__ = [
    "BaseCalendar",
    "DayInfo",
    "DayReason",
    "WorkingCalendar",
]

_ONE_DAY = timedelta(days=1)


class DayReason(StrEnum):
    """Why a day is, or is not, a working day."""

    WORKING_DAY = "working_day"
    WEEKEND = "weekend"
    HOLIDAY = "holiday"
    EXTRA_DAY_OFF = "extra_day_off"
    MAKEUP_WORKDAY = "makeup_workday"


@dataclass(frozen=True, slots=True)
class DayInfo:
    """The status of one calendar day, with the reason and its legal source.

    Attributes:
        day: The date described.
        working: True if the office is open that day.
        reason: Why the day is (not) a working day.
        name: Holiday or announcement name; empty for plain days.
        legal_source: The law or announcement behind the status; empty for
            plain weekdays and weekends.
    """

    day: date
    working: bool
    reason: DayReason
    name: str = ""
    legal_source: str = ""

    def describe(self) -> str:
        """Return a one-line human explanation, e.g. for an audit entry.

        Returns:
            ``"2026-02-16 (Mon): holiday, Lunar New Year's Eve [Labour Code ...]"``.
        """
        text = f"{self.day.isoformat()} ({self.day:%a}): {self.reason.value}"
        if self.name:
            text += f", {self.name}"
        if self.legal_source:
            text += f" [{self.legal_source}]"
        return text


@runtime_checkable
class WorkingCalendar(Protocol):
    """What the deadline code needs from a calendar; any country can implement it."""

    @property
    def version(self) -> str:
        """A fingerprint that changes whenever the calendar's data changes."""
        ...

    @property
    def timezone(self) -> str:
        """The IANA time zone in which the calendar's days begin and end."""
        ...

    def describe_day(self, day: date) -> DayInfo:
        """Return the status of ``day`` with its reason."""
        ...

    def is_working_day(self, day: date) -> bool:
        """Return True if ``day`` is a working day."""
        ...

    def next_working_day(self, day: date) -> date:
        """Return the first working day strictly after ``day``."""
        ...

    def add_working_days(self, start: date, n: int) -> date:
        """Return the ``n``-th working day after ``start`` (``start`` not counted)."""
        ...

    def working_days_between(self, a: date, b: date) -> int:
        """Count the working days in the half-open interval ``(a, b]``."""
        ...

    def explain_days(self, start: date, end: date) -> list[DayInfo]:
        """List the rest days and make-up working days in ``(start, end]``."""
        ...


def _check_date(value: object, field: str) -> date:
    """Reject datetimes and non-dates with a CalendarError naming ``field``."""
    if not isinstance(value, date) or isinstance(value, datetime):
        raise CalendarError(
            f"{field} must be a datetime.date, got {type(value).__name__}",
            field=field,
            rule="type",
        )
    return value


class BaseCalendar(ABC):
    """Shared counting over :meth:`describe_day`; subclasses supply the day data.

    Subclasses implement :meth:`_describe` for a date already known to be in the
    supported range and set ``first_year``/``last_year``.
    """

    first_year: int
    last_year: int

    @property
    @abstractmethod
    def version(self) -> str:
        """A fingerprint that changes whenever the calendar's data changes."""

    @property
    @abstractmethod
    def timezone(self) -> str:
        """The IANA time zone in which the calendar's days begin and end."""

    @abstractmethod
    def _describe(self, day: date) -> DayInfo:
        """Describe a date inside the supported range."""

    def check_in_range(self, day: date, field: str = "date") -> date:
        """Return ``day`` if the calendar covers it.

        Args:
            day: The date to check.
            field: The argument name reported in the error.

        Returns:
            ``day`` unchanged.

        Raises:
            CalendarError: ``day`` is not a date or lies outside
                ``first_year``..``last_year``.
        """
        _check_date(day, field)
        if not self.first_year <= day.year <= self.last_year:
            raise CalendarError(
                f"{field}={day.isoformat()} is outside the supported range "
                f"{self.first_year}-{self.last_year}",
                field=field,
                rule="supported_range",
            )
        return day

    def describe_day(self, day: date) -> DayInfo:
        """Return the status of ``day`` with its reason and legal source.

        Args:
            day: The date to describe.

        Returns:
            A :class:`DayInfo`.

        Raises:
            CalendarError: ``day`` is outside the supported range.
        """
        return self._describe(self.check_in_range(day, "day"))

    def is_working_day(self, day: date) -> bool:
        """Return True if ``day`` is a working day.

        Args:
            day: The date to test.

        Returns:
            True for a working day (including a make-up Saturday).

        Raises:
            CalendarError: ``day`` is outside the supported range.
        """
        return self.describe_day(day).working

    def next_working_day(self, day: date) -> date:
        """Return the first working day strictly after ``day``.

        Args:
            day: The date to start from (itself never returned).

        Returns:
            The next working day.

        Raises:
            CalendarError: ``day`` or the result is outside the supported range.
        """
        current = self.check_in_range(day, "day") + _ONE_DAY
        while not self._describe(self.check_in_range(current, "result")).working:
            current += _ONE_DAY
        return current

    def add_working_days(self, start: date, n: int) -> date:
        """Return the ``n``-th working day after ``start``.

        The day ``start`` itself is not counted (Civil Code Art. 147). ``n == 0``
        returns ``start`` if it is a working day, else the next working day.

        Args:
            start: The triggering day (e.g. the day a request was received).
            n: How many working days to add; must be >= 0.

        Returns:
            The last day of the period.

        Raises:
            CalendarError: ``n`` is negative or not an int, or a date falls
                outside the supported range.
        """
        self.check_in_range(start, "start")
        _check_count(n, "n")
        if n == 0:
            return (
                start if self._describe(start).working else self.next_working_day(start)
            )
        current = start
        for _ in range(n):
            current = self.next_working_day(current)
        return current

    def working_days_between(self, a: date, b: date) -> int:
        """Count the working days in ``(a, b]``: ``a`` excluded, ``b`` included.

        Args:
            a: The start day (not counted).
            b: The end day (counted if it is a working day).

        Returns:
            The number of working days; 0 when ``a == b``.

        Raises:
            CalendarError: ``a > b`` or a date is outside the supported range.
        """
        self.check_in_range(a, "a")
        self.check_in_range(b, "b")
        if a > b:
            raise CalendarError(
                f"a={a.isoformat()} is after b={b.isoformat()}", field="a", rule="a<=b"
            )
        return sum(1 for info in self._days(a, b) if info.working)

    def explain_days(self, start: date, end: date) -> list[DayInfo]:
        """List every day in ``(start, end]`` that is not an ordinary weekday.

        That is each rest day (weekend, holiday, extra day off), each make-up
        working day, and each weekday that carries a note (e.g. a package holiday
        overridden as ``not_a_holiday``), with its reason and legal source.

        Args:
            start: The start day (not included).
            end: The end day (included).

        Returns:
            The notable days in date order.

        Raises:
            CalendarError: ``start > end`` or a date is outside the supported range.
        """
        self.check_in_range(start, "start")
        self.check_in_range(end, "end")
        if start > end:
            raise CalendarError(
                f"start={start.isoformat()} is after end={end.isoformat()}",
                field="start",
                rule="start<=end",
            )
        days = self._days(start, end)
        return [i for i in days if i.reason is not DayReason.WORKING_DAY or i.name]

    def _days(self, a: date, b: date) -> list[DayInfo]:
        """Describe each day in ``(a, b]`` (both already range-checked)."""
        return [
            self._describe(a + timedelta(days=k)) for k in range(1, (b - a).days + 1)
        ]


def _check_count(n: object, field: str) -> int:
    """Reject negative or non-integer day counts with a CalendarError."""
    if isinstance(n, bool) or not isinstance(n, int):
        raise CalendarError(f"{field} must be an int", field=field, rule="type")
    if n < 0:
        raise CalendarError(
            f"{field} must be >= 0, got {n}", field=field, rule="non_negative"
        )
    return n
