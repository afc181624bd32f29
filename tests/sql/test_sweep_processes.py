"""Several processes sweeping deadlines at once record (and so send) each notice once."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

import releaseflow as rf
from releaseflow.storage.sql import SqlStore
from tests.conftest import STAFF, Clock, new_inquiry
from tests.sql.conftest import FILE_BACKENDS
from tests.sql_support import (
    child_env,
    drop_tables,
    server_url,
    sqlite_url,
    unique_prefix,
)

PROCESSES = 4
REQUESTS = 60


@pytest.mark.slow
@pytest.mark.parametrize("backend", FILE_BACKENDS)
def test_concurrent_sweeps_record_each_notice_exactly_once(
    backend: str, tmp_path: Path
) -> None:
    """4 sweepers started together: every missed deadline is noticed once in total."""
    url = sqlite_url(tmp_path) if backend == "sqlite" else server_url(backend)
    prefix = unique_prefix()
    clock = Clock()
    store = SqlStore.open(url, table_prefix=prefix)
    try:
        flow = rf.ReleaseFlow(store, clock=clock)
        flow.directory.bootstrap("admin", unit="agency")
        for actor, role in STAFF.items():
            if role != "administrator":
                flow.directory.grant(actor, role, unit="agency", by="admin")
        ids = {str(new_inquiry(flow).id) for _ in range(REQUESTS)}
        later = clock.advance(days=10)
        start_at = time.time() + 2.0
        env = child_env()
        workers = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tests.sql.sweep_worker",
                    url,
                    prefix,
                    later.isoformat(),
                    str(start_at),
                ],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            for _ in range(PROCESSES)
        ]
        recorded: list[tuple[str, str, str]] = []
        for worker in workers:
            out, err = worker.communicate(timeout=180)
            assert worker.returncode == 0, err.decode()
            recorded += [
                tuple(n) for n in json.loads(out.decode().strip().splitlines()[-1])
            ]
        assert len(recorded) == len(set(recorded)) == REQUESTS
        assert {r for r, _, _ in recorded} == ids
        assert {kind for _, _, kind in recorded} == {"missed"}
        assert flow.sweep_deadlines().notices == []
    finally:
        store.close()
        if backend != "sqlite":
            drop_tables(url, prefix)
