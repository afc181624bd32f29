"""A storm / crash-point worker process (run with ``python -m tests.sql.storm_worker``).

Storm mode: ``attempts`` contested transitions on the hot requests, each read in its
own transaction first (what a user saw), then fired with ``expected_version``;
acknowledged transitions are appended to the ack log and fsynced *after* success.

Crash mode (``RELEASEFLOW_TEST_CRASHPOINT`` set): fire one transition and SIGKILL
this process at the named point.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import sys
import time
from collections import Counter
from typing import Any

import releaseflow as rf
from releaseflow.exceptions import ConflictError, ReleaseflowError
from releaseflow.storage.sql import SqlStore, repositories

STORM_TRIGGERS = {
    "drafting": "request_information",
    "gathering": "information_received",
}
CRASHPOINTS = (
    "after_load",
    "after_cas",
    "after_audit_insert",
    "before_commit",
    "after_commit_before_return",
)


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _arm_crashpoint(point: str) -> Any:
    """Patch the store so the process dies at ``point``; return the flow hook."""
    if point == "after_cas":
        original_update = repositories.SqlRequests.update

        def update(self: Any, request: Any, *, expected_version: int) -> None:
            original_update(self, request, expected_version=expected_version)
            _die()

        repositories.SqlRequests.update = update  # type: ignore[method-assign]
    elif point == "after_audit_insert":
        original_append = repositories.SqlAudit.append

        def append(self: Any, entry: Any) -> None:
            original_append(self, entry)
            _die()

        repositories.SqlAudit.append = append  # type: ignore[method-assign]

    hook_points = {
        "after_load": "after_load",
        "before_commit": "before_commit",
        "after_commit_before_return": "after_commit",
    }

    def hook(where: str) -> None:
        if hook_points.get(point) == where:
            _die()

    return hook


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("prefix")
    parser.add_argument("--acks", default="")
    parser.add_argument("--attempts", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--name", default="w")
    parser.add_argument("--no-cas", action="store_true")
    parser.add_argument("--request", default="")
    args = parser.parse_args(argv)
    store = SqlStore.open(args.url, table_prefix=args.prefix, migrate=False)
    store.version_check = not args.no_cas
    crashpoint = os.environ.get("RELEASEFLOW_TEST_CRASHPOINT")
    if crashpoint:
        flow = rf.ReleaseFlow(store, test_hook=_arm_crashpoint(crashpoint))
        flow.fire(args.request, "triage", actor="spoke.tran", idempotency_key="crash")
        return 3  # should have died
    rng = random.Random(args.seed)

    def jitter(point: str) -> None:
        if point == "after_load":
            time.sleep(rng.random() * 0.002)

    flow = rf.ReleaseFlow(store, test_hook=jitter)
    hot = [r.id for r in flow.find(limit=1000)]
    outcomes: Counter[str] = Counter()
    fd = os.open(args.acks, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        for i in range(args.attempts):
            rid = rng.choice(hot)
            key = f"{args.name}-{i}"
            try:
                seen = flow.get(rid)
                time.sleep(rng.random() * 0.002)
                done = flow.fire(
                    rid,
                    STORM_TRIGGERS[seen.state],
                    actor="coord.bui",
                    expected_version=seen.version,
                    idempotency_key=key,
                )
            except ConflictError:
                outcomes["conflict"] += 1
                continue
            except ReleaseflowError as exc:
                outcomes[type(exc).__name__] += 1
                continue
            os.write(fd, f"{rid},{done.version},{key}\n".encode())
            os.fsync(fd)
            outcomes["ok"] += 1
    finally:
        os.close(fd)
        store.close()
    print(dict(outcomes), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
