"""The registry compiles each definition once; a request keeps its definition version."""

from __future__ import annotations

from typing import Any

import pytest

import releaseflow as rf
import releaseflow.workflow as workflow_module
from releaseflow.defaults import default_definitions
from releaseflow.definitions import WorkflowDefinition
from releaseflow.exceptions import DefinitionError, DefinitionNotFoundError
from releaseflow.storage.memory import InMemoryStore
from releaseflow.workflow import DefinitionRegistry
from tests.conftest import STAFF, Clock, new_inquiry, to_approved

PRESS = next(d for d in default_definitions() if d.name == "press_inquiry")


def _staff(flow: rf.ReleaseFlow) -> rf.ReleaseFlow:
    flow.directory.bootstrap("admin", unit="agency")
    for actor, role in STAFF.items():
        if role != "administrator":
            flow.directory.grant(actor, role, unit="agency", by="admin")
    return flow


def _press_v2() -> WorkflowDefinition:
    """press_inquiry@2: triage now goes through a new ``assigned`` state."""
    data: dict[str, Any] = PRESS.to_dict()
    data["version"] = 2
    data["states"].insert(1, {"name": "assigned", "description": "Assigned a drafter."})
    for spec in data["transitions"]:
        if spec["trigger"] == "triage":
            spec["dest"] = "assigned"
    data["transitions"].insert(
        1,
        {
            "trigger": "start_drafting",
            "source": ["assigned"],
            "dest": "drafting",
            "roles": ["comms_officer", "coordinating_officer"],
        },
    )
    for spec in data["transitions"]:
        if spec["trigger"] in ("withdraw", "refuse"):
            spec["source"] = ["assigned", *spec["source"]]
    return WorkflowDefinition.from_dict(data)


class _CountingMachine:
    """Wraps transitions.Machine to count compilations."""

    count = 0

    def __init__(self, real: Any) -> None:
        self.real = real

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        _CountingMachine.count += 1
        return self.real(*args, **kwargs)


def test_registering_returns_one_compiled_object() -> None:
    """Registering, get and default_for give the very same CompiledWorkflow."""
    registry = DefinitionRegistry()
    compiled = registry.register(PRESS)
    assert registry.register(PRESS) is compiled
    assert registry.get("press_inquiry") is compiled
    assert registry.get("press_inquiry", 1) is compiled
    assert registry.default_for(rf.RequestKind.PRESS_INQUIRY) is compiled
    # equal data loaded afresh is the same definition: still a no-op
    again = WorkflowDefinition.from_dict(PRESS.to_dict())
    assert again is not PRESS
    assert registry.register(again) is compiled
    assert list(registry) == [compiled]


def test_same_name_and_version_with_other_content_is_refused() -> None:
    """Changing a published version in place raises; nothing is replaced."""
    registry = DefinitionRegistry([PRESS])
    before = registry.get("press_inquiry", 1)
    changed = PRESS.to_dict()
    changed["description"] = "Something else."
    with pytest.raises(DefinitionError, match="already registered with other content"):
        registry.register(WorkflowDefinition.from_dict(changed))
    assert registry.get("press_inquiry", 1) is before
    assert registry.get("press_inquiry", 1).definition == PRESS


def test_each_definition_compiles_once_not_per_request(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Building the flow compiles every definition once; requests compile nothing."""
    monkeypatch.setattr(_CountingMachine, "count", 0)
    monkeypatch.setattr(
        workflow_module, "Machine", _CountingMachine(workflow_module.Machine)
    )
    flow = _staff(rf.ReleaseFlow(InMemoryStore(), clock=Clock()))
    compiled = _CountingMachine.count
    assert compiled == len(default_definitions())
    shared = flow.definitions.get("press_inquiry", 1)
    for _ in range(5):
        request = to_approved(flow, new_inquiry(flow))
        flow.fire(request.id, "release", actor="spoke.tran", form="written_answer")
    assert _CountingMachine.count == compiled
    assert flow.definitions.get("press_inquiry", 1) is shared


def test_a_request_stays_on_the_version_it_started_with() -> None:
    """Register press_inquiry@2: old requests follow v1, new ones v2."""
    store = InMemoryStore()
    clock = Clock()
    old_flow = _staff(rf.ReleaseFlow(store, clock=clock))
    old = new_inquiry(old_flow)
    assert (old.definition, old.definition_version) == ("press_inquiry", 1)

    # the host upgrades: a new flow on the same store also knows v2
    flow = rf.ReleaseFlow(store, clock=clock, definitions=[_press_v2()])
    assert flow.definitions.default_for(rf.RequestKind.PRESS_INQUIRY).key == (
        "press_inquiry@2"
    )
    new = new_inquiry(flow)
    assert new.definition_version == 2

    assert flow.fire(old.id, "triage", actor="spoke.tran").state == "drafting"
    assert flow.fire(new.id, "triage", actor="spoke.tran").state == "assigned"
    with pytest.raises(rf.exceptions.UnknownTriggerError):
        flow.fire(old.id, "start_drafting", actor="comms.nguyen")
    assert flow.fire(new.id, "start_drafting", actor="comms.nguyen").state == "drafting"

    # v1 can still be chosen explicitly; the audit names each request's version
    explicit = new_inquiry(flow, definition="press_inquiry@1")
    assert explicit.definition_version == 1
    assert flow.audit.history(old.id)[-1].payload["definition"] == "press_inquiry@1"
    assert flow.audit.history(new.id)[-1].payload["definition"] == "press_inquiry@2"
    assert flow.audit.verify().ok


def test_a_request_whose_version_is_gone_is_not_moved_to_another() -> None:
    """Without its pinned version registered, a request fails loudly."""
    custom = _press_v2().to_dict()
    custom["name"] = "host_press"
    custom["kind"] = None
    definition = WorkflowDefinition.from_dict(custom)
    store = InMemoryStore()
    clock = Clock()
    flow = _staff(rf.ReleaseFlow(store, clock=clock, definitions=[definition]))
    request = new_inquiry(flow, definition="host_press@2")
    bare = rf.ReleaseFlow(store, clock=clock)
    with pytest.raises(DefinitionNotFoundError):
        bare.fire(request.id, "triage", actor="spoke.tran")
    assert bare.get(request.id).state == request.state
