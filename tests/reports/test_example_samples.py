"""The report example and the samples it writes show every table with rows (#6)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _example() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "example_quarterly_report_samples", ROOT / "examples" / "quarterly_report.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _check(report: dict[str, Any]) -> None:
    """One plan with an item done, one late and one not started; a press contact."""
    (plan,) = report["plans"]
    assert plan["unit"] == "danang/soyte"
    assert plan["state"] == "approved"
    counts = {status: fig["value"] for status, fig in plan["items"].items()}
    assert counts == {"done": 1, "late": 1, "not_started": 1}
    for fig in plan["items"].values():
        assert len(fig["ids"]) == fig["value"]
    assert plan["done_by"]["value"] == 1
    contacts = [k for k in report["journalists"] if "[contact " in k]
    assert len(contacts) == 1
    assert contacts[0].startswith("Trần Thị M [contact ")


def test_example_seeds_a_plan_and_a_press_contact(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The example's report lists the plan's progress and the contact's request."""
    assert _example().main(["--out", str(tmp_path)]) == 0
    assert "11 requests" in capsys.readouterr().out
    _check(json.loads((tmp_path / "quarterly_report.json").read_text("utf-8")))
    md = (tmp_path / "quarterly_report.md").read_text("utf-8")
    assert "| danang/soyte 2026 | Đã duyệt | 1 | 1 | 1 |" in md


def test_committed_samples_show_the_plan() -> None:
    """docs/samples was regenerated from the example (no empty plan table)."""
    samples = ROOT / "docs" / "samples"
    _check(json.loads((samples / "quarterly_report.json").read_text("utf-8")))
    md = (samples / "quarterly_report.md").read_text("utf-8")
    assert "| danang/soyte 2026 | Đã duyệt | 1 | 1 | 1 |" in md
