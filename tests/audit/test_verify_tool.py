"""tools/verify_chain.py (no releaseflow import) agrees with flow.audit.verify()."""

from __future__ import annotations

import importlib.util
import re
import sqlite3
from datetime import date
from pathlib import Path
from types import ModuleType

import pytest

import releaseflow as rf
from releaseflow.demo import seed

TOOL = Path(__file__).resolve().parents[2] / "tools" / "verify_chain.py"


def load_tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("verify_chain_tool", TOOL)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_tool_imports_no_releaseflow() -> None:
    source = TOOL.read_text("utf-8")
    assert not re.search(r"^\s*(import|from)\s+releaseflow", source, re.MULTILINE)


@pytest.fixture(name="db")
def _db(tmp_path: Path) -> Path:
    path = tmp_path / "agency.db"
    flow = rf.ReleaseFlow.open(f"sqlite:///{path}")
    seed(flow, date(2026, 3, 20))
    flow.close()
    return path


def first_bad_of_flow(path: Path) -> tuple[int, int] | None:
    flow = rf.ReleaseFlow.open(f"sqlite:///{path}")
    try:
        bad = flow.audit.verify().first_bad
    finally:
        flow.close()
    return None if bad is None else (bad.ledger, bad.seq)


def first_bad_of_tool(path: Path) -> tuple[int, int] | None:
    tool = load_tool()
    conn = tool.connect(f"sqlite:///{path}")
    try:
        _, problems = tool.verify(conn, "rf_")
    finally:
        conn.close()
    return None if not problems else (problems[0][0], problems[0][1])


def busiest_ledger(conn: sqlite3.Connection) -> tuple[int, int]:
    row = conn.execute(
        "SELECT ledger, max(seq) FROM rf_audit_entries GROUP BY ledger ORDER BY 2 DESC"
    ).fetchone()
    return int(row[0]), int(row[1])


TAMPERS = {
    "actor": "UPDATE rf_audit_entries SET actor='mallory' WHERE ledger=:l AND seq=:s",
    "payload": "UPDATE rf_audit_entries SET payload='{\"x\":1}' WHERE ledger=:l AND seq=:s",
    "at": "UPDATE rf_audit_entries SET at='2020-01-01 00:00:00.000000' WHERE ledger=:l AND seq=:s",
    "hash": "UPDATE rf_audit_entries SET hash='"
    + "a" * 64
    + "' WHERE ledger=:l AND seq=:s",
    "delete": "DELETE FROM rf_audit_entries WHERE ledger=:l AND seq=:s",
    "nfd": "UPDATE rf_audit_entries SET unit='cafe\u0301' WHERE ledger=:l AND seq=:s",
}


def test_clean_chain_agrees(db: Path) -> None:
    assert first_bad_of_flow(db) is None
    assert first_bad_of_tool(db) is None
    assert load_tool().main([f"sqlite:///{db}"]) == 0


@pytest.mark.parametrize("where", ["first", "middle", "last"])
@pytest.mark.parametrize("tamper", sorted(TAMPERS))
def test_tampered_chain_agrees(db: Path, tamper: str, where: str) -> None:
    with sqlite3.connect(db) as conn:
        ledger, top = busiest_ledger(conn)
        seq = {"first": 1, "middle": top // 2, "last": top}[where]
        conn.execute(TAMPERS[tamper], {"l": ledger, "s": seq})
    expected = first_bad_of_flow(db)
    assert expected is not None
    assert expected[0] == ledger
    assert first_bad_of_tool(db) == expected
    assert load_tool().main([f"sqlite:///{db}"]) == 1


def test_truncated_tail_with_fixed_head_passes_both(db: Path) -> None:
    """Documented limit (T19): dropping the tail and fixing the head needs an anchor."""
    with sqlite3.connect(db) as conn:
        ledger, top = busiest_ledger(conn)
        prev = conn.execute(
            "SELECT hash FROM rf_audit_entries WHERE ledger=? AND seq=?",
            (ledger, top - 1),
        ).fetchone()[0]
        conn.execute(
            "DELETE FROM rf_audit_entries WHERE ledger=? AND seq=?", (ledger, top)
        )
        conn.execute(
            "UPDATE rf_ledger_heads SET seq=?, hash=? WHERE ledger=?",
            (top - 1, prev, ledger),
        )
    assert first_bad_of_tool(db) is None
    assert first_bad_of_flow(db) is None or first_bad_of_flow(db)[0] == -1


def test_bad_url_is_exit_2(tmp_path: Path) -> None:
    assert load_tool().main([f"sqlite:///{tmp_path / 'missing.db'}"]) == 2
