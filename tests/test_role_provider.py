"""A host's own role provider replaces the stored grants, inside the transaction."""

from __future__ import annotations

from collections.abc import Iterable

import pytest

import releaseflow as rf
from releaseflow.ports import Store
from tests.conftest import Clock


class HostRoles:
    """Roles as a host's identity system would report them (mutable on purpose)."""

    def __init__(self) -> None:
        self.table: dict[str, set[rf.Role]] = {
            "writer": {rf.Role.COMMS_OFFICER},
            "checker": {rf.Role.REVIEWER},
            "spoke": {rf.Role.SPOKESPERSON},
        }
        self.calls: list[tuple[str, str]] = []

    def roles_for(self, actor: str, unit: str) -> Iterable[rf.Role]:
        self.calls.append((actor, unit))
        return self.table.get(actor, set())


def test_host_role_provider_decides_and_is_asked_each_time(
    store: Store, clock: Clock
) -> None:
    """Roles come from the host provider; revoking there takes effect on the next call."""
    roles = HostRoles()
    flow = rf.ReleaseFlow(store, clock=clock, role_provider=roles)
    req = flow.create(
        "press_inquiry", title="t", body="b", actor="writer", unit="agency"
    )
    req = flow.fire(req.id, "triage", actor="spoke")
    req = flow.fire(req.id, "submit", actor="writer")
    roles.table["checker"] = set()
    with pytest.raises(rf.exceptions.NotPermittedError):
        flow.fire(req.id, "approve_review", actor="checker")
    assert flow.get(req.id).version == req.version
    assert ("checker", "agency") in roles.calls


def test_stored_grants_are_ignored_when_a_provider_is_plugged(
    store: Store, clock: Clock
) -> None:
    """A stored grant gives nothing when the host provider does not report the role."""
    plain = rf.ReleaseFlow(store, clock=clock)
    plain.directory.bootstrap("admin", unit="agency")
    plain.directory.grant("mallory", "spokesperson", unit="agency", by="admin")
    hosted = rf.ReleaseFlow(store, clock=clock, role_provider=HostRoles())
    with pytest.raises(rf.exceptions.NotPermittedError):
        hosted.create(
            "press_inquiry", title="t", body="b", actor="mallory", unit="agency"
        )


def test_open_memory_and_naive_clock_refused() -> None:
    """``open("memory://")`` works; a clock returning naive datetimes is refused."""
    from datetime import datetime

    flow = rf.ReleaseFlow.open("memory://", clock=lambda: datetime(2026, 1, 1))
    with pytest.raises(rf.exceptions.ValidationError) as info:
        flow.directory.bootstrap("admin", unit="agency")
    assert info.value.field == "clock"
