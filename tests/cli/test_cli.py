"""The ``releaseflow`` command line, end to end on a SQLite file, with exit codes."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from pathlib import Path

import pytest

from releaseflow.cli import EXIT_FAILED, EXIT_INPUT, main
from releaseflow.exports import read_jsonl
from tests.cli.conftest import copy_db, run


def test_demo_refuses_a_seeded_database(db: str) -> None:
    code, _, err = run("--db", db, "demo")
    assert code == EXIT_INPUT
    assert "NotPermittedError" in err


def test_requests_list_and_show(db: str) -> None:
    code, out, _ = run("--db", db, "--format", "json", "requests", "list")
    assert code == 0
    rows = json.loads(out)
    kinds = {r["kind"] for r in rows}
    assert len(kinds) == 10  # every shipped kind
    code, out, _ = run("--db", db, "--format", "json", "requests", "list", "--overdue")
    assert code == 0
    assert json.loads(out)  # the missed deadline
    code, out, _ = run("--db", db, "requests", "show", rows[0]["id"])
    assert code == 0
    assert rows[0]["id"] in out
    assert run("--db", db, "requests", "show", "not-a-uuid")[0] == EXIT_INPUT


def test_audit_query_pages_and_filters(db: str) -> None:
    code, out, _ = run("--db", db, "--format", "json", "audit", "query", "--limit", "3")
    assert code == 0
    first = json.loads(out)
    assert len(first["entries"]) == 3
    code, out, _ = run(
        "--db",
        db,
        "--format",
        "json",
        "audit",
        "query",
        "--limit",
        "3",
        "--cursor",
        first["next_cursor"],
    )
    second = json.loads(out)
    assert {(e["ledger"], e["seq"]) for e in first["entries"]}.isdisjoint(
        {(e["ledger"], e["seq"]) for e in second["entries"]}
    )
    code, out, _ = run(
        "--db",
        db,
        "--format",
        "json",
        "audit",
        "query",
        "--ground",
        "criminal_case_pending",
    )
    assert [e["trigger"] for e in json.loads(out)["entries"]] == ["refuse"]
    code, out, _ = run("audit", "query", "--db", db, "--format", "csv", "--limit", "2")
    assert code == 0
    assert next(csv.reader(io.StringIO(out)))[0] == "ledger"


@pytest.mark.parametrize(
    "args",
    [
        ["--limit", "0"],
        ["--limit", "5000"],
        ["--cursor", "bogus"],
        ["--since", "2026-01-01T00:00:00"],
        ["--kind", "nope"],
        ["--actor", "x'; DROP TABLE rf_audit_entries; --", "--unit", "a%"],
    ],
)
def test_audit_query_bad_input_is_exit_3(db: str, args: list[str]) -> None:
    code, _, err = run("--db", db, "audit", "query", *args)
    assert code == EXIT_INPUT, err
    assert "error:" in err


def test_audit_query_with_reader_is_checked_and_recorded(
    db: str, tmp_path: Path
) -> None:
    url = copy_db(db, tmp_path)
    assert run("--db", url, "audit", "query", "--as", "comms.nguyen")[0] == EXIT_INPUT
    assert run("--db", url, "audit", "query", "--as", "auditor.ly")[0] == 0
    _, out, _ = run(
        "--db", url, "--format", "json", "audit", "query", "--event", "read"
    )
    assert [e["actor"] for e in json.loads(out)["entries"]] == ["auditor.ly"]


def test_history_and_explain(db: str) -> None:
    _, out, _ = run(
        "--db",
        db,
        "--format",
        "json",
        "audit",
        "query",
        "--ground",
        "criminal_case_pending",
    )
    rid = json.loads(out)["entries"][0]["request_id"]
    code, out, _ = run("--db", db, "audit", "history", rid, "--explain")
    assert code == 0
    assert "refused under ground 'criminal_case_pending'" in out
    code, out, _ = run("--db", db, "--format", "json", "audit", "history", rid)
    assert code == 0
    assert out.strip()


def test_verify_anchor_and_tamper(db: str, tmp_path: Path) -> None:
    url = copy_db(db, tmp_path)
    key = tmp_path / "key"
    key.write_bytes(b"kept-outside")
    code, out, _ = run("--db", url, "audit", "anchor", "--key-file", str(key))
    assert code == 0
    anchor_file = tmp_path / "anchor.json"
    anchor_file.write_text(out)
    assert json.loads(out)["mac"]
    code, out, _ = run(
        "--db",
        url,
        "audit",
        "verify",
        "--anchor",
        str(anchor_file),
        "--key-file",
        str(key),
    )
    assert code == 0, out
    assert "OK" in out
    with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
        ledger, seq, rid = conn.execute(
            "SELECT ledger, seq, request_id FROM rf_audit_entries"
            " WHERE request_id IS NOT NULL ORDER BY ledger, seq LIMIT 1"
        ).fetchone()
        conn.execute(
            "UPDATE rf_audit_entries SET actor='mallory' WHERE ledger=? AND seq=?",
            (ledger, seq),
        )
    code, _, err = run("--db", url, "audit", "verify")
    assert code == EXIT_FAILED
    assert f"ledger {ledger} seq {seq} request {rid}" in err


def test_export_jsonl_to_file_and_csv_to_stdout(db: str, tmp_path: Path) -> None:
    target = tmp_path / "audit.jsonl"
    code, _, err = run("--db", db, "audit", "export", "-o", str(target))
    assert code == 0, err
    export = read_jsonl(target.read_text("utf-8").splitlines(keepends=True))
    assert export.entries
    code, out, _ = run(
        "--db", db, "--format", "csv", "audit", "export", "--kind", "press_inquiry"
    )
    assert code == 0
    assert out.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(out[1:])))
    assert rows[-1][0] == "#export"
    assert {r[CSV_KIND] for r in rows[1:-1]} == {"press_inquiry"}


CSV_KIND = 6


def test_diagram_and_usage_errors() -> None:
    code, out, _ = run("diagram", "press_inquiry")
    assert code == 0
    assert "stateDiagram-v2" in out
    assert run("diagram", "nope")[0] == EXIT_INPUT
    assert run("audit", "query", "--no-such-option")[0] == 2


def test_main_returns_exit_codes(db: str) -> None:
    assert main(["--db", db, "audit", "verify"]) == 0
    assert main(["--db", db, "audit", "query", "--limit", "-1"]) == EXIT_INPUT
    assert main(["--db", db, "audit", "nope"]) == 2
