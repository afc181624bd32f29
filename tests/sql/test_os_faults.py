"""SQLite under real operating-system write failures: one typed error, nothing half-written.

Two faults, each made by the operating system rather than by SQLite settings:

* **file too large**: a child process lowers ``RLIMIT_FSIZE`` just above the current
  size of the database files (``SIGXFSZ`` ignored), so the WAL write of a large edit
  fails with a short write / ``EFBIG``;
* **disk full**: a child process in its own mount namespace (``unshare -m``, so the
  mount vanishes with it and nothing is left behind) mounts a 4 MiB tmpfs, works on a
  store there, fills the file system to ``ENOSPC`` and fires a transition. Skipped
  where mounting is not permitted.

Each must end in exactly one typed releaseflow error; reopening afterwards shows the
request unchanged and the audit chain intact, and the same operation then succeeds.

A third fault, **fsync EIO** (``strace`` fails the first fsync of the WAL), hits the
COMMIT itself: the outcome is unknown, the connection is discarded, and a retry with
the same idempotency key applies the transition exactly once.

Run as ``python -m tests.sql.test_os_faults <mode> ...`` this module is the child.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import releaseflow as rf
from releaseflow.exceptions import ReleaseflowError, StorageError
from releaseflow.storage.sql import SqlStore
from tests.conftest import Clock, new_inquiry, staff
from tests.sql_support import child_env

BIG_BODY = "Nội dung trả lời rất dài. " * 3800  # ~99 000 characters, ~120 KB

#: SQLite's result for a failed write: FULL for a short write or ENOSPC, an I/O error
#: for EFBIG and the rest. Each has exactly one releaseflow error.
EXPECTED = {"SQLITE_FULL": "StorageFullError"}


def _staffed(store: SqlStore) -> rf.ReleaseFlow:
    return staff(rf.ReleaseFlow(store, clock=Clock()))


def _triaged_file(folder: Path) -> tuple[str, rf.Request, int]:
    """A SQLite file in ``folder`` with one triaged inquiry, its store closed.

    Returns its URL, the request and the length of the request's audit trail.
    """
    url = f"sqlite:///{folder / 'agency.db'}"
    store = SqlStore.open(url)
    try:
        flow = _staffed(store)
        req = flow.fire(new_inquiry(flow).id, "triage", actor="spoke.tran")
        return url, req, len(flow.audit.history(req.id))
    finally:
        store.close()


def _describe(exc: BaseException) -> dict[str, Any]:
    """What the caller saw: the error type and the driver error under it."""
    cause = exc.__cause__
    inner: BaseException | None = getattr(cause, "orig", None)
    while inner is not None:  # SQLAlchemy's wrapper -> the sqlite3 error
        cause, inner = inner, getattr(inner, "orig", None)
    return {
        "type": type(exc).__name__,
        "typed": isinstance(exc, ReleaseflowError),
        "storage": isinstance(exc, StorageError),
        "errorname": str(getattr(cause, "sqlite_errorname", "")),
        "message": str(exc)[:300],
    }


def _check_mapping(seen: dict[str, Any]) -> None:
    assert seen["typed"], seen
    assert seen["storage"], seen
    name = seen["errorname"]
    assert name.startswith(("SQLITE_FULL", "SQLITE_IOERR")), seen
    assert seen["type"] == EXPECTED.get(name, "StorageError"), seen


# -- the children -------------------------------------------------------------


def _child_fsize(url: str, request_id: str) -> dict[str, Any]:
    import resource
    import signal

    store = SqlStore.open(url, migrate=False)
    flow = rf.ReleaseFlow(store, clock=Clock())
    before = flow.get(request_id)  # connection opened, WAL and shm mapped
    wal = Path(f"{url.removeprefix('sqlite:///')}-wal")
    # in WAL mode a transaction writes only the WAL (appending); the database file
    # is written by checkpoints, which this small WAL does not trigger
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    limit = (wal.stat().st_size if wal.exists() else 0) + 8192
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
    try:
        flow.edit(before.id, actor="comms.nguyen", body=BIG_BODY, reason="dài")
    except Exception as exc:
        return {"raised": _describe(exc), "limit": limit}
    return {"raised": None, "limit": limit}


def _fill(folder: Path) -> int:
    """Write a filler file until the file system says ENOSPC; bytes written."""
    written = 0
    block = b"\0" * 65536
    with open(folder / "filler", "wb", buffering=0) as fh:
        while True:
            try:
                n = fh.write(block)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                if len(block) == 1:
                    return written
                block = block[: len(block) // 2]
                continue
            written += n or 0


def _child_tmpfs(folder: str) -> dict[str, Any]:
    root = Path(folder)
    url = f"sqlite:///{root / 'agency.db'}"
    store = SqlStore.open(url)
    flow = _staffed(store)
    req = flow.fire(new_inquiry(flow).id, "triage", actor="spoke.tran")
    trail = len(flow.audit.history(req.id))
    filled = _fill(root)
    try:
        flow.fire(req.id, "submit", actor="comms.nguyen")
        raised = None
    except Exception as exc:
        raised = _describe(exc)
    # the same store goes on: its pooled connection is not left inside a transaction
    try:
        same = flow.get(req.id)
        same_store = "ok" if same.version == req.version else f"v{same.version}"
    except Exception as exc:
        same_store = repr(exc)
    store.close()

    # reopen, still on a full disk: nothing half-written
    reopened = SqlStore.open(url, migrate=False)
    flow = rf.ReleaseFlow(reopened, clock=Clock())
    after = flow.get(req.id)
    report: dict[str, Any] = {
        "raised": raised,
        "filled": filled,
        "same_store": same_store,
        "unchanged": after.version == req.version and after.state == req.state,
        "trail_unchanged": len(flow.audit.history(req.id)) == trail,
        "verify_full_disk": flow.audit.verify().ok,
    }
    (root / "filler").unlink()
    moved = flow.fire(req.id, "submit", actor="comms.nguyen")
    report["after_space_freed"] = moved.state
    report["verify_after"] = flow.audit.verify().ok
    reopened.close()
    return report


def _child_fsync(url: str, request_id: str) -> dict[str, Any]:
    """Runs under strace, which fails the first fsync/fdatasync of the WAL with EIO."""
    import sqlalchemy as sa

    store = SqlStore.open(url, migrate=False)
    connects: list[int] = []
    sa.event.listen(store.engine, "connect", lambda *_: connects.append(1))
    flow = rf.ReleaseFlow(store, clock=Clock())
    flow.get(request_id)  # one pooled connection, opened before the fault
    opened = len(connects)
    try:
        flow.fire(request_id, "submit", actor="comms.nguyen", idempotency_key="eio")
        raised = None
    except Exception as exc:
        raised = _describe(exc)
    # the connection whose fsync failed must not be used again: its state is undefined
    flow.get(request_id)
    fresh = len(connects) > opened
    retried = flow.fire(
        request_id, "submit", actor="comms.nguyen", idempotency_key="eio"
    )
    store.close()
    return {"raised": raised, "fresh_connection": fresh, "retried": retried.state}


def _main(argv: list[str]) -> None:
    mode, *args = argv
    children = {"fsize": _child_fsize, "tmpfs": _child_tmpfs, "fsync": _child_fsync}
    result = children[mode](*args)
    sys.stdout.write(json.dumps(result))
    sys.stdout.flush()
    os._exit(0)  # no finalisers writing to a file system that refuses writes


# -- the tests --------------------------------------------------------------------


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    env = child_env()
    return subprocess.run(
        argv, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_a_file_size_limit_fails_the_write_with_one_typed_error(
    tmp_path: Path,
) -> None:
    url, req, trail = _triaged_file(tmp_path)

    done = _run(
        [sys.executable, "-m", "tests.sql.test_os_faults", "fsize", url, str(req.id)]
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert result["raised"] is not None, "the edit was not refused"
    _check_mapping(result["raised"])

    # reopen with normal limits: nothing half-written, and the same edit now works
    store = SqlStore.open(url, migrate=False)
    try:
        flow = rf.ReleaseFlow(store, clock=Clock())
        after = flow.get(req.id)
        assert (after.version, after.body) == (req.version, req.body)
        assert len(flow.audit.history(req.id)) == trail
        assert flow.audit.verify().ok
        edited = flow.edit(req.id, actor="comms.nguyen", body=BIG_BODY, reason="dài")
        assert edited.version == req.version + 1
        assert flow.audit.verify().ok
    finally:
        store.close()


def test_a_full_disk_fails_the_transition_with_one_typed_error(
    tmp_path: Path,
) -> None:
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.skip("unshare(1) is not installed")
    folder = tmp_path / "tiny"
    folder.mkdir()
    probe = _run(
        [
            unshare,
            "-m",
            "--propagation",
            "private",
            "sh",
            "-c",
            'mount -t tmpfs -o size=64k tmpfs "$1" && umount "$1"',
            "_",
            str(folder),
        ]
    )
    if probe.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {probe.stderr.strip()[:200]}")

    done = _run(
        [
            unshare,
            "-m",
            "--propagation",
            "private",
            "sh",
            "-c",
            'mount -t tmpfs -o size=4m tmpfs "$1" && exec "$2" -m'
            ' tests.sql.test_os_faults tmpfs "$1"',
            "_",
            str(folder),
            sys.executable,
        ]
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert result["filled"] > 0
    assert result["raised"] is not None, "the transition was not refused"
    assert result["raised"]["type"] == "StorageFullError", result["raised"]
    _check_mapping(result["raised"])
    assert result["same_store"] == "ok", result
    assert result["unchanged"], result
    assert result["trail_unchanged"], result
    assert result["verify_full_disk"], result
    assert result["after_space_freed"] == "in_review"
    assert result["verify_after"]
    # the mount lived only in the child's namespace: nothing is left here
    assert not any(folder.iterdir())
    with open("/proc/self/mounts", encoding="utf-8") as mounts:
        assert str(folder) not in mounts.read()


def test_an_fsync_error_at_commit_is_outcome_unknown_and_the_retry_applies_once(
    tmp_path: Path,
) -> None:
    """T14: the WAL's fsync fails with EIO (strace fault injection) during COMMIT.

    The frames may or may not be durable, so the caller must hear "outcome
    unknown", the connection must be discarded, and a retry with the same
    idempotency key must leave the transition applied exactly once.
    """
    strace = shutil.which("strace")
    if strace is None:
        pytest.skip("strace(1) is not installed")
    url, req, trail = _triaged_file(tmp_path)
    wal = f"{tmp_path / 'agency.db'}-wal"
    done = _run(
        [
            strace,
            "-f",
            "-qq",
            "-o",
            os.devnull,
            "-P",
            wal,
            "-e",
            "trace=fsync,fdatasync",
            "-e",
            "inject=fsync,fdatasync:error=EIO:when=1",
            sys.executable,
            "-m",
            "tests.sql.test_os_faults",
            "fsync",
            url,
            str(req.id),
        ]
    )
    if done.returncode != 0 and "ptrace" in done.stderr:
        pytest.skip(f"ptrace is not permitted here: {done.stderr.strip()[:200]}")
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert result["raised"] is not None, "the failed fsync went unnoticed"
    assert result["raised"]["type"] == "CommitOutcomeUnknownError", result["raised"]
    assert result["raised"]["errorname"].startswith("SQLITE_IOERR"), result["raised"]
    assert result["fresh_connection"], "the connection was reused after EIO"
    assert result["retried"] == "in_review"

    store = SqlStore.open(url, migrate=False)
    try:
        flow = rf.ReleaseFlow(store, clock=Clock())
        after = flow.get(req.id)
        history = flow.audit.history(req.id)
        assert (after.state, after.version) == ("in_review", req.version + 1)
        assert len(history) == trail + 1  # applied exactly once
        assert flow.audit.verify().ok
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
    finally:
        store.close()


if __name__ == "__main__":
    _main(sys.argv[1:])
