"""Exports: JSON Lines round trip, CSV neutralisation, heads, snapshot, explain."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest

import releaseflow as rf
from releaseflow.exceptions import ValidationError
from releaseflow.exports import CSV_COLUMNS, neutralise_cell, read_jsonl

HOSTILE_TEXT = [
    '=HYPERLINK("http://evil")',
    "+1+1",
    "-2",
    "@SUM(A1)",
    "\tindent",
    "\rreturn",
    "line\nbreak\r\nend",
    "\x1b[31mred\x1b[0m",
    "' OR 1=1 --",
    "100% _done_",
]


def hostile_flow(staffed: rf.ReleaseFlow) -> rf.Request:
    """A request whose audit payloads carry formula and control-like text."""
    from tests.conftest import new_inquiry

    request = new_inquiry(staffed, title="=cmd|' /C calc'!A0")
    request = staffed.fire(request.id, "triage", actor="spoke.tran")
    for text in HOSTILE_TEXT:
        if "\x1b" in text:
            continue  # control characters are refused at the edge
        request = staffed.edit(
            request.id, actor="comms.nguyen", body=f"body {text}", reason=text
        )
    return staffed.fire(
        request.id,
        "refuse",
        actor="spoke.tran",
        ground="criminal_case_pending",
        reasons="=1+2 under investigation",
    )


def test_jsonl_round_trips_exactly(staffed: rf.ReleaseFlow) -> None:
    hostile_flow(staffed)
    lines = list(staffed.audit.export_jsonl())
    assert all(line.endswith("\n") and line.count("\n") == 1 for line in lines)
    export = read_jsonl(lines)
    assert export.entries == list(staffed.audit.entries())
    assert export.anchor.heads == tuple(staffed.audit.heads())
    assert export.trailer["entries"] == len(export.entries)
    assert staffed.audit.verify(anchor=export.anchor).ok


def test_jsonl_export_is_a_snapshot_at_its_heads(staffed: rf.ReleaseFlow) -> None:
    """Entries appended while the export streams are left out; heads are in it."""
    lines = staffed.audit.export_jsonl(by="auditor.ly")
    header = json.loads(next(lines))["export"]
    staffed.directory.grant("late.one", "contributor", unit="agency", by="admin")
    rest = list(lines)
    export = read_jsonl([json.dumps({"export": header}) + "\n", *rest])
    upto = {h["ledger"]: h["seq"] for h in header["anchor"]["heads"]}
    assert all(e.seq <= upto[e.ledger] for e in export.entries)
    assert not any(e.payload.get("actor") == "late.one" for e in export.entries)
    assert header["actor"] == "auditor.ly"


def test_altered_jsonl_is_refused(staffed: rf.ReleaseFlow) -> None:
    lines = list(staffed.audit.export_jsonl())
    with pytest.raises(ValidationError):
        read_jsonl(lines[:-1])  # truncated: no trailer
    with pytest.raises(ValidationError):
        read_jsonl([lines[0], *lines[2:]])  # an entry removed
    tampered = lines[1].replace('"admin"', '"mallory"')
    assert tampered != lines[1]
    with pytest.raises(ValidationError):
        read_jsonl([lines[0], tampered, *lines[2:]])


def test_keyed_export_header_carries_an_hmac(staffed: rf.ReleaseFlow) -> None:
    lines = list(staffed.audit.export_jsonl(key=b"outside", key_id="k1"))
    anchor = read_jsonl(lines).anchor
    assert anchor.mac
    assert anchor.key_id == "k1"
    assert staffed.audit.verify(anchor=anchor, key=b"outside").ok
    assert not staffed.audit.verify(anchor=anchor, key=b"wrong").ok


@pytest.mark.parametrize("text", [*HOSTILE_TEXT, "\x00nul", "=", "plain", ""])
def test_neutralise_cell(text: str) -> None:
    out = neutralise_cell(text)
    if text[:1] in {"=", "+", "-", "@", "\t", "\r", "\n", "\x00"}:
        assert out == "'" + text
    else:
        assert out == text


def test_csv_is_bom_utf8_neutralised_and_ends_with_heads(
    staffed: rf.ReleaseFlow,
) -> None:
    hostile_flow(staffed)
    text = "".join(staffed.audit.export_csv())
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text[1:])))
    assert rows[0] == list(CSV_COLUMNS)
    body, meta = rows[1:-1], rows[-1]
    assert len(body) == len(list(staffed.audit.entries()))
    for row in body:
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r", "\n", "\x00"))
    assert meta[0] == "#export"
    info: dict[str, Any] = json.loads(meta[1])
    assert info["entries"] == len(body)
    assert info["anchor"]["digest"] == staffed.audit.anchor().digest
    payloads = [json.loads(r[CSV_COLUMNS.index("payload")]) for r in body]
    assert any(p.get("reasons") == "=1+2 under investigation" for p in payloads)


def test_explain_tells_who_did_what(staffed: rf.ReleaseFlow) -> None:
    from tests.conftest import new_inquiry, to_approved

    request = to_approved(staffed, new_inquiry(staffed))
    staffed.revoke_approval(
        request.id, actor="head.pham", stage="spokesperson", reason="Sai số liệu"
    )
    staffed.fire(request.id, "return_for_revision", actor="spoke.tran", reason="Sửa")
    staffed.fire(request.id, "submit", actor="comms.nguyen")
    staffed.fire(request.id, "approve_review", actor="review.le")
    staffed.fire(request.id, "approve_release", actor="spoke.tran")
    staffed.fire(request.id, "release", actor="spoke.tran", form="written_answer")
    lines = staffed.audit.explain(request.id)
    text = "\n".join(lines)
    assert len(lines) == len(staffed.audit.history(request.id))
    assert lines[0].startswith(
        "2026-03-02 02:00 UTC — comms.nguyen (comms_officer) created"
    )
    assert "review.le (reviewer) approved stage 'review'" in text
    assert "revoked the approval of stage 'spokesperson' by head.pham" in text
    assert "Sai số liệu" in text
    assert "released content" in lines[-1]
    assert "'written_answer'" in lines[-1]
    assert "review by review.le; spokesperson by spoke.tran" in lines[-1]


def test_explain_names_refusal_ground_and_classification(
    staffed: rf.ReleaseFlow,
) -> None:
    request = hostile_flow(staffed)
    text = "\n".join(staffed.audit.explain(request.id))
    assert "refused under ground 'criminal_case_pending'" in text
    assert "=1+2 under investigation" in text
    assert "edited the content" in text
