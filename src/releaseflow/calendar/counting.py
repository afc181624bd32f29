"""Civil Code Art. 147/148 counting on aware datetimes.

* Periods in days start the day **after** the triggering event (Art. 147).
* A period in days ends at the **end of its last day** (Art. 148). releaseflow
  represents that end as an **exclusive instant**: local midnight at the start of
  the following day, converted to UTC. A deadline is met if the act happens
  strictly before ``due_at``. (No ``23:59:59.999999``: some databases round it up.)
* A calendar-day period whose last day is a rest day ends at the end of the next
  working day (Art. 148).
* Hour periods run from the exact moment (Art. 147(1)) and ignore rest days.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from releaseflow.calendar.base import WorkingCalendar
from releaseflow.exceptions import CalendarError

__all__ = [
    "DEFAULT_TIMEZONE",
    "calendar_days_last_day",
    "end_of_day_utc",
    "hours_due",
    "local_date",
    "require_aware",
    "working_days_last_day",
    "zone",
]

DEFAULT_TIMEZONE = "Asia/Ho_Chi_Minh"


def zone(name: str) -> ZoneInfo:
    """Return the ``ZoneInfo`` for ``name``.

    Args:
        name: An IANA time-zone name.

    Returns:
        The zone.

    Raises:
        CalendarError: The zone is unknown.
    """
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise CalendarError(f"unknown time zone {name!r}", field="timezone") from exc


def require_aware(value: object, field: str) -> datetime:
    """Return ``value`` if it is a timezone-aware datetime.

    Args:
        value: The value to check.
        field: The argument name reported in the error.

    Returns:
        ``value`` unchanged.

    Raises:
        CalendarError: ``value`` is not a datetime or is naive.
    """
    if not isinstance(value, datetime):
        raise CalendarError(f"{field} must be a datetime", field=field, rule="type")
    if value.tzinfo is None or value.utcoffset() is None:
        raise CalendarError(
            f"{field} is a naive datetime; pass an aware one", field=field, rule="aware"
        )
    return value


def local_date(moment: datetime, tz: str, field: str = "moment") -> date:
    """Return the calendar date of ``moment`` in time zone ``tz``.

    Args:
        moment: An aware datetime.
        tz: The agency's IANA time zone.
        field: The argument name reported in errors.

    Returns:
        The local date.

    Raises:
        CalendarError: ``moment`` is naive or ``tz`` unknown.
    """
    return require_aware(moment, field).astimezone(zone(tz)).date()


def end_of_day_utc(day: date, tz: str) -> datetime:
    """Return the exclusive end of ``day`` in ``tz``: next local midnight, as UTC.

    Args:
        day: The last day of a period.
        tz: The agency's IANA time zone.

    Returns:
        An aware UTC datetime.

    Example:
        >>> from datetime import date
        >>> end_of_day_utc(date(2026, 2, 27), "Asia/Ho_Chi_Minh").isoformat()
        '2026-02-27T17:00:00+00:00'
    """
    midnight = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone(tz))
    return midnight.astimezone(UTC)


def working_days_last_day(calendar: WorkingCalendar, trigger_day: date, n: int) -> date:
    """Return the last day of an ``n``-working-day period triggered on ``trigger_day``.

    Args:
        calendar: The working calendar.
        trigger_day: The local day of the triggering event (not counted).
        n: Number of working days, >= 0.

    Returns:
        The last day of the period (always a working day).

    Raises:
        CalendarError: ``n`` is negative or a date is out of range.
    """
    return calendar.add_working_days(trigger_day, n)


def calendar_days_last_day(
    calendar: WorkingCalendar, trigger_day: date, n: int
) -> date:
    """Return the last day of an ``n``-calendar-day period, moved by Art. 148.

    Args:
        calendar: The working calendar.
        trigger_day: The local day of the triggering event (not counted).
        n: Number of calendar days, >= 0.

    Returns:
        ``trigger_day + n``, or the next working day if that is a rest day.

    Raises:
        CalendarError: ``n`` is negative or a date is out of range.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise CalendarError(
            f"n must be an int >= 0, got {n!r}", field="n", rule="non_negative"
        )
    last = trigger_day + timedelta(days=n)
    if calendar.is_working_day(last):
        return last
    return calendar.next_working_day(last)


def hours_due(moment: datetime, hours: int, field: str = "received_at") -> datetime:
    """Return ``moment + hours`` as an aware UTC datetime (rest days are not skipped).

    Args:
        moment: The triggering moment (aware).
        hours: Number of hours, >= 0.
        field: The argument name reported in errors.

    Returns:
        The due instant in UTC.

    Raises:
        CalendarError: ``moment`` is naive or ``hours`` negative.
    """
    require_aware(moment, field)
    if isinstance(hours, bool) or not isinstance(hours, int) or hours < 0:
        raise CalendarError(f"hours must be an int >= 0, got {hours!r}", field="hours")
    return (moment + timedelta(hours=hours)).astimezone(UTC)
