"""Bad periods, units, kinds and cut-offs are typed errors naming the field."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pytest

import releaseflow as rf
from releaseflow import reports
from releaseflow.exceptions import ValidationError


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"period": (date(2026, 9, 30), date(2026, 7, 1))}, "period"),
        ({"period": "2026-13"}, "period"),
        ({"period": "2026-Q5"}, "period"),
        ({"period": "last quarter"}, "period"),
        ({"period": "2027"}, "period"),
        ({"period": (date(2026, 7, 1), "2026-09-30")}, "period"),
        ({"period": "2026-Q3", "unit": "Sở Y tế!"}, "unit"),
        ({"period": "2026-Q3", "unit": "danang/khong-ton-tai"}, "unit"),
        ({"period": "2026-Q3", "kinds": ["press_inquiry", "rumour"]}, "kinds"),
        ({"period": "2026-Q3", "as_of": datetime(2026, 9, 1)}, "as_of"),
        ({"period": "2026-Q3", "as_of": datetime(2030, 1, 1).astimezone()}, "as_of"),
    ],
)
def test_bad_input_is_typed(
    seeded: rf.ReleaseFlow, kwargs: dict[str, Any], field: str
) -> None:
    """Each bad argument raises ValidationError with its field."""
    kwargs = dict(kwargs)
    period = kwargs.pop("period")
    with pytest.raises(ValidationError) as caught:
        reports.build(seeded, period, **kwargs)
    assert caught.value.field == field


def test_known_unit_without_requests_is_accepted(seeded: rf.ReleaseFlow) -> None:
    """A unit someone holds a role in is known even with no requests yet."""
    report = reports.build(seeded, "2026-Q3", unit="danang")
    assert report.totals.received.value == 14
    seeded.directory.grant("review.mai", "reviewer", unit="danang/sonv", by="admin")
    empty = reports.build(seeded, "2026-Q3", unit="danang/sonv")
    assert empty.totals.received.value == 0
