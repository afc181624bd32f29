"""Transitions per second: releaseflow's public API against a plain-driver loop.

The plain loop does the same writes per transition (UPDATE with version check, row
count checked, audit INSERT, one transaction each) with the same pragmas. Each
process works on its own requests, so nothing is contested. Run::

    .venv/bin/python benchmarks/sql_transitions.py [--seconds 3] [--pg URL]

A second plain loop, "plain, same schema", does the same two writes into tables
created with releaseflow's own schema (same columns and indexes) under another
prefix, holding copies of the real request rows (doc and report-fact columns) and
inserting a real transition audit row (payload, hashes): it writes every column, as
releaseflow's compare-and-set does.

Prints transitions/s for each case and the ratio releaseflow / plain (both plains). On a shared
machine, ``--rounds N`` alternates the two loops N times on the same tables and
prints each round and the median ratio, so a load change between the two
measurements of one round shows up instead of skewing the result.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sqlite3
import statistics
import tempfile
import time
import uuid
from typing import Any

import releaseflow as rf
from releaseflow.storage.sql import SqlStore

TOGGLE = {"drafting": "request_information", "gathering": "information_received"}
PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def setup_flow(url: str, prefix: str, per_proc: int, procs: int) -> list[list[str]]:
    store = SqlStore.open(url, table_prefix=prefix)
    flow = rf.ReleaseFlow(store)
    flow.directory.bootstrap("admin", unit="agency")
    for actor, role in [
        ("comms.nguyen", "comms_officer"),
        ("spoke.tran", "spokesperson"),
        ("coord.bui", "coordinating_officer"),
    ]:
        flow.directory.grant(actor, role, unit="agency", by="admin")
    groups = []
    for _ in range(procs):
        ids = []
        for _ in range(per_proc):
            r = flow.create(
                "press_inquiry",
                title="T",
                body="B",
                actor="comms.nguyen",
                unit="agency/ttyt",
                channel="electronic",
                requester={"type": "journalist", "name": "H", "organisation": "X"},
            )
            flow.fire(r.id, "triage", actor="spoke.tran")
            ids.append(str(r.id))
        groups.append(ids)
    store.close()
    return groups


def flow_worker(args: tuple[str, str, list[str], float]) -> int:
    url, prefix, ids, seconds = args
    store = SqlStore.open(url, table_prefix=prefix, migrate=False)
    flow = rf.ReleaseFlow(store)
    states = {rid: flow.get(rid) for rid in ids}
    done, i = 0, 0
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        rid = ids[i % len(ids)]
        i += 1
        seen = states[rid]
        states[rid] = flow.fire(
            rid, TOGGLE[seen.state], actor="coord.bui", expected_version=seen.version
        )
        done += 1
    store.close()
    return done


PLAIN_DDL = [
    "CREATE TABLE {p}req (id VARCHAR(36) PRIMARY KEY, state VARCHAR(64), version BIGINT, doc TEXT)",
    "CREATE TABLE {p}log (seq BIGINT PRIMARY KEY, request_id VARCHAR(36), version BIGINT, payload TEXT)",
]


def _plain_connect(kind: str, target: str) -> Any:
    if kind == "sqlite":
        conn = sqlite3.connect(target, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA busy_timeout=5000")
        return conn
    import psycopg

    return psycopg.connect(
        target.replace("postgresql+psycopg", "postgresql"), autocommit=True
    )


def plain_setup(kind: str, target: str, prefix: str, groups: list[list[str]]) -> None:
    conn = _plain_connect(kind, target)
    for ddl in PLAIN_DDL:
        conn.execute(ddl.format(p=prefix))
    ph = "?" if kind == "sqlite" else "%s"
    for ids in groups:
        for rid in ids:
            conn.execute(
                f"INSERT INTO {prefix}req VALUES ({ph}, 'drafting', 1, {ph})",
                (rid, "{}" * 300),
            )
    conn.close()


def plain_worker(args: tuple[str, str, str, list[str], float, int]) -> int:
    kind, target, prefix, ids, seconds, worker = args
    conn = _plain_connect(kind, target)
    ph = "?" if kind == "sqlite" else "%s"
    versions = {
        rid: int(
            conn.execute(
                f"SELECT version FROM {prefix}req WHERE id = {ph}", (rid,)
            ).fetchone()[0]
        )
        for rid in ids
    }
    done, i = 0, 0
    seq = worker * 10_000_000  # worker = round * 1000 + process: no overlap
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        rid = ids[i % len(ids)]
        i += 1
        v = versions[rid]
        conn.execute("BEGIN IMMEDIATE" if kind == "sqlite" else "BEGIN")
        cur = conn.execute(
            f"UPDATE {prefix}req SET state = {ph}, version = {ph}, doc = {ph}"
            f" WHERE id = {ph} AND version = {ph}",
            ("gathering" if v % 2 else "drafting", v + 1, "{}" * 300, rid, v),
        )
        assert cur.rowcount == 1
        seq += 1
        conn.execute(
            f"INSERT INTO {prefix}log VALUES ({ph}, {ph}, {ph}, {ph})",
            (seq, rid, v + 1, "{}" * 100),
        )
        conn.execute("COMMIT")
        versions[rid] = v + 1
        done += 1
    conn.close()
    return done


def same_schema_setup(
    url: str, kind: str, target: str, prefix: str, groups: list[list[str]]
) -> tuple[str, dict[str, Any]]:
    """Build the "plain, same schema" tables; return their prefix and audit row.

    releaseflow creates its own schema (same columns, same indexes) under another
    prefix; the benchmarked request rows are copied into it as they are (doc and
    report-fact columns included). The audit template is a real audit row of a
    ``request_information`` transition, taken from a spare request.
    """
    same = f"{prefix}ps_"
    SqlStore.open(url, table_prefix=same).close()
    store = SqlStore.open(url, table_prefix=prefix, migrate=False)
    flow = rf.ReleaseFlow(store)
    spare = flow.create(
        "press_inquiry",
        title="T",
        body="B",
        actor="comms.nguyen",
        unit="agency/ttyt",
        channel="electronic",
        requester={"type": "journalist", "name": "H", "organisation": "X"},
    )
    flow.fire(spare.id, "triage", actor="spoke.tran")
    flow.fire(spare.id, "request_information", actor="coord.bui")
    store.close()
    conn = _plain_connect(kind, target)
    ph = "?" if kind == "sqlite" else "%s"
    cur = conn.execute(
        f"SELECT * FROM {prefix}audit_entries WHERE request_id = {ph}"
        " ORDER BY request_version DESC",
        (str(spare.id),),
    )
    names = [d[0] for d in cur.description]
    audit = dict(zip(names, cur.fetchone(), strict=True))
    ids = [rid for group in groups for rid in group]
    cur = conn.execute(f"SELECT * FROM {prefix}requests WHERE id = {ph}", (ids[0],))
    cols = ", ".join(d[0] for d in cur.description)
    cur.fetchall()
    conn.execute("BEGIN")
    for rid in ids:
        conn.execute(
            f"INSERT INTO {same}requests ({cols})"
            f" SELECT {cols} FROM {prefix}requests WHERE id = {ph}",
            (rid,),
        )
    conn.execute("COMMIT")
    conn.close()
    return same, audit


def plain_same_worker(
    args: tuple[str, str, str, dict[str, Any], list[str], float, int],
) -> int:
    """The plain loop on releaseflow's schema: every column of both rows written."""
    kind, target, same, audit, ids, seconds, worker = args
    conn = _plain_connect(kind, target)
    ph = "?" if kind == "sqlite" else "%s"
    rows = {}
    for rid in ids:
        cur = conn.execute(f"SELECT * FROM {same}requests WHERE id = {ph}", (rid,))
        names = [d[0] for d in cur.description]
        rows[rid] = dict(zip(names, cur.fetchone(), strict=True))
    set_cols = [n for n in names if n != "id"]
    update = (
        f"UPDATE {same}requests SET "
        + ", ".join(f"{n} = {ph}" for n in set_cols)
        + f" WHERE id = {ph} AND version = {ph}"
    )
    audit_cols = list(audit)
    insert = (
        f"INSERT INTO {same}audit_entries ({', '.join(audit_cols)})"
        f" VALUES ({', '.join([ph] * len(audit_cols))})"
    )
    seq = worker * 10_000_000
    done, i = 0, 0
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        rid = ids[i % len(ids)]
        i += 1
        row = rows[rid]
        v = int(row["version"])
        going = TOGGLE[row["state"]]
        row["state"] = "gathering" if row["state"] == "drafting" else "drafting"
        row["version"] = v + 1
        conn.execute("BEGIN IMMEDIATE" if kind == "sqlite" else "BEGIN")
        cur = conn.execute(update, [row[n] for n in set_cols] + [rid, v])
        assert cur.rowcount == 1
        seq += 1
        entry = dict(audit, seq=seq, request_id=rid, request_version=v + 1)
        entry["trigger"] = going
        # (ledger, prev_hash) is unique: chain links stay distinct, as real ones.
        entry["prev_hash"] = f"{seq - 1:064x}"
        entry["hash"] = f"{seq:064x}"
        conn.execute(insert, [entry[n] for n in audit_cols])
        conn.execute("COMMIT")
        done += 1
    conn.close()
    return done


def run(pool_size: int, fn: Any, jobs: list[Any], seconds: float) -> float:
    with mp.get_context("spawn").Pool(pool_size) as pool:
        counts: list[int] = pool.map(fn, jobs)
    return sum(counts) / seconds


def case(
    label: str,
    url: str,
    plain_kind: str,
    plain_target: str,
    procs: int,
    seconds: float,
    rounds: int = 1,
) -> None:
    prefix = f"bench{uuid.uuid4().hex[:6]}_"
    groups = setup_flow(url, prefix, 8, procs)
    plain_setup(plain_kind, plain_target, prefix, groups)
    same, audit = same_schema_setup(url, plain_kind, plain_target, prefix, groups)
    ratios: list[float] = []
    same_ratios: list[float] = []
    for r in range(rounds):
        ours = run(
            procs, flow_worker, [(url, prefix, g, seconds) for g in groups], seconds
        )
        plain = run(
            procs,
            plain_worker,
            [
                (plain_kind, plain_target, prefix, g, seconds, r * 1000 + n)
                for n, g in enumerate(groups)
            ],
            seconds,
        )
        plain_same = run(
            procs,
            plain_same_worker,
            [
                (plain_kind, plain_target, same, audit, g, seconds, r * 1000 + n)
                for n, g in enumerate(groups)
            ],
            seconds,
        )
        ratios.append(ours / plain)
        same_ratios.append(ours / plain_same)
        name = label if rounds == 1 else f"{label} #{r + 1}"
        print(
            f"{name:<28} releaseflow {ours:8.0f}/s   plain {plain:8.0f}/s"
            f"   ratio {ours / plain:5.2f}   plain, same schema {plain_same:8.0f}/s"
            f"   ratio {ours / plain_same:5.2f}",
            flush=True,
        )
    if rounds > 1:
        print(
            f"{label:<28} median ratio {statistics.median(ratios):5.2f}"
            f"   (plain, same schema: {statistics.median(same_ratios):5.2f})",
            flush=True,
        )
    if plain_kind == "postgres":
        _drop_pg(plain_target, prefix)


def _drop_pg(url: str, prefix: str) -> None:
    import psycopg

    with psycopg.connect(
        url.replace("postgresql+psycopg", "postgresql"), autocommit=True
    ) as conn:
        names = conn.execute(
            "SELECT tablename FROM pg_tables WHERE tablename LIKE %s", (prefix + "%",)
        ).fetchall()
        for (name,) in names:
            conn.execute(f'DROP TABLE IF EXISTS "{name}" CASCADE')


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument(
        "--pg", default=os.environ.get("RELEASEFLOW_TEST_POSTGRES_URL", PG_DEFAULT)
    )
    parser.add_argument("--skip-pg", action="store_true")
    parser.add_argument(
        "--rounds", type=int, default=1, help="alternate the two loops N times"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rf-bench-") as folder:
        path = os.path.join(folder, "bench.db")
        case(
            "SQLite file, 1 process",
            f"sqlite:///{path}",
            "sqlite",
            path,
            1,
            args.seconds,
            args.rounds,
        )
    if not args.skip_pg:
        for procs in (1, 8):
            label = f"PostgreSQL, {procs} process{'es' if procs > 1 else ''}"
            case(label, args.pg, "postgres", args.pg, procs, args.seconds, args.rounds)


if __name__ == "__main__":
    main()
