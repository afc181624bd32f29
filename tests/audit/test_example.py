"""``examples/audit_queries.py`` runs in the suite."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "audit_queries.py"


@pytest.mark.parametrize(
    "argv", [[], ["--db", "memory://"]], ids=["sqlite-file", "memory"]
)
def test_audit_queries_example_runs(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    spec = importlib.util.spec_from_file_location("example_audit_queries", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(argv) == 0
    out = capsys.readouterr().out
    assert "criminal_case_pending" in out
    assert "verified against the export's anchor: True" in out
