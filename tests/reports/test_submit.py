"""A report frozen as a submitted report_request verifies against its audit entry."""

from __future__ import annotations

import pytest

import releaseflow as rf
from releaseflow import reports
from releaseflow.exceptions import IntegrityError, InvalidTransitionError, PolicyError
from releaseflow.models import content_hash_of
from releaseflow.reports.submit import submit_report, verify_submitted


def _submit(flow: rf.ReleaseFlow) -> tuple[reports.Report, rf.Request]:
    report = reports.build(flow, "2026-Q3", unit="danang/soyte")
    request = submit_report(
        flow, report, actor="comms.nguyen", title="Báo cáo quý III/2026"
    )
    flow.fire(request.id, "start_drafting", actor="comms.nguyen")
    flow.fire(request.id, "submit", actor="comms.nguyen")
    flow.fire(request.id, "approve_report", actor="head.pham")
    done = flow.fire(request.id, "release", actor="head.pham", form="report_submitted")
    return report, done


def test_frozen_report_verifies_against_its_audit_entry(seeded: rf.ReleaseFlow) -> None:
    """The stored body's hash equals the submission entry's content hash."""
    report, done = _submit(seeded)
    assert done.state == "submitted"
    entry = next(e for e in seeded.audit.history(done.id) if "form" in e.payload)
    assert content_hash_of(done.title, done.body) == entry.content_hash
    assert verify_submitted(seeded, done.id) == report
    assert seeded.audit.verify().ok


def test_a_submitted_report_cannot_be_edited(seeded: rf.ReleaseFlow) -> None:
    """Editing after submission is refused; so is re-attaching a new body."""
    report, done = _submit(seeded)
    with pytest.raises(
        (InvalidTransitionError, PolicyError, rf.exceptions.WorkflowError)
    ):
        seeded.edit(done.id, actor="comms.nguyen", body="{}")
    with pytest.raises(rf.ReleaseflowError):
        submit_report(
            seeded, report, actor="comms.nguyen", title="x", request_id=done.id
        )
    assert verify_submitted(seeded, done.id) == report


def test_tampered_body_is_detected(seeded: rf.ReleaseFlow) -> None:
    """A body rewritten behind the engine's back no longer matches the audit log."""
    _report, done = _submit(seeded)
    forged = done.model_copy(
        update={"body": done.body.replace('"value":1', '"value":2', 1)}
    )
    with seeded.store.unit_of_work() as uow:
        uow.requests.update(
            forged.model_copy(update={"version": done.version + 1}),
            expected_version=done.version,
        )
        uow.commit()
    with pytest.raises(IntegrityError):
        verify_submitted(seeded, done.id)
