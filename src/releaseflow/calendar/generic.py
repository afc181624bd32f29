"""Calendars for any country: weekends only, or ``holidays`` plus overrides."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from importlib.metadata import version as _dist_version

import holidays

from releaseflow.calendar.base import BaseCalendar, DayInfo, DayReason
from releaseflow.calendar.overrides import CalendarOverride, OverrideKind, OverrideTable
from releaseflow.exceptions import CalendarError

__all__ = [
    "DEFAULT_FIRST_YEAR",
    "DEFAULT_LAST_YEAR",
    "HolidaysCalendar",
    "WeekendOnlyCalendar",
]

HOLIDAYS_VERSION = _dist_version("holidays")
DEFAULT_FIRST_YEAR = 2017
DEFAULT_LAST_YEAR = 2035
_SAT_SUN = frozenset({5, 6})


def _check_years(first_year: int, last_year: int) -> None:
    """Reject an empty or absurd year range."""
    if not 1900 < first_year <= last_year < 2200:
        raise CalendarError(
            f"bad supported range {first_year}-{last_year}", field="first_year"
        )


class WeekendOnlyCalendar(BaseCalendar):
    """Every day is a working day except the weekend days; no holidays.

    Useful for tests and as the smallest example of a pluggable calendar.

    Args:
        weekend: Weekday numbers of rest days (Monday=0 ... Sunday=6).
        timezone: The IANA time zone of the agency.
        first_year: First supported year.
        last_year: Last supported year.

    Example:
        >>> from datetime import date
        >>> cal = WeekendOnlyCalendar()
        >>> cal.add_working_days(date(2030, 1, 4), 1)  # Friday + 1
        datetime.date(2030, 1, 7)
    """

    def __init__(
        self,
        weekend: Iterable[int] = _SAT_SUN,
        *,
        timezone: str = "UTC",
        first_year: int = DEFAULT_FIRST_YEAR,
        last_year: int = DEFAULT_LAST_YEAR,
    ) -> None:
        _check_years(first_year, last_year)
        self._weekend = frozenset(weekend)
        if not self._weekend <= set(range(7)) or len(self._weekend) == 7:
            raise CalendarError("weekend must be a subset of 0..6", field="weekend")
        self._timezone = timezone
        self.first_year = first_year
        self.last_year = last_year

    @property
    def version(self) -> str:
        """``"weekend-only:<days>:<tz>:<years>"``."""
        days = "".join(str(d) for d in sorted(self._weekend))
        return (
            f"weekend-only:{days}:{self._timezone}:{self.first_year}-{self.last_year}"
        )

    @property
    def timezone(self) -> str:
        """The agency's IANA time zone."""
        return self._timezone

    def _describe(self, day: date) -> DayInfo:
        if day.weekday() in self._weekend:
            return DayInfo(day, False, DayReason.WEEKEND)
        return DayInfo(day, True, DayReason.WORKING_DAY)


@dataclass(frozen=True)
class _BaseData:
    """What the ``holidays`` package says for a country and year range."""

    holidays: Mapping[date, str]
    weekend_workdays: frozenset[date]
    weekend: frozenset[int]


@lru_cache(maxsize=32)
def _load_base(country: str, subdiv: str | None, first: int, last: int) -> _BaseData:
    """Build (once per argument set) the base data from the ``holidays`` package."""
    try:
        cal = holidays.country_holidays(
            country, subdiv=subdiv, years=range(first, last + 1), language="en_US"
        )
    except NotImplementedError as exc:
        raise CalendarError(f"unknown country {country!r}", field="country") from exc
    return _BaseData(
        holidays=dict(cal.items()),
        weekend_workdays=frozenset(getattr(cal, "weekend_workdays", ())),
        weekend=frozenset(cal.weekend),
    )


class HolidaysCalendar(BaseCalendar):
    """The ``holidays`` package's calendar for a country, corrected by overrides.

    Precedence for a date: an override, then the package's make-up working days,
    then the package's holidays, then the weekend.

    Args:
        country: ISO 3166 alpha-2 code understood by ``holidays``.
        subdiv: Optional subdivision code.
        overrides: Corrections applied on top of the package.
        timezone: The agency's IANA time zone.
        first_year: First supported year.
        last_year: Last supported year.
        holiday_filter: Optional predicate on a package holiday's name; entries
            for which it returns False are dropped (used for flagged holidays).
        flags: Extra configuration text folded into :attr:`version`.
    """

    def __init__(
        self,
        country: str,
        *,
        subdiv: str | None = None,
        overrides: Iterable[CalendarOverride] | OverrideTable = (),
        timezone: str = "UTC",
        first_year: int = DEFAULT_FIRST_YEAR,
        last_year: int = DEFAULT_LAST_YEAR,
        holiday_filter: Callable[[str], bool] | None = None,
        flags: str = "",
    ) -> None:
        _check_years(first_year, last_year)
        self.country = country
        self.subdiv = subdiv
        self.first_year = first_year
        self.last_year = last_year
        self._timezone = timezone
        self._filter = holiday_filter
        self._flags = flags
        self._base = _load_base(country, subdiv, first_year, last_year)
        self._table = (
            overrides
            if isinstance(overrides, OverrideTable)
            else OverrideTable(overrides)
        )

    @property
    def overrides(self) -> OverrideTable:
        """The override table in use."""
        return self._table

    @property
    def timezone(self) -> str:
        """The agency's IANA time zone."""
        return self._timezone

    @property
    def version(self) -> str:
        """``"<country>:holidays-<version>:<flags>:<years>:<overrides fingerprint>"``.

        Store it next to each computed deadline: it changes when an override is
        added or the package is upgraded.
        """
        raw = f"{self.country}:{self.subdiv}:{self._timezone}:{self._flags}"
        digest = hashlib.sha256(raw.encode()).hexdigest()[:6]
        return (
            f"{self.country.lower()}:holidays-{HOLIDAYS_VERSION}:{digest}:"
            f"{self.first_year}-{self.last_year}:{self._table.fingerprint}"
        )

    def with_overrides(self, overrides: Iterable[CalendarOverride]) -> HolidaysCalendar:
        """Return a new calendar with ``overrides`` added (same-date entries replaced).

        Args:
            overrides: The new entries, each with its legal source.

        Returns:
            A new calendar whose :attr:`version` differs; this one is unchanged.

        Raises:
            CalendarError: An entry is invalid or outside the supported range.
        """
        entries = tuple(overrides)
        for entry in entries:
            self.check_in_range(entry.day, "override.date")
        return self._copy_with(self._table.with_overrides(entries))

    def _copy_with(self, table: OverrideTable) -> HolidaysCalendar:
        """Return a shallow copy using ``table``."""
        clone = object.__new__(type(self))
        clone.__dict__.update(self.__dict__)
        clone._table = table
        return clone

    def _legal_source_for(self, name: str) -> str:
        """Return the legal source of a package holiday (subclasses refine it)."""
        return f"holidays {HOLIDAYS_VERSION} ({self.country})"

    def _describe(self, day: date) -> DayInfo:
        entry = self._table.get(day)
        if entry is not None:
            return _from_override(entry, self._base.weekend)
        if day in self._base.weekend_workdays:
            source = self._legal_source_for("weekend workday")
            return DayInfo(
                day, True, DayReason.MAKEUP_WORKDAY, "Make-up working day", source
            )
        name = self._base.holidays.get(day)
        if name is None:
            return _plain(day, self._base.weekend)
        source = self._legal_source_for(name)
        if self._filter is None or self._filter(name):
            return DayInfo(day, False, DayReason.HOLIDAY, name, source)
        plain = _plain(day, self._base.weekend)
        return DayInfo(
            day, plain.working, plain.reason, f"{name} (not applied)", source
        )


def _plain(day: date, weekend: frozenset[int]) -> DayInfo:
    """Describe a day with no holiday: weekend or ordinary working day."""
    if day.weekday() in weekend:
        return DayInfo(day, False, DayReason.WEEKEND)
    return DayInfo(day, True, DayReason.WORKING_DAY)


def _from_override(entry: CalendarOverride, weekend: frozenset[int]) -> DayInfo:
    """Describe a day decided by an override."""
    if entry.kind is OverrideKind.EXTRA_DAY_OFF:
        reason, working = DayReason.EXTRA_DAY_OFF, False
    elif entry.kind is OverrideKind.MAKEUP_WORKDAY:
        reason, working = DayReason.MAKEUP_WORKDAY, True
    else:
        plain = _plain(entry.day, weekend)
        return DayInfo(
            entry.day, plain.working, plain.reason, entry.name, entry.legal_source
        )
    return DayInfo(entry.day, working, reason, entry.name, entry.legal_source)
