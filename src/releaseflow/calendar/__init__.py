"""Working-day calendars: the interface, the Vietnamese calendar, overrides, counting.

Example:
    >>> from datetime import date
    >>> from releaseflow.calendar import VietnamCalendar
    >>> cal = VietnamCalendar()
    >>> cal.working_days_between(date(2026, 2, 13), date(2026, 2, 27))
    5
"""

from releaseflow.calendar.base import BaseCalendar, DayInfo, DayReason, WorkingCalendar
from releaseflow.calendar.counting import (
    DEFAULT_TIMEZONE,
    calendar_days_last_day,
    end_of_day_utc,
    hours_due,
    local_date,
    require_aware,
    working_days_last_day,
)
from releaseflow.calendar.generic import HolidaysCalendar, WeekendOnlyCalendar
from releaseflow.calendar.overrides import (
    CalendarOverride,
    OverrideKind,
    OverrideTable,
    load_overrides_yaml,
    shipped_vn_overrides,
)
from releaseflow.calendar.vietnam import VietnamCalendar

__all__ = [
    "DEFAULT_TIMEZONE",
    "BaseCalendar",
    "CalendarOverride",
    "DayInfo",
    "DayReason",
    "HolidaysCalendar",
    "OverrideKind",
    "OverrideTable",
    "VietnamCalendar",
    "WeekendOnlyCalendar",
    "WorkingCalendar",
    "calendar_days_last_day",
    "end_of_day_utc",
    "hours_due",
    "load_overrides_yaml",
    "local_date",
    "require_aware",
    "shipped_vn_overrides",
    "working_days_last_day",
]
