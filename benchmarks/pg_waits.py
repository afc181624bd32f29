"""Where PostgreSQL transactions of the transition benchmark wait.

Runs the releaseflow loop of ``sql_transitions.py`` (``flow.fire`` on requests
spread over N processes) and samples ``pg_stat_activity`` every few milliseconds
for the backends of the measured processes (their connections carry the run's own
``application_name``). Prints the share of samples per (state, wait event, statement), e.g.::

    72.4%  idle in transaction  Client:ClientRead
    15.8%  active               Lock:transactionid  WITH rf_moved AS (UPDATE ...

``idle`` is time between transactions, ``idle in transaction / ClientRead`` time a
transaction waits for its own client (Python work between statements, or a client
process not scheduled), ``IO:WALSync`` / ``LWLock:WALWrite`` a COMMIT's flush;
``Lock:transactionid`` / ``Lock:tuple`` on the request compare-and-set is a wait for
the ledger head row another transaction locked until its commit. Run::

    .venv/bin/python benchmarks/pg_waits.py [--procs 8] [--seconds 4] [--pg URL]
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import threading
import time
import uuid

import psycopg

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import sql_transitions as bench  # the benchmark next to this file


def sample(
    url: str, app: str, stop: threading.Event, counts: collections.Counter[str]
) -> None:
    """Count the wait events of ``app``'s backends until ``stop`` is set."""
    query = (
        "SELECT state, wait_event_type, wait_event, query FROM pg_stat_activity"
        " WHERE application_name = %s"
    )
    with psycopg.connect(url, autocommit=True) as conn:
        while not stop.is_set():
            for state, kind, event, text in conn.execute(query, (app,)):
                wait = f"{kind}:{event}" if kind else "-"
                what = " ".join((text or "").split())[:60] if kind == "Lock" else ""
                counts[f"{state or '-':<20} {wait:<22} {what}"] += 1
            time.sleep(0.002)


def main() -> None:
    """Run the loop once and print the wait-event shares."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--procs", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument(
        "--pg",
        default=os.environ.get("RELEASEFLOW_TEST_POSTGRES_URL", bench.PG_DEFAULT),
    )
    args = parser.parse_args()
    url = args.pg
    plain_url = url.replace("postgresql+psycopg", "postgresql")
    prefix = f"bench{uuid.uuid4().hex[:6]}_"
    counts: collections.Counter[str] = collections.Counter()
    stop = threading.Event()
    try:
        groups = bench.setup_flow(url, prefix, 8, args.procs)
        app = f"rfwaits_{prefix}"
        joiner = "&" if "?" in url else "?"
        measured = f"{url}{joiner}application_name={app}"
        sampler = threading.Thread(target=sample, args=(plain_url, app, stop, counts))
        sampler.start()
        try:
            rate = bench.run(
                args.procs,
                bench.flow_worker,
                [(measured, prefix, g, args.seconds) for g in groups],
                args.seconds,
            )
        finally:
            stop.set()
            sampler.join()
    finally:
        bench._drop_pg(url, prefix)
    total = sum(counts.values()) or 1
    print(f"releaseflow, {args.procs} processes: {rate:.0f}/s; {total} samples")
    for key, n in counts.most_common(15):
        print(f"{n / total:6.1%}  {key}")


if __name__ == "__main__":
    main()
