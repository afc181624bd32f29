from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from releaseflow.calendar import CalendarOverride, OverrideKind, VietnamCalendar
from releaseflow.deadlines import (
    Extension,
    Pause,
    Unit,
    add_months,
    compute_deadline,
    default_rule_set,
    next_periodic_due,
)
from releaseflow.exceptions import CalendarError, ValidationError

HN = ZoneInfo("Asia/Ho_Chi_Minh")
RS = default_rule_set()
CAL = VietnamCalendar()
POST_SIMPLE = RS.rule("lati2016.post_fax.simple.provide")


def hn(y: int, m: int, d: int, h: int = 10, mi: int = 0) -> datetime:
    return datetime(y, m, d, h, mi, tzinfo=HN)


def test_friday_before_tet_2026_by_post() -> None:
    result = compute_deadline(POST_SIMPLE, hn(2026, 2, 13), CAL)
    assert result.last_day == date(2026, 2, 27)
    assert result.due_at == datetime(2026, 2, 27, 17, tzinfo=UTC)
    assert result.start_day == date(2026, 2, 14)
    assert result.calendar_version == CAL.version
    skipped = [d.day for d in result.skipped_days]
    assert skipped == [date(2026, 2, 14) + timedelta(days=k) for k in range(9)]
    lines = result.explanation()
    assert "Art. 31(1)" in lines[0]
    assert any("Lunar New Year's Eve" in line and "skipped" in line for line in lines)


def test_receipt_just_after_local_midnight_counts_from_that_local_day() -> None:
    received = datetime(2026, 2, 12, 17, 30, tzinfo=UTC)  # Fri 00:30 in Hanoi
    assert compute_deadline(POST_SIMPLE, received, CAL).last_day == date(2026, 2, 27)
    earlier = datetime(2026, 2, 12, 16, 30, tzinfo=UTC)  # Thu 23:30 in Hanoi
    assert compute_deadline(POST_SIMPLE, earlier, CAL).last_day == date(2026, 2, 26)


def test_received_on_a_weekend_counts_from_the_next_working_day() -> None:
    rule = RS.rule("lati2016.electronic.simple.provide")
    result = compute_deadline(
        rule, hn(2026, 1, 3), CAL
    )  # Sat during the New Year bridge
    assert result.last_day == date(2026, 1, 7)


def test_makeup_saturday_is_counted_and_explained() -> None:
    rule = RS.rule("lati2016.electronic.simple.provide")
    result = compute_deadline(rule, hn(2026, 1, 8), CAL)  # Thu
    assert result.last_day == date(2026, 1, 12)  # Fri 9, Sat 10 (make-up), Mon 12
    made_up = [d for d in result.days if d.counted]
    assert [d.day for d in made_up] == [date(2026, 1, 10)]
    assert "12729" in made_up[0].legal_source


def test_complex_request_crossing_tet_2025() -> None:
    notify = RS.rule("lati2016.post_fax.complex.notify_deadline")
    provide = RS.rule("lati2016.post_fax.complex.provide")
    assert compute_deadline(notify, hn(2025, 1, 22), CAL).last_day == date(2025, 2, 3)
    assert compute_deadline(provide, hn(2025, 1, 22), CAL).last_day == date(2025, 2, 19)


def test_correction_proposal_calendar_days_moved_by_art_148() -> None:
    rule = RS.rule("lati2026.correction_proposal.reply")
    result = compute_deadline(rule, hn(2026, 9, 2), CAL)  # +10 = Sat 12 Sep
    assert result.last_day == date(2026, 9, 14)
    assert result.moved_by_art148
    assert any("Art. 148" in line for line in result.explanation())
    plain = compute_deadline(rule, hn(2026, 9, 7), CAL)  # +10 = Thu 17 Sep
    assert (plain.last_day, plain.moved_by_art148) == (date(2026, 9, 17), False)


def test_incident_statement_hours_run_over_tet() -> None:
    rule = RS.rule("agency.incident_statement.initial")
    result = compute_deadline(rule, hn(2026, 2, 16, 21, 15), CAL)
    assert result.due_at == datetime(2026, 2, 17, 14, 15, tzinfo=UTC)
    assert result.start_day is None
    assert result.days == ()


def test_working_day_pause_adds_the_paused_working_days() -> None:
    # received Mon 2 Mar 2026; 5 WD -> Mon 9 Mar. Paused Tue 3 Mar 15:00 -> Thu 5 Mar 9:00
    pause = Pause(start=hn(2026, 3, 3, 15), end=hn(2026, 3, 5, 9), reason="consent")
    result = compute_deadline(POST_SIMPLE, hn(2026, 3, 2), CAL, pauses=[pause])
    assert result.pauses[0].days_added == 2  # Wed 4 and Thu 5 not counted
    assert result.last_day == date(2026, 3, 11)
    assert any("consent" in line for line in result.explanation())


def test_same_day_pause_adds_nothing() -> None:
    pauses = [(hn(2026, 3, 3, 9), hn(2026, 3, 3, 16))]
    result = compute_deadline(POST_SIMPLE, hn(2026, 3, 2), CAL, pauses=pauses)
    assert result.last_day == date(2026, 3, 9)


def test_pause_over_a_weekend_adds_only_working_days() -> None:
    pauses = [(hn(2026, 3, 6, 9), hn(2026, 3, 9, 9))]  # Fri -> Mon: Sat, Sun, Mon
    result = compute_deadline(POST_SIMPLE, hn(2026, 3, 2), CAL, pauses=pauses)
    assert result.pauses[0].days_added == 1
    assert result.last_day == date(2026, 3, 10)


def test_hour_pause_adds_the_exact_duration() -> None:
    rule = RS.rule("agency.incident_statement.initial")
    pauses = [(hn(2026, 3, 2, 11), hn(2026, 3, 2, 13, 30))]
    result = compute_deadline(rule, hn(2026, 3, 2, 10), CAL, pauses=pauses)
    assert result.due_at == hn(2026, 3, 3, 12, 30).astimezone(UTC)


@pytest.mark.parametrize(
    "pauses",
    [
        [(hn(2026, 3, 1), hn(2026, 3, 3))],  # before receipt
        [(hn(2026, 3, 4), hn(2026, 3, 3))],  # backwards
        [(hn(2026, 3, 3), hn(2026, 3, 5)), (hn(2026, 3, 4), hn(2026, 3, 6))],  # overlap
        [(hn(2026, 3, 20), hn(2026, 3, 23))],  # after the deadline
        [(datetime(2026, 3, 3, 9), datetime(2026, 3, 4, 9))],  # naive
        [("x",)],
    ],
)
def test_bad_pauses_rejected(pauses: list[tuple[datetime, datetime]]) -> None:
    with pytest.raises(CalendarError) as err:
        compute_deadline(POST_SIMPLE, hn(2026, 3, 2), CAL, pauses=pauses)
    assert err.value.field == "pauses"


def test_extension_in_calendar_days_from_the_end_of_the_period() -> None:
    provide = RS.rule("lati2016.post_fax.complex.provide")
    ext = RS.make_extension("lati2016.extension", 15, "records held off-site")
    base = compute_deadline(provide, hn(2026, 3, 2), CAL)
    extended = compute_deadline(provide, hn(2026, 3, 2), CAL, extension=ext)
    assert base.last_day == date(2026, 3, 23)
    assert extended.last_day == date(2026, 4, 7)  # 23 Mar + 15 = Tue 7 Apr
    assert extended.extension == ext
    assert any("records held off-site" in line for line in extended.explanation())


def test_extension_in_working_days_when_configured() -> None:
    ext = Extension(amount=2, unit=Unit.WORKING_DAYS, reason="r")
    result = compute_deadline(POST_SIMPLE, hn(2026, 2, 13), CAL, extension=ext)
    assert result.last_day == date(2026, 3, 3)


def test_extension_unit_must_match_rule_kind() -> None:
    ext = Extension(amount=2, unit=Unit.HOURS, reason="r")
    with pytest.raises(CalendarError) as err:
        compute_deadline(POST_SIMPLE, hn(2026, 3, 2), CAL, extension=ext)
    assert err.value.field == "extension"


def test_naive_receipt_rejected() -> None:
    with pytest.raises(ValidationError) as err:
        compute_deadline(POST_SIMPLE, datetime(2026, 3, 2, 9), CAL)
    assert err.value.field == "received_at"


def test_calendar_override_changes_the_deadline_and_version() -> None:
    extra = CalendarOverride(
        date(2026, 3, 4), OverrideKind.EXTRA_DAY_OFF, "test day off", "Letter 1/TEST"
    )
    cal2 = CAL.with_overrides([extra])
    a = compute_deadline(POST_SIMPLE, hn(2026, 3, 2), CAL)
    b = compute_deadline(POST_SIMPLE, hn(2026, 3, 2), cal2)
    assert (a.last_day, b.last_day) == (date(2026, 3, 9), date(2026, 3, 10))
    assert a.calendar_version != b.calendar_version


def test_computation_serialises_to_json() -> None:
    result = compute_deadline(POST_SIMPLE, hn(2026, 2, 13), CAL)
    data = result.model_dump(mode="json")
    assert data["due_at"] == "2026-02-27T17:00:00Z"
    assert data["days"][2]["name"] == "Lunar New Year's Eve"


def test_next_periodic_due() -> None:
    (conf,) = [
        p
        for p in RS.periodic_for("ministry", date(2026, 1, 1))
        if p.obligation == "press_conference"
    ]
    # 15 Nov 2025 + 3 months = Sun 15 Feb 2026 (Tết) -> Mon 23 Feb
    assert next_periodic_due(conf, date(2025, 11, 15), CAL) == date(2026, 2, 23)
    assert add_months(date(2025, 12, 31), 2) == date(2026, 2, 28)
    with pytest.raises(ValidationError):
        add_months(date(2025, 12, 31), -1)


rules = st.sampled_from(
    [r for r in RS.rules if r.unit is not Unit.HOURS and not r.is_maximum]
)
moments = st.datetimes(
    min_value=datetime(2017, 3, 30),
    max_value=datetime(2034, 6, 1),
    timezones=st.just(HN),
)


@settings(max_examples=300, deadline=None)
@given(rule=rules, received=moments)
def test_no_due_date_lands_on_a_rest_day(rule, received) -> None:  # type: ignore[no-untyped-def]
    result = compute_deadline(rule, received, CAL)
    assert CAL.is_working_day(result.last_day)
    assert result.due_at.utcoffset() == timedelta(0)
    assert result.due_at > received
    local_end = result.due_at.astimezone(HN)
    assert (local_end.date() - timedelta(days=1), local_end.time()) == (
        result.last_day,
        datetime.min.time(),
    )
