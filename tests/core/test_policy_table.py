"""Exhaustive (definition, state, trigger, role) table against the engine (T28).

The expected table is derived here from the definition data alone -- it never calls
``releaseflow.policy`` -- so a policy bug cannot hide by agreeing with itself.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

import releaseflow as rf
from releaseflow.defaults import default_definitions
from releaseflow.definitions import Action, TransitionSpec, WorkflowDefinition
from releaseflow.exceptions import (
    InvalidTransitionError,
    NotPermittedError,
    ReleaseflowError,
    UnknownTriggerError,
)
from releaseflow.vocabulary import Role
from tests.conftest import BACKENDS
from tests.core.conftest import (
    audit_count,
    drive_to,
    new_inquiry,
    new_request,
    payload_for,
    unchanged,
)

DEFINITIONS = {d.key: d for d in default_definitions()}
ROLES = [r.value for r in Role] + ["none"]
SPEAKERS = {Role.HEAD, Role.SPOKESPERSON}


def table_spec(
    definition: WorkflowDefinition, state: str, trigger: str
) -> TransitionSpec | None:
    """The transition for (state, trigger) read straight from the data."""
    by_edge = {(s, t.trigger): t for t in definition.transitions for s in t.source}
    return by_edge.get((state, trigger))


def expected_outcome(
    definition: WorkflowDefinition, state: str, trigger: str, role: str
) -> type[ReleaseflowError] | None:
    """None if allowed, else the error class the engine must raise."""
    spec = table_spec(definition, state, trigger)
    if spec is None:
        return InvalidTransitionError
    if role == "none":
        return NotPermittedError
    held = Role(role)
    # authorised_speaker counts only with an active authorisation (none here).
    if held not in spec.roles or held is Role.AUTHORISED_SPEAKER:
        return NotPermittedError
    speaker_stages = getattr(definition, "speaker_stages", ("spokesperson",))
    speaker_only = spec.action is Action.RELEASE or (
        spec.action is Action.APPROVE and spec.stage in speaker_stages
    )
    if speaker_only and held not in SPEAKERS:
        return NotPermittedError
    return None


def _any_spec(definition: WorkflowDefinition, trigger: str) -> TransitionSpec:
    return next(t for t in definition.transitions if t.trigger == trigger)


@pytest.fixture(
    name="backend", params=[b for b in BACKENDS if b in {"memory", "sqlite"}]
)
def _policy_backend(request: pytest.FixtureRequest) -> str:
    """Policy is storage-independent: the full table runs on memory and SQLite only.

    Every backend still runs the store contract, the stateful model and the
    concurrency suites; enumerating ~10k (state, trigger, role) probes over the
    network would add minutes without testing anything new.
    """
    return str(request.param)


@pytest.mark.parametrize("key", sorted(DEFINITIONS))
def test_every_state_trigger_role_matches_the_table(
    staffed: rf.ReleaseFlow, probes: dict[str, str], key: str
) -> None:
    """Each (state, trigger, role) is allowed exactly when the data says so.

    A denial raises the table's error type and changes nothing (state, version,
    audit count); an allowed trigger moves to the transition's dest with one entry.
    """
    flow = staffed
    definition = DEFINITIONS[key]
    bases = {
        state.name: drive_to(flow, new_request(flow, definition), state.name)
        for state in definition.states
    }
    checked = allowed = 0
    for state, base in bases.items():
        for trigger in sorted(definition.triggers):
            payload = payload_for(definition, _any_spec(definition, trigger))
            for role in ROLES:
                actor = probes[role]
                want = expected_outcome(definition, state, trigger, role)
                options = {
                    o.trigger: o for o in flow.available_triggers(base.id, actor)
                }
                assert options[trigger].allowed is (want is None), (
                    state,
                    trigger,
                    role,
                )
                checked += 1
                if want is None:
                    allowed += 1
                    _check_allowed(flow, definition, state, trigger, actor, payload)
                    continue
                with unchanged(flow, base.id), pytest.raises(want) as caught:
                    flow.fire(base.id, trigger, actor=actor, **payload)
                assert type(caught.value) is want, (state, trigger, role)
    n_states, n_triggers = len(definition.states), len(definition.triggers)
    assert checked == n_states * n_triggers * len(ROLES)
    assert allowed > 0


def _check_allowed(
    flow: rf.ReleaseFlow,
    definition: WorkflowDefinition,
    state: str,
    trigger: str,
    actor: str,
    payload: dict[str, Any],
) -> None:
    fresh = drive_to(flow, new_request(flow, definition), state)
    spec = table_spec(definition, state, trigger)
    assert spec is not None
    before = audit_count(flow)
    moved = flow.fire(fresh.id, trigger, actor=actor, **payload)
    assert moved.state == spec.dest
    assert moved.version == fresh.version + 1
    assert audit_count(flow) == before + 1
    last = flow.audit.history(fresh.id)[-1]
    assert (last.actor, last.trigger, last.from_state, last.to_state) == (
        actor,
        trigger,
        state,
        spec.dest,
    )


def test_unknown_trigger_in_every_state_is_typed_and_changes_nothing(
    staffed: rf.ReleaseFlow,
) -> None:
    """A trigger the definition does not know raises UnknownTriggerError everywhere."""
    definition = DEFINITIONS["press_inquiry@1"]
    for state in definition.states:
        request = drive_to(staffed, new_inquiry(staffed), state.name)
        for bogus in ("publish", "RELEASE", "release ", "approve_review2", "create"):
            with unchanged(staffed, request.id), pytest.raises(UnknownTriggerError):
                staffed.fire(
                    request.id, bogus, actor="head.pham", form="written_answer"
                )


def test_authorised_speaker_with_authorisation_matches_speaker_rows(
    staffed: rf.ReleaseFlow, probes: dict[str, str]
) -> None:
    """With an active authorisation, authorised_speaker may do exactly the speaker rows."""
    flow = staffed
    definition = DEFINITIONS["press_inquiry@1"]
    actor = probes["authorised_speaker"]
    for state in definition.states:
        request = drive_to(flow, new_inquiry(flow), state.name)
        flow.directory.authorise(
            actor,
            request.id,
            reference="QĐ-01/2026",
            published_at="https://portal.example/speakers",
            valid_until=flow.now() + timedelta(days=1),
            by="head.pham",
        )
        options = {o.trigger: o for o in flow.available_triggers(request.id, actor)}
        for trigger in definition.triggers:
            spec = table_spec(definition, state.name, trigger)
            want = spec is not None and Role.AUTHORISED_SPEAKER in spec.roles
            assert options[trigger].allowed is want, (state.name, trigger)
