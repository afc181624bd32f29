"""``releaseflow deadlines sweep`` and ``deadlines explain`` on a seeded SQLite file."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.conftest import copy_db, run


def test_sweep_notices_once_and_explain(db: str, tmp_path: Path) -> None:
    """The first sweep records the overdue deadlines; the second records none."""
    url = copy_db(db, tmp_path)
    code, out, err = run("--db", url, "--format", "json", "deadlines", "sweep")
    assert code == 0, err
    first = json.loads(out)
    assert first, "the demo quarter has open deadlines that are now overdue"
    assert {row["kind"] for row in first} <= {"missed", "due_soon"}
    code, out, _ = run("--db", url, "--format", "json", "deadlines", "sweep")
    assert code == 0
    assert json.loads(out) == []
    code, out, _ = run(
        "--db", url, "--format", "json", "deadlines", "explain", first[0]["request_id"]
    )
    assert code == 0
    rows = json.loads(out)
    assert any(r["rule_id"] == first[0]["rule_id"] for r in rows)
    assert all("Due before" in r["explanation"] for r in rows)


def test_explain_unknown_request_is_exit_3(db: str) -> None:
    """A malformed id is refused input."""
    code, _, _ = run("--db", db, "deadlines", "explain", "not-a-uuid")
    assert code == 3
