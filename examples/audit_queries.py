"""Audit queries, explanations, exports and the independent check, in one script.

Seeds a quarter of activity (``releaseflow.demo``), then answers an inspector's
questions: who refused what and on which ground, what happened to one request in
words, and a signed export of everything an auditor may see.
Run: ``python examples/audit_queries.py [--db URL]`` (default: a fresh SQLite file).
"""

from __future__ import annotations

import argparse
import tempfile
from datetime import date
from pathlib import Path

import releaseflow as rf
from releaseflow.demo import seed
from releaseflow.exports import read_jsonl


def run(flow: rf.ReleaseFlow, today: date) -> bool:
    """Seed ``flow``, query it, export it; True when everything verifies."""
    seed(flow, today)

    print("Refusals and their legal grounds:")
    for entry in flow.audit.query(event="transitioned", trigger="refuse").entries:
        print(f"  {entry.at:%Y-%m-%d} {entry.actor}: {entry.payload['ground']}")

    # keyset pages: pass next_cursor back until it is None
    page = flow.audit.query(unit="danang/soyte", order="time", limit=20)
    pages, total = 1, len(page.entries)
    while page.next_cursor:
        page = flow.audit.query(
            unit="danang/soyte", order="time", limit=20, cursor=page.next_cursor
        )
        pages, total = pages + 1, total + len(page.entries)
    print(f"\nHealth department: {total} entries in {pages} pages")

    refused = flow.audit.query(trigger="refuse", limit=1).entries[0]
    print("\nWhy was it refused?")
    for line in flow.audit.explain(refused.request_id or ""):
        print(f"  {line}")

    # an auditor's export is permission-checked, recorded, and carries the heads
    lines = list(flow.audit.export_jsonl(by="auditor.ly", key=b"held-elsewhere"))
    export = read_jsonl(lines)
    print(f"\nExported {len(export.entries)} entries at {export.anchor.digest[:12]}…")
    report = flow.audit.verify(anchor=export.anchor, key=b"held-elsewhere")
    print(f"Audit chain verified against the export's anchor: {report.ok}")
    return report.ok


def main(argv: list[str] | None = None) -> int:
    """Run the example on ``--db`` (default: a SQLite file in a temporary folder)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", help="database URL (default: a fresh SQLite file)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="releaseflow-audit-") as folder:
        flow = rf.ReleaseFlow.open(args.db or f"sqlite:///{Path(folder) / 'a.db'}")
        try:
            ok = run(flow, date(2026, 3, 20))
        finally:
            flow.close()
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
