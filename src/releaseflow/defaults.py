"""The workflow definitions releaseflow ships, one per request kind (``workflows/``)."""

from __future__ import annotations

from functools import cache
from importlib import resources

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
    return tuple(
        WorkflowDefinition.from_yaml(entry.read_text("utf-8")) for entry in found
    )
