"""Signals: sent after commit, frozen, isolated; audit never depends on them (T15)."""

from __future__ import annotations

import gc
import logging
from typing import Any

import pytest

import releaseflow as rf
from releaseflow import signals
from releaseflow.exceptions import NotPermittedError
from releaseflow.testing import capture_signals
from tests.conftest import new_inquiry, to_approved
from tests.core.conftest import audit_count


def test_transition_sends_its_signals_after_commit(staffed: rf.ReleaseFlow) -> None:
    """A receiver sees the new version already stored, and the entry it names."""
    flow = staffed
    request = new_inquiry(flow)
    seen: list[tuple[int, int]] = []

    def on_transition(sender: rf.ReleaseFlow, **kw: Any) -> None:
        stored = sender.get(kw["request"].id)  # a fresh read: committed?
        seen.append((stored.version, kw["entry"].request_version))

    signals.request_transitioned.connect(on_transition, weak=False)
    try:
        with capture_signals() as sent:
            moved = flow.fire(request.id, "triage", actor="spoke.tran")
    finally:
        signals.request_transitioned.disconnect(on_transition)
    assert seen == [(moved.version, moved.version)]
    assert sent.names() == ["request-transitioned", "audit-entry-written"]
    kwargs = sent.of("request-transitioned")[0].kwargs
    assert kwargs["trigger"] == "triage"
    assert kwargs["request"] == moved
    assert sent.sent[0].sender is flow


def test_release_sends_approved_and_released(staffed: rf.ReleaseFlow) -> None:
    """Approve sends request-approved with its stage; release sends request-released."""
    flow = staffed
    request = new_inquiry(flow)
    with capture_signals() as sent:
        request = to_approved(flow, request)
        flow.fire(request.id, "release", actor="spoke.tran", form="written_answer")
    assert [s.kwargs["stage"] for s in sent.of("request-approved")] == [
        "review",
        "spokesperson",
    ]
    assert len(sent.of("request-released")) == 1
    assert len(sent.of("audit-entry-written")) == 5


def test_failing_transition_sends_nothing(staffed: rf.ReleaseFlow) -> None:
    """A denied transition sends no signal at all."""
    flow = staffed
    request = new_inquiry(flow)
    with capture_signals() as sent, pytest.raises(NotPermittedError):
        flow.fire(request.id, "triage", actor="review.le")
    assert len(sent) == 0


def test_payloads_are_frozen_and_private_copies(staffed: rf.ReleaseFlow) -> None:
    """Receivers cannot change payloads or, through them, stored data.

    Setting attributes fails; mutating nested dicts does not reach the store: the
    chain still verifies and the stored request is unchanged.
    """
    flow = staffed
    request = new_inquiry(flow, metadata={"tag": "gốc"})
    errors: list[Exception] = []

    def vandal(sender: Any, **kw: Any) -> None:
        for name in ("request", "entry"):
            try:
                kw[name].state = "released"
            except Exception as exc:  # pydantic frozen instance
                errors.append(exc)
        kw["entry"].payload["forged"] = True
        kw["request"].metadata["tag"] = "sửa"

    signals.request_transitioned.connect(vandal, weak=False)
    try:
        moved = flow.fire(request.id, "triage", actor="spoke.tran")
    finally:
        signals.request_transitioned.disconnect(vandal)
    assert len(errors) == 2
    assert flow.get(request.id).metadata == {"tag": "gốc"}
    assert flow.get(request.id).state == moved.state == "drafting"
    assert "forged" not in flow.audit.history(request.id)[-1].payload
    assert flow.audit.verify().ok


def test_raising_receiver_is_logged_and_isolated(
    staffed: rf.ReleaseFlow, caplog: pytest.LogCaptureFixture
) -> None:
    """A raising receiver neither undoes the change nor stops the others.

    The failure is logged on releaseflow.signals.
    """
    flow = staffed
    request = new_inquiry(flow)
    calls: list[str] = []

    def boom(sender: Any, **kw: Any) -> None:
        calls.append("boom")
        raise RuntimeError("receiver bug")

    def fine(sender: Any, **kw: Any) -> None:
        calls.append("fine")

    signals.request_transitioned.connect(boom, weak=False)
    signals.request_transitioned.connect(fine, weak=False)
    try:
        with caplog.at_level(logging.ERROR, logger="releaseflow.signals"):
            moved = flow.fire(request.id, "triage", actor="spoke.tran")
    finally:
        signals.request_transitioned.disconnect(boom)
        signals.request_transitioned.disconnect(fine)
    assert sorted(calls) == ["boom", "fine"]
    assert flow.get(request.id) == moved
    assert flow.get(request.id).state == "drafting"
    failures = [r for r in caplog.records if r.name == "releaseflow.signals"]
    assert len(failures) == 1
    assert failures[0].exc_info is not None
    assert "receiver bug" in str(failures[0].exc_info[1])


def test_gc_of_weak_receiver_does_not_lose_audit(staffed: rf.ReleaseFlow) -> None:
    """A GC-dropped weak receiver does not lose the audit entry.

    The engine writes the audit entry itself.
    """
    flow = staffed
    request = new_inquiry(flow)
    hits: list[int] = []

    def install() -> None:
        def weak_receiver(sender: Any, **kw: Any) -> None:
            hits.append(1)

        signals.audit_entry_written.connect(weak_receiver)  # weak by default

    install()
    gc.collect()
    before = audit_count(flow)
    flow.fire(request.id, "triage", actor="spoke.tran")
    assert hits == []
    assert audit_count(flow) == before + 1
    assert flow.audit.history(request.id)[-1].trigger == "triage"


def test_muted_signal_does_not_stop_audit(staffed: rf.ReleaseFlow) -> None:
    """Even with audit_entry_written muted, the entry is written and verifies."""
    flow = staffed
    request = new_inquiry(flow)
    before = audit_count(flow)
    with signals.audit_entry_written.muted(), capture_signals() as sent:
        flow.fire(request.id, "triage", actor="spoke.tran")
    assert "audit-entry-written" not in sent.names()
    assert audit_count(flow) == before + 1
    assert flow.audit.verify().ok


def test_log_audit_entry_writes_one_record_per_entry(
    staffed: rf.ReleaseFlow, caplog: pytest.LogCaptureFixture
) -> None:
    """The shipped receiver logs each audit entry exactly once, structured.

    Includes directory and approval entries (which once were sent twice).
    """
    flow = staffed
    signals.audit_entry_written.connect(signals.log_audit_entry)
    try:
        with caplog.at_level(logging.INFO, logger="releaseflow.audit"):
            before = audit_count(flow)
            request = to_approved(flow, new_inquiry(flow))
            flow.directory.grant("new.person", "reviewer", unit="agency", by="admin")
            flow.classify(request.id, "consent_required", actor="head.pham", reason="x")
            written = audit_count(flow) - before
    finally:
        signals.audit_entry_written.disconnect(signals.log_audit_entry)
    records = [r for r in caplog.records if r.name == "releaseflow.audit"]
    assert len(records) == written == 7
    keys = [(r.audit["ledger"], r.audit["seq"]) for r in records]  # type: ignore[attr-defined]
    assert len(set(keys)) == len(keys)
    stored = {(e.ledger, e.seq): e.hash for e in flow.audit.entries()}
    for record in records:
        data = record.audit  # type: ignore[attr-defined]
        assert stored[(data["ledger"], data["seq"])] == data["hash"]


def test_capture_signals_disconnects_on_exit(staffed: rf.ReleaseFlow) -> None:
    """After the with block, capture_signals records nothing more."""
    flow = staffed
    with capture_signals() as sent:
        request = new_inquiry(flow)
    count = len(sent)
    assert sent.names() == ["request-created", "audit-entry-written"]
    flow.fire(request.id, "triage", actor="spoke.tran")
    assert len(sent) == count
