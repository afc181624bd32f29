"""Compiles workflow definitions into shared ``transitions`` machines.

This is the only module that imports ``transitions``. Each definition version compiles
**once** into one ``Machine(model=None, auto_transitions=False)`` shared by every
request that follows it; a transition is evaluated against a light cursor that carries
only the state, so no request ever owns a machine.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from typing import Any

from transitions import Machine, MachineError
from transitions.extensions import GraphMachine

from .definitions import TransitionSpec, WorkflowDefinition
from .exceptions import (
    DefinitionError,
    DefinitionNotFoundError,
    InvalidTransitionError,
    UnknownTriggerError,
)
from .vocabulary import RequestKind

__all__ = ["CompiledWorkflow", "DefinitionRegistry", "mermaid"]


class _Cursor:
    """The minimal model a shared machine moves: just a state."""

    __slots__ = ("state",)

    def __init__(self, state: str) -> None:
        self.state = state


def _machine_args(definition: WorkflowDefinition) -> dict[str, Any]:
    return {
        "states": [s.name for s in definition.states],
        "transitions": [
            {"trigger": t.trigger, "source": list(t.source), "dest": t.dest}
            for t in definition.transitions
        ],
        "initial": definition.initial,
        "auto_transitions": False,
    }


class CompiledWorkflow:
    """A definition plus its shared machine."""

    def __init__(self, definition: WorkflowDefinition) -> None:
        self.definition = definition
        try:
            self._machine = Machine(model=None, **_machine_args(definition))
        except (ValueError, MachineError) as exc:
            raise DefinitionError(f"{definition.key} does not compile: {exc}") from exc
        self._lock = threading.Lock()
        self._triggers = definition.triggers
        self._resolved: dict[tuple[str, str], tuple[TransitionSpec, str]] = {}
        """Allowed (state, trigger) pairs the machine has resolved, with the answer.

        The machine has no conditions or callbacks and the definition is frozen,
        so its answer depends on the pair alone: each pair is asked once."""

    @property
    def key(self) -> str:
        """``name@version`` of the definition."""
        return self.definition.key

    def resolve(self, state: str, trigger: str) -> tuple[TransitionSpec, str]:
        """Return the transition spec and destination for ``trigger`` from ``state``.

        Raises:
            UnknownTriggerError: the definition has no such trigger.
            InvalidTransitionError: the trigger is not allowed from ``state``.
        """
        known = self._resolved.get((state, trigger))
        if known is not None:
            return known
        if trigger not in self._triggers:
            raise UnknownTriggerError(state, trigger)
        event = self._machine.events[trigger]
        cursor = _Cursor(state)
        try:
            # Event.trigger mutates only the cursor; the lock keeps the machine's
            # internal queue state private to one caller at a time.
            with self._lock:
                event.trigger(cursor)
        except MachineError as exc:
            raise InvalidTransitionError(state, trigger) from exc
        spec = self.definition.transition(state, trigger)
        if spec is None:  # pragma: no cover - the machine and the data agree
            raise InvalidTransitionError(state, trigger)
        answer = (spec, cursor.state)
        self._resolved[(state, trigger)] = answer
        return answer

    def triggers_from(self, state: str) -> list[str]:
        """Trigger names that leave ``state``, in definition order."""
        return list(self._machine.get_triggers(state))


def mermaid(definition: WorkflowDefinition) -> str:
    """Return a Mermaid ``stateDiagram-v2`` of ``definition``."""

    class _Model:
        pass

    graph = GraphMachine(
        model=None,
        graph_engine="mermaid",
        title=definition.key,
        **_machine_args(definition),
    )
    model = _Model()
    graph.add_model(model)
    text: str = model.get_graph().draw(None)  # type: ignore[attr-defined]
    # transitions writes the title as a bare front-matter scalar (``---\nname@1\n---``);
    # Mermaid reads front matter as a YAML mapping, so make it ``title: name@1``.
    bare = f"---\n{definition.key}\n---\n"
    if text.startswith(bare):
        text = f"---\ntitle: {definition.key}\n---\n" + text[len(bare) :]
    return text


class DefinitionRegistry:
    """Every known definition version, compiled once; thread-safe."""

    def __init__(self, definitions: Iterable[WorkflowDefinition] = ()) -> None:
        self._compiled: dict[tuple[str, int], CompiledWorkflow] = {}
        self._defaults: dict[RequestKind, str] = {}
        self._lock = threading.Lock()
        for definition in definitions:
            self.register(definition)

    def register(
        self, definition: WorkflowDefinition, *, default_for: RequestKind | None = None
    ) -> CompiledWorkflow:
        """Compile and add ``definition``; re-registering the same data is a no-op.

        Raises:
            DefinitionError: the same ``name@version`` is already registered with
                different content.
        """
        key = (definition.name, definition.version)
        with self._lock:
            existing = self._compiled.get(key)
            if existing is not None:
                if existing.definition != definition:
                    raise DefinitionError(
                        f"{definition.key} is already registered with other content;"
                        " publish a new version instead"
                    )
                compiled = existing
            else:
                compiled = CompiledWorkflow(definition)
                self._compiled[key] = compiled
            kind = default_for or definition.kind
            if kind is not None:
                current = self._defaults.get(kind)
                if current is None or current == definition.name or default_for:
                    self._defaults[kind] = definition.name
        return compiled

    def get(self, name: str, version: int | None = None) -> CompiledWorkflow:
        """Return ``name@version`` (the newest version when ``version`` is None)."""
        with self._lock:
            if version is not None:
                found = self._compiled.get((name, version))
            else:
                versions = [v for (n, v) in self._compiled if n == name]
                found = self._compiled.get((name, max(versions))) if versions else None
        if found is None:
            raise DefinitionNotFoundError(name, version)
        return found

    def default_for(self, kind: RequestKind) -> CompiledWorkflow:
        """The newest version of the definition registered for ``kind``."""
        name = self._defaults.get(kind)
        if name is None:
            raise DefinitionNotFoundError(f"<default for {kind.value}>")
        return self.get(name)

    def __iter__(self) -> Iterator[CompiledWorkflow]:
        with self._lock:
            items = sorted(self._compiled.items())
        return iter(compiled for _, compiled in items)
