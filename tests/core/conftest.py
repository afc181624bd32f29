"""Helpers for the core engine tests: snapshots, state drivers, probe actors."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import pytest

import releaseflow as rf
from releaseflow.definitions import Action, TransitionSpec, WorkflowDefinition
from releaseflow.exceptions import PolicyError
from releaseflow.vocabulary import REFUSAL_GROUNDS_BY_FAMILY, Role
from tests.conftest import STAFF, new_inquiry

#: Staff ids by role (one person per role in ``STAFF``, plus second reviewer/comms).
BY_ROLE: dict[Role, list[str]] = {}
for _actor, _role in STAFF.items():
    BY_ROLE.setdefault(Role(_role), []).append(_actor)


def audit_count(flow: rf.ReleaseFlow) -> int:
    """Total number of audit entries (sum of every ledger head's seq)."""
    return sum(h.seq for h in flow.audit.heads())


@dataclass(frozen=True)
class Snapshot:
    """What must not move when a call fails."""

    request: rf.Request | None
    entries: int


def snapshot(flow: rf.ReleaseFlow, request_id: UUID | None = None) -> Snapshot:
    """The request (if given) and the audit entry count, now."""
    request = flow.get(request_id) if request_id is not None else None
    return Snapshot(request, audit_count(flow))


@contextmanager
def unchanged(flow: rf.ReleaseFlow, request_id: UUID | None = None) -> Iterator[None]:
    """Assert the request (state, version, everything) and audit count do not move."""
    before = snapshot(flow, request_id)
    yield
    after = snapshot(flow, request_id)
    if before.request is not None:
        assert after.request is not None
        assert (after.request.state, after.request.version) == (
            before.request.state,
            before.request.version,
        )
        assert after.request == before.request
    assert after.entries == before.entries


def payload_for(definition: WorkflowDefinition, spec: TransitionSpec) -> dict[str, Any]:
    """A valid payload for every field ``spec`` requires."""
    values: dict[str, Any] = {
        "form": "written_answer",
        "ground": sorted(REFUSAL_GROUNDS_BY_FAMILY[definition.refusal_family])[0],
        "reasons": "Lý do bằng văn bản.",
        "reason": "Cần sửa.",
        "complexity": "simple",
        "extension": 5,
        "amount": 10000,
    }
    return {name: values.get(name, "giá trị") for name in spec.requires}


def shortest_paths(definition: WorkflowDefinition) -> dict[str, list[TransitionSpec]]:
    """For every state, the shortest list of transitions reaching it from initial."""
    paths: dict[str, list[TransitionSpec]] = {definition.initial: []}
    queue = deque([definition.initial])
    while queue:
        state = queue.popleft()
        for spec in definition.transitions_from(state):
            if spec.dest not in paths:
                paths[spec.dest] = [*paths[state], spec]
                queue.append(spec.dest)
    return paths


def _candidates(spec: TransitionSpec) -> list[str]:
    speakers = [Role.HEAD, Role.SPOKESPERSON]
    roles = sorted(spec.roles, key=lambda r: (r not in speakers, r.value))
    return [actor for role in roles for actor in BY_ROLE.get(role, [])]


def drive_to(flow: rf.ReleaseFlow, request: rf.Request, state: str) -> rf.Request:
    """Move a new request of a staffed flow to ``state`` along the shortest path."""
    definition = flow.definitions.get(
        request.definition, request.definition_version
    ).definition
    for spec in shortest_paths(definition)[state]:
        payload = payload_for(definition, spec)
        while request.state != spec.dest:
            for actor in _candidates(spec):
                try:
                    moved = flow.fire(request.id, spec.trigger, actor=actor, **payload)
                except PolicyError:
                    continue
                break
            else:  # pragma: no cover - a driver failure, not a test result
                raise AssertionError(f"nobody could fire {spec.trigger}")
            request = moved
            if spec.action is not Action.APPROVE:
                break
    assert request.state == state
    return request


_CREATOR_PREFERENCE = (
    Role.COMMS_OFFICER,
    Role.COORDINATING_OFFICER,
    Role.CONTRIBUTOR,
    Role.INFO_FOCAL_UNIT,
    Role.DRAFTING_UNIT,
    Role.DEPUTY_HEAD,
    Role.SPOKESPERSON,
    Role.HEAD,
)


def creator_for(definition: WorkflowDefinition) -> str:
    """A staff member allowed to create, preferring one with no approval powers."""
    for role in _CREATOR_PREFERENCE:
        if role in definition.create_roles and BY_ROLE.get(role):
            return BY_ROLE[role][0]
    return BY_ROLE[definition.create_roles[0]][0]


def new_request(flow: rf.ReleaseFlow, definition: WorkflowDefinition) -> rf.Request:
    """A new request following ``definition``, created by :func:`creator_for`."""
    assert definition.kind is not None
    return new_inquiry(
        flow,
        kind=definition.kind,
        definition=definition.key,
        actor=creator_for(definition),
    )


@pytest.fixture(name="probes")
def _probes(staffed: rf.ReleaseFlow) -> dict[str, str]:
    """One fresh actor per role (no author, no approvals) plus ``none`` (no role)."""
    actors: dict[str, str] = {"none": "probe.none"}
    for role in Role:
        actor = f"probe.{role.value}"
        staffed.directory.grant(actor, role, unit="agency", by="admin")
        actors[role.value] = actor
    return actors
