"""The workflow definitions releaseflow ships, one per request kind (``workflows/``)."""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import yaml

from .definitions import WorkflowDefinition

__all__ = ["default_definitions"]


@cache
def default_definitions() -> tuple[WorkflowDefinition, ...]:
    """Every shipped definition, loaded and validated once per process."""
    folder = resources.files("releaseflow").joinpath("workflows")
    found = sorted(
        (entry for entry in folder.iterdir() if entry.name.endswith(".yaml")),
        key=lambda entry: entry.name,
    )
    return tuple(_shipped(entry.read_text("utf-8")) for entry in found)


def _shipped(text: str) -> WorkflowDefinition:
    """A shipped definition, parsed by libyaml's safe loader where there is one.

    The C loader builds the same data as ``yaml.safe_load`` (a test pins it for
    every shipped file) about ten times faster: a flow's start-up parses them all.
    Definitions from callers keep :meth:`WorkflowDefinition.from_yaml`.
    """
    loader: Any = getattr(yaml, "CSafeLoader", None)
    if loader is None:  # pragma: no cover - PyYAML built without libyaml
        return WorkflowDefinition.from_yaml(text)
    return WorkflowDefinition._from_loaded(yaml.load(text, Loader=loader))
