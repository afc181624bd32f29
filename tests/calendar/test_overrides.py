from datetime import date

import pytest

from releaseflow.calendar import (
    BaseCalendar,
    CalendarOverride,
    DayReason,
    HolidaysCalendar,
    OverrideKind,
    OverrideTable,
    VietnamCalendar,
    WeekendOnlyCalendar,
    WorkingCalendar,
    load_overrides_yaml,
    shipped_vn_overrides,
)
from releaseflow.exceptions import CalendarError

SOURCE = "Government Office Official Letter 999/VPCP-KGVX (test)"


def test_override_without_source_rejected() -> None:
    with pytest.raises(CalendarError) as err:
        CalendarOverride(date(2027, 5, 3), OverrideKind.EXTRA_DAY_OFF, "bridge", "  ")
    assert err.value.field == "legal_source"
    with pytest.raises(CalendarError) as err2:
        CalendarOverride.from_mapping(
            {"date": "2027-05-03", "kind": "extra_day_off", "name": "x"}
        )
    assert err2.value.field == "legal_source"


def test_override_with_bad_kind_or_date_rejected() -> None:
    with pytest.raises(CalendarError) as err:
        CalendarOverride.from_mapping(
            {"date": "2027-05-03", "kind": "holiday", "name": "x", "legal_source": "y"}
        )
    assert err.value.field == "kind"
    with pytest.raises(CalendarError) as err2:
        CalendarOverride.from_mapping(
            {"date": "3 May", "kind": "extra_day_off", "name": "x", "legal_source": "y"}
        )
    assert err2.value.field == "date"


def test_with_overrides_returns_a_new_calendar_and_new_version() -> None:
    cal = VietnamCalendar()
    bridge = CalendarOverride(
        date(2027, 4, 29), OverrideKind.EXTRA_DAY_OFF, "b", SOURCE
    )
    makeup = CalendarOverride(
        date(2027, 5, 8), OverrideKind.MAKEUP_WORKDAY, "m", SOURCE
    )
    new = cal.with_overrides([bridge, makeup])
    assert cal.is_working_day(date(2027, 4, 29))
    assert not new.is_working_day(date(2027, 4, 29))
    assert new.is_working_day(date(2027, 5, 8))
    assert new.describe_day(date(2027, 5, 8)).reason is DayReason.MAKEUP_WORKDAY
    assert new.version != cal.version
    assert VietnamCalendar().version == cal.version  # deterministic
    assert isinstance(new, VietnamCalendar)


def test_agency_override_replaces_a_shipped_entry() -> None:
    cal = VietnamCalendar()
    undo = [
        CalendarOverride(d, OverrideKind.NOT_A_HOLIDAY, "swap not adopted", SOURCE)
        for d in (date(2026, 8, 31), date(2026, 8, 22))
    ]
    new = cal.with_overrides(undo)
    assert new.is_working_day(date(2026, 8, 31))
    assert not new.is_working_day(date(2026, 8, 22))  # back to a plain Saturday
    assert new.describe_day(date(2026, 8, 31)).legal_source == SOURCE


def test_not_a_holiday_removes_a_package_holiday() -> None:
    entry = CalendarOverride(date(2026, 4, 27), OverrideKind.NOT_A_HOLIDAY, "n", SOURCE)
    new = VietnamCalendar().with_overrides([entry])
    assert new.is_working_day(date(2026, 4, 27))
    (info,) = new.explain_days(date(2026, 4, 26), date(2026, 4, 27))
    assert (info.day, info.working, info.legal_source) == (
        date(2026, 4, 27),
        True,
        SOURCE,
    )


def test_two_different_entries_for_one_date_clash() -> None:
    a = CalendarOverride(date(2027, 1, 4), OverrideKind.EXTRA_DAY_OFF, "a", SOURCE)
    b = CalendarOverride(date(2027, 1, 4), OverrideKind.MAKEUP_WORKDAY, "b", SOURCE)
    with pytest.raises(CalendarError) as err:
        OverrideTable([a, b])
    assert err.value.field == "overrides"
    assert len(OverrideTable([a, a])) == 1


def test_override_outside_range_rejected() -> None:
    entry = CalendarOverride(date(2040, 1, 2), OverrideKind.EXTRA_DAY_OFF, "x", SOURCE)
    with pytest.raises(CalendarError) as err:
        VietnamCalendar().with_overrides([entry])
    assert err.value.field == "override.date"


def test_fingerprint_tracks_content() -> None:
    a = CalendarOverride(date(2027, 1, 4), OverrideKind.EXTRA_DAY_OFF, "a", SOURCE)
    b = CalendarOverride(
        date(2027, 1, 4), OverrideKind.EXTRA_DAY_OFF, "a", SOURCE + "."
    )
    assert OverrideTable([a]).fingerprint != OverrideTable([b]).fingerprint
    assert OverrideTable([a]) == OverrideTable([a])


def test_shipped_data_every_entry_has_a_source() -> None:
    entries = shipped_vn_overrides()
    assert len(entries) >= 8
    assert all(e.legal_source and e.name for e in entries)
    kinds = {e.kind for e in entries}
    assert kinds == {OverrideKind.EXTRA_DAY_OFF, OverrideKind.MAKEUP_WORKDAY}


@pytest.mark.parametrize(
    "text",
    ["overrides: 3", "- a\n- b", "overrides: [1]", "overrides: [: bad"],
)
def test_malformed_yaml_rejected(text: str) -> None:
    with pytest.raises(CalendarError):
        load_overrides_yaml(text)


def test_yaml_round_trip() -> None:
    text = (
        "overrides:\n"
        "  - date: 2027-02-05\n"
        "    kind: extra_day_off\n"
        "    name: Tết 2027 bridge\n"
        f"    legal_source: {SOURCE}\n"
        "    verified: false\n"
    )
    (entry,) = load_overrides_yaml(text)
    assert entry.day == date(2027, 2, 5)
    assert entry.verified is False
    assert entry.as_dict()["kind"] == "extra_day_off"


def test_weekend_only_calendar_plugs_in() -> None:
    cal = WeekendOnlyCalendar(weekend={4, 5}, timezone="Asia/Dubai")
    assert isinstance(cal, WorkingCalendar)
    assert cal.add_working_days(date(2030, 1, 2), 2) == date(2030, 1, 6)  # Wed -> Sun
    assert cal.version.startswith("weekend-only:45")
    with pytest.raises(CalendarError):
        WeekendOnlyCalendar(weekend=range(7))


def test_holidays_calendar_for_another_country() -> None:
    cal = HolidaysCalendar("DE", timezone="Europe/Berlin")
    assert isinstance(cal, WorkingCalendar)
    assert isinstance(cal, BaseCalendar)
    assert not cal.is_working_day(date(2026, 12, 25))
    assert cal.add_working_days(date(2026, 12, 24), 1) == date(2026, 12, 28)
    assert cal.version.startswith("de:holidays-0.109:")
    with pytest.raises(CalendarError) as err:
        HolidaysCalendar("XX")
    assert err.value.field == "country"


def test_bad_year_range_rejected() -> None:
    with pytest.raises(CalendarError):
        VietnamCalendar(first_year=2030, last_year=2020)
