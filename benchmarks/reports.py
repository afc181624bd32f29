"""Benchmark: a year's report over 100,000 requests and ~1,000,000 audit entries.

Rows are bulk-inserted straight into the tables. Each request row is a real
:class:`releaseflow.models.Request` document (copied from a template, so pydantic
does not validate 100,000 times) with its report-fact columns from
:func:`releaseflow.reports.row_facts.request_facts`, exactly what the engine writes;
each request gets a ``created`` entry, ``--steps`` transitions and a release or
refusal entry that settles its deadline (hash chains are not built: do not verify
this database). About 1.4 % of the requests are released after the year ends, so
the report replays those from the audit log, as it must. On PostgreSQL the two
tables are analysed after the load, as autovacuum would soon do.

Printed, per backend and measured in the same run:

* the naive baseline: one ``GROUP BY`` over the year's audit rows plus one over the
  requests (what the issue measured at about 0.5 s on SQLite);
* ``reports.build(flow, "2025")`` and ``build + to_json`` (best of ``--repeat``),
  with their ratio to the baseline; the issue's target is 1 s;
* the same with ``ids=False`` (counts aggregated from the fact columns, no id
  lists; ``reports.drilldown`` lists a figure's requests on demand), whether its
  figures equal the full report's, and the time of one drill-down;
* peak RSS of rendering XLSX and DOCX at two sizes, each in a fresh process, with
  the RSS after building the report, so the renderer's own growth is visible.

Run::

    .venv/bin/python benchmarks/reports.py                       # SQLite, 100k
    .venv/bin/python benchmarks/reports.py --postgres postgresql+psycopg://...
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

import releaseflow as rf
from releaseflow import reports
from releaseflow.demo import seed
from releaseflow.models import DeadlineStatus, Request
from releaseflow.reports.row_facts import request_facts
from releaseflow.storage.sql.schema import build_tables

KINDS = [
    "press_inquiry",
    "citizen_info_request",
    "incident_statement",
    "periodic_release",
]
UNITS = ["danang/soyte", "danang/soyte/bv-dakhoa", "danang/stttt"]
START = datetime(2025, 1, 1, tzinfo=UTC)
NOW = datetime(2026, 3, 1, tzinfo=UTC)
PREFIX = "reportperf_"


def _templates() -> tuple[Request, Request]:
    """A released and a refused request of the demo, as copy templates."""
    flow = rf.ReleaseFlow.open("memory://", clock=lambda: NOW)
    seed(flow, date(2025, 9, 15))
    found = flow.find(limit=1000)
    released = next(r for r in found if r.release is not None and r.deadlines)
    refused = next(r for r in found if r.refusal is not None)
    return released, refused


def _rows(
    rng: random.Random, i: int, steps: int, tmpl: tuple[Request, Request]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    kind, unit = rng.choice(KINDS), rng.choice(UNITS)
    received = START + timedelta(minutes=rng.randrange(365 * 24 * 60))
    due = received + timedelta(days=3)
    done = received + timedelta(hours=rng.randrange(1, 120))
    refused = rng.random() < 0.1
    base = tmpl[1] if refused else tmpl[0]
    rule = f"agency.{kind}.answer"
    deadline = (
        tmpl[0]
        .deadlines[0]
        .model_copy(
            update={
                "rule_id": rule,
                "received_at": received,
                "due_at": due,
                "status": DeadlineStatus.MET,
                "met_at": done,
            }
        )
    )
    requester = rf.Requester(
        type="journalist",
        name=f"Phóng viên {i % 50}",
        organisation=f"Báo {i % 12}",
        press_card=f"PV-{i % 50:04d}",
    )
    changes: dict[str, Any] = {
        "id": uuid.UUID(int=rng.getrandbits(128)),
        "kind": rf.RequestKind(kind),
        "definition": kind,
        "version": steps + 2,
        "unit": unit,
        "title": f"Yêu cầu số {i}",
        "requester": requester,
        "received_at": received,
        "created_at": received,
        "updated_at": done,
        "deadlines": (deadline,),
        "metadata": {},
    }
    if refused:
        assert base.refusal is not None
        changes["refusal"] = base.refusal.model_copy(update={"at": done})
        changes["release"] = None
        changes["state"] = "refused"
    else:
        assert base.release is not None
        changes["release"] = base.release.model_copy(update={"at": done})
        changes["refusal"] = None
        changes["state"] = "released"
    r = base.model_copy(update=changes)
    row = {
        "id": str(r.id),
        "kind": kind,
        "definition": kind,
        "definition_version": r.definition_version,
        "state": r.state,
        "version": r.version,
        "unit": unit,
        "created_by": r.created_by,
        "created_at": received,
        "updated_at": done,
        "received_at": received,
        "next_due_at": None,
        "doc": r.model_dump_json(),
        **request_facts(r),
    }
    entries = []
    times = [received + (done - received) * k / (steps + 1) for k in range(steps + 2)]
    for k, at in enumerate(times):
        last = k == len(times) - 1
        payload: dict[str, Any] = {"definition": f"{kind}@1"}
        if last and refused:
            assert r.refusal is not None
            payload |= {"ground": r.refusal.ground.value, "reasons": "Không."}
        elif last:
            assert r.release is not None
            payload["form"] = r.release.form.value
        if last:
            payload["deadlines"] = [
                {"rule_id": rule, "status": "met", "due_at": due.isoformat()}
            ]
        entries.append(
            {
                "event": "created" if k == 0 else "transitioned",
                "request_id": row["id"],
                "request_version": k + 1,
                "request_kind": kind,
                "unit": unit,
                "to_state": r.state if last else f"s{k}",
                "trigger": "create" if k == 0 else f"t{k}",
                "at": at,
                "payload": json.dumps(payload, ensure_ascii=False),
            }
        )
    return row, entries


def populate(url: str, n: int, steps: int, seed_: int = 1) -> int:
    """Bulk-insert ``n`` requests and their entries; return the entry count."""
    flow = rf.ReleaseFlow.open(url, clock=lambda: NOW, table_prefix=PREFIX)
    flow.close()  # the schema exists; insert through a plain engine
    # (the store's SQLite engine runs in driver autocommit mode and opens its own
    # transactions; a plain engine batches the whole load in one transaction)
    engine = sa.create_engine(url)
    t = build_tables(PREFIX)
    tmpl = _templates()
    rng = random.Random(seed_)
    entries = 0
    seq = 0
    reqs: list[dict[str, Any]] = []
    audit: list[dict[str, Any]] = []
    with engine.begin() as conn:
        for i in range(n):
            row, made = _rows(rng, i, steps, tmpl)
            reqs.append(row)
            for e in made:
                seq += 1
                e |= {
                    "ledger": 0,
                    "seq": seq,
                    "from_state": None,
                    "actor": "comms.nguyen",
                    "roles": "[]",
                    "content_hash": "0" * 64,
                    "prev_hash": f"{seq:064x}",
                    "hash": f"{seq + 1:064x}",
                    "canon_version": 1,
                    "hash_alg": "sha256",
                }
                audit.append(e)
            if len(audit) >= 50_000:
                conn.execute(t.audit.insert(), audit)
                conn.execute(t.requests.insert(), reqs)
                entries += len(audit)
                audit.clear()
                reqs.clear()
        if reqs:
            conn.execute(t.requests.insert(), reqs)
        if audit:
            conn.execute(t.audit.insert(), audit)
            entries += len(audit)
    if engine.dialect.name == "postgresql":
        # A server analyses a table after bulk inserts (autovacuum, within about a
        # minute); without statistics its planner guesses that 500 request ids
        # match a sixth of the audit log and scans all of it for the replay.
        # Measure the planner production runs, not the one of the first minute.
        with engine.begin() as conn:
            for table in (t.requests, t.audit):
                conn.exec_driver_sql(f"ANALYZE {table.name}")
    engine.dispose()
    return entries


def naive(url: str) -> float:
    """The baseline: one GROUP BY over the year's audit rows, one over the requests."""
    engine = sa.create_engine(url)
    began = time.perf_counter()
    with engine.connect() as conn:
        conn.execute(
            sa.text(
                f"SELECT request_kind, to_state, count(*) FROM {PREFIX}audit_entries"
                " WHERE at >= :a AND at < :b GROUP BY request_kind, to_state"
            ),
            {"a": datetime(2025, 1, 1), "b": datetime(2026, 1, 1)},
        ).all()
        conn.execute(
            sa.text(f"SELECT kind, count(*) FROM {PREFIX}requests GROUP BY kind")
        ).all()
    took = time.perf_counter() - began
    engine.dispose()
    return took


def drop(url: str) -> None:
    """Drop the benchmark's tables (server databases)."""
    engine = sa.create_engine(url)
    tables = build_tables(PREFIX)
    tables.metadata.drop_all(engine)
    with engine.begin() as conn:
        conn.execute(sa.text(f"DROP TABLE IF EXISTS {tables.version_table}"))
    engine.dispose()


def timed(
    url: str, repeat: int, ids: bool = True
) -> tuple[float, float, reports.Report, int]:
    """Best build time and best build + JSON time over ``repeat`` runs."""
    flow = rf.ReleaseFlow.open(url, clock=lambda: NOW, table_prefix=PREFIX)
    builds, totals = [], []
    report: reports.Report | None = None
    size = 0
    for _ in range(repeat):
        began = time.perf_counter()
        report = reports.build(flow, "2025", ids=ids)
        builds.append(time.perf_counter() - began)
        size = len(reports.to_json(report))
        totals.append(time.perf_counter() - began)
    flow.close()
    assert report is not None
    return min(builds), min(totals), report, size


def _hwm_mb() -> float:
    """This process's peak RSS in MB.

    VmHWM, because ``ru_maxrss`` carries the parent's peak across fork + exec.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def render_child(url: str, fmt: str) -> None:
    """In a fresh process: build, then render ``fmt``; print RSS figures (MB)."""
    flow = rf.ReleaseFlow.open(url, clock=lambda: NOW, table_prefix=PREFIX)
    report = reports.build(flow, "2025")
    built = _hwm_mb()
    with tempfile.TemporaryDirectory(prefix="reportperf_") as tmp:
        path = Path(tmp) / f"r.{fmt}"
        began = time.perf_counter()
        if fmt == "xlsx":
            from releaseflow.reports.render_xlsx import write_xlsx

            write_xlsx(report, path)
        else:
            from releaseflow.reports.render_docx import write_docx

            write_docx(report, path)
        took = time.perf_counter() - began
        size = path.stat().st_size
    peak = _hwm_mb()
    print(json.dumps({"built": built, "peak": peak, "seconds": took, "bytes": size}))
    flow.close()


def render_rss(url: str, fmt: str) -> dict[str, float]:
    """Run :func:`render_child` in a fresh interpreter."""
    out = subprocess.run(
        [sys.executable, __file__, "--render", fmt, "--url", url],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    result: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    return result


def bench(url: str, label: str, n: int, steps: int, repeat: int) -> None:
    """Populate, time the baseline and the report, print the figures."""
    began = time.perf_counter()
    entries = populate(url, n, steps)
    print(f"[{label}] populated {n} requests, {entries} audit entries"
          f" in {time.perf_counter() - began:.0f} s")  # fmt: skip
    base = min(naive(url) for _ in range(repeat))
    built, total, report, size = timed(url, repeat)
    print(f"[{label}] naive GROUP BY baseline : {base:.3f} s")
    print(f"[{label}] report build            : {built:.3f} s ({built / base:.2f}x)")
    print(f"[{label}] report build + JSON     : {total:.3f} s ({total / base:.2f}x),"
          f" {size / 1e6:.1f} MB of JSON")  # fmt: skip
    built, total, counted, size = timed(url, repeat, ids=False)
    print(
        f"[{label}] count-only build (ids=False): {built:.3f} s ({built / base:.2f}x)"
    )
    print(f"[{label}] count-only build + JSON     : {total:.3f} s ({total / base:.2f}x),"
          f" {size / 1e3:.0f} kB of JSON")  # fmt: skip
    same = [(r.section, r.key, r.metric, r.value) for r in report.rows()] == [
        (r.section, r.key, r.metric, r.value) for r in counted.rows()
    ]
    began = time.perf_counter()
    flow = rf.ReleaseFlow.open(url, clock=lambda: NOW, table_prefix=PREFIX)
    ids = reports.drilldown(flow, counted, "totals", "all", "released")
    flow.close()
    print(f"[{label}] same figures as the full report: {same}; drill-down of"
          f" totals/released: {len(ids)} ids in {time.perf_counter() - began:.2f} s")  # fmt: skip
    print(f"[{label}] received {report.totals.received.value}, released"
          f" {report.totals.released.value}, refused {report.totals.refused.value},"
          f" on-time {report.deadlines_overall.on_time_rate}")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--steps", type=int, default=8, help="Transitions per request.")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--postgres", help="Also run on this PostgreSQL URL.")
    parser.add_argument(
        "--render-sizes",
        default="10000,100000",
        help="Request counts for the XLSX/DOCX peak-RSS runs (SQLite); '' to skip.",
    )
    parser.add_argument("--render", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args(argv or [])
    if args.render:
        render_child(args.url, args.render)
        return 0
    with tempfile.TemporaryDirectory(prefix="reportperf_") as tmp:
        bench(
            f"sqlite:///{tmp}/bench.db",
            "sqlite",
            args.requests,
            args.steps,
            args.repeat,
        )
        if args.postgres:
            drop(args.postgres)
            try:
                bench(
                    args.postgres, "postgresql", args.requests, args.steps, args.repeat
                )
            finally:
                drop(args.postgres)
        sizes = [int(s) for s in args.render_sizes.split(",") if s]
        for n in sizes:
            url = f"sqlite:///{tmp}/render_{n}.db"
            if n == args.requests:
                url = f"sqlite:///{tmp}/bench.db"
            else:
                populate(url, n, args.steps)
            for fmt in ("xlsx", "docx"):
                r = render_rss(url, fmt)
                print(f"[render {fmt} {n:>7} requests] RSS after build {r['built']:.0f} MB,"
                      f" peak {r['peak']:.0f} MB (+{r['peak'] - r['built']:.0f} MB),"
                      f" {r['seconds']:.2f} s, {r['bytes'] / 1e6:.1f} MB file")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
