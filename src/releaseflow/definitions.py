"""Workflow definitions as data: states, transitions, roles, approvals, release gate.

A :class:`WorkflowDefinition` is validated once (pydantic plus graph checks) and is
loadable from a dict, JSON or YAML. It is identified by ``name@version``; a request
keeps the definition version it started with, so a new version never changes a
request already under way.

Transition actions:

``move``
    plain state change.
``approve``
    records an approval for ``stage`` bound to the current content hash; the state
    moves to ``dest`` only once ``quorum`` distinct people have approved (k-of-n).
``release``
    passes the release gate (every stage in ``release_requires`` approved on the
    current content, releasable classification, speaker powers) and records the
    release; payload needs ``form``.
``refuse``
    records a refusal; payload needs ``ground`` (of the definition's
    ``refusal_family``) and written ``reasons``.
``revise``
    returns the request for revision: every approval is revoked; payload needs
    ``reason``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Final, Self

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from .exceptions import DefinitionError
from .vocabulary import RefusalFamily, RequestKind, Role

__all__ = [
    "GUARDS",
    "Action",
    "DeadlineEffect",
    "StateSpec",
    "TransitionSpec",
    "WorkflowDefinition",
]

_NAME_RE: Final = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_DEF_NAME_RE: Final = re.compile(r"^[a-z][a-z0-9_.-]{0,63}$")

#: Built-in guards a transition may list. A host guard is named ``host:<name>`` and
#: registered with ``ReleaseFlow(guards={"<name>": fn})``; an unregistered one denies.
GUARDS: Final = frozenset({"approvals_complete", "classification_releasable"})
_HOST_GUARD_RE: Final = re.compile(r"^host:[a-z][a-z0-9_]{0,63}$")


class DeadlineEffect(StrEnum):
    """What a transition does to the request's legal deadlines."""

    SET_COMPLEXITY = "set_complexity"
    """Payload ``complexity`` (simple/complex) re-plans the deadlines (LATI Art. 31)."""
    EXTEND = "extend"
    """Payload ``extension`` (a count) and ``reason`` extend the running deadlines."""


class _GraphError(ValueError):
    """A graph check failed at ``path`` (kept by :meth:`WorkflowDefinition.from_dict`)."""

    def __init__(self, message: str, path: str) -> None:
        super().__init__(message)
        self.path = path


class Action(StrEnum):
    """What a transition does besides moving the state."""

    MOVE = "move"
    APPROVE = "approve"
    RELEASE = "release"
    REFUSE = "refuse"
    REVISE = "revise"


def _as_tuple(value: Any) -> Any:
    if isinstance(value, str):
        return (value,)
    return value


#: A lowercase identifier: state, trigger, stage and payload-field names.
Name = Annotated[str, Field(pattern=_NAME_RE.pattern)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class StateSpec(_Frozen):
    """One state of a workflow."""

    name: Name
    final: bool = False
    waits_on_requester: bool = False
    """While here the legal clock is paused (consent, payment, clarification)."""
    description: str = ""


class TransitionSpec(_Frozen):
    """One trigger from one or more source states to a destination."""

    trigger: Name
    source: Annotated[tuple[Name, ...], BeforeValidator(_as_tuple)]
    dest: Name
    roles: tuple[Role, ...] = Field(min_length=1)
    """Any one of these roles may fire it (deny by default: at least one)."""
    action: Action = Action.MOVE
    stage: Name | None = None
    quorum: int = Field(default=1, ge=1, le=20)
    requires: tuple[Name, ...] = ()
    """Payload fields that must be present and non-empty."""
    guards: tuple[str, ...] = ()
    deadline_effect: DeadlineEffect | None = None
    description: str = ""

    @model_validator(mode="after")
    def _check_action(self) -> Self:
        needs: set[str] = set()
        if self.deadline_effect is DeadlineEffect.SET_COMPLEXITY:
            needs = {"complexity"}
        elif self.deadline_effect is DeadlineEffect.EXTEND:
            needs = {"extension", "reason"}
        if needs - set(self.requires):
            raise ValueError(
                f"{self.trigger!r} with deadline_effect {self.deadline_effect} must"
                f" require {sorted(needs)}"
            )
        if self.action is Action.APPROVE and self.stage is None:
            raise ValueError(f"approve transition {self.trigger!r} needs a stage")
        if self.action is not Action.APPROVE and (self.stage or self.quorum != 1):
            raise ValueError(
                f"only approve transitions take stage/quorum ({self.trigger!r})"
            )
        return self


class WorkflowDefinition(_Frozen):
    """A validated, versioned workflow: the data a request's life follows."""

    name: Annotated[str, Field(pattern=_DEF_NAME_RE.pattern)]
    version: int = Field(ge=1)
    kind: RequestKind | None = None
    """The request kind this definition serves by default (None: host-specific)."""
    description: str = ""
    initial: Name
    states: tuple[StateSpec, ...] = Field(min_length=1)
    transitions: tuple[TransitionSpec, ...] = Field(min_length=1)
    release_requires: tuple[Name, ...] = ()
    """Approval stages the release gate requires on the current content."""
    refusal_family: RefusalFamily = RefusalFamily.PRESS
    create_roles: tuple[Role, ...] = Field(min_length=1)
    """Who may create a request that follows this definition."""
    editor_roles: tuple[Role, ...] = Field(min_length=1)
    """Who may edit the title and body (in ``editable_states``)."""
    editable_states: tuple[Name, ...] = Field(min_length=1)
    """States in which the content may change (an edit makes approvals stale)."""
    classifier_roles: tuple[Role, ...] = (Role.HEAD, Role.SPOKESPERSON)
    """Who may restrict the classification; lifting a restriction needs the head."""
    speaker_stages: tuple[Name, ...] = ("spokesperson",)
    """Approval stages that need speaker powers (head, spokesperson, or an active
    authorisation covering the request; Decree 09 Art. 3), whatever roles list."""
    deadline_steps: dict[Name, tuple[Name, ...]] = Field(default_factory=dict)
    """Deadline step -> states whose entry meets it (e.g. ``notify_deadline``).

    Steps not listed are met by a release or refusal; entering a final state
    cancels whatever still runs.
    """

    @property
    def key(self) -> str:
        """``name@version``."""
        return f"{self.name}@{self.version}"

    def state(self, name: str) -> StateSpec:
        """Return the state called ``name``."""
        for spec in self.states:
            if spec.name == name:
                return spec
        raise DefinitionError(f"{self.key} has no state {name!r}", path="states")

    def transitions_from(self, state: str) -> tuple[TransitionSpec, ...]:
        """The transitions whose source includes ``state``."""
        return tuple(t for t in self.transitions if state in t.source)

    def transition(self, state: str, trigger: str) -> TransitionSpec | None:
        """The transition for ``trigger`` from ``state``, if any."""
        for spec in self.transitions:
            if spec.trigger == trigger and state in spec.source:
                return spec
        return None

    @property
    def triggers(self) -> frozenset[str]:
        """Every trigger name the definition knows."""
        return frozenset(t.trigger for t in self.transitions)

    @model_validator(mode="after")
    def _check_graph(self) -> Self:
        names = [s.name for s in self.states]
        for i, name in enumerate(names):
            if name in names[:i]:
                raise _GraphError(f"state name {name!r} is not unique", f"states.{i}")
        known = set(names)
        if self.initial not in known:
            raise _GraphError(
                f"initial state {self.initial!r} is not a state", "initial"
            )
        seen: set[tuple[str, str]] = set()
        finals = {s.name for s in self.states if s.final}
        stages = {t.stage for t in self.transitions if t.stage}
        for i, t in enumerate(self.transitions):
            for j, src in enumerate(t.source):
                at = f"transitions.{i}.source.{j}"
                if src not in known:
                    raise _GraphError(f"{t.trigger}: unknown source state {src!r}", at)
                if src in finals:
                    raise _GraphError(f"{t.trigger}: final state {src!r} has exits", at)
                if (t.trigger, src) in seen:
                    raise _GraphError(f"{t.trigger} is defined twice from {src!r}", at)
                seen.add((t.trigger, src))
            if t.dest not in known:
                raise _GraphError(
                    f"{t.trigger}: unknown dest state {t.dest!r}",
                    f"transitions.{i}.dest",
                )
            unknown_guards = {
                g for g in t.guards if g not in GUARDS and not _HOST_GUARD_RE.match(g)
            }
            if unknown_guards:
                raise _GraphError(
                    f"{t.trigger}: unknown guards {sorted(unknown_guards)}",
                    f"transitions.{i}.guards",
                )
        for step, states in self.deadline_steps.items():
            for state in states:
                if state not in known:
                    raise ValueError(f"deadline step {step!r}: unknown state {state!r}")
        for i, state in enumerate(self.editable_states):
            if state not in known:
                raise _GraphError(
                    f"editable state {state!r} is not a state", f"editable_states.{i}"
                )
        for i, stage in enumerate(self.release_requires):
            if stage not in stages:
                raise _GraphError(
                    f"release_requires stage {stage!r} has no approval",
                    f"release_requires.{i}",
                )
        self._check_reachable(known)
        return self

    def _check_reachable(self, known: set[str]) -> None:
        reached = {self.initial}
        frontier = [self.initial]
        while frontier:
            state = frontier.pop()
            for t in self.transitions_from(state):
                if t.dest not in reached:
                    reached.add(t.dest)
                    frontier.append(t.dest)
        for i, spec in enumerate(self.states):
            if spec.name not in reached:
                unreachable = sorted(known - reached)
                raise _GraphError(f"unreachable states: {unreachable}", f"states.{i}")

    # -- loading -------------------------------------------------------------

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WorkflowDefinition:
        """Validate a definition given as plain data.

        Raises:
            DefinitionError: naming the bad part of the definition.
        """
        from pydantic import ValidationError as PydanticError

        try:
            return cls.model_validate(dict(data))
        except PydanticError as exc:
            first = exc.errors()[0]
            parts = [str(p) for p in first["loc"]]
            cause = first.get("ctx", {}).get("error")
            if isinstance(cause, _GraphError):
                parts.append(cause.path)
            path = ".".join(parts)
            message = (
                f"invalid workflow definition at {path or '<root>'}: {first['msg']}"
            )
            got = first.get("input")
            if isinstance(got, str | int | float) and not isinstance(got, bool):
                message += f" (got {str(got)[:80]!r})"
            raise DefinitionError(message, path=path) from exc

    @classmethod
    def from_json(cls, text: str) -> WorkflowDefinition:
        """Load a definition from JSON text."""
        try:
            data = json.loads(text)
        except (ValueError, RecursionError) as exc:
            raise DefinitionError(f"definition is not valid JSON: {exc}") from exc
        return cls._from_loaded(data)

    @classmethod
    def from_yaml(cls, text: str) -> WorkflowDefinition:
        """Load a definition from YAML text (safe loader)."""
        try:
            data = yaml.safe_load(text)
        except (yaml.YAMLError, RecursionError) as exc:
            raise DefinitionError(f"definition is not valid YAML: {exc}") from exc
        return cls._from_loaded(data)

    @classmethod
    def from_file(cls, path: str | Path) -> WorkflowDefinition:
        """Load a definition from a ``.json``, ``.yaml`` or ``.yml`` file."""
        file = Path(path)
        text = file.read_text(encoding="utf-8")
        if file.suffix == ".json":
            return cls.from_json(text)
        return cls.from_yaml(text)

    @classmethod
    def _from_loaded(cls, data: Any) -> WorkflowDefinition:
        if not isinstance(data, Mapping):
            raise DefinitionError("a definition must be a mapping at the top level")
        return cls.from_dict(data)

    def to_dict(self) -> dict[str, Any]:
        """Return the definition as plain data (round-trips through from_dict)."""
        return self.model_dump(mode="json", exclude_defaults=True)
