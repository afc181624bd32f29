"""The public API is exactly what ``__all__`` says, sorted, documented and typed."""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

import releaseflow

PUBLIC_MODULES = [
    "releaseflow",
    "releaseflow.exceptions",
    "releaseflow.signals",
]


def test_all_is_sorted_and_complete() -> None:
    """``releaseflow.__all__`` is sorted and every name in it exists."""
    names = list(releaseflow.__all__)
    assert names == sorted(names)
    for name in names:
        assert hasattr(releaseflow, name), name


def test_every_public_name_has_a_docstring() -> None:
    """Every class and function exported by a public module carries a docstring."""
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            obj = getattr(module, name)
            if inspect.isclass(obj) or inspect.isfunction(obj):
                assert inspect.getdoc(obj), f"{module_name}.{name} has no docstring"


def test_package_is_typed() -> None:
    """The package ships ``py.typed`` so type checkers read its annotations."""
    assert (Path(releaseflow.__file__).parent / "py.typed").exists()


def test_every_error_is_a_releaseflow_error() -> None:
    """Every exception class in ``releaseflow.exceptions`` derives from the base."""
    from releaseflow import exceptions

    for name in exceptions.__all__:
        cls = getattr(exceptions, name)
        assert issubclass(cls, exceptions.ReleaseflowError), name
