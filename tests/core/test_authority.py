"""Decree 09 Art. 3 authorisations, role grants and the classification gate (T31, T32)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest

import releaseflow as rf
from releaseflow.exceptions import (
    NotFoundError,
    NotPermittedError,
    ReleaseBlockedError,
    ValidationError,
)
from tests.conftest import Clock, new_inquiry, to_approved
from tests.core.conftest import audit_count, unchanged

FORM = {"form": "written_answer"}
SPEAKER = "speaker.mai"


def _awaiting(flow: rf.ReleaseFlow) -> rf.Request:
    request = flow.fire(new_inquiry(flow).id, "triage", actor="spoke.tran")
    request = flow.fire(request.id, "submit", actor="comms.nguyen")
    return flow.fire(request.id, "approve_review", actor="review.le")


def _authorise(
    flow: rf.ReleaseFlow, request: rf.Request, **kw: Any
) -> rf.Authorisation:
    fields: dict[str, Any] = {
        "reference": "QĐ 15/QĐ-UBND ngày 01/03/2026",
        "published_at": "https://danang.gov.vn/nguoi-phat-ngon",
        "valid_until": flow.now() + timedelta(days=2),
        "by": "head.pham",
    }
    fields.update(kw)
    return flow.directory.authorise(SPEAKER, request.id, **fields)


# -- authorisations ---------------------------------------------------------------


def test_authorised_speaker_without_authorisation_cannot_approve_or_release(
    staffed: rf.ReleaseFlow,
) -> None:
    """The role alone gives no speaking power: both speaker steps are NotPermitted."""
    flow = staffed
    request = _awaiting(flow)
    with unchanged(flow, request.id), pytest.raises(NotPermittedError):
        flow.fire(request.id, "approve_release", actor=SPEAKER)
    approved = to_approved(flow, new_inquiry(flow))
    with unchanged(flow, approved.id), pytest.raises(NotPermittedError):
        flow.fire(approved.id, "release", actor=SPEAKER, **FORM)


def test_active_authorisation_for_this_request_allows_both(
    staffed: rf.ReleaseFlow,
) -> None:
    """With an active authorisation the speaker approves and releases.

    The release records which authorisation it relied on.
    """
    flow = staffed
    request = _awaiting(flow)
    auth = _authorise(flow, request)
    request = flow.fire(request.id, "approve_release", actor=SPEAKER)
    assert request.approvals[-1].roles == (rf.Role.AUTHORISED_SPEAKER,)
    released = flow.fire(request.id, "release", actor=SPEAKER, **FORM)
    assert released.release is not None
    assert released.release.authorisation_id == auth.id
    assert "authorised_speaker" in flow.audit.history(request.id)[-1].roles


def test_authorisation_for_another_request_does_not_count(
    staffed: rf.ReleaseFlow,
) -> None:
    """Per case: an authorisation on request A gives nothing on request B."""
    flow = staffed
    a, b = _awaiting(flow), _awaiting(flow)
    _authorise(flow, a)
    with unchanged(flow, b.id), pytest.raises(NotPermittedError):
        flow.fire(b.id, "approve_release", actor=SPEAKER)


def test_expired_authorisation_does_not_count(
    staffed: rf.ReleaseFlow, clock: Clock
) -> None:
    """Time-limited: once valid_until passes the speaker is refused again."""
    flow = staffed
    request = _awaiting(flow)
    _authorise(flow, request, valid_until=flow.now() + timedelta(hours=1))
    clock.advance(hours=1)
    with unchanged(flow, request.id), pytest.raises(NotPermittedError):
        flow.fire(request.id, "approve_release", actor=SPEAKER)


def test_future_authorisation_does_not_count_yet(
    staffed: rf.ReleaseFlow, clock: Clock
) -> None:
    """An authorisation whose valid_from is later is not active now."""
    flow = staffed
    request = _awaiting(flow)
    _authorise(
        flow,
        request,
        valid_from=flow.now() + timedelta(hours=2),
        valid_until=flow.now() + timedelta(hours=5),
    )
    with unchanged(flow, request.id), pytest.raises(NotPermittedError):
        flow.fire(request.id, "approve_release", actor=SPEAKER)
    clock.advance(hours=3)
    assert flow.fire(request.id, "approve_release", actor=SPEAKER).state == "approved"


def test_revoked_authorisation_does_not_count(staffed: rf.ReleaseFlow) -> None:
    """After revoke_authorisation the speaker is refused; the revocation is audited."""
    flow = staffed
    request = _awaiting(flow)
    auth = _authorise(flow, request)
    before = audit_count(flow)
    ended = flow.directory.revoke_authorisation(auth.id, by="head.pham")
    assert ended.revoked_at is not None
    assert audit_count(flow) == before + 1
    with unchanged(flow, request.id), pytest.raises(NotPermittedError):
        flow.fire(request.id, "approve_release", actor=SPEAKER)


@pytest.mark.parametrize(
    "actor", ["spoke.tran", "admin", "deputy.ngo", "review.le", SPEAKER, "nobody"]
)
def test_only_the_head_may_authorise(staffed: rf.ReleaseFlow, actor: str) -> None:
    """Spokesperson, administrator, deputy and others cannot authorise: no entry."""
    flow = staffed
    request = _awaiting(flow)
    with unchanged(flow, request.id), pytest.raises(NotPermittedError):
        _authorise(flow, request, by=actor)
    assert flow.directory.authorisations(request_id=request.id) == []


def test_only_the_head_may_revoke_an_authorisation(staffed: rf.ReleaseFlow) -> None:
    """The spokesperson cannot end an authorisation; an unknown id is NotFound."""
    flow = staffed
    request = _awaiting(flow)
    auth = _authorise(flow, request)
    with unchanged(flow), pytest.raises(NotPermittedError):
        flow.directory.revoke_authorisation(auth.id, by="spoke.tran")
    with unchanged(flow), pytest.raises(NotFoundError):
        flow.directory.revoke_authorisation(UUID(int=1), by="head.pham")


@pytest.mark.parametrize(
    "bad",
    [
        {"reference": ""},
        {"reference": "   "},
        {"reference": "QĐ\x00"},
        {"published_at": ""},
        {"published_at": "  "},
        {"published_at": "\u202eevil"},
        {"valid_until": "naive"},
        {"valid_until": "past"},
    ],
)
def test_authorisation_needs_reference_publication_and_window(
    staffed: rf.ReleaseFlow, bad: dict[str, Any]
) -> None:
    """Missing reference/published_at, naive or past window: ValidationError, no entry."""
    flow = staffed
    request = _awaiting(flow)
    if bad.get("valid_until") == "naive":
        bad = {"valid_until": flow.now().replace(tzinfo=None) + timedelta(days=1)}
    elif bad.get("valid_until") == "past":
        bad = {"valid_until": flow.now() - timedelta(seconds=1)}
    with unchanged(flow, request.id), pytest.raises(ValidationError):
        _authorise(flow, request, **bad)
    assert flow.directory.authorisations(request_id=request.id) == []


# -- role grants ------------------------------------------------------------------


def test_revoked_role_is_refused_at_once(staffed: rf.ReleaseFlow) -> None:
    """Authority is read in the transaction: revoking the spokesperson blocks them."""
    flow = staffed
    request = _awaiting(flow)
    assert flow.directory.revoke(
        "spoke.tran", "spokesperson", unit="agency", by="admin"
    )
    with unchanged(flow, request.id), pytest.raises(NotPermittedError):
        flow.fire(request.id, "approve_release", actor="spoke.tran")
    assert not flow.directory.revoke(
        "spoke.tran", "spokesperson", unit="agency", by="admin"
    )


def test_grant_and_revoke_need_authority(staffed: rf.ReleaseFlow) -> None:
    """A reviewer cannot grant; a head cannot grant administrator; neither writes audit."""
    flow = staffed
    with unchanged(flow), pytest.raises(NotPermittedError):
        flow.directory.grant("x.y", "spokesperson", unit="agency", by="review.le")
    with unchanged(flow), pytest.raises(NotPermittedError):
        flow.directory.grant("x.y", "administrator", unit="agency", by="head.pham")
    with unchanged(flow), pytest.raises(NotPermittedError):
        flow.directory.revoke(
            "spoke.tran", "spokesperson", unit="agency", by="review.le"
        )
    with unchanged(flow), pytest.raises(NotPermittedError):
        flow.directory.bootstrap("mallory", unit="agency")


def test_grant_in_a_sub_unit_does_not_cover_the_parent(staffed: rf.ReleaseFlow) -> None:
    """A spokesperson of agency/other has no power over agency/ttyt requests."""
    flow = staffed
    flow.directory.grant("spoke.other", "spokesperson", unit="agency/other", by="admin")
    request = _awaiting(flow)
    with unchanged(flow, request.id), pytest.raises(NotPermittedError):
        flow.fire(request.id, "approve_release", actor="spoke.other")


def test_bad_role_or_unit_is_a_validation_error(staffed: rf.ReleaseFlow) -> None:
    """Unknown roles and malformed units are refused before anything is written."""
    flow = staffed
    for role, unit in (("superuser", "agency"), ("head", "Agency Name"), ("head", "")):
        with unchanged(flow), pytest.raises(ValidationError):
            flow.directory.grant("x.y", role, unit=unit, by="admin")


# -- classification gate --------------------------------------------------------


@pytest.mark.parametrize(
    ("classification", "grounds"),
    [
        ("restricted", ["state_or_party_secret_or_privacy"]),
        ("consent_required", []),
    ],
)
def test_non_public_request_cannot_be_released(
    staffed: rf.ReleaseFlow, classification: str, grounds: list[str]
) -> None:
    """A restricted or consent-required request is ReleaseBlocked even when approved."""
    flow = staffed
    request = to_approved(flow, new_inquiry(flow))
    classified = flow.classify(
        request.id,
        classification,
        actor="spoke.tran",
        reason="Có thông tin cá nhân.",
        grounds=grounds,
    )
    assert classified.version == request.version + 1
    last = flow.audit.history(request.id)[-1]
    assert last.event is rf.AuditEvent.CLASSIFIED
    assert last.payload["classification"] == classification
    with unchanged(flow, request.id), pytest.raises(ReleaseBlockedError):
        flow.fire(request.id, "release", actor="head.pham", **FORM)


def test_lifting_a_restriction_needs_the_head(staffed: rf.ReleaseFlow) -> None:
    """Spokesperson may restrict but not lift; the head lifts and release proceeds."""
    flow = staffed
    request = to_approved(flow, new_inquiry(flow))
    flow.classify(
        request.id,
        "restricted",
        actor="spoke.tran",
        reason="Vụ án đang điều tra.",
        grounds=["criminal_case_pending"],
    )
    for lower in ("public", "consent_required"):
        with unchanged(flow, request.id), pytest.raises(NotPermittedError):
            flow.classify(request.id, lower, actor="spoke.tran", reason="Đã xong.")
    lifted = flow.classify(
        request.id, "public", actor="head.pham", reason="Lợi ích công cộng (Đ7.3)."
    )
    assert lifted.classification is rf.Classification.PUBLIC
    assert lifted.restriction_grounds == ()
    assert flow.fire(request.id, "release", actor="head.pham", **FORM).state == (
        "released"
    )


@pytest.mark.parametrize(
    ("classification", "grounds", "actor", "error"),
    [
        ("restricted", [], "spoke.tran", ValidationError),  # needs a ground
        ("public", ["criminal_case_pending"], "spoke.tran", ValidationError),
        ("secret", [], "spoke.tran", ValidationError),  # unknown value
        ("restricted", ["no_such_ground"], "spoke.tran", ValidationError),
        ("restricted", ["criminal_case_pending"], "review.le", NotPermittedError),
        ("restricted", ["criminal_case_pending"], "comms.nguyen", NotPermittedError),
    ],
)
def test_bad_classification_changes_nothing(
    staffed: rf.ReleaseFlow,
    classification: str,
    grounds: list[str],
    actor: str,
    error: type[Exception],
) -> None:
    """Fuzzed values, missing grounds and unauthorised classifiers are typed errors."""
    flow = staffed
    request = to_approved(flow, new_inquiry(flow))
    with unchanged(flow, request.id), pytest.raises(error):
        flow.classify(
            request.id, classification, actor=actor, reason="x", grounds=grounds
        )


def test_classify_with_stale_expected_version_conflicts(
    staffed: rf.ReleaseFlow,
) -> None:
    """Classify honours expected_version (it races release on the version)."""
    flow = staffed
    request = to_approved(flow, new_inquiry(flow))
    with unchanged(flow, request.id), pytest.raises(rf.exceptions.ConflictError):
        flow.classify(
            request.id,
            "consent_required",
            actor="spoke.tran",
            reason="x",
            expected_version=request.version - 1,
        )
