"""Audit-log benchmarks at scale: history, one query page, verify, export.

Builds N audit entries (default 1,000,000) quickly: one request is driven through
the real API (create, triage, submit, return with a Vietnamese reason, submit,
approve twice, release: 8 entries), then that trail is cloned onto N/8 new request
ids, each entry chained after its ledger head and hashed with the real
:func:`releaseflow.chain.entry_hash` (what ``seal`` hashes, without building a model), bulk-inserted (executemany, large transactions) with a request row
whose state, version and content hash match the replay, so ``flow.audit.verify()``
passes. Every figure is printed beside a baseline measured in the same run:

* (a) ``flow.audit.history(id)`` against the same SELECT through the raw driver;
* (b) one 50-row page of an actor's time-range query against the same SQL raw;
* (c) ``flow.audit.verify()`` -- wall time and peak RSS (the process's own, and
  the largest forked worker's), measured in a fresh process, also with
  ``workers=1`` (one process) -- against the independent stdlib verifier
  ``tools/verify_chain.py`` (raw driver, chain only) and the targets (5 s, 200 MB);
* (d) a JSON Lines export of 10 % of the rows and of all rows (fresh processes):
  peak RSS should stay flat.

Run::

    .venv/bin/python benchmarks/audit.py [--n 1000000] [--postgres URL] [--keep]
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

import releaseflow as rf
from releaseflow.chain import entry_hash, ledger_for
from releaseflow.models import ChainHead
from releaseflow.queries import make_query, sql_statement
from releaseflow.storage.sql import SqlStore
from releaseflow.storage.sql.repositories import SqlAudit, _history_statement

ROOT = Path(__file__).resolve().parent.parent
PREFIX = "rf_"
STAFF = {
    "head.pham": "head",
    "spoke.tran": "spokesperson",
    "comms.nguyen": "comms_officer",
    "review.le": "reviewer",
    "auditor.ly": "auditor",
}
ACTOR_VARIANTS = 20
START = datetime(2026, 1, 1, 1, 0, tzinfo=UTC)
SPAN = timedelta(days=90)
BATCH = 50_000


def _template(flow: rf.ReleaseFlow, clock: list[datetime]) -> rf.Request:
    def tick() -> None:
        clock[0] += timedelta(minutes=7)

    request = flow.create(
        "press_inquiry",
        title="Câu hỏi về tiêm chủng mở rộng",
        body="Bản nháp trả lời.",
        actor="comms.nguyen0",
        unit="agency/ttyt",
        channel="electronic",
        requester={"type": "journalist", "name": "Hoàng Thị E", "organisation": "X"},
    )
    steps: list[tuple[str, str, dict[str, Any]]] = [
        ("triage", "spoke.tran0", {}),
        ("submit", "comms.nguyen0", {}),
        ("return_for_revision", "spoke.tran0", {"reason": "Cần bổ sung số liệu"}),
        ("submit", "comms.nguyen0", {}),
        ("approve_review", "review.le0", {}),
        ("approve_release", "head.pham0", {}),
        ("release", "spoke.tran0", {"form": "written_answer"}),
    ]
    for trigger, actor, extra in steps:
        tick()
        request = flow.fire(request.id, trigger, actor=actor, **extra)
    return request


def _request_row(request: rf.Request) -> dict[str, Any]:
    return {
        "id": str(request.id),
        "kind": request.kind.value,
        "definition": request.definition,
        "definition_version": request.definition_version,
        "state": request.state,
        "version": request.version,
        "unit": request.unit,
        "created_by": request.created_by,
        "created_at": request.created_at,
        "updated_at": request.updated_at,
        "received_at": request.received_at,
        "next_due_at": request.next_due_at,
        "doc": request.model_dump_json(),
    }


def build(url: str, n: int) -> dict[str, Any]:
    """Create a store at ``url`` holding about ``n`` audit entries; describe it."""
    started = time.perf_counter()
    clock = [START]
    store = SqlStore.open(url, table_prefix=PREFIX)
    flow = rf.ReleaseFlow(store, clock=lambda: clock[0])
    flow.directory.bootstrap("admin", unit="agency")
    for base, role in STAFF.items():
        for k in range(ACTOR_VARIANTS):
            flow.directory.grant(f"{base}{k}", role, unit="agency", by="admin")
    template = _template(flow, clock)
    trail = flow.audit.history(template.id)
    # the stored form of each entry (what seal() hashes: plain JSON values)
    plain_trail = [
        (
            e,
            {
                **e.model_dump(mode="json", exclude={"hash", "at"}),
                "at": e.at,
            },
        )
        for e in trail
    ]
    heads = {h.ledger: h for h in flow.audit.heads()}
    ledgers = store.ledger_count
    count = n // len(trail)
    rng = random.Random(5)
    step = SPAN / max(count, 1)
    t = store.tables
    entries: list[dict[str, Any]] = []
    requests: list[dict[str, Any]] = []
    sample_ids: list[str] = []

    def flush() -> None:
        with store.unit_of_work() as uow:  # BEGIN IMMEDIATE ... COMMIT
            uow.run_many(sa.insert(t.audit), entries)
            uow.run_many(sa.insert(t.requests), requests)
            uow.commit()
        entries.clear()
        requests.clear()

    for i in range(count):
        rid = uuid.UUID(int=rng.getrandbits(128), version=4)
        ledger = ledger_for(str(rid), ledgers)
        shift = START + step * i - trail[0].at
        variant = i % ACTOR_VARIANTS
        rid_text = str(rid)
        for model, old in plain_trail:
            head = heads[ledger]
            fields = {
                **old,
                "request_id": rid_text,
                "at": old["at"] + shift,
                "actor": old["actor"][:-1] + str(variant),
                "ledger": ledger,
                "seq": head.seq + 1,
                "prev_hash": head.hash,
            }
            digest = entry_hash(fields)  # what seal() hashes
            heads[ledger] = ChainHead(ledger=ledger, seq=head.seq + 1, hash=digest)
            # the row the library writes for this entry (SqlAudit's own builder)
            entry = model.model_copy(
                update={
                    "request_id": rid,
                    "at": fields["at"],
                    "actor": fields["actor"],
                    "ledger": ledger,
                    "seq": fields["seq"],
                    "prev_hash": head.hash,
                    "hash": digest,
                }
            )
            entries.append(SqlAudit._row(entry))
        final = template.model_copy(
            update={
                "id": rid,
                "created_at": template.created_at + shift,
                "received_at": template.received_at + shift,
                "updated_at": template.updated_at + shift,
            }
        )
        requests.append(_request_row(final))
        if i % max(count // 50, 1) == 0:
            sample_ids.append(str(rid))
        if len(entries) >= BATCH:
            flush()
    if entries or requests:
        flush()
    with store.unit_of_work() as uow:
        uow.run_many(
            sa.update(t.heads)
            .where(t.heads.c.ledger == sa.bindparam("b_ledger"))
            .values(seq=sa.bindparam("v_seq"), hash=sa.bindparam("v_hash")),
            [
                {"b_ledger": h.ledger, "v_seq": h.seq, "v_hash": h.hash}
                for h in heads.values()
            ],
        )
        uow.commit()
        total = uow.scalar(sa.select(sa.func.count()).select_from(t.audit))
    store.close()
    return {
        "entries": int(total or 0),
        "requests": count + 1,
        "seconds": time.perf_counter() - started,
        "sample_ids": sample_ids,
    }


# -- timing helpers -------------------------------------------------------------


def paired(ours: Any, raw: Any, rounds: int) -> tuple[float, float]:
    """Median microseconds per call of each, the two calls alternating.

    Alternating keeps a shared machine's changing load out of the ratio.
    """
    ours()
    raw()
    mine: list[float] = []
    base: list[float] = []
    for _ in range(rounds):
        start = time.perf_counter()
        ours()
        middle = time.perf_counter()
        raw()
        mine.append(middle - start)
        base.append(time.perf_counter() - middle)
    return statistics.median(mine) * 1e6, statistics.median(base) * 1e6


def line(label: str, ours: float, base: float, unit: str = "us") -> None:
    print(
        f"  {label:<44} releaseflow {ours:9.1f} {unit}   raw {base:9.1f} {unit}"
        f"   ratio {ours / base:5.2f}",
        flush=True,
    )


def _raw_connect(url: str) -> Any:
    u = sa.make_url(url)
    if u.get_backend_name() == "sqlite":
        return sqlite3.connect(u.database or ":memory:"), "?"
    import psycopg

    dsn = u.set(drivername="postgresql").render_as_string(hide_password=False)
    return psycopg.connect(dsn, autocommit=True), "%s"


def _driver_form(stmt: Any, dialect: Any) -> tuple[str, Any]:
    """The library's statement as SQL text for the raw driver, and an args maker.

    The same text the library runs (compiled by SQLAlchemy for this dialect, once),
    so the baseline uses the same plan and index; values the statement fixes itself
    (SQLite's OFFSET beside a LIMIT) are filled in as SQLAlchemy would.
    """
    compiled = stmt.compile(dialect=dialect)
    names = compiled.positiontup
    fixed = {name: bind.value for name, bind in compiled.binds.items()}
    keys = list(compiled.binds)

    def args(values: dict[str, Any]) -> Any:
        merged = {**fixed, **values}
        if names is None:  # psycopg: named (pyformat) parameters
            return {k: merged[k] for k in keys}
        return tuple(merged[n] for n in names)

    return str(compiled), args


def reads(url: str, sample_ids: list[str]) -> None:
    """(a) history and (b) one query page, each against the raw driver.

    The raw side runs the very SQL text the library runs (compiled from the
    library's own statements) on one driver connection and fetches every row as
    tuples of Python values.
    """
    store = SqlStore.open(url, table_prefix=PREFIX, migrate=False)
    flow = rf.ReleaseFlow(store)
    raw, ph = _raw_connect(url)
    dialect = store.engine.dialect
    ids = iter(sample_ids * 1000)
    hist_sql, hist_args = _driver_form(
        _history_statement(store.tables.audit, store.tables.requests), dialect
    )

    def ours_history() -> None:
        flow.audit.history(next(ids))

    def raw_history() -> None:
        cur = raw.cursor()
        cur.execute(hist_sql, hist_args({"rid": next(ids)}))
        assert cur.fetchall()

    line("(a) history(id), 8 entries", *paired(ours_history, raw_history, 1000))

    since = START + SPAN * 0.4
    until = START + SPAN * 0.6
    actor = "review.le3"
    query = make_query({"actor": actor, "since": since, "until": until})
    page_stmt, params = sql_statement(
        store.dialect, store.tables.audit, query, after=None, limit=51
    )
    naive = (since.replace(tzinfo=None), until.replace(tzinfo=None))
    if ph == "?":  # SQLite stores the time as text
        params["f_since"], params["f_until"] = (
            t.isoformat(sep=" ", timespec="microseconds") for t in naive
        )
    else:
        params["f_since"], params["f_until"] = naive
    page_sql, page_values = _driver_form(page_stmt, dialect)
    page_args = page_values(params)

    def ours_page() -> None:
        page = flow.audit.query(actor=actor, since=since, until=until, limit=50)
        assert 0 < len(page.entries) <= 50

    def raw_page() -> None:
        cur = raw.cursor()
        cur.execute(page_sql, page_args)
        assert 0 < len(cur.fetchall()) <= 51

    line(
        "(b) query(actor, since, until, limit=50)",
        *paired(ours_page, raw_page, 1000),
    )
    raw.close()
    store.close()


# -- fresh-process measurements -------------------------------------------------

_CHILD = r"""
import resource, sys, time, json
sys.path.insert(0, {root!r})
mode, url, extra = sys.argv[1], sys.argv[2], sys.argv[3]
start = time.perf_counter()
if mode in ("verify", "verify1"):
    import releaseflow as rf
    from releaseflow.storage.sql import SqlStore
    store = SqlStore.open(url, table_prefix={prefix!r})
    report = rf.ReleaseFlow(store).audit.verify(workers=1 if mode == "verify1" else None)
    out = {{"ok": report.ok, "checked": report.entries_checked}}
elif mode == "tool":
    sys.path.insert(0, {tools!r})
    import verify_chain
    count, problems = verify_chain.verify(verify_chain.connect(url), {prefix!r})
    out = {{"ok": not problems, "checked": count}}
elif mode == "model":
    import releaseflow as rf
    from releaseflow.chain import verify_stream
    from releaseflow.storage.sql import SqlStore
    store = SqlStore.open(url, table_prefix={prefix!r})
    with store.unit_of_work(write=False) as uow:
        report = verify_stream(uow.audit.entries(), uow.audit.heads())
    out = {{"ok": report.ok, "checked": report.entries_checked}}
else:
    import releaseflow as rf
    from datetime import datetime
    from releaseflow.storage.sql import SqlStore
    store = SqlStore.open(url, table_prefix={prefix!r})
    filters = {{}} if extra == "-" else {{"until": datetime.fromisoformat(extra)}}
    size = lines = 0
    for text in rf.ReleaseFlow(store).audit.export_jsonl(**filters):
        size += len(text)
        lines += 1
    out = {{"ok": True, "checked": lines - 2, "chars": size}}
out["seconds"] = time.perf_counter() - start
# the largest forked worker's peak (verify's processes), 0 when none ran
out["child_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
# this process's own peak (VmHWM): ru_maxrss would carry the parent's peak
# across fork and exec on Linux
with open("/proc/self/status") as status:
    hwm = [l for l in status if l.startswith("VmHWM:")]
out["rss_mb"] = int(hwm[0].split()[1]) / 1024 if hwm else (
    resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
print(json.dumps(out))
"""


def child(mode: str, url: str, extra: str = "-") -> dict[str, Any]:
    import json

    code = _CHILD.format(
        root=str(ROOT / "src"), tools=str(ROOT / "tools"), prefix=PREFIX
    )
    done = subprocess.run(
        [sys.executable, "-c", code, mode, url, extra],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def big(url: str, n: int, model_baseline: bool) -> None:
    """(c) verify and (d) exports, each in a fresh process."""
    ours = child("verify", url)
    single = child("verify1", url)
    tool = child("tool", url)
    assert ours["ok"], ours
    assert single["ok"], single
    assert tool["ok"], tool
    print(
        f"  (c) verify() {ours['checked']:,} entries: {ours['seconds']:.2f} s,"
        f" peak RSS {ours['rss_mb']:.0f} MB (+ largest worker"
        f" {ours['child_mb']:.0f} MB) (targets 5 s, 200 MB)"
    )
    print(
        f"      verify(workers=1): {single['seconds']:.2f} s,"
        f" peak RSS {single['rss_mb']:.0f} MB"
    )
    line(
        "    verify() vs stdlib tools/verify_chain.py",
        ours["seconds"],
        tool["seconds"],
        "s ",
    )
    print(f"      stdlib verifier peak RSS {tool['rss_mb']:.0f} MB")
    if model_baseline:
        model = child("model", url)
        line(
            "    verify() vs pydantic-model chain check",
            ours["seconds"],
            model["seconds"],
            "s ",
        )
    tenth = (START + SPAN / 10).isoformat()
    small = child("export", url, tenth)
    full = child("export", url)
    print(
        f"  (d) export_jsonl {small['checked']:,} rows: {small['seconds']:.1f} s,"
        f" peak RSS {small['rss_mb']:.0f} MB; {full['checked']:,} rows:"
        f" {full['seconds']:.1f} s, peak RSS {full['rss_mb']:.0f} MB"
        f" (ratio {full['rss_mb'] / small['rss_mb']:.2f}, flat = 1.0)",
        flush=True,
    )


def _drop_pg(url: str) -> None:
    """Drop this run's tables (its prefix is unique; no LIKE wildcards involved)."""
    import psycopg

    u = sa.make_url(url).set(drivername="postgresql")
    with psycopg.connect(u.render_as_string(hide_password=False), autocommit=True) as c:
        names = c.execute("SELECT tablename FROM pg_tables").fetchall()
        for (name,) in names:
            if name.startswith(PREFIX):
                c.execute(f'DROP TABLE IF EXISTS "{name}" CASCADE')


def existing(url: str) -> dict[str, Any]:
    """Describe a store built by an earlier run (``--db`` pointing at it)."""
    store = SqlStore.open(url, table_prefix=PREFIX)
    t = store.tables
    with store.unit_of_work(write=False) as uow:
        total = uow.scalar(sa.select(sa.func.count()).select_from(t.audit))
        count = uow.scalar(sa.select(sa.func.count()).select_from(t.requests))
        ids = uow.scalars(
            sa.select(t.requests.c.id).order_by(t.requests.c.id).limit(50)
        )
    store.close()
    return {
        "entries": int(total or 0),
        "requests": int(count or 0),
        "seconds": 0.0,
        "sample_ids": list(ids),
    }


def case(
    label: str, url: str, n: int, model_baseline: bool, reuse: bool = False
) -> None:
    info = existing(url) if reuse else build(url, n)
    print(
        f"{label}: {info['entries']:,} entries, {info['requests']:,} requests"
        f" (built in {info['seconds']:.0f} s)",
        flush=True,
    )
    reads(url, info["sample_ids"])
    big(url, n, model_baseline)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--postgres", metavar="URL", default=None)
    parser.add_argument(
        "--db",
        metavar="PATH",
        default=None,
        help="SQLite file to build (kept), or to reuse if it exists",
    )
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument(
        "--model-baseline",
        action="store_true",
        help="also time the chain check through pydantic models (slow)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rf-audit-bench-") as folder:
        path = args.db or os.path.join(folder, "audit.db")
        reuse = os.path.exists(path)  # --db naming a store an earlier run built
        if not args.skip_sqlite:
            url = f"sqlite:///{path}"
            case("SQLite file", url, args.n, args.model_baseline, reuse)
    if args.postgres:
        global PREFIX
        PREFIX = f"rfbench{uuid.uuid4().hex[:8]}_"  # never touch anyone's tables
        try:
            case("PostgreSQL", args.postgres, args.n, args.model_baseline)
        finally:
            _drop_pg(args.postgres)
    print(
        f"benchmark process peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB"
    )


if __name__ == "__main__":
    main()
