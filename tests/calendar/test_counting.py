from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from releaseflow.calendar import (
    DayReason,
    VietnamCalendar,
    calendar_days_last_day,
    end_of_day_utc,
    hours_due,
    local_date,
    require_aware,
)
from releaseflow.exceptions import CalendarError, ValidationError


@pytest.mark.parametrize(
    ("start", "n", "expected"),
    [
        # Friday before Tết 2026 + 5 WD: Tết week skipped, Mon 23 Feb is day 1
        (date(2026, 2, 13), 5, date(2026, 2, 27)),
        (date(2026, 2, 13), 1, date(2026, 2, 23)),
        # Tết 2025: Fri 24 Jan + 1 -> Mon 3 Feb
        (date(2025, 1, 24), 1, date(2025, 2, 3)),
        # Tết 2024: Wed 7 Feb + 1 -> Thu 15 Feb
        (date(2024, 2, 7), 1, date(2024, 2, 15)),
        # make-up Saturday 4 May 2024 counts: Thu 2 May + 2 -> Sat 4 May
        (date(2024, 5, 2), 2, date(2024, 5, 4)),
        # swap 2025: Fri 25 Apr + 1 -> Sat 26 Apr (make-up), + 2 -> Mon 28 Apr
        (date(2025, 4, 25), 1, date(2025, 4, 26)),
        (date(2025, 4, 25), 2, date(2025, 4, 28)),
        (date(2025, 4, 29), 1, date(2025, 5, 5)),
        # New Year 2026: Wed 31 Dec 2025 + 1 -> Mon 5 Jan; Fri 9 Jan + 1 -> Sat 10 Jan
        (date(2025, 12, 31), 1, date(2026, 1, 5)),
        (date(2026, 1, 9), 1, date(2026, 1, 10)),
        # Hung Kings 2026 observed Mon 27 Apr; 30/4-1/5 Thu-Fri
        (date(2026, 4, 24), 1, date(2026, 4, 28)),
        (date(2026, 4, 29), 1, date(2026, 5, 4)),
        # National Day 2025 and 2026
        (date(2025, 8, 29), 1, date(2025, 9, 3)),
        (date(2026, 8, 28), 1, date(2026, 9, 3)),
        # LATI complex: 15 WD from Fri 6 Feb 2026 crossing Tết
        (date(2026, 2, 6), 15, date(2026, 3, 6)),
    ],
)
def test_add_working_days_known_answers(
    vn: VietnamCalendar, start: date, n: int, expected: date
) -> None:
    assert vn.add_working_days(start, n) == expected
    assert vn.working_days_between(start, expected) == n


def test_zero_days_is_start_if_working_else_next_working_day(
    vn: VietnamCalendar,
) -> None:
    assert vn.add_working_days(date(2026, 2, 13), 0) == date(2026, 2, 13)
    assert vn.add_working_days(date(2026, 2, 14), 0) == date(2026, 2, 23)


def test_next_working_day_is_strictly_after(vn: VietnamCalendar) -> None:
    assert vn.next_working_day(date(2026, 2, 13)) == date(2026, 2, 23)
    assert vn.next_working_day(date(2026, 2, 23)) == date(2026, 2, 24)


def test_working_days_between(vn: VietnamCalendar) -> None:
    assert vn.working_days_between(date(2026, 2, 13), date(2026, 2, 13)) == 0
    assert vn.working_days_between(date(2026, 2, 13), date(2026, 2, 22)) == 0
    # 22 weekdays in Jan 2026, minus 1-2 Jan, plus make-up Sat 10 Jan (1 Jan excluded)
    assert vn.working_days_between(date(2026, 1, 1), date(2026, 1, 31)) == 21


def test_explain_days_gives_reasons_and_sources(vn: VietnamCalendar) -> None:
    days = vn.explain_days(date(2025, 12, 31), date(2026, 1, 10))
    by_day = {i.day: i for i in days}
    assert by_day[date(2026, 1, 1)].reason is DayReason.HOLIDAY
    assert "Art. 112" in by_day[date(2026, 1, 1)].legal_source
    assert by_day[date(2026, 1, 2)].reason is DayReason.EXTRA_DAY_OFF
    assert by_day[date(2026, 1, 3)].reason is DayReason.WEEKEND
    assert by_day[date(2026, 1, 10)].reason is DayReason.MAKEUP_WORKDAY
    assert date(2026, 1, 5) not in by_day  # an ordinary Monday
    assert [i.day for i in days] == sorted(by_day)


def test_compensatory_day_source(vn: VietnamCalendar) -> None:
    info = vn.describe_day(date(2026, 4, 27))
    assert not info.working
    assert "111(3)" in info.legal_source


@pytest.mark.parametrize("n", [-1, -15])
def test_negative_counts_rejected(vn: VietnamCalendar, n: int) -> None:
    with pytest.raises(CalendarError) as err:
        vn.add_working_days(date(2026, 1, 5), n)
    assert err.value.field == "n"


def test_non_int_count_rejected(vn: VietnamCalendar) -> None:
    with pytest.raises(CalendarError):
        vn.add_working_days(date(2026, 1, 5), 1.5)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [date(2016, 12, 31), date(2036, 1, 1)])
def test_out_of_range_names_the_field(vn: VietnamCalendar, bad: date) -> None:
    with pytest.raises(CalendarError) as err:
        vn.add_working_days(bad, 1)
    assert err.value.field == "start"
    assert err.value.rule == "supported_range"
    with pytest.raises(CalendarError) as err2:
        vn.is_working_day(bad)
    assert err2.value.field == "day"


def test_running_off_the_end_of_the_range_is_an_error(vn: VietnamCalendar) -> None:
    with pytest.raises(CalendarError) as err:
        vn.add_working_days(date(2035, 12, 28), 10)
    assert err.value.field == "result"


def test_between_requires_ordered_dates(vn: VietnamCalendar) -> None:
    with pytest.raises(CalendarError) as err:
        vn.working_days_between(date(2026, 1, 6), date(2026, 1, 5))
    assert err.value.field == "a"
    with pytest.raises(CalendarError):
        vn.explain_days(date(2026, 1, 6), date(2026, 1, 5))


def test_datetime_instead_of_date_rejected(vn: VietnamCalendar) -> None:
    with pytest.raises(CalendarError) as err:
        vn.is_working_day(datetime(2026, 1, 5, tzinfo=UTC))
    assert err.value.field == "day"


def test_calendar_error_is_a_validation_error() -> None:
    assert issubclass(CalendarError, ValidationError)


def test_end_of_day_is_next_local_midnight_in_utc() -> None:
    due = end_of_day_utc(date(2026, 2, 27), "Asia/Ho_Chi_Minh")
    assert due == datetime(2026, 2, 27, 17, 0, tzinfo=UTC)
    assert due.tzinfo is UTC


def test_local_date_uses_the_agency_zone() -> None:
    # 17:30 UTC on Thu 12 Feb is 00:30 Fri 13 Feb in Hanoi
    moment = datetime(2026, 2, 12, 17, 30, tzinfo=UTC)
    assert local_date(moment, "Asia/Ho_Chi_Minh") == date(2026, 2, 13)
    assert local_date(moment, "UTC") == date(2026, 2, 12)


def test_naive_datetimes_rejected_with_field() -> None:
    with pytest.raises(CalendarError) as err:
        require_aware(datetime(2026, 1, 5, 9), "received_at")
    assert err.value.field == "received_at"
    with pytest.raises(CalendarError):
        hours_due(datetime(2026, 1, 5, 9), 24)
    with pytest.raises(CalendarError) as err2:
        local_date(datetime(2026, 1, 5), "Asia/Ho_Chi_Minh", "pauses")
    assert err2.value.field == "pauses"


def test_unknown_time_zone_rejected() -> None:
    with pytest.raises(CalendarError) as err:
        end_of_day_utc(date(2026, 1, 5), "Mars/Olympus")
    assert err.value.field == "timezone"


def test_calendar_days_moved_by_art_148(vn: VietnamCalendar) -> None:
    # Wed 2 Sep 2026 + 10 days = Sat 12 Sep -> Mon 14 Sep
    assert calendar_days_last_day(vn, date(2026, 9, 2), 10) == date(2026, 9, 14)
    # Fri 6 Feb 2026 + 10 = Mon 16 Feb (Tết) -> Mon 23 Feb
    assert calendar_days_last_day(vn, date(2026, 2, 6), 10) == date(2026, 2, 23)
    assert calendar_days_last_day(vn, date(2026, 3, 2), 3) == date(2026, 3, 5)
    with pytest.raises(CalendarError):
        calendar_days_last_day(vn, date(2026, 3, 2), -1)


def test_hours_ignore_rest_days() -> None:
    start = datetime(2026, 2, 13, 9, tzinfo=timezone(timedelta(hours=7)))
    assert hours_due(start, 24) == datetime(2026, 2, 14, 2, tzinfo=UTC)
    with pytest.raises(CalendarError):
        hours_due(start, -1)
