"""A deadline-sweep worker process: waits for a start time, sweeps once, reports.

Usage: ``python -m tests.sql.sweep_worker URL PREFIX NOW_ISO START_AT`` — prints one
JSON line: the (request id, rule id, kind) of every notice this process recorded.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime

import releaseflow as rf
from releaseflow.storage.sql import SqlStore


def main(argv: list[str]) -> int:
    url, prefix, now_iso, start_at = argv
    now = datetime.fromisoformat(now_iso)
    store = SqlStore.open(url, table_prefix=prefix, migrate=False, busy_timeout=30.0)
    try:
        flow = rf.ReleaseFlow(store, clock=lambda: now)
        time.sleep(max(0.0, float(start_at) - time.time()))
        report = flow.sweep_deadlines()
    finally:
        store.close()
    notices = [[str(n.request_id), n.deadline.rule_id, n.kind] for n in report.notices]
    print(json.dumps(notices))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
