"""Shared set-up of the directory-guess tests: two stores on one SQLite file.

``two_flows`` gives two stores (two processes' worth of caches) on one file, the
first with the usual staff; ``warm`` makes a request whose fires the first store's
caches serve, so its next fire guesses the directory version.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import releaseflow as rf
from releaseflow.storage.sql import SqlStore
from tests.conftest import Clock, new_inquiry, staff

TOGGLE = {"drafting": "request_information", "gathering": "information_received"}
"""A pair of transitions a coordinating officer can fire back and forth."""


@pytest.fixture(name="two_flows")
def two_flows_fixture(
    tmp_path: Path,
) -> Iterator[tuple[rf.ReleaseFlow, rf.ReleaseFlow]]:
    """Two stores (two processes' worth of caches) on one SQLite file."""
    url = f"sqlite:///{tmp_path / 'guess.db'}"
    here = SqlStore.open(url)
    there = SqlStore.open(url, migrate=False)
    clock = Clock()
    yield staff(rf.ReleaseFlow(here, clock=clock)), rf.ReleaseFlow(there, clock=clock)
    there.close()
    here.close()


def toggle(
    flow: rf.ReleaseFlow, request: rf.Request, actor: str, **kw: Any
) -> rf.Request:
    """Fire the :data:`TOGGLE` transition of ``request``'s state, at its version."""
    return flow.fire(
        request.id,
        TOGGLE[request.state],
        actor=actor,
        expected_version=request.version,
        **kw,
    )


def warm(flow: rf.ReleaseFlow, actor: str = "coord.bui") -> rf.Request:
    """A request toggled by ``actor`` until the store's caches serve the fire."""
    request = flow.fire(new_inquiry(flow).id, "triage", actor="spoke.tran")
    for _ in range(3):
        request = toggle(flow, request, actor)
    return request
