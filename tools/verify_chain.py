#!/usr/bin/env python3
"""Independent verifier of a releaseflow audit chain, straight from the SQL tables.

Deliberately imports nothing from releaseflow: it re-implements canonical JSON v1
(``src/releaseflow/canonical.py``) and the per-ledger SHA-256 chain check, so a bug
in the library cannot hide itself. Standard library plus the database driver only
(``sqlite3``; ``psycopg`` for PostgreSQL; ``pymysql`` for MariaDB/MySQL).

Usage::

    python tools/verify_chain.py sqlite:///agency.db [--prefix rf_] [--json]

Exit codes: 0 the chain verifies; 1 a problem was found (the first bad entry is
named: ledger, seq, request); 2 usage or connection error. It checks the chain and
the stored ledger heads; it does not replay request states (``releaseflow audit
verify`` does).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import unicodedata
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urlsplit

GENESIS = "0" * 64
MAX_DEPTH = 16
COLUMNS = (
    "ledger",
    "seq",
    "event",
    "request_id",
    "request_version",
    "request_kind",
    "unit",
    "from_state",
    "to_state",
    "trigger",
    "actor",
    "roles",
    "at",
    "payload",
    "content_hash",
    "prev_hash",
    "hash",
    "canon_version",
    "hash_alg",
)


class RefusedError(ValueError):
    """The value cannot be written as canonical JSON v1."""


def plain(value: Any, depth: int = 0) -> Any:
    """Check ``value`` against the canonical rules (no floats, NFC, depth)."""
    if depth > MAX_DEPTH:
        raise RefusedError("nested too deeply")
    if isinstance(value, bool) or value is None or isinstance(value, int):
        return value
    if isinstance(value, str):
        if unicodedata.normalize("NFC", value) != value:
            raise RefusedError("text not in NFC")
        return value
    if isinstance(value, list):
        return [plain(item, depth + 1) for item in value]
    if isinstance(value, dict):
        return {plain(k, depth): plain(v, depth + 1) for k, v in value.items()}
    raise RefusedError(f"type {type(value).__name__} is not allowed")


def canonical(value: Any) -> bytes:
    """Canonical JSON v1: sorted keys, no spaces, UTF-8, no floats."""
    text = json.dumps(
        plain(value), ensure_ascii=False, sort_keys=True, separators=(",", ":")
    )
    return text.encode("utf-8")


def timestamp(value: Any) -> str:
    """A stored UTC time as ``YYYY-MM-DDTHH:MM:SS.ffffffZ``."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(timespec="microseconds") + "Z"


def fields(row: dict[str, Any]) -> dict[str, Any]:
    """The hashed fields of one stored row (everything but ``hash``)."""
    out = {k: row[k] for k in COLUMNS if k != "hash"}
    out["roles"] = json.loads(row["roles"])
    out["payload"] = json.loads(row["payload"])
    out["at"] = timestamp(row["at"])
    for name in ("ledger", "seq", "request_version", "canon_version"):
        if out[name] is not None:
            out[name] = int(out[name])
    return out


def connect(url: str) -> Any:
    """A read-only DB-API connection for ``url``."""
    parts = urlsplit(url)
    scheme = parts.scheme.split("+")[0]
    if scheme == "sqlite":
        import sqlite3

        path = url.split(":///", 1)[1] if ":///" in url else ":memory:"
        return sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    if scheme in ("postgresql", "postgres"):
        import psycopg

        return psycopg.connect(url.replace(parts.scheme, "postgresql", 1))
    if scheme in ("mysql", "mariadb"):
        import pymysql

        return pymysql.connect(
            host=parts.hostname or "localhost",
            port=parts.port or 3306,
            user=unquote(parts.username or ""),
            password=unquote(parts.password or ""),
            database=parts.path.lstrip("/"),
            charset="utf8mb4",
        )
    raise SystemExit(f"unsupported database URL scheme {scheme!r}")


def verify(conn: Any, prefix: str) -> tuple[int, list[tuple[int, int, Any, str]]]:
    """Check every ledger and the stored heads; return (entries, problems)."""
    if not re.fullmatch(r"[A-Za-z0-9_]{0,40}", prefix):
        raise SystemExit("the table prefix may hold only letters, digits and _")
    problems: list[tuple[int, int, Any, str]] = []
    states: dict[int, tuple[int, str]] = {}
    count = 0
    cur = conn.cursor()
    cur.execute(
        f"SELECT {', '.join(COLUMNS)} FROM {prefix}audit_entries ORDER BY ledger, seq"
    )
    for values in cur:
        row = dict(zip(COLUMNS, values, strict=True))
        ledger, seq = int(row["ledger"]), int(row["seq"])
        last_seq, last_hash = states.get(ledger, (0, GENESIS))
        count += 1

        # a problem is named at the position the row occupies (the seq it should
        # have): a deleted row is reported at its own seq
        def bad(
            problem: str, ledger: int = ledger, at: int = last_seq + 1, rid: Any = None
        ) -> None:
            problems.append((ledger, at, rid, problem))

        if seq != last_seq + 1:
            bad(f"sequence jumps from {last_seq} to {seq}", rid=row["request_id"])
        if row["prev_hash"] != last_hash:
            bad(
                "prev_hash does not match the previous entry's hash",
                rid=row["request_id"],
            )
        if int(row["canon_version"]) != 1 or row["hash_alg"] != "sha256":
            bad("unknown canon_version/hash_alg", rid=row["request_id"])
        else:
            try:
                digest = hashlib.sha256(canonical(fields(row))).hexdigest()
            except (ValueError, TypeError) as exc:
                bad(f"entry cannot be canonicalised: {exc}", rid=row["request_id"])
            else:
                if digest != row["hash"]:
                    bad(
                        "hash does not match the entry's content", rid=row["request_id"]
                    )
        states[ledger] = (seq, str(row["hash"]))
    cur.execute(f"SELECT ledger, seq, hash FROM {prefix}ledger_heads ORDER BY ledger")
    for ledger, head_seq, head_hash in cur.fetchall():
        seq, digest = states.get(int(ledger), (0, GENESIS))
        head_seq = int(head_seq)
        if head_seq == 0 and seq == 0:
            continue
        if (seq, digest) != (head_seq, head_hash):
            at = min(head_seq, seq) + 1 if head_seq != seq else head_seq
            problems.append((int(ledger), at, None, "stored head disagrees"))
    problems.sort(key=lambda p: (p[0], p[1]))
    return count, problems


def main(argv: list[str] | None = None) -> int:
    """Verify the chain at the URL given on the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("url", help="database URL, e.g. sqlite:///agency.db")
    parser.add_argument("--prefix", default="rf_", help="table prefix (default rf_)")
    parser.add_argument("--json", action="store_true", help="print a JSON report")
    args = parser.parse_args(argv)
    try:
        conn = connect(args.url)
        count, problems = verify(conn, args.prefix)
    except Exception as exc:  # any driver error: report it, never a traceback
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    if args.json:
        report = {
            "ok": not problems,
            "entries_checked": count,
            "problems": [
                {"ledger": p[0], "seq": p[1], "request_id": p[2], "problem": p[3]}
                for p in problems
            ],
        }
        print(json.dumps(report, indent=2))
    if problems:
        ledger, seq, request, problem = problems[0]
        print(
            f"FAILED: first bad entry: ledger {ledger} seq {seq}"
            f" request {request or '-'}: {problem}",
            file=sys.stderr,
        )
        return 1
    if not args.json:
        print(f"OK: {count} entries verified")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
