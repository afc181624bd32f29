"""An invariant checker that reads the tables directly (RELIABILITY §2, I1-I5).

It does not use the engine's code paths: plain SQL over the store's tables, its own
replay of the audit rows and its own chain walk. Hashes are recomputed with
``canonical_bytes`` (the documented canonical form), not with the engine's sealer.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from releaseflow.canonical import canonical_bytes

GENESIS = "0" * 64


@dataclass(frozen=True)
class Ack:
    """One client-acknowledged transition (from a worker's ack log)."""

    request_id: str
    version: int
    key: str


def read_acks(lines: Iterable[str]) -> list[Ack]:
    acks = []
    for line in lines:
        parts = line.strip().split(",")
        if len(parts) == 3:  # a torn last line of a killed worker is dropped
            acks.append(Ack(parts[0], int(parts[1]), parts[2]))
    return acks


def _stamp(value: Any) -> str:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return str(value.replace(tzinfo=None).strftime("%Y-%m-%dT%H:%M:%S.%fZ"))


def check_invariants(
    engine: sa.Engine,
    prefix: str,
    acks: Iterable[Ack] = (),
    *,
    legal_edges: set[tuple[str | None, str | None]] | None = None,
    storm_triggers: frozenset[str] = frozenset(),
    in_doubt_allowed: int = 0,
) -> list[str]:
    """Every violation found (an empty list when the database is sound)."""
    problems: list[str] = []
    with engine.connect() as conn:
        requests = {
            r.id: r
            for r in conn.exec_driver_sql(
                f"SELECT id, state, version, doc FROM {prefix}requests"
            )
        }
        rows = list(
            conn.exec_driver_sql(
                f"SELECT * FROM {prefix}audit_entries ORDER BY ledger, seq"
            ).mappings()
        )
        heads = {
            h.ledger: (h.seq, h.hash)
            for h in conn.exec_driver_sql(
                f"SELECT ledger, seq, hash FROM {prefix}ledger_heads"
            )
        }
        keys = {
            k.key: json.loads(k.record)
            for k in conn.exec_driver_sql(
                f'SELECT "key", record FROM {prefix}idempotency'.replace(
                    '"key"', "`key`" if engine.dialect.name == "mysql" else '"key"'
                )
            )
        }
    # I4: each ledger a contiguous, linked, recomputable chain ending at its head
    by_ledger: dict[int, list[Any]] = defaultdict(list)
    for row in rows:
        by_ledger[row["ledger"]].append(row)
    for ledger, (head_seq, head_hash) in heads.items():
        chain = by_ledger.get(ledger, [])
        prev = GENESIS
        for expected_seq, row in enumerate(chain, start=1):
            if row["seq"] != expected_seq:
                problems.append(f"ledger {ledger}: seq {row['seq']} != {expected_seq}")
            if row["prev_hash"] != prev:
                problems.append(f"ledger {ledger} seq {row['seq']}: broken link")
            body = {k: v for k, v in row.items() if k != "hash"}
            body["roles"] = json.loads(body["roles"])
            body["payload"] = json.loads(body["payload"])
            body["at"] = _stamp(body["at"])
            digest = hashlib.sha256(canonical_bytes(body)).hexdigest()
            if digest != row["hash"]:
                problems.append(f"ledger {ledger} seq {row['seq']}: hash mismatch")
            prev = row["hash"]
        last = (chain[-1]["seq"], chain[-1]["hash"]) if chain else (0, GENESIS)
        if (head_seq, head_hash) != last:
            problems.append(f"ledger {ledger}: head row {head_seq} != last entry")
    # I1/I2: one entry per version, replay equals stored
    per_request: dict[str, list[Any]] = defaultdict(list)
    for row in rows:
        if row["request_id"] is not None:
            per_request[row["request_id"]].append(row)
    counts = Counter((r["request_id"], r["request_version"]) for r in rows)
    for (rid, version), n in counts.items():
        if rid is not None and n > 1:
            problems.append(
                f"request {rid} v{version}: {n} audit entries (double winner)"
            )
    for rid, req in requests.items():
        entries = sorted(per_request.get(rid, []), key=lambda r: r["request_version"])
        versions = [e["request_version"] for e in entries]
        if versions != list(range(1, req.version + 1)):
            problems.append(
                f"request {rid}: audit versions do not run 1..{req.version}"
            )
        state: str | None = None
        for entry in entries:
            if entry["from_state"] != state:
                problems.append(
                    f"request {rid} v{entry['request_version']}: from {entry['from_state']}"
                    f" but replay is at {state}"
                )
            edge = (entry["from_state"], entry["to_state"])
            checked = legal_edges is not None and edge[0] is not None
            if checked and edge not in (legal_edges or set()):
                problems.append(f"request {rid}: illegal edge {edge}")
            state = entry["to_state"]
        if state != req.state:
            problems.append(f"request {rid}: stored {req.state}, replay {state}")
        if json.loads(req.doc)["version"] != req.version:
            problems.append(f"request {rid}: doc and version column disagree")
    # I2: every acknowledged transition present exactly once; I3: in-doubt bound
    acked = set()
    for ack in acks:
        acked.add((ack.request_id, ack.version))
        if counts.get((ack.request_id, ack.version), 0) != 1:
            problems.append(f"acked {ack.request_id} v{ack.version} is not stored once")
        record = keys.get(ack.key)
        if record is None or record["request_version"] != ack.version:
            problems.append(f"acked key {ack.key} has no matching idempotency record")
    if storm_triggers:
        unacked = [
            r
            for r in rows
            if r["trigger"] in storm_triggers
            and (r["request_id"], r["request_version"]) not in acked
        ]
        if len(unacked) > in_doubt_allowed:
            problems.append(f"{len(unacked)} unacknowledged transitions stored")
    return problems
