import pytest

from releaseflow.calendar import VietnamCalendar


@pytest.fixture(scope="session")
def vn() -> VietnamCalendar:
    return VietnamCalendar()
