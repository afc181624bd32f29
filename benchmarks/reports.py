"""Benchmark: a year's report over N requests on SQLite, against a naive GROUP BY.

Rows are bulk-inserted straight into the tables (the report reads only request
documents and audit rows; hash chains are not built, so do not verify this
database). Each request gets a ``created`` entry, ``--steps`` transitions and a
release or refusal that settles its deadline.

    python benchmarks/reports.py --requests 20000
    python benchmarks/reports.py --requests 100000 --steps 8   # the issue's target

The issue's target: 100,000 requests and 1,000,000 entries, JSON form within 1 s.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import tempfile
import time
import tracemalloc
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

import releaseflow as rf
from releaseflow import reports

KINDS = [
    "press_inquiry",
    "citizen_info_request",
    "incident_statement",
    "periodic_release",
]
UNITS = ["danang/soyte", "danang/soyte/bv-dakhoa", "danang/stttt"]
START = datetime(2025, 1, 1, tzinfo=UTC)
NOW = datetime(2026, 3, 1, tzinfo=UTC)


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _request(rng: random.Random, i: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    rid = str(uuid.UUID(int=rng.getrandbits(128)))
    kind, unit = rng.choice(KINDS), rng.choice(UNITS)
    received = START + timedelta(minutes=rng.randrange(365 * 24 * 60))
    due = received + timedelta(days=3)
    done = received + timedelta(hours=rng.randrange(1, 120))
    refused = rng.random() < 0.1
    doc = {
        "id": rid, "kind": kind, "definition": kind, "definition_version": 1,
        "state": "refused" if refused else "released", "version": 8, "unit": unit,
        "title": f"Yêu cầu số {i}", "body": "Nội dung.", "channel": "electronic",
        "requester": {"type": "journalist", "name": f"Phóng viên {i % 50}",
                      "organisation": f"Báo {i % 12}", "contact": None, "press_card": None},
        "classification": "public", "restriction_grounds": [], "content_hash": "0" * 64,
        "created_by": "comms.nguyen", "contributors": ["comms.nguyen"], "approvals": [],
        "refusal": None, "release": None, "received_at": _iso(received),
        "created_at": _iso(received), "updated_at": _iso(done), "metadata": {},
        "deadlines": [{"rule_id": f"agency.{kind}.answer", "status": "met", "due_at": _iso(due)}],
    }  # fmt: skip
    return doc, [received, done, due, refused]  # type: ignore[list-item]


def populate(url: str, n: int, steps: int, seed: int = 1) -> int:
    flow = rf.ReleaseFlow.open(url, clock=lambda: NOW)
    store: Any = flow.store
    t = store.tables
    rng = random.Random(seed)
    entries = 0
    seq = 0
    with store.engine.begin() as conn:
        reqs, audit = [], []
        for i in range(n):
            doc, (received, done, due, refused) = _request(rng, i)
            reqs.append({
                "id": doc["id"], "kind": doc["kind"], "definition": doc["kind"],
                "definition_version": 1, "state": doc["state"], "version": 8,
                "unit": doc["unit"], "created_by": "comms.nguyen", "created_at": received,
                "updated_at": done, "received_at": received, "next_due_at": None,
                "doc": json.dumps(doc, ensure_ascii=False),
            })  # fmt: skip
            times = [
                received + (done - received) * k / (steps + 1) for k in range(steps + 2)
            ]
            for k, at in enumerate(times):
                seq += 1
                last = k == len(times) - 1
                payload: dict[str, Any] = {"definition": doc["kind"] + "@1"}
                if last and refused:
                    payload |= {
                        "ground": "out_of_scope",
                        "reasons": "Không thuộc phạm vi.",
                    }
                elif last:
                    payload["form"] = "written_answer"
                if last:
                    payload["deadlines"] = [
                        {
                            "rule_id": f"agency.{doc['kind']}.answer",
                            "status": "met",
                            "due_at": _iso(due),
                        }
                    ]
                audit.append({
                    "ledger": 0, "seq": seq, "event": "created" if k == 0 else "transitioned",
                    "request_id": doc["id"], "request_version": k + 1,
                    "request_kind": doc["kind"], "unit": doc["unit"],
                    "from_state": None, "to_state": ("refused" if refused else "released") if last else f"s{k}",
                    "trigger": "create" if k == 0 else f"t{k}", "actor": "comms.nguyen",
                    "roles": "[]", "at": at, "payload": json.dumps(payload, ensure_ascii=False),
                    "content_hash": "0" * 64, "prev_hash": hashlib.sha256(str(seq).encode()).hexdigest(),
                    "hash": hashlib.sha256(f"h{seq}".encode()).hexdigest(), "canon_version": 1,
                    "hash_alg": "sha256",
                })  # fmt: skip
            if len(audit) > 50_000:
                conn.execute(t.audit.insert(), audit)
                entries += len(audit)
                audit.clear()
        conn.execute(t.requests.insert(), reqs)
        if audit:
            conn.execute(t.audit.insert(), audit)
            entries += len(audit)
    flow.close()
    return entries


def naive(url: str) -> tuple[float, int]:
    """The baseline: one GROUP BY over all audit rows and one over the requests."""
    engine = sa.create_engine(url)
    began = time.perf_counter()
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT request_kind, to_state, count(*) FROM rf_audit_entries"
            " WHERE at >= :a AND at < :b GROUP BY request_kind, to_state"
        ), {"a": "2025-01-01 00:00:00", "b": "2026-01-01 00:00:00"}).all()  # fmt: skip
        conn.execute(
            sa.text("SELECT kind, count(*) FROM rf_requests GROUP BY kind")
        ).all()
    engine.dispose()
    return time.perf_counter() - began, len(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--steps", type=int, default=4, help="Transitions per request.")
    args = parser.parse_args(argv or [])
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        began = time.perf_counter()
        entries = populate(url, args.requests, args.steps)
        print(f"populated {args.requests} requests, {entries} audit entries"
              f" in {time.perf_counter() - began:.1f} s")  # fmt: skip
        base, _ = naive(url)
        flow = rf.ReleaseFlow.open(url, clock=lambda: NOW)
        began = time.perf_counter()
        report = reports.build(flow, "2025")
        built = time.perf_counter() - began
        text = reports.to_json(report)
        total = time.perf_counter() - began
        tracemalloc.start()
        reports.build(flow, "2025")
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        flow.close()
    print(f"naive GROUP BY baseline : {base:.3f} s")
    print(f"report build            : {built:.3f} s")
    print(f"report build + JSON     : {total:.3f} s ({len(text) / 1e6:.1f} MB of JSON)")
    print(f"ratio (report / naive)  : {total / base:.1f}x")
    print(f"peak traced memory      : {peak / 1e6:.0f} MB")
    print(f"received {report.totals.received.value}, released"
          f" {report.totals.released.value}, on-time {report.deadlines_overall.on_time_rate}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
