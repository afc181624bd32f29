"""Where holidays==0.109 and the shipped calendar disagree, and the override that fixes it.

Each test asserts what the raw package says, what releaseflow says, and which
shipped override (with its source) makes the difference. If the package is fixed
upstream, the first assertion fails: revisit the override then.
"""

from datetime import date

import holidays
import pytest

from releaseflow.calendar import OverrideKind, VietnamCalendar, shipped_vn_overrides


@pytest.fixture(scope="module")
def raw() -> holidays.HolidayBase:
    return holidays.country_holidays("VN", years=range(2024, 2027), language="en_US")


def _shipped(day: date) -> OverrideKind | None:
    for entry in shipped_vn_overrides():
        if entry.day == day:
            return entry.kind
    return None


def test_package_version_is_the_pinned_one() -> None:
    assert holidays.__version__ == "0.109"


def test_2026_01_02_new_year_bridge_missing_from_package(
    raw: holidays.HolidayBase, vn: VietnamCalendar
) -> None:
    assert raw.is_working_day(date(2026, 1, 2))
    assert not vn.is_working_day(date(2026, 1, 2))
    assert _shipped(date(2026, 1, 2)) is OverrideKind.EXTRA_DAY_OFF
    assert "12729/VPCP-KGVX" in vn.describe_day(date(2026, 1, 2)).legal_source


def test_2026_01_10_makeup_saturday_missing_from_package(
    raw: holidays.HolidayBase, vn: VietnamCalendar
) -> None:
    assert not raw.is_working_day(date(2026, 1, 10))
    assert vn.is_working_day(date(2026, 1, 10))
    assert _shipped(date(2026, 1, 10)) is OverrideKind.MAKEUP_WORKDAY


def test_2026_11_24_culture_day_is_a_package_holiday_but_flagged_here(
    raw: holidays.HolidayBase, vn: VietnamCalendar
) -> None:
    assert raw.get(date(2026, 11, 24)) == "Vietnam Cultural Day"
    assert vn.is_working_day(date(2026, 11, 24))
    assert "(not applied)" in vn.describe_day(date(2026, 11, 24)).name


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (date(2024, 4, 29), False),
        (date(2024, 5, 4), True),
        (date(2025, 5, 2), False),
        (date(2025, 4, 26), True),
        (date(2026, 8, 31), False),
        (date(2026, 8, 22), True),
    ],
)
def test_pinned_swaps_agree_with_the_package(
    raw: holidays.HolidayBase, vn: VietnamCalendar, day: date, working: bool
) -> None:
    assert raw.is_working_day(day) is working
    assert vn.is_working_day(day) is working
    assert _shipped(day) is not None


def test_every_other_day_2024_2026_agrees_with_the_package(
    raw: holidays.HolidayBase, vn: VietnamCalendar
) -> None:
    known = {date(2026, 1, 2), date(2026, 1, 10), date(2026, 11, 24)}
    day, differ = date(2024, 1, 1), []
    while day.year <= 2026:
        if day not in known and raw.is_working_day(day) != vn.is_working_day(day):
            differ.append(day)
        day = date.fromordinal(day.toordinal() + 1)
    assert differ == []
