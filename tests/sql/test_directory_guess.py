"""A transition on SQLite guesses the directory version instead of reading it.

``SqlDirectory.lock_guessing`` (``fire`` only) takes the version of the store's
directory snapshot; the request compare-and-set then matches only at that version,
so the guess costs no statement. A guess another process made stale must give
exactly the answer a read would have: a grant revoked elsewhere refuses, a grant
added elsewhere allows, and nothing is written on the stale decision.
"""

from __future__ import annotations

from typing import Any

import pytest

import releaseflow as rf
from releaseflow.exceptions import ConflictError, NotPermittedError
from releaseflow.storage.sql.repositories import SqlDirectory
from tests.sql.guessing import (
    toggle,
    two_flows_fixture,  # noqa: F401  (the two_flows fixture)
    warm,
)


@pytest.fixture(name="reads")
def _reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every directory version read from the database (``SqlDirectory._lock``)."""
    seen: list[int] = []
    original = SqlDirectory._lock

    def spy(self: SqlDirectory) -> int:
        version = original(self)
        seen.append(version)
        return version

    monkeypatch.setattr(SqlDirectory, "_lock", spy)
    return seen


def test_a_warm_transition_reads_no_directory_version(
    two_flows: tuple[rf.ReleaseFlow, rf.ReleaseFlow], reads: list[int]
) -> None:
    here, _ = two_flows
    request = warm(here)
    reads.clear()
    for _ in range(3):
        request = toggle(here, request, "coord.bui")
    assert reads == []  # guessed, and confirmed by the compare-and-set
    assert here.get(request.id) == request
    assert here.audit.verify().ok


def test_a_grant_revoked_elsewhere_refuses_as_a_read_would(
    two_flows: tuple[rf.ReleaseFlow, rf.ReleaseFlow], reads: list[int]
) -> None:
    here, there = two_flows
    request = warm(here)
    entries = len(here.audit.history(request.id))
    there.directory.revoke(
        "coord.bui", "coordinating_officer", unit="agency", by="admin"
    )
    reads.clear()
    with pytest.raises(NotPermittedError):
        toggle(here, request, "coord.bui")
    # the stale guess found by a read (after the compare-and-set matched
    # nothing), then decided again on a plain lock
    assert len(reads) == 2
    assert here.get(request.id) == request  # nothing written
    assert len(here.audit.history(request.id)) == entries
    assert here.audit.verify().ok


def test_a_grant_added_elsewhere_allows_as_a_read_would(
    two_flows: tuple[rf.ReleaseFlow, rf.ReleaseFlow], reads: list[int]
) -> None:
    here, there = two_flows
    request = warm(here)  # comms.nguyen created it: its grants are cached
    request = toggle(here, request, "coord.bui")
    assert request.state == "drafting"
    with pytest.raises(NotPermittedError):  # not a comms officer's trigger
        toggle(here, request, "comms.nguyen")
    there.directory.grant(
        "comms.nguyen", "coordinating_officer", unit="agency", by="admin"
    )
    reads.clear()
    moved = toggle(here, request, "comms.nguyen")
    # the refusal on the cached grants confirmed the guess first (stale), then
    # the transition was decided again on a plain lock
    assert len(reads) == 2
    assert moved.version == request.version + 1
    entry = here.audit.history(request.id)[-1]
    assert entry.actor == "comms.nguyen"
    assert "coordinating_officer" in entry.roles
    assert here.audit.verify().ok


def test_a_request_moved_elsewhere_is_still_a_conflict(
    two_flows: tuple[rf.ReleaseFlow, rf.ReleaseFlow],
) -> None:
    here, there = two_flows
    request = warm(here)
    toggle(there, request, "coord.bui")
    with pytest.raises(ConflictError) as caught:
        toggle(here, request, "coord.bui")
    details: Any = caught.value
    assert details.actual_version == request.version + 1
