"""A flow seeded with the demo quarter (Q3 2026), on every backend."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

import releaseflow as rf
from releaseflow.demo import seed
from tests.conftest import Clock

#: The engine's "now" while reports are computed: after the whole quarter.
NOW = datetime(2026, 10, 1, 3, 0, tzinfo=UTC)


@pytest.fixture(name="seeded")
def _seeded(flow: rf.ReleaseFlow, clock: Clock) -> rf.ReleaseFlow:
    clock.now = NOW
    seed(flow, date(2026, 9, 15))
    return flow
