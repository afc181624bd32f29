"""Shared fixtures: every engine-level test runs on every configured backend.

Backends: ``memory`` and ``sqlite`` (a WAL file in a temporary folder) always;
``postgres`` and ``mariadb`` when ``RELEASEFLOW_TEST_POSTGRES_URL`` /
``RELEASEFLOW_TEST_MARIADB_URL`` are set. A backend whose URL is set but whose server
cannot be reached makes the tests **fail**, never skip. ``RELEASEFLOW_TEST_BACKENDS``
(comma-separated) narrows the list.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import releaseflow as rf
from releaseflow.ports import Store
from tests.sql_support import backend_names, leaked_tables


def configured_backends() -> list[str]:
    """The backends this run covers."""
    return backend_names(["memory", "sqlite"])


BACKENDS = configured_backends()


@pytest.fixture(autouse=True)
def _no_leaked_tables() -> Iterator[None]:
    """Fail a test that leaves tables on a server under a prefix it was given.

    Autouse fixtures are set up first and torn down last, so this runs after the
    test's own stores were closed and dropped.
    """
    yield
    leaked = leaked_tables()
    if leaked:
        pytest.fail(f"tables left on the server: {', '.join(leaked[:5])}")


def make_store(backend: str, tmp_path: Path, **options: Any) -> Store:
    """Open a fresh, empty store of ``backend``."""
    if backend == "memory":
        from releaseflow.storage.memory import InMemoryStore

        return InMemoryStore(**options)
    from tests.sql_support import open_sql_store

    return open_sql_store(backend, tmp_path, **options)


class Clock:
    """A controllable clock: starts at a fixed instant, moves only when told."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 3, 2, 2, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture(name="backend", params=BACKENDS)
def _backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(name="store")
def _store(backend: str, tmp_path: Path) -> Iterator[Store]:
    store = make_store(backend, tmp_path)
    yield store
    store.close()


@pytest.fixture(name="clock")
def _clock() -> Clock:
    return Clock()


@pytest.fixture(name="flow")
def _flow(store: Store, clock: Clock) -> rf.ReleaseFlow:
    return rf.ReleaseFlow(store, clock=clock)


STAFF = {
    "admin": "administrator",
    "head.pham": "head",
    "spoke.tran": "spokesperson",
    "comms.nguyen": "comms_officer",
    "comms.vo": "comms_officer",
    "review.le": "reviewer",
    "review.dang": "reviewer",
    "coord.bui": "coordinating_officer",
    "contrib.do": "contributor",
    "focal.ho": "info_focal_unit",
    "deputy.ngo": "deputy_head",
    "speaker.mai": "authorised_speaker",
    "auditor.ly": "auditor",
}


def staff(flow: rf.ReleaseFlow) -> rf.ReleaseFlow:
    """Give ``flow``'s directory one person per role (:data:`STAFF`) in ``agency``."""
    flow.directory.bootstrap("admin", unit="agency")
    for actor, role in STAFF.items():
        if role != "administrator":
            flow.directory.grant(actor, role, unit="agency", by="admin")
    return flow


@pytest.fixture(name="staffed")
def _staffed(flow: rf.ReleaseFlow) -> rf.ReleaseFlow:
    """A flow whose directory holds one person per role in unit ``agency``."""
    return staff(flow)


def new_inquiry(flow: rf.ReleaseFlow, **overrides: Any) -> rf.Request:
    """A press inquiry created by the comms officer (``kind`` may be overridden)."""
    kind = overrides.pop("kind", rf.RequestKind.PRESS_INQUIRY)
    fields: dict[str, Any] = {
        "title": "Câu hỏi về tiêm chủng mở rộng",
        "body": "Bản nháp trả lời.",
        "actor": "comms.nguyen",
        "unit": "agency/ttyt",
        "channel": "electronic",
        "requester": {
            "type": "journalist",
            "name": "Hoàng Thị E",
            "organisation": "Báo Đà Nẵng",
        },
    }
    fields.update(overrides)
    return flow.create(kind, **fields)


def to_approved(flow: rf.ReleaseFlow, request: rf.Request) -> rf.Request:
    """Drive a new press inquiry to ``approved`` by four different people."""
    request = flow.fire(request.id, "triage", actor="spoke.tran")
    request = flow.fire(request.id, "submit", actor="comms.nguyen")
    request = flow.fire(request.id, "approve_review", actor="review.le")
    return flow.fire(request.id, "approve_release", actor="head.pham")


FlowFactory = Callable[..., rf.ReleaseFlow]
