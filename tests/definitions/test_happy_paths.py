"""Walk every shipped definition end to end through the engine with distinct people.

This proves the roles in the YAML are workable under the engine's rules: deny by
default, the author never approves, one approval per person per content version,
and only the head, the spokesperson or an authorised speaker releases.
"""

from __future__ import annotations

from typing import Any

import pytest

import releaseflow as rf
from releaseflow.defaults import default_definitions
from releaseflow.exceptions import (
    InvalidTransitionError,
    MissingPayloadError,
    NotPermittedError,
    ReleaseBlockedError,
    SeparationOfDutiesError,
    ValidationError,
)

Step = tuple[str, str, dict[str, Any]]  # trigger, actor, payload

CITIZEN = {"type": "citizen", "name": "Nguyễn Văn A", "contact": "a@example.vn"}
JOURNALIST = {
    "type": "journalist",
    "name": "Hoàng Thị E",
    "organisation": "Báo Đà Nẵng",
}
SUPERIOR = {"type": "superior_agency", "name": "Sở Y tế thành phố"}

#: kind -> (creator, channel, requester, steps to the final report).
HAPPY: dict[str, tuple[str, str, dict[str, str] | None, list[Step]]] = {
    "press_inquiry": (
        "comms.nguyen",
        "electronic",
        JOURNALIST,
        [
            ("triage", "spoke.tran", {}),
            ("submit", "comms.nguyen", {}),
            ("approve_review", "review.le", {}),
            ("approve_release", "head.pham", {}),
            ("release", "spoke.tran", {"form": "written_answer"}),
            ("report", "comms.nguyen", {}),
        ],
    ),
    "incident_statement": (
        "comms.nguyen",
        "monitoring",
        None,
        [
            ("triage", "spoke.tran", {}),
            ("request_information", "coord.bui", {}),
            ("information_received", "contrib.do", {}),
            ("submit", "comms.nguyen", {}),
            ("approve_review", "review.le", {}),
            ("approve_release", "head.pham", {}),
            ("release", "spoke.tran", {"form": "direct_statement"}),
            ("report", "comms.nguyen", {}),
        ],
    ),
    "periodic_release": (
        "comms.nguyen",
        "internal",
        None,
        [
            ("request_information", "coord.bui", {}),
            ("information_received", "contrib.do", {}),
            ("submit", "comms.nguyen", {}),
            ("approve_review", "review.le", {}),
            ("approve_release", "spoke.tran", {}),
            ("release", "spoke.tran", {"form": "press_conference"}),
            ("report", "comms.nguyen", {}),
        ],
    ),
    "correction_request": (
        "comms.nguyen",
        "monitoring",
        None,
        [
            ("verify", "coord.bui", {"findings": "Số liệu tiêm chủng bị ghi sai."}),
            ("draft_letter", "coord.bui", {}),
            ("submit", "comms.nguyen", {}),
            ("approve_review", "review.le", {}),
            ("approve_release", "head.pham", {}),
            ("release", "spoke.tran", {"form": "correction_letter"}),
            (
                "confirm_published",
                "comms.nguyen",
                {"publication": "Báo Đà Nẵng, 05/03/2026"},
            ),
            ("report", "comms.nguyen", {}),
        ],
    ),
    "fake_news_response": (
        "comms.nguyen",
        "monitoring",
        None,
        [
            ("assess", "coord.bui", {}),
            (
                "respond",
                "spoke.tran",
                {"assessment": "Tin sai về vắc-xin, lan truyền rộng."},
            ),
            ("submit", "comms.nguyen", {}),
            ("approve_review", "review.le", {}),
            ("approve_release", "head.pham", {}),
            ("release", "spoke.tran", {"form": "portal_posting"}),
            ("report", "comms.nguyen", {}),
        ],
    ),
    "citizen_info_request": (
        "focal.ho",
        "post",
        CITIZEN,
        [
            ("register", "focal.ho", {}),
            ("assess", "focal.ho", {"complexity": "complex"}),
            ("notify_deadline", "focal.ho", {"deadline": "15 ngày làm việc"}),
            ("prepare", "focal.ho", {}),
            ("submit", "focal.ho", {}),
            ("approve_review", "review.le", {}),
            ("approve_provision", "head.pham", {}),
            ("release", "head.pham", {"form": "information_provided"}),
            ("report", "focal.ho", {}),
        ],
    ),
    "disclosure_item": (
        "comms.nguyen",
        "internal",
        None,
        [
            ("prepare", "comms.nguyen", {}),
            ("submit", "comms.nguyen", {}),
            ("approve_review", "review.le", {}),
            ("approve_release", "spoke.tran", {}),
            ("release", "spoke.tran", {"form": "portal_posting"}),
            ("report", "comms.nguyen", {}),
        ],
    ),
    "disclosure_correction_proposal": (
        "focal.ho",
        "electronic",
        CITIZEN,
        [
            ("start_check", "focal.ho", {}),
            (
                "draft_reply",
                "focal.ho",
                {"finding": "Thông tin đã công khai bị sai ngày."},
            ),
            ("submit", "focal.ho", {}),
            ("approve_review", "review.le", {}),
            ("approve_reply", "head.pham", {}),
            ("release", "head.pham", {"form": "written_answer"}),
            ("report", "focal.ho", {}),
        ],
    ),
    "policy_draft_comms": (
        "draft.truong",
        "internal",
        None,
        [
            ("comment", "comms.nguyen", {"comments": "Cần đánh giá tác động xã hội."}),
            ("advance", "draft.truong", {}),
            ("comment", "comms.nguyen", {"comments": "Bổ sung hỏi đáp cho người dân."}),
            ("advance", "draft.truong", {}),
            ("comment", "comms.vo", {"comments": "Thống nhất với dự thảo cuối."}),
            ("advance", "draft.truong", {}),
            ("submit", "comms.nguyen", {}),
            ("approve_review", "review.le", {}),
            ("approve_release", "spoke.tran", {}),
            ("release", "spoke.tran", {"form": "press_conference"}),
            ("report", "comms.nguyen", {}),
        ],
    ),
    "report_request": (
        "coord.bui",
        "internal",
        SUPERIOR,
        [
            ("request_information", "coord.bui", {}),
            ("information_received", "contrib.do", {}),
            ("submit", "coord.bui", {}),
            ("approve_report", "head.pham", {}),
            ("release", "head.pham", {"form": "report_submitted"}),
            ("report", "coord.bui", {}),
        ],
    ),
}


@pytest.fixture(name="agency")
def _agency(staffed: rf.ReleaseFlow) -> rf.ReleaseFlow:
    """The staffed flow plus a drafting unit (Decision 407)."""
    staffed.directory.grant("draft.truong", "drafting_unit", unit="agency", by="admin")
    return staffed


def create(flow: rf.ReleaseFlow, kind: str, **overrides: Any) -> rf.Request:
    """A request of ``kind`` created as in :data:`HAPPY`."""
    creator, channel, requester, _ = HAPPY[kind]
    fields: dict[str, Any] = {
        "title": "Yêu cầu thử nghiệm",
        "body": "Nội dung dự thảo.",
        "actor": creator,
        "unit": "agency/ttyt",
        "channel": channel,
        "requester": requester,
    }
    fields.update(overrides)
    return flow.create(rf.RequestKind(kind), **fields)


def walk(flow: rf.ReleaseFlow, request: rf.Request, steps: list[Step]) -> rf.Request:
    """Fire ``steps`` in order, checking each lands where the definition says."""
    definition = flow.definitions.get(request.definition, request.definition_version)
    for trigger, actor, payload in steps:
        spec = definition.definition.transition(request.state, trigger)
        assert spec is not None, (request.state, trigger)
        request = flow.fire(request.id, trigger, actor=actor, **payload)
        assert request.state == spec.dest, trigger
    return request


def test_every_shipped_kind_has_a_happy_path() -> None:
    """The table below covers every shipped definition."""
    assert set(HAPPY) == {d.name for d in default_definitions()}


@pytest.mark.parametrize("kind", sorted(HAPPY))
def test_happy_path_end_to_end(agency: rf.ReleaseFlow, kind: str) -> None:
    """Create -> ... -> release -> report -> closed, by distinct people."""
    flow = agency
    creator, _, _, steps = HAPPY[kind]
    request = create(flow, kind)
    assert (request.definition, request.definition_version) == (kind, 1)
    definition = flow.definitions.get(kind, 1).definition
    assert request.state == definition.initial

    done = walk(flow, request, steps)

    assert done.state == "closed"
    assert definition.state(done.state).final
    assert done.release is not None
    release_step = next(s for s in steps if s[0] == "release")
    assert done.release.form.value == release_step[2]["form"]
    assert done.release.content_hash == done.content_hash
    approvers = [a.actor for a in done.approvals if not a.revoked]
    assert set(definition.release_requires) <= {a.stage for a in done.approvals}
    assert len(set(approvers)) == len(approvers)
    assert creator not in approvers
    history = flow.audit.history(done.id)
    assert [e.trigger for e in history] == ["create", *(s[0] for s in steps)]
    assert flow.audit.verify().ok


@pytest.mark.parametrize("kind", sorted(HAPPY))
def test_release_gate_holds_in_every_definition(
    agency: rf.ReleaseFlow, kind: str
) -> None:
    """The creator cannot approve, and a non-speaker cannot release."""
    flow = agency
    creator, _, _, steps = HAPPY[kind]
    request = create(flow, kind)
    first_approval = next(i for i, s in enumerate(steps) if s[0].startswith("approve"))
    request = walk(flow, request, steps[:first_approval])
    trigger = steps[first_approval][0]
    with pytest.raises((SeparationOfDutiesError, NotPermittedError)):
        flow.fire(request.id, trigger, actor=creator)
    release = next(i for i, s in enumerate(steps) if s[0] == "release")
    request = walk(flow, request, steps[first_approval:release])
    with pytest.raises(NotPermittedError):
        flow.fire(request.id, "release", actor="review.le", form="written_answer")
    with pytest.raises(MissingPayloadError):
        flow.fire(request.id, "release", actor="head.pham")


@pytest.mark.parametrize("kind", sorted(HAPPY))
def test_return_refuse_withdraw_and_correct(agency: rf.ReleaseFlow, kind: str) -> None:
    """The other required steps work with the roles the YAML names."""
    flow = agency
    _, _, _, steps = HAPPY[kind]
    definition = flow.definitions.get(kind, 1).definition
    release = next(i for i, s in enumerate(steps) if s[0] == "release")

    # return for revision from the approved state revokes every approval
    approved = walk(flow, create(flow, kind), steps[:release])
    returned = flow.fire(
        approved.id, "return_for_revision", actor="head.pham", reason="Sửa số liệu."
    )
    assert all(a.revoked for a in returned.approvals)
    with pytest.raises(MissingPayloadError):
        flow.fire(returned.id, "withdraw", actor="head.pham")
    withdrawn = flow.fire(returned.id, "withdraw", actor="head.pham", reason="Hủy.")
    assert flow.fire(withdrawn.id, "report", actor="head.pham").state == "closed"

    # refusal needs a ground of the definition's family and written reasons
    fresh = create(flow, kind)
    grounds = sorted(rf.vocabulary.REFUSAL_GROUNDS_BY_FAMILY[definition.refusal_family])
    refuse_from = next(
        s for s in definition.states if definition.transition(s.name, "refuse")
    )
    fresh = walk(flow, fresh, _steps_to(definition, steps, refuse_from.name))
    with pytest.raises(MissingPayloadError):
        flow.fire(fresh.id, "refuse", actor="head.pham", ground=grounds[0])
    foreign = (
        "e_costs_unpaid"
        if definition.refusal_family.value != "access_to_information"
        else "criminal_case_pending"
    )
    with pytest.raises(ValidationError):
        flow.fire(fresh.id, "refuse", actor="head.pham", ground=foreign, reasons="x")
    refused = flow.fire(
        fresh.id, "refuse", actor="head.pham", ground=grounds[0], reasons="Lý do."
    )
    assert refused.refusal is not None
    assert refused.refusal.ground.value == grounds[0]
    assert flow.fire(refused.id, "report", actor="head.pham").state == "closed"

    # post-release correction goes back to drafting and needs fresh approvals
    released = walk(flow, create(flow, kind), steps[: release + 1])
    fix = "correct" if definition.transition(released.state, "correct") else "retract"
    corrected = flow.fire(released.id, fix, actor="head.pham", reason="Sai sót.")
    if fix == "correct":
        assert definition.state(corrected.state).name in definition.editable_states
        assert all(a.revoked for a in corrected.approvals)
        with pytest.raises(InvalidTransitionError):
            flow.fire(corrected.id, "release", actor="head.pham", form="written_answer")


def _steps_to(definition: Any, steps: list[Step], state: str) -> list[Step]:
    """The prefix of ``steps`` whose last transition lands in ``state``."""
    current = definition.initial
    for i, (trigger, _, _) in enumerate(steps):
        if current == state:
            return steps[:i]
        spec = definition.transition(current, trigger)
        current = spec.dest
    raise AssertionError(f"{state} is not on the happy path")


def test_incident_fast_path_head_approves_directly(agency: rf.ReleaseFlow) -> None:
    """Decree 09 Art. 6: the head may approve a draft without waiting for review."""
    flow = agency
    request = walk(
        flow, create(flow, "incident_statement"), [("triage", "spoke.tran", {})]
    )
    with pytest.raises(NotPermittedError):
        flow.fire(request.id, "approve_urgent", actor="spoke.tran", reason="Khẩn.")
    with pytest.raises(MissingPayloadError):
        flow.fire(request.id, "approve_urgent", actor="head.pham")
    approved = flow.fire(
        request.id, "approve_urgent", actor="head.pham", reason="Khẩn."
    )
    assert approved.state == "approved"
    released = flow.fire(
        approved.id, "release", actor="head.pham", form="direct_statement"
    )
    # a follow-up statement needs a fresh approval on its own content
    follow = flow.fire(released.id, "follow_up", actor="spoke.tran", reason="Cập nhật.")
    assert follow.state == "drafting"
    assert all(a.revoked for a in follow.approvals)
    follow = flow.edit(
        follow.id, actor="comms.nguyen", body="Thông tin cập nhật lần 2."
    )
    follow = walk(
        flow,
        follow,
        [
            ("submit", "comms.nguyen", {}),
            ("approve_review", "review.le", {}),
            ("approve_release", "spoke.tran", {}),
            ("release", "spoke.tran", {"form": "portal_posting"}),
            ("report", "comms.nguyen", {}),
        ],
    )
    assert follow.state == "closed"


def test_policy_stage_moves_on_only_after_comments(agency: rf.ReleaseFlow) -> None:
    """Directive 07: each stage's comms comments come before the next stage."""
    flow = agency
    request = create(flow, "policy_draft_comms")
    with pytest.raises(InvalidTransitionError):
        flow.fire(request.id, "advance", actor="draft.truong")
    with pytest.raises(NotPermittedError):
        flow.fire(request.id, "comment", actor="draft.truong", comments="Tự góp ý.")
    with pytest.raises(MissingPayloadError):
        flow.fire(request.id, "comment", actor="comms.nguyen")
    with pytest.raises(NotPermittedError):
        flow.fire(request.id, "skip", actor="draft.truong", reason="Nhận muộn.")
    skipped = flow.fire(
        request.id, "skip", actor="head.pham", reason="Nhận dự thảo muộn."
    )
    assert skipped.state == "drafting"
    assert flow.audit.history(request.id)[-1].payload["reason"] == "Nhận dự thảo muộn."


def test_citizen_request_waits_and_refuses_on_a_lati_ground(
    agency: rf.ReleaseFlow,
) -> None:
    """Consent (form 06), payment and the Art. 28 refusal with written reasons."""
    flow = agency
    request = walk(
        flow,
        create(flow, "citizen_info_request"),
        [
            ("register", "focal.ho", {}),
            ("assess", "focal.ho", {"complexity": "simple"}),
            ("request_consent", "focal.ho", {}),
        ],
    )
    definition = flow.definitions.get("citizen_info_request", 1).definition
    assert definition.state(request.state).waits_on_requester
    with pytest.raises(NotPermittedError):
        flow.fire(
            request.id, "public_interest_override", actor="focal.ho", justification="x"
        )
    request = flow.fire(
        request.id,
        "public_interest_override",
        actor="head.pham",
        justification="Sức khỏe cộng đồng (LATI Art. 7(3)).",
    )
    request = walk(
        flow,
        request,
        [
            ("submit", "focal.ho", {}),
            ("approve_review", "review.le", {}),
            ("approve_provision", "head.pham", {}),
            ("request_payment", "focal.ho", {"amount": "20.000 đồng"}),
        ],
    )
    assert request.state == "awaiting_payment"
    with pytest.raises(InvalidTransitionError):
        flow.fire(request.id, "release", actor="head.pham", form="information_provided")
    with pytest.raises(NotPermittedError):
        flow.fire(
            request.id, "refuse", actor="focal.ho", ground="e_costs_unpaid", reasons="x"
        )
    refused = flow.fire(
        request.id,
        "refuse",
        actor="head.pham",
        ground="e_costs_unpaid",
        reasons="Người yêu cầu chưa nộp chi phí sao chụp (LATI Art. 28(1)(e)).",
    )
    assert refused.state == "refused"
    assert flow.fire(refused.id, "report", actor="focal.ho").state == "closed"


def test_invalid_citizen_request_is_returned_and_closed(agency: rf.ReleaseFlow) -> None:
    """An invalid request is returned with guidance, then reported."""
    flow = agency
    request = create(flow, "citizen_info_request")
    returned = flow.fire(
        request.id, "return_invalid", actor="focal.ho", reason="Thiếu chữ ký (mẫu 01a)."
    )
    assert returned.state == "invalid"
    assert flow.fire(returned.id, "report", actor="focal.ho").state == "closed"


def test_correction_letter_escalates_to_the_press_authority(
    agency: rf.ReleaseFlow,
) -> None:
    """Decree 09 Art. 9(2): unpublished response -> escalate -> report."""
    flow = agency
    _, _, _, steps = HAPPY["correction_request"]
    sent = walk(flow, create(flow, "correction_request"), steps[:6])
    assert sent.state == "letter_sent"
    with pytest.raises(NotPermittedError):
        flow.fire(sent.id, "escalate", actor="comms.nguyen", reason="Quá hạn.")
    escalated = flow.fire(
        sent.id, "escalate", actor="head.pham", reason="Báo chưa đăng."
    )
    assert escalated.state == "escalated"
    assert flow.fire(escalated.id, "report", actor="spoke.tran").state == "closed"


def test_report_request_without_head_approval_is_blocked(
    agency: rf.ReleaseFlow,
) -> None:
    """The report reaches the superior only after the head's approval."""
    flow = agency
    request = walk(
        flow,
        create(flow, "report_request"),
        [("start_drafting", "coord.bui", {}), ("submit", "coord.bui", {})],
    )
    with pytest.raises(NotPermittedError):
        flow.fire(request.id, "approve_report", actor="coord.bui")
    with pytest.raises(InvalidTransitionError):
        flow.fire(request.id, "release", actor="head.pham", form="report_submitted")
    approved = flow.fire(request.id, "approve_report", actor="head.pham")
    # revoking the head's approval shuts the gate again
    revoked = flow.revoke_approval(
        approved.id, actor="head.pham", stage="head", reason="Cần bổ sung số liệu."
    )
    with pytest.raises(ReleaseBlockedError):
        flow.fire(revoked.id, "release", actor="head.pham", form="report_submitted")
