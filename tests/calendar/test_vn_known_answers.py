"""Day-by-day check of the shipped VN calendar against the official announcements.

Sources per year are listed in docs/explanation/working-days.md ("Verification").
Each table lists the Monday-Friday days OFF and the Saturdays WORKED; every other
day of the year must follow the Mon-Fri rule.
"""

from datetime import date, timedelta

import pytest

from releaseflow.calendar import DayReason, VietnamCalendar


def d(m: int, day: int, y: int) -> date:
    return date(y, m, day)


WEEKDAYS_OFF = {
    2024: {
        d(1, 1, 2024),  # New Year
        # Tết Giáp Thìn: Thu 8 Feb - Wed 14 Feb (7 days incl. the weekend)
        d(2, 8, 2024),
        d(2, 9, 2024),
        d(2, 12, 2024),
        d(2, 13, 2024),
        d(2, 14, 2024),
        d(4, 18, 2024),  # Hung Kings (10/3 lunar)
        d(4, 29, 2024),  # swap with Sat 4 May
        d(4, 30, 2024),
        d(5, 1, 2024),
        d(9, 2, 2024),
        d(9, 3, 2024),  # National Day: Sat 31 Aug - Tue 3 Sep
    },
    2025: {
        d(1, 1, 2025),
        # Tết Ất Tỵ: Sat 25 Jan - Sun 2 Feb (9 days)
        d(1, 27, 2025),
        d(1, 28, 2025),
        d(1, 29, 2025),
        d(1, 30, 2025),
        d(1, 31, 2025),
        d(4, 7, 2025),  # Hung Kings
        d(4, 30, 2025),
        d(5, 1, 2025),
        d(5, 2, 2025),  # 2 May swapped with Sat 26 Apr
        d(9, 1, 2025),
        d(9, 2, 2025),  # National Day: Sat 30 Aug - Tue 2 Sep
    },
    2026: {
        d(1, 1, 2026),
        d(1, 2, 2026),  # New Year: Thu 1 - Sun 4 Jan (2 Jan swapped)
        # Tết Bính Ngọ: Sat 14 Feb - Sun 22 Feb (9 days); Mon 23 Feb is a working day
        d(2, 16, 2026),
        d(2, 17, 2026),
        d(2, 18, 2026),
        d(2, 19, 2026),
        d(2, 20, 2026),
        d(4, 27, 2026),  # Hung Kings falls on Sun 26 Apr -> Mon 27 Apr
        d(4, 30, 2026),
        d(5, 1, 2026),  # Thu-Fri, no swap
        d(8, 31, 2026),  # UNCERTAIN swap with Sat 22 Aug (see the YAML note)
        d(9, 1, 2026),
        d(9, 2, 2026),  # National Day Tue-Wed
    },
}
SATURDAYS_WORKED = {
    2024: {d(5, 4, 2024)},
    2025: {d(4, 26, 2025)},
    2026: {d(1, 10, 2026), d(8, 22, 2026)},
}


def _expected(day: date) -> bool:
    if day in SATURDAYS_WORKED[day.year]:
        return True
    return day.weekday() < 5 and day not in WEEKDAYS_OFF[day.year]


@pytest.mark.parametrize("year", [2024, 2025, 2026])
def test_every_day_of_year_matches_the_announcements(
    vn: VietnamCalendar, year: int
) -> None:
    day, wrong = date(year, 1, 1), []
    while day.year == year:
        if vn.is_working_day(day) != _expected(day):
            wrong.append(day)
        day += timedelta(days=1)
    assert wrong == []


@pytest.mark.parametrize(
    ("first", "last"),
    [
        (date(2024, 2, 8), date(2024, 2, 14)),
        (date(2025, 1, 25), date(2025, 2, 2)),
        (date(2026, 2, 14), date(2026, 2, 22)),
    ],
)
def test_tet_is_one_unbroken_block_of_rest_days(
    vn: VietnamCalendar, first: date, last: date
) -> None:
    days = [first + timedelta(days=k) for k in range((last - first).days + 1)]
    assert not any(vn.is_working_day(x) for x in days)
    assert vn.is_working_day(first - timedelta(days=1))
    after = last + timedelta(days=1)
    assert vn.is_working_day(after)


def test_makeup_saturdays_are_reported_with_their_source(vn: VietnamCalendar) -> None:
    for year, saturdays in SATURDAYS_WORKED.items():
        for sat in saturdays:
            info = vn.describe_day(sat)
            assert sat.weekday() == 5, year
            assert info.working
            assert info.reason is DayReason.MAKEUP_WORKDAY
            assert info.legal_source


def test_culture_day_is_off_only_with_the_flag() -> None:
    plain, flagged = VietnamCalendar(), VietnamCalendar(culture_day=True)
    assert plain.is_working_day(date(2026, 11, 24))
    assert not flagged.is_working_day(date(2026, 11, 24))
    # 24 Nov 2029 is a Saturday: the package's compensatory Monday follows the flag
    assert plain.is_working_day(date(2029, 11, 26))
    assert not flagged.is_working_day(date(2029, 11, 26))
    assert plain.version != flagged.version
    assert "80-NQ/TW" in flagged.describe_day(date(2026, 11, 24)).legal_source
