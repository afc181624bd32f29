"""Tamper matrix on the in-memory store: verify names the exact first bad entry (T18-T21).

These reach into ``store._data`` to play an attacker with write access to storage.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import uuid4

import pytest

import releaseflow as rf
from releaseflow.models import AuditEntry
from releaseflow.storage.memory import InMemoryStore
from tests.conftest import STAFF, Clock, new_inquiry, to_approved

FIELD_VALUES: dict[str, Any] = {
    "event": rf.AuditEvent.READ,
    "request_id": uuid4(),
    "request_version": 99,
    "request_kind": rf.RequestKind.INCIDENT_STATEMENT,
    "unit": "elsewhere",
    "from_state": "forged_from",
    "to_state": "forged_to",
    "trigger": "forged_trigger",
    "actor": "mallory",
    "roles": ("head",),
    "at": None,  # filled per entry: one microsecond later
    "payload": {"forged": True},
    "content_hash": "e" * 64,
    "prev_hash": "d" * 64,
    "hash": "c" * 64,
    "canon_version": 2,
    "hash_alg": "md5",
    "seq": 1000,
}


@pytest.fixture(name="tflow")
def _tflow(clock: Clock) -> rf.ReleaseFlow:
    """A staffed flow on a one-ledger memory store with two released requests."""
    flow = rf.ReleaseFlow(InMemoryStore(ledger_count=1), clock=clock)
    flow.directory.bootstrap("admin", unit="agency")
    for actor, role in STAFF.items():
        if role != "administrator":
            flow.directory.grant(actor, role, unit="agency", by="admin")
    for _ in range(2):
        request = to_approved(flow, new_inquiry(flow))
        flow.fire(request.id, "release", actor="spoke.tran", form="written_answer")
    assert flow.audit.verify().ok
    return flow


def _ledger(flow: rf.ReleaseFlow) -> list[AuditEntry]:
    store = flow.store
    assert isinstance(store, InMemoryStore)
    return store._data.entries[0]


def _positions(flow: rf.ReleaseFlow) -> dict[str, int]:
    n = len(_ledger(flow))
    return {"first": 0, "middle": n // 2, "last": n - 1}


@pytest.mark.parametrize("position", ["first", "middle", "last"])
@pytest.mark.parametrize("field", sorted(FIELD_VALUES))
def test_changing_any_field_is_named_exactly(
    tflow: rf.ReleaseFlow, field: str, position: str
) -> None:
    """Each field of the first/middle/last entry, changed, is reported at its seq."""
    entries = _ledger(tflow)
    index = _positions(tflow)[position]
    entry = entries[index]
    value = FIELD_VALUES[field]
    if field == "at":
        value = entry.at + timedelta(microseconds=1)
    assert getattr(entry, field) != value
    entries[index] = entry.model_copy(update={field: value})
    report = tflow.audit.verify()
    assert not report.ok
    assert report.first_bad is not None
    assert (report.first_bad.ledger, report.first_bad.seq) == (0, index + 1), (
        report.problems
    )


@pytest.mark.parametrize("position", ["first", "middle"])
def test_deleting_an_entry_is_named(tflow: rf.ReleaseFlow, position: str) -> None:
    """Deleting an entry (not the last) is reported at the deleted seq."""
    entries = _ledger(tflow)
    index = _positions(tflow)[position]
    del entries[index]
    report = tflow.audit.verify()
    assert report.first_bad is not None
    assert (report.first_bad.ledger, report.first_bad.seq) == (0, index + 1)


def test_deleting_the_last_entry_needs_an_anchor(tflow: rf.ReleaseFlow) -> None:
    """Tail deletion: the DB alone may not tell; an earlier anchor reports truncation."""
    anchor = tflow.audit.anchor()
    entries = _ledger(tflow)
    n = len(entries)
    entries.pop()
    report = tflow.audit.verify(anchor=anchor)
    assert not report.ok
    truncation = [p for p in report.problems if "truncated" in p.problem]
    assert [(p.ledger, p.seq) for p in truncation] == [(0, n)]


def test_swapping_two_entries_is_named(tflow: rf.ReleaseFlow) -> None:
    """Swapping entries k and k+1 names seq k."""
    entries = _ledger(tflow)
    k = _positions(tflow)["middle"]
    entries[k], entries[k + 1] = entries[k + 1], entries[k]
    report = tflow.audit.verify()
    assert report.first_bad is not None
    assert (report.first_bad.ledger, report.first_bad.seq) == (0, k + 1)


def test_inserting_a_forged_entry_is_named(tflow: rf.ReleaseFlow) -> None:
    """A copy of entry k inserted after it is reported at seq k+1."""
    entries = _ledger(tflow)
    k = _positions(tflow)["middle"]
    entries.insert(k + 1, entries[k].model_copy(update={"actor": "mallory"}))
    report = tflow.audit.verify()
    assert report.first_bad is not None
    assert (report.first_bad.ledger, report.first_bad.seq) == (0, k + 2)


def test_duplicating_an_entry_is_named(tflow: rf.ReleaseFlow) -> None:
    """An exact duplicate row after the original is reported at the next seq."""
    entries = _ledger(tflow)
    k = _positions(tflow)["first"]
    entries.insert(k + 1, entries[k])
    report = tflow.audit.verify()
    assert report.first_bad is not None
    assert (report.first_bad.ledger, report.first_bad.seq) == (0, k + 2)


def test_direct_state_change_is_reported(tflow: rf.ReleaseFlow) -> None:
    """Setting a stored request to another state outside the engine fails verify."""
    store = tflow.store
    assert isinstance(store, InMemoryStore)
    request = to_approved(tflow, new_inquiry(tflow))
    assert tflow.audit.verify().ok
    store._data.requests[request.id] = request.model_copy(update={"state": "released"})
    report = tflow.audit.verify()
    assert [p.request_id for p in report.problems] == [request.id]


def test_direct_content_change_is_reported(tflow: rf.ReleaseFlow) -> None:
    """Swapping the stored body and content hash without an audit entry fails verify."""
    store = tflow.store
    assert isinstance(store, InMemoryStore)
    request = to_approved(tflow, new_inquiry(tflow))
    forged = request.model_copy(
        update={
            "body": "Nội dung giả.",
            "content_hash": rf.models.content_hash_of(request.title, "Nội dung giả."),
        }
    )
    store._data.requests[request.id] = forged
    report = tflow.audit.verify()
    assert [p.request_id for p in report.problems] == [request.id]


def test_request_without_audit_is_reported(tflow: rf.ReleaseFlow) -> None:
    """A request inserted behind the engine's back has no entries: reported."""
    store = tflow.store
    assert isinstance(store, InMemoryStore)
    ghost = tflow.get(next(iter(store._data.requests))).model_copy(
        update={"id": uuid4()}
    )
    store._data.requests[ghost.id] = ghost
    report = tflow.audit.verify()
    assert [p.request_id for p in report.problems] == [ghost.id]


def test_full_rewrite_passes_plain_verify_but_fails_keyed_anchor(
    tflow: rf.ReleaseFlow,
) -> None:
    """A re-sealed rewrite passes plain verify but fails the keyed anchor.

    Plain verify passing is the documented limit of a chain alone.
    """
    from releaseflow.chain import GENESIS_HASH, seal
    from releaseflow.models import ChainHead

    key = b"held-outside-the-database"
    anchor = tflow.audit.anchor(key=key, key_id="ops-2026")
    entries = _ledger(tflow)
    forged: list[AuditEntry] = []
    for i, entry in enumerate(entries):
        prev = forged[-1] if forged else None
        head = ChainHead(
            ledger=0,
            seq=prev.seq if prev else 0,
            hash=prev.hash if prev else GENESIS_HASH,
        )
        body = entry.model_dump(
            exclude={"ledger", "seq", "prev_hash", "hash", "canon_version", "hash_alg"}
        )
        if i == 3:
            body["actor"] = "mallory"
        forged.append(seal(body, head))
    entries[:] = forged
    assert tflow.audit.verify().ok  # a chain alone cannot see a full recompute
    report = tflow.audit.verify(anchor=anchor, key=key)
    assert not report.ok
    assert any("rewritten" in p.problem for p in report.problems)
    fake = tflow.audit.anchor()  # recomputed by the attacker, without the key
    assert any(
        "HMAC" in p.problem for p in tflow.audit.verify(anchor=fake, key=key).problems
    )


def test_default_ledgers_name_the_request_ledger(clock: Clock) -> None:
    """With the default ledgers, tampering one request's entry names its ledger."""
    from releaseflow.chain import DEFAULT_LEDGER_COUNT, ledger_for

    flow = rf.ReleaseFlow(InMemoryStore(), clock=clock)
    flow.directory.bootstrap("admin", unit="agency")
    flow.directory.grant("comms.nguyen", "comms_officer", unit="agency", by="admin")
    request = new_inquiry(flow)
    ledger = ledger_for(str(request.id), DEFAULT_LEDGER_COUNT)
    store = flow.store
    assert isinstance(store, InMemoryStore)
    assert store.ledger_count == DEFAULT_LEDGER_COUNT
    entries = store._data.entries[ledger]
    index = next(i for i, e in enumerate(entries) if e.request_id == request.id)
    entries[index] = entries[index].model_copy(update={"actor": "mallory"})
    report = flow.audit.verify()
    assert report.first_bad is not None
    assert (report.first_bad.ledger, report.first_bad.seq) == (ledger, index + 1)
