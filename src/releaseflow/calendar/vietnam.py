"""Vietnam's public-sector working calendar (Monday-Friday, Labour Code holidays).

Base: the ``holidays`` package (pinned ``0.109``), country ``VN``: Labour Code 2019
Art. 112 holidays (Tết and Hung Kings by the lunar calendar), Art. 111(3)
compensatory days, and the swaps the package knows. On top: the shipped override
table (``data/vn_overrides.yaml``) and any agency overrides added at run time.

Vietnam Culture Day (24 Nov, from 2026) is decided by Politburo Resolution
80-NQ/TW but the Labour Code amendment adding it to Art. 112(1) was not confirmed;
it is therefore **off by default** (``culture_day=False``): 24 Nov and any
compensatory day for it count as ordinary days. Pass ``culture_day=True`` once the
amendment is in force for your agency.
"""

from __future__ import annotations

from collections.abc import Iterable

from releaseflow.calendar.generic import (
    DEFAULT_FIRST_YEAR,
    DEFAULT_LAST_YEAR,
    HolidaysCalendar,
)
from releaseflow.calendar.overrides import (
    CalendarOverride,
    OverrideTable,
    shipped_vn_overrides,
)

__all__ = [
    "CULTURE_DAY_NAME",
    "CULTURE_DAY_SOURCE",
    "VN_TIMEZONE",
    "VietnamCalendar",
]

VN_TIMEZONE = "Asia/Ho_Chi_Minh"
CULTURE_DAY_NAME = "Vietnam Cultural Day"
CULTURE_DAY_SOURCE = (
    "Politburo Resolution 80-NQ/TW (Jan 2026) and Government Resolution 30/NQ-CP "
    "(Feb 2026) tasking an amendment of Labour Code Art. 112(1); amendment NOT "
    "confirmed - flagged entry"
)
_LABOUR_CODE = "Labour Code 2019 Art. 112(1)"
_COMPENSATORY = "Labour Code 2019 Art. 111(3) compensatory day"
_SWAP = "Government swap as carried by holidays 0.109 (VietnamStaticHolidays)"


def _source_for(name: str) -> str:
    """Map a package holiday name (``en_US``) to its legal basis."""
    if name.startswith(CULTURE_DAY_NAME):
        return CULTURE_DAY_SOURCE
    if name.startswith("Day off (substituted"):
        return _SWAP
    if name == "weekend workday":
        return _SWAP
    if name.endswith("(observed)") or name.startswith("29 of Lunar"):
        return _COMPENSATORY
    if "Lunar New Year" in name:
        return f"{_LABOUR_CODE}(b) Lunar New Year, 5 days"
    return _LABOUR_CODE


class VietnamCalendar(HolidaysCalendar):
    """The working calendar of a Vietnamese public body.

    Args:
        overrides: Extra overrides on top of the shipped table (agency data).
        culture_day: Treat Vietnam Culture Day (24 Nov, 2026+) as a day off.
        include_shipped: Apply the shipped override table (default True).
        timezone: The agency's IANA time zone.
        first_year: First supported year (default 2017).
        last_year: Last supported year (default 2035).

    Example:
        >>> from datetime import date
        >>> cal = VietnamCalendar()
        >>> cal.is_working_day(date(2026, 2, 16))  # Lunar New Year's Eve
        False
        >>> cal.add_working_days(date(2026, 2, 13), 5)  # Friday before Tết 2026
        datetime.date(2026, 2, 27)
    """

    def __init__(
        self,
        overrides: Iterable[CalendarOverride] = (),
        *,
        culture_day: bool = False,
        include_shipped: bool = True,
        timezone: str = VN_TIMEZONE,
        first_year: int = DEFAULT_FIRST_YEAR,
        last_year: int = DEFAULT_LAST_YEAR,
    ) -> None:
        table = OverrideTable(shipped_vn_overrides() if include_shipped else ())
        table = table.with_overrides(overrides)
        super().__init__(
            "VN",
            overrides=table,
            timezone=timezone,
            first_year=first_year,
            last_year=last_year,
            holiday_filter=None if culture_day else _not_culture_day,
            flags=f"culture_day={culture_day}",
        )
        self.culture_day = culture_day

    def _legal_source_for(self, name: str) -> str:
        return _source_for(name)


def _not_culture_day(name: str) -> bool:
    """Holiday filter that drops Vietnam Culture Day and its compensatory day."""
    return not name.startswith(CULTURE_DAY_NAME)
