from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from releaseflow.calendar import VietnamCalendar

CAL = VietnamCalendar()
days = st.dates(min_value=date(2017, 1, 1), max_value=date(2034, 10, 1))
counts = st.integers(min_value=0, max_value=60)


@settings(max_examples=300, deadline=None)
@given(start=days, n=counts)
def test_add_then_count_back(start: date, n: int) -> None:
    end = CAL.add_working_days(start, n)
    assert CAL.is_working_day(end)
    assert end >= start
    # n == 0 on a rest day rolls forward to the next working day (one day counted)
    expected = 1 if n == 0 and not CAL.is_working_day(start) else n
    assert CAL.working_days_between(start, end) == expected


@settings(max_examples=200, deadline=None)
@given(start=days, n=st.integers(min_value=1, max_value=40))
def test_last_day_is_the_first_day_reaching_n(start: date, n: int) -> None:
    end = CAL.add_working_days(start, n)
    assert CAL.working_days_between(start, end - timedelta(days=1)) == n - 1


@settings(max_examples=200, deadline=None)
@given(a=days, gap=st.integers(min_value=0, max_value=90))
def test_between_counts_explained_rest_days(a: date, gap: int) -> None:
    b = a + timedelta(days=gap)
    rest = [i for i in CAL.explain_days(a, b) if not i.working]
    assert CAL.working_days_between(a, b) == gap - len(rest)
