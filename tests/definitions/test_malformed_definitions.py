"""Malformed definitions raise DefinitionError naming the bad part (its path)."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from releaseflow.definitions import WorkflowDefinition
from releaseflow.exceptions import DefinitionError, ReleaseflowError

Data = dict[str, Any]


def base() -> Data:
    """A small valid definition: draft -> review -> spokesperson -> release -> report."""
    return {
        "name": "tiny",
        "version": 1,
        "initial": "drafting",
        "release_requires": ["review", "spokesperson"],
        "create_roles": ["comms_officer"],
        "editor_roles": ["comms_officer"],
        "editable_states": ["drafting"],
        "states": [
            {"name": "drafting"},
            {"name": "in_review"},
            {"name": "awaiting_spokesperson"},
            {"name": "approved"},
            {"name": "released"},
            {"name": "withdrawn"},
            {"name": "closed", "final": True},
        ],
        "transitions": [
            {
                "trigger": "submit",
                "source": "drafting",
                "dest": "in_review",
                "roles": ["comms_officer"],
            },
            {
                "trigger": "approve_review",
                "source": "in_review",
                "dest": "awaiting_spokesperson",
                "action": "approve",
                "stage": "review",
                "roles": ["reviewer"],
            },
            {
                "trigger": "approve_release",
                "source": "awaiting_spokesperson",
                "dest": "approved",
                "action": "approve",
                "stage": "spokesperson",
                "roles": ["spokesperson"],
            },
            {
                "trigger": "release",
                "source": "approved",
                "dest": "released",
                "action": "release",
                "requires": ["form"],
                "roles": ["spokesperson"],
            },
            {
                "trigger": "withdraw",
                "source": ["drafting", "in_review"],
                "dest": "withdrawn",
                "requires": ["reason"],
                "roles": ["spokesperson"],
            },
            {
                "trigger": "report",
                "source": ["released", "withdrawn"],
                "dest": "closed",
                "roles": ["spokesperson"],
            },
        ],
    }


def test_base_is_valid() -> None:
    """The fixture itself validates (so each case below breaks exactly one thing)."""
    assert WorkflowDefinition.from_dict(base()).key == "tiny@1"


def _set(path: str, value: Any) -> Callable[[Data], None]:
    def apply(data: Data) -> None:
        *head, last = path.split(".")
        target: Any = data
        for part in head:
            target = target[int(part)] if part.isdigit() else target[part]
        target[int(last) if last.isdigit() else last] = value

    return apply


def _append_transition(spec: Data) -> Callable[[Data], None]:
    def apply(data: Data) -> None:
        data["transitions"].append(spec)

    return apply


def _append_state(spec: Data) -> Callable[[Data], None]:
    def apply(data: Data) -> None:
        data["states"].append(spec)

    return apply


CASES: dict[str, tuple[Callable[[Data], None], str, str]] = {
    # case: (mutation, expected path, words in the message)
    "unknown dest state": (
        _set("transitions.0.dest", "nowhere"),
        "transitions.0.dest",
        "unknown dest state 'nowhere'",
    ),
    "unknown source state": (
        _set("transitions.4.source", ["drafting", "limbo"]),
        "transitions.4.source.1",
        "unknown source state 'limbo'",
    ),
    "unknown initial state": (
        _set("initial", "limbo"),
        "initial",
        "initial state 'limbo'",
    ),
    "unknown editable state": (
        _set("editable_states", ["drafting", "limbo"]),
        "editable_states.1",
        "editable state 'limbo'",
    ),
    "duplicate trigger from a source": (
        _append_transition(
            {
                "trigger": "submit",
                "source": "drafting",
                "dest": "withdrawn",
                "roles": ["comms_officer"],
            }
        ),
        "transitions.6.source.0",
        "submit is defined twice from 'drafting'",
    ),
    "final state with exits": (
        _append_transition(
            {
                "trigger": "reopen",
                "source": "closed",
                "dest": "drafting",
                "roles": ["head"],
            }
        ),
        "transitions.6.source.0",
        "final state 'closed' has exits",
    ),
    "unreachable state": (
        _append_state({"name": "orphan"}),
        "states.7",
        "unreachable states: ['orphan']",
    ),
    "duplicate state": (
        _append_state({"name": "drafting"}),
        "states.7",
        "state name 'drafting' is not unique",
    ),
    "approve without stage": (
        _set("transitions.1.stage", None),
        "transitions.1",
        "needs a stage",
    ),
    "stage on a move": (
        _set("transitions.0.stage", "review"),
        "transitions.0",
        "only approve transitions take stage",
    ),
    "release_requires a stage with no approval": (
        _set("release_requires", ["review", "legal"]),
        "release_requires.1",
        "release_requires stage 'legal' has no approval",
    ),
    "unknown role": (
        _set("transitions.2.roles", ["spokesperson", "pope"]),
        "transitions.2.roles.1",
        "pope",
    ),
    "unknown create role": (
        _set("create_roles", ["janitor"]),
        "create_roles.0",
        "janitor",
    ),
    "no roles": (_set("transitions.0.roles", []), "transitions.0.roles", "at least 1"),
    "unknown action": (
        _set("transitions.0.action", "publish"),
        "transitions.0.action",
        "publish",
    ),
    "unknown guard": (
        _set("transitions.3.guards", ["moon_phase"]),
        "transitions.3.guards",
        "moon_phase",
    ),
    "bad state name": (
        _set("states.0.name", "Drafting Room"),
        "states.0.name",
        "pattern",
    ),
    "bad version": (_set("version", 0), "version", "greater than or equal to 1"),
    "unknown field": (_set("colour", "blue"), "colour", "Extra inputs"),
    "unknown refusal family": (
        _set("refusal_family", "whim"),
        "refusal_family",
        "whim",
    ),
    "quorum too large": (
        _set("transitions.1.quorum", 99),
        "transitions.1.quorum",
        "less than or equal to 20",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_malformed_definition_names_the_path(case: str) -> None:
    """Each malformed definition raises DefinitionError whose path names the bad part."""
    mutate, path, words = CASES[case]
    data = copy.deepcopy(base())
    mutate(data)
    with pytest.raises(DefinitionError) as caught:
        WorkflowDefinition.from_dict(data)
    error = caught.value
    assert isinstance(error, ReleaseflowError)
    assert error.path == path
    assert error.details["path"] == path
    assert path in str(error)
    assert words in str(error)
    # the same data through JSON and YAML gives the same error
    with pytest.raises(DefinitionError) as via_json:
        WorkflowDefinition.from_json(json.dumps(data))
    assert via_json.value.path == path


@pytest.mark.parametrize(
    "text",
    [
        "name: [unclosed",
        "states:\n  - {name: a\n",
        "key: value\n\tbad: tab",
        "- a\n b: c",
    ],
)
def test_bad_yaml(text: str) -> None:
    """Unparsable YAML is a DefinitionError, not a yaml exception."""
    with pytest.raises(DefinitionError, match="not valid YAML"):
        WorkflowDefinition.from_yaml(text)


def test_bad_json() -> None:
    """Unparsable JSON is a DefinitionError."""
    with pytest.raises(DefinitionError, match="not valid JSON"):
        WorkflowDefinition.from_json("{'name': 'single quotes'}")


@pytest.mark.parametrize(
    "text", ["- a list\n- of things\n", "just a string\n", "42\n", "", "null\n"]
)
def test_non_mapping_top_level_yaml(text: str) -> None:
    """A YAML document that is not a mapping is rejected."""
    with pytest.raises(DefinitionError, match="mapping at the top level"):
        WorkflowDefinition.from_yaml(text)


@pytest.mark.parametrize("text", ["[]", '"name"', "3", "null"])
def test_non_mapping_top_level_json(text: str) -> None:
    """A JSON document that is not an object is rejected."""
    with pytest.raises(DefinitionError, match="mapping at the top level"):
        WorkflowDefinition.from_json(text)


def test_yaml_tags_are_not_executed() -> None:
    """The safe loader refuses Python object tags."""
    text = "name: !!python/object/apply:os.system ['true']\n"
    with pytest.raises(DefinitionError, match="not valid YAML"):
        WorkflowDefinition.from_yaml(text)


def test_missing_required_fields_name_the_field() -> None:
    """A definition without transitions names the missing field."""
    data = base()
    del data["transitions"]
    with pytest.raises(DefinitionError) as caught:
        WorkflowDefinition.from_dict(data)
    assert caught.value.path == "transitions"
