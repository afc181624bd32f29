"""Fork at scale: 200 children of a process with an open store, one transition each.

The parent opens the store, works with it (so its pool holds live connections),
then forks 200 children in waves (a 2-core machine, and PostgreSQL's default
``max_connections``). Each child fires one transition on its own request through the
store it inherited and reports back on a pipe. Every child must succeed, the parent
must keep working on its own pooled connection (a child that closed or used the
parent's connection would break it), and the audit chain must verify.
"""

from __future__ import annotations

import os
import select
import signal
import time
import traceback
from pathlib import Path
from uuid import UUID

import pytest

import releaseflow as rf
from tests.conftest import STAFF, Clock, new_inquiry
from tests.sql.conftest import FILE_BACKENDS
from tests.sql_support import open_sql_store

CHILDREN = 200
WAVE = 25
CHILD_TIMEOUT = 60.0
WHOLE_TEST = 120


def _child(flow: rf.ReleaseFlow, request_id: UUID, write_fd: int) -> None:
    """Fire one transition, write ``ok`` or the error to the pipe; never return."""
    code = 1
    try:
        try:
            moved = flow.fire(request_id, "triage", actor="spoke.tran")
            message = "ok" if moved.state == "drafting" else f"state {moved.state}"
            code = 0 if message == "ok" else 1
        except BaseException:  # report everything, including pytest's own
            message = traceback.format_exc(limit=6)
        os.write(write_fd, message.encode()[:60000])
    finally:
        # os._exit: no atexit hooks (the test helpers drop tables at exit), no
        # finalisers touching inherited connections, no pytest teardown
        os._exit(code)


def _wait(pid: int, read_fd: int, deadline: float) -> tuple[int, str]:
    chunks: list[bytes] = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            return -9, "timed out"
        ready, _, _ = select.select([read_fd], [], [], left)
        if ready:
            chunk = os.read(read_fd, 65536)
            if not chunk:
                break
            chunks.append(chunk)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), b"".join(chunks).decode(errors="replace")


@pytest.mark.slow
@pytest.mark.parametrize("backend", FILE_BACKENDS)
def test_two_hundred_forked_children_each_fire_once(
    backend: str, tmp_path: Path
) -> None:
    def too_slow(_signum: int, _frame: object) -> None:
        # a parent whose connection a child used can block on its socket forever
        raise TimeoutError("the parent hung after the fork (a shared connection?)")

    previous = signal.signal(signal.SIGALRM, too_slow)
    signal.alarm(WHOLE_TEST)
    store = open_sql_store(backend, tmp_path, busy_timeout=30.0)
    try:
        flow = rf.ReleaseFlow(store, clock=Clock())
        flow.directory.bootstrap("admin", unit="agency")
        for actor, role in STAFF.items():
            if role != "administrator":
                flow.directory.grant(actor, role, unit="agency", by="admin")
        requests = [new_inquiry(flow, title=f"Câu hỏi {n}") for n in range(CHILDREN)]
        parent_own = new_inquiry(flow, title="Của tiến trình cha")
        flow.fire(parent_own.id, "triage", actor="spoke.tran")
        assert flow.audit.verify().ok

        started = time.monotonic()
        failures: list[str] = []
        for first in range(0, CHILDREN, WAVE):
            wave: list[tuple[int, int, int]] = []
            for n in range(first, min(first + WAVE, CHILDREN)):
                read_fd, write_fd = os.pipe()
                pid = os.fork()
                if pid == 0:  # pragma: no cover - runs in the child
                    os.close(read_fd)
                    _child(flow, requests[n].id, write_fd)
                os.close(write_fd)
                wave.append((n, pid, read_fd))
            deadline = time.monotonic() + CHILD_TIMEOUT
            for n, pid, read_fd in wave:
                try:
                    code, message = _wait(pid, read_fd, deadline)
                finally:
                    os.close(read_fd)
                if code != 0 or message != "ok":
                    failures.append(f"child {n}: exit {code}: {message}")
            # the parent keeps working between waves, on its own pooled connection
            assert flow.get(parent_own.id).state == "drafting"
        elapsed = time.monotonic() - started
        assert not failures, "\n".join(failures[:5])
        assert elapsed < 60, f"200 children took {elapsed:.1f} s"

        # every child's transition is stored exactly once, and the parent goes on
        for request in requests:
            stored = flow.get(request.id)
            assert stored.state == "drafting"
            assert stored.version == request.version + 1
        assert len(flow.find(state="drafting", limit=1000)) == CHILDREN + 1
        moved = flow.fire(parent_own.id, "submit", actor="comms.nguyen")
        assert moved.state == "in_review"
        report = flow.audit.verify()
        assert report.ok, report.first_bad
        created = len(requests) + 1
        assert report.entries_checked >= created * 2 + 1
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
        store.close()
