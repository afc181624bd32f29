"""The engine's small per-transition shortcuts give what the general code gives.

* ``row_facts.press_keys`` reads a :class:`Requester`'s fields directly; the same
  function on the requester's plain dict (what reports read back from documents)
  or on any object with those attributes must give the same keys;
* ``service._role_names`` caches the sorted role values of an audit entry;
* ``ReleaseFlow.now`` skips ``_aware`` for the default clock, whose time is aware
  and in UTC already.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from itertools import combinations
from types import SimpleNamespace
from typing import Any
from uuid import UUID

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import releaseflow as rf
from releaseflow import service
from releaseflow.exceptions import ValidationError
from releaseflow.models import Requester
from releaseflow.reports.row_facts import press_keys, request_fact_values
from releaseflow.storage.memory import InMemoryStore
from releaseflow.vocabulary import RequesterType, Role

_names = st.sampled_from(["An", "Báo Đà Nẵng", "x", "TTXVN"]) | st.text(
    alphabet="abcĐà ", min_size=1, max_size=5
)
requesters = st.builds(
    Requester,
    type=st.sampled_from(RequesterType),
    name=_names,
    organisation=st.none() | st.just("") | _names,
    contact=st.none() | _names,
    press_card=st.none() | st.just("") | _names,
    contact_id=st.none() | st.uuids(),
)


@given(requesters)
@settings(max_examples=400, derandomize=True)
def test_press_keys_of_a_requester_equal_its_plain_forms(requester: Requester) -> None:
    keys = press_keys(requester)
    assert press_keys(requester.model_dump(mode="json")) == keys
    assert press_keys(requester.model_dump()) == keys
    assert press_keys(SimpleNamespace(**requester.model_dump())) == keys


@pytest.mark.parametrize(
    ("fields", "keys"),
    [
        ({"type": "journalist", "name": "An"}, (None, "An")),
        ({"type": "journalist", "name": "An", "press_card": "7"}, (None, "An (7)")),
        (
            {"type": "journalist", "name": "An", "organisation": "Báo"},
            ("Báo", "An"),
        ),
        (
            {"type": "journalist", "name": "An", "contact_id": UUID(int=1)},
            (None, f"An [contact {UUID(int=1)}]"),
        ),
        ({"type": "press_agency", "name": "TTXVN"}, ("TTXVN", None)),
        (
            {"type": "press_agency", "name": "T", "contact_id": UUID(int=2)},
            (f"T [contact {UUID(int=2)}]", None),
        ),
        ({"type": "citizen", "name": "B", "organisation": "O"}, (None, None)),
    ],
)
def test_press_keys_of_known_requesters(
    fields: dict[str, Any], keys: tuple[str | None, str | None]
) -> None:
    assert press_keys(Requester.model_validate(fields)) == keys


@pytest.mark.parametrize("size", [0, 1, 2, 3])
def test_role_names_are_the_sorted_values(size: int) -> None:
    for roles in combinations(list(Role), size):
        expected = tuple(sorted(r.value for r in roles))
        assert service._role_names(frozenset(roles)) == expected
        assert service._role_names(frozenset(roles)) == expected  # cached


def test_the_default_clock_gives_aware_utc_now() -> None:
    flow = rf.ReleaseFlow(InMemoryStore())
    before = datetime.now(UTC)
    now = flow.now()
    assert now.tzinfo is UTC
    assert before <= now <= datetime.now(UTC)
    assert service._aware(now, "clock") == now


def test_an_injected_clock_is_still_checked_and_converted() -> None:
    zone = timezone(timedelta(hours=7))
    local = datetime(2026, 3, 2, 9, 0, tzinfo=zone)
    flow = rf.ReleaseFlow(InMemoryStore(), clock=lambda: local)
    assert flow.now() == local
    assert flow.now().tzinfo is UTC
    naive = rf.ReleaseFlow(InMemoryStore(), clock=lambda: datetime(2026, 3, 2))
    with pytest.raises(ValidationError):
        naive.now()


def test_fact_values_of_an_engine_request_use_the_requesters_keys() -> None:
    flow = rf.ReleaseFlow(InMemoryStore())
    flow.directory.bootstrap("admin", unit="agency")
    flow.directory.grant("comms.nguyen", "comms_officer", unit="agency", by="admin")
    request = flow.create(
        "press_inquiry",
        title="T",
        body="B",
        actor="comms.nguyen",
        unit="agency/ttyt",
        channel="electronic",
        requester={"type": "journalist", "name": "H", "organisation": "X"},
    )
    values = request_fact_values(request)
    assert values[0] == "electronic"
    assert values[6:8] == ("X", "H")
    assert values[9] is None  # not a titled kind
