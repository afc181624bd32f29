"""The engine's small per-transition shortcuts give what the general code gives.

* ``row_facts.press_keys`` reads a :class:`Requester`'s fields directly; the same
  function on the requester's plain dict (what reports read back from documents)
  or on any object with those attributes must give the same keys;
* ``service._role_names`` caches the sorted role values of an audit entry;
* ``ReleaseFlow.now`` skips ``_aware`` for the default clock, whose time is aware
  and in UTC already;
* ``models.updated`` is ``model_copy(update=...)`` and ``models.assembled`` is
  ``model_validate`` of already-validated values, without pydantic's generic steps.
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
from pydantic import BaseModel, ConfigDict, PrivateAttr
from pydantic import ValidationError as PydanticValidationError

import releaseflow as rf
from releaseflow import service
from releaseflow.exceptions import ValidationError
from releaseflow.models import ChainHead, Requester, assembled, updated
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


# -- models.updated / models.assembled: model_copy / model_validate, directly -------


def _state(model: Any) -> Any:
    """Everything pydantic keeps on an instance, with each value's exact type."""
    return (
        type(model),
        [(name, type(value), value) for name, value in model.__dict__.items()],
        model.__pydantic_fields_set__,
        model.__pydantic_extra__,
        getattr(model, "__pydantic_private__", None),
    )


def _engine_request() -> rf.Request:
    flow = rf.ReleaseFlow(InMemoryStore())
    flow.directory.bootstrap("admin", unit="agency")
    for actor, role in [
        ("comms.nguyen", "comms_officer"),
        ("spoke.tran", "spokesperson"),
        ("coord.bui", "coordinating_officer"),
    ]:
        flow.directory.grant(actor, role, unit="agency", by="admin")
    request = flow.create(
        "press_inquiry",
        title="T",
        body="B",
        actor="comms.nguyen",
        unit="agency/ttyt",
        channel="electronic",
        requester={"type": "journalist", "name": "H", "organisation": "X"},
    )
    return flow.fire(request.id, "triage", actor="spoke.tran")


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"state": "gathering", "version": 3},
        {"version": 9, "updated_at": datetime(2026, 3, 2, tzinfo=UTC)},
        {"deadlines": ()},
        {"title": "x", "body": "y", "contributors": ("a", "b")},
    ],
)
def test_updated_is_model_copy(changes: dict[str, Any]) -> None:
    request = _engine_request()
    before = _state(request)
    copy = updated(request, dict(changes))
    assert _state(copy) == _state(request.model_copy(update=dict(changes)))
    assert copy == request.model_copy(update=dict(changes))
    assert _state(request) == before  # the original is untouched
    assert copy.__dict__ is not request.__dict__
    assert copy.__pydantic_fields_set__ is not request.__pydantic_fields_set__
    with pytest.raises(PydanticValidationError):
        copy.state = "x"  # type: ignore[misc]  # still frozen


def test_updated_of_a_partly_set_model_adds_only_the_changed_names() -> None:
    deadline = _engine_request().deadlines[0]
    assert "met_at" not in deadline.model_fields_set
    copy = updated(deadline, {"met_at": datetime(2026, 3, 2, tzinfo=UTC)})
    assert _state(copy) == _state(
        deadline.model_copy(update={"met_at": datetime(2026, 3, 2, tzinfo=UTC)})
    )


class _Extra(BaseModel):
    model_config = ConfigDict(extra="allow")
    a: int = 0


class _Private(BaseModel):
    a: int = 0
    _p: int = PrivateAttr(default=5)


@pytest.mark.parametrize("model", [_Extra(a=1, b=2), _Private(a=1)])
def test_updated_of_other_models_is_model_copy(model: BaseModel) -> None:
    assert _state(updated(model, {"a": 3})) == _state(model.model_copy(update={"a": 3}))


def test_assembled_is_model_validate_for_validated_values() -> None:
    request = _engine_request()
    values = dict(request.__dict__)
    assert _state(assembled(rf.Request, values)) == _state(
        rf.Request.model_validate(values)
    )
    head = {"ledger": 1, "seq": 2, "hash": "a" * 64}
    assert _state(assembled(ChainHead, head)) == _state(ChainHead.model_validate(head))
