"""The examples in ``examples/`` run and succeed."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        f"example_{name}", EXAMPLES / f"{name}.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    "argv", [[], ["--db", "memory://"]], ids=["sqlite-file", "memory"]
)
def test_press_inquiry_example_runs_and_verifies(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """The demo answers a question through every stage and its audit chain verifies."""
    assert load("press_inquiry").main(argv) == 0
    out = capsys.readouterr().out
    assert "is closed at version 8" in out
    assert "Audit chain verified: True" in out


def test_custom_workflow_example_runs(capsys: pytest.CaptureFixture[str]) -> None:
    """A host-registered definition with a 2-of-n review runs to publication."""
    assert load("custom_workflow").main() == 0
    out = capsys.readouterr().out
    assert "after one review: in_review" in out
    assert "after two reviews: awaiting_spokesperson" in out
    assert "published as health_bulletin@1" in out


def test_quarterly_report_example_writes_every_format(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The report example seeds SQLite and writes JSON, CSV, MD, XLSX, DOCX and PNG."""
    assert load("quarterly_report").main() == 0
    out = capsys.readouterr().out
    assert "2026-Q3 danang/soyte: 11 requests" in out
    for suffix in ("json", "csv", "md", "xlsx", "docx", "png"):
        assert f"quarterly_report.{suffix}" in out
