"""Separation of duties and approval binding (T29, T30 replay of old approvals)."""

# ruff: noqa: RUF001, RUF002 - look-alike characters are the point

from __future__ import annotations

import pytest

import releaseflow as rf
from releaseflow.exceptions import (
    InvalidTransitionError,
    NotPermittedError,
    ReleaseBlockedError,
    SeparationOfDutiesError,
    StaleApprovalError,
    ValidationError,
)
from tests.conftest import new_inquiry, to_approved
from tests.core.conftest import audit_count, unchanged

FORM = {"form": "written_answer"}

TWO_REVIEWERS = rf.WorkflowDefinition.from_dict(
    {
        "name": "two_reviewers",
        "version": 1,
        "initial": "drafting",
        "release_requires": ["review", "spokesperson"],
        "create_roles": ["comms_officer"],
        "editor_roles": ["comms_officer", "contributor"],
        "editable_states": ["drafting", "approved"],
        "states": [
            {"name": "drafting"},
            {"name": "in_review"},
            {"name": "awaiting_spokesperson"},
            {"name": "approved"},
            {"name": "released", "final": True},
        ],
        "transitions": [
            {
                "trigger": "submit",
                "source": "drafting",
                "dest": "in_review",
                "roles": ["comms_officer"],
            },
            {
                "trigger": "approve_review",
                "source": "in_review",
                "dest": "awaiting_spokesperson",
                "action": "approve",
                "stage": "review",
                "quorum": 2,
                "roles": ["reviewer", "spokesperson", "head"],
            },
            {
                "trigger": "approve_release",
                "source": "awaiting_spokesperson",
                "dest": "approved",
                "action": "approve",
                "stage": "spokesperson",
                "roles": ["spokesperson", "head"],
            },
            {
                "trigger": "release",
                "source": "approved",
                "dest": "released",
                "action": "release",
                "requires": ["form"],
                "roles": ["spokesperson", "head"],
            },
        ],
    }
)


@pytest.fixture(name="custom")
def _custom(store: rf.Store, clock: object) -> rf.ReleaseFlow:
    """A flow with the two-reviewer definition and the standard staff."""
    from tests.conftest import STAFF

    flow = rf.ReleaseFlow(store, clock=clock, definitions=[TWO_REVIEWERS])  # type: ignore[arg-type]
    flow.directory.bootstrap("admin", unit="agency")
    for actor, role in STAFF.items():
        if role != "administrator":
            flow.directory.grant(actor, role, unit="agency", by="admin")
    return flow


def _custom_request(flow: rf.ReleaseFlow) -> rf.Request:
    return new_inquiry(flow, definition="two_reviewers")


def test_author_cannot_approve_own_content(staffed: rf.ReleaseFlow) -> None:
    """The creator, even holding the reviewer role, cannot approve: SoD error, no change."""
    flow = staffed
    flow.directory.grant("comms.nguyen", "reviewer", unit="agency", by="admin")
    request = flow.fire(new_inquiry(flow).id, "triage", actor="spoke.tran")
    request = flow.fire(request.id, "submit", actor="comms.nguyen")
    with unchanged(flow, request.id), pytest.raises(SeparationOfDutiesError):
        flow.fire(request.id, "approve_review", actor="comms.nguyen")
    with unchanged(flow, request.id), pytest.raises(SeparationOfDutiesError):
        flow.fire(request.id, "approve_review", actor="COMMS.NGUYEN")


def test_editor_becomes_author_and_cannot_approve(staffed: rf.ReleaseFlow) -> None:
    """Whoever edits the content joins the contributors and may not approve it."""
    flow = staffed
    flow.directory.grant("review.le", "contributor", unit="agency", by="admin")
    request = flow.fire(new_inquiry(flow).id, "triage", actor="spoke.tran")
    request = flow.edit(request.id, actor="review.le", body="Sửa bởi người duyệt.")
    assert "review.le" in request.contributors
    request = flow.fire(request.id, "submit", actor="comms.nguyen")
    with unchanged(flow, request.id), pytest.raises(SeparationOfDutiesError):
        flow.fire(request.id, "approve_review", actor="review.le")
    assert flow.fire(request.id, "approve_review", actor="review.dang").state == (
        "awaiting_spokesperson"
    )


def test_reviewer_cannot_also_be_the_approving_spokesperson(
    staffed: rf.ReleaseFlow,
) -> None:
    """One person holding reviewer+spokesperson approves only one stage of a content."""
    flow = staffed
    flow.directory.grant("review.le", "spokesperson", unit="agency", by="admin")
    request = flow.fire(new_inquiry(flow).id, "triage", actor="spoke.tran")
    request = flow.fire(request.id, "submit", actor="comms.nguyen")
    request = flow.fire(request.id, "approve_review", actor="review.le")
    for spelling in ("review.le", "Review.Le", "REVIEW.LE"):
        with unchanged(flow, request.id), pytest.raises(SeparationOfDutiesError):
            flow.fire(request.id, "approve_release", actor=spelling)
    assert flow.fire(request.id, "approve_release", actor="spoke.tran").state == (
        "approved"
    )


def test_k_of_n_counts_distinct_people(custom: rf.ReleaseFlow) -> None:
    """Quorum 2 counts distinct people, never the same one twice.

    One approval keeps the state; the same person again is refused; a second
    distinct reviewer moves it on.
    """
    flow = custom
    request = flow.fire(_custom_request(flow).id, "submit", actor="comms.nguyen")
    request = flow.fire(request.id, "approve_review", actor="review.le")
    assert request.state == "in_review"
    assert len(request.valid_approvals("review")) == 1
    for spelling in ("review.le", "REVIEW.LE"):
        with unchanged(flow, request.id), pytest.raises(SeparationOfDutiesError):
            flow.fire(request.id, "approve_review", actor=spelling)
    request = flow.fire(request.id, "approve_review", actor="review.dang")
    assert request.state == "awaiting_spokesperson"
    assert {a.actor for a in request.valid_approvals("review")} == {
        "review.le",
        "review.dang",
    }


def test_quorum_reviewer_cannot_approve_spokesperson_stage(
    custom: rf.ReleaseFlow,
) -> None:
    """A spokesperson who counted towards the review quorum cannot give the final approval."""
    flow = custom
    request = flow.fire(_custom_request(flow).id, "submit", actor="comms.nguyen")
    flow.fire(request.id, "approve_review", actor="review.le")
    request = flow.fire(request.id, "approve_review", actor="spoke.tran")
    assert request.state == "awaiting_spokesperson"
    with unchanged(flow, request.id), pytest.raises(SeparationOfDutiesError):
        flow.fire(request.id, "approve_release", actor="spoke.tran")
    assert (
        flow.fire(request.id, "approve_release", actor="head.pham").state == "approved"
    )


@pytest.mark.parametrize("spelling", ["ALICE", "Alice", "aLiCe", "ａｌｉｃｅ"])
def test_case_variants_are_the_same_person(
    staffed: rf.ReleaseFlow, spelling: str
) -> None:
    """``alice`` reviews; a case/width variant cannot also approve; it may release as alice."""
    flow = staffed
    flow.directory.grant("alice", "reviewer", unit="agency", by="admin")
    flow.directory.grant("Alice", "spokesperson", unit="agency", by="admin")
    assert flow.directory.roles_of("ALICE", "agency") == {
        rf.Role.REVIEWER,
        rf.Role.SPOKESPERSON,
    }
    request = flow.fire(new_inquiry(flow).id, "triage", actor="spoke.tran")
    request = flow.fire(request.id, "submit", actor="comms.nguyen")
    request = flow.fire(request.id, "approve_review", actor="alice")
    with unchanged(flow, request.id), pytest.raises(SeparationOfDutiesError):
        flow.fire(request.id, "approve_release", actor=spelling)
    request = flow.fire(request.id, "approve_release", actor="spoke.tran")
    released = flow.fire(request.id, "release", actor=spelling, **FORM)
    assert released.release is not None
    assert released.release.by == "alice"
    assert flow.audit.history(request.id)[-1].actor == "alice"


def test_cyrillic_lookalike_is_refused_not_a_new_person(
    staffed: rf.ReleaseFlow,
) -> None:
    """``аlice`` with a Cyrillic а is refused at the edge, before anything is read."""
    flow = staffed
    request = to_approved(flow, new_inquiry(flow))
    for spoof in ("\u0430lice", "alic\u0435", "ali\u200bce", "alice ", "\u202ealice"):
        with unchanged(flow, request.id), pytest.raises(ValidationError):
            flow.fire(request.id, "release", actor=spoof, **FORM)


def test_edit_after_approval_makes_release_stale(custom: rf.ReleaseFlow) -> None:
    """Content edited after every approval: release raises StaleApprovalError."""
    flow = custom
    request = flow.fire(_custom_request(flow).id, "submit", actor="comms.nguyen")
    flow.fire(request.id, "approve_review", actor="review.le")
    flow.fire(request.id, "approve_review", actor="review.dang")
    request = flow.fire(request.id, "approve_release", actor="head.pham")
    approved_hash = request.content_hash
    request = flow.edit(request.id, actor="comms.vo", body="Nội dung khác.")
    assert request.content_hash != approved_hash
    assert request.valid_approvals() == ()
    with unchanged(flow, request.id), pytest.raises(StaleApprovalError):
        flow.fire(request.id, "release", actor="spoke.tran", **FORM)


def test_shipped_workflow_refuses_edit_once_approved(staffed: rf.ReleaseFlow) -> None:
    """In press_inquiry the content is frozen after submission: edit is refused."""
    flow = staffed
    request = to_approved(flow, new_inquiry(flow))
    with unchanged(flow, request.id), pytest.raises(InvalidTransitionError):
        flow.edit(request.id, actor="comms.nguyen", body="Lén sửa.")


def test_revoked_approval_blocks_release(staffed: rf.ReleaseFlow) -> None:
    """After revoke_approval the request stays 'approved' but release is blocked."""
    flow = staffed
    request = to_approved(flow, new_inquiry(flow))
    before = audit_count(flow)
    request = flow.revoke_approval(
        request.id, actor="head.pham", stage="review", reason="Sai số liệu."
    )
    assert audit_count(flow) == before + 1
    assert request.state == "approved"
    assert request.valid_approvals("review") == ()
    with unchanged(flow, request.id), pytest.raises(ReleaseBlockedError) as caught:
        flow.fire(request.id, "release", actor="spoke.tran", **FORM)
    assert any("review" in r for r in caught.value.reasons)


def test_only_approver_head_or_spokesperson_may_revoke(staffed: rf.ReleaseFlow) -> None:
    """A reviewer who did not approve may not revoke someone else's approval."""
    flow = staffed
    request = to_approved(flow, new_inquiry(flow))
    with unchanged(flow, request.id), pytest.raises(NotPermittedError):
        flow.revoke_approval(
            request.id, actor="review.dang", stage="review", reason="Không đồng ý."
        )
    revoked = flow.revoke_approval(
        request.id, actor="review.le", stage="review", reason="Tự rút."
    )
    assert revoked.approvals[0].revoked_by == "review.le"


def test_revoke_needs_a_valid_approval_and_a_reason(staffed: rf.ReleaseFlow) -> None:
    """Revoking a stage with nothing to revoke, or without a reason, changes nothing."""
    flow = staffed
    request = to_approved(flow, new_inquiry(flow))
    for stage, reason in (("nonexistent", "x"), ("review", "   "), ("review", "\x00")):
        with unchanged(flow, request.id), pytest.raises(ValidationError):
            flow.revoke_approval(
                request.id, actor="head.pham", stage=stage, reason=reason
            )


def test_return_for_revision_voids_old_approvals(staffed: rf.ReleaseFlow) -> None:
    """Return for revision then resubmit with no edit: old approvals do not count.

    The old reviewer may approve the same content again.
    """
    flow = staffed
    request = to_approved(flow, new_inquiry(flow))
    request = flow.fire(
        request.id, "return_for_revision", actor="spoke.tran", reason="Thêm số liệu."
    )
    assert request.state == "drafting"
    assert request.valid_approvals() == ()
    assert all(a.revoked for a in request.approvals)
    request = flow.fire(request.id, "submit", actor="comms.nguyen")
    request = flow.fire(request.id, "approve_review", actor="review.le")
    assert request.state == "awaiting_spokesperson"
    assert len(request.valid_approvals()) == 1
    request = flow.fire(request.id, "approve_release", actor="spoke.tran")
    assert flow.fire(request.id, "release", actor="spoke.tran", **FORM).state == (
        "released"
    )


def test_release_records_the_approved_content_hash(staffed: rf.ReleaseFlow) -> None:
    """The release carries exactly the hash every valid approval was bound to."""
    flow = staffed
    request = to_approved(flow, new_inquiry(flow))
    released = flow.fire(request.id, "release", actor="spoke.tran", **FORM)
    assert released.release is not None
    assert released.release.content_hash == released.content_hash
    assert {a.content_hash for a in released.valid_approvals()} == {
        released.content_hash
    }
    assert {a.stage for a in released.valid_approvals()} == {"review", "spokesperson"}
    assert len({a.actor for a in released.valid_approvals()}) == 2
