"""The comms unit's comments on policy drafts, per lifecycle stage (issue 6)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest

import releaseflow as rf
from releaseflow.exceptions import (
    ConflictError,
    InvalidTransitionError,
    NotPermittedError,
    RequestNotFoundError,
    ValidationError,
)
from releaseflow.planning import stage_of_state
from releaseflow.vocabulary import PolicyStage
from tests.conftest import Clock, new_inquiry
from tests.planning.test_plans import OFFICER, _count


def _draft(flow: rf.ReleaseFlow, **overrides: Any) -> rf.Request:
    fields: dict[str, Any] = {
        "title": "Dự thảo Luật Phòng bệnh",
        "body": "Bản dự thảo lần 1.",
        "actor": OFFICER,
        "unit": "agency/ttyt",
        "channel": "internal",
    }
    fields.update(overrides)
    return flow.create(rf.RequestKind.POLICY_DRAFT_COMMS, **fields)


def _comment(
    flow: rf.ReleaseFlow, request: rf.Request, text: str, **kw: Any
) -> rf.Request:
    kw.setdefault("actor", "comms.vo")
    return flow.plans.comment_on_draft(request.id, text=text, **kw)


def test_comments_at_every_stage_in_stage_order(
    staffed: rf.ReleaseFlow, clock: Clock
) -> None:
    flow = staffed
    req = _draft(flow)
    before = req
    req = _comment(flow, req, "Cần nêu rõ tác động.")
    # the version moves on; state, content and deadlines do not
    assert req.version == before.version + 1
    assert (req.state, req.content_hash) == (before.state, before.content_hash)
    req = _comment(flow, req, "Đồng ý.", actor="spoke.tran", stage="planning")
    req = flow.fire(req.id, "comment", actor=OFFICER, comments="Góp ý chính thức")
    req = _comment(flow, req, "Sau góp ý chính thức.")  # planning_commented
    req = flow.fire(req.id, "advance", actor=OFFICER)
    req = flow.edit(req.id, actor=OFFICER, body="Bản dự thảo lần 2.")
    req = _comment(flow, req, "Dự thảo 2: thiếu số liệu.", stage=PolicyStage.DRAFTING)
    req = flow.fire(req.id, "skip", actor="head.pham", reason="đã quá hạn")
    req = _comment(flow, req, "Bản cuối ổn.")
    req = flow.fire(req.id, "skip", actor="head.pham", reason="ban hành")
    req = flow.fire(req.id, "submit", actor=OFFICER)
    req = flow.fire(req.id, "approve_review", actor="review.le")
    req = flow.fire(req.id, "approve_release", actor="head.pham")
    assert req.state == "approved"
    approved = req
    req = _comment(flow, req, "Thông cáo đã sẵn sàng.", actor="spoke.tran")
    # a comment is not an edit: the approvals stay valid and the release goes on
    assert req.valid_approvals() == approved.valid_approvals() != ()
    req = flow.fire(req.id, "release", actor="spoke.tran", form="portal_posting")
    assert req.state == "implementing"
    clock.advance(days=3)
    req = _comment(flow, req, "Người dân hỏi nhiều về phí.")
    req = flow.fire(req.id, "follow_up", actor=OFFICER, reason="hướng dẫn")
    clock.advance(days=1)
    req = _comment(flow, req, "Hướng dẫn thực hiện: cần hỏi đáp.")  # back at issuing

    comments = flow.plans.draft_comments(req.id)
    assert [(c.stage.value, c.text) for c in comments] == [
        ("planning", "Cần nêu rõ tác động."),
        ("planning", "Đồng ý."),
        ("planning", "Sau góp ý chính thức."),
        ("drafting", "Dự thảo 2: thiếu số liệu."),
        ("finalising", "Bản cuối ổn."),
        ("issuing", "Thông cáo đã sẵn sàng."),
        ("issuing", "Hướng dẫn thực hiện: cần hỏi đáp."),  # made after implementing's
        ("implementing", "Người dân hỏi nhiều về phí."),
    ]
    stored = flow.get(req.id)
    assert stored == req
    assert [c.text for c in stored.draft_comments][-2:] == [
        "Người dân hỏi nhiều về phí.",
        "Hướng dẫn thực hiện: cần hỏi đáp.",
    ]
    drafting = flow.plans.draft_comments(req.id, stage="drafting")
    assert [c.text for c in drafting] == ["Dự thảo 2: thiếu số liệu."]
    assert drafting[0].content_hash == rf.models.content_hash_of(
        "Dự thảo Luật Phòng bệnh", "Bản dự thảo lần 2."
    )
    assert comments[1].by == "spoke.tran"
    assert comments[1].roles == (rf.Role.SPOKESPERSON,)
    assert comments[0].roles == (rf.Role.COMMS_OFFICER,)

    history = flow.audit.history(req.id)
    assert [e.request_version for e in history] == list(range(1, req.version + 1))
    noted = [e for e in history if e.event is rf.AuditEvent.DRAFT_COMMENTED]
    assert len(noted) == len(comments)
    for entry in noted:
        comment = next(c for c in comments if str(c.id) == entry.payload["comment_id"])
        assert entry.trigger == "comment_on_draft"
        assert entry.from_state == entry.to_state
        assert entry.payload["stage"] == comment.stage.value
        assert entry.payload["text"] == comment.text
        assert entry.request_version == comment.request_version
        assert entry.content_hash == comment.content_hash
        assert entry.actor == comment.by
    assert flow.audit.verify().ok
    lines = flow.audit.explain(req.id)
    assert any(
        "comms.vo (comms_officer) commented on draft" in line
        and "stage 'drafting'" in line
        and "Dự thảo 2: thiếu số liệu." in line
        for line in lines
    )


def _bad_calls(flow: rf.ReleaseFlow) -> list[tuple[dict[str, Any], type[Exception]]]:
    return [
        ({"stage": "someday"}, ValidationError),
        ({"stage": "drafting"}, ValidationError),  # the draft is at planning
        ({"text": "   "}, ValidationError),
        ({"text": "a\x00b"}, ValidationError),
        ({"text": "x" * 10_001}, ValidationError),
        ({"expected_version": 9}, ConflictError),
        ({"actor": "review.le"}, NotPermittedError),
        ({"actor": "head.pham"}, NotPermittedError),
        ({"actor": "contrib.do"}, NotPermittedError),
        ({"actor": "speaker.mai"}, NotPermittedError),
        ({"actor": "auditor.ly"}, NotPermittedError),
        ({"actor": "comms.elsewhere"}, NotPermittedError),
        ({"actor": "nobody"}, NotPermittedError),
    ]


def test_bad_comments_change_nothing(staffed: rf.ReleaseFlow) -> None:
    flow = staffed
    flow.directory.grant(
        "comms.elsewhere", "comms_officer", unit="agency/other", by="admin"
    )
    flow.directory.grant("speaker.mai", "drafting_unit", unit="agency", by="admin")
    req = _comment(flow, _draft(flow), "Góp ý đầu tiên.")
    count = _count(flow)
    for bad, error in _bad_calls(flow):
        call = {"text": "Góp ý.", "actor": "comms.vo", **bad}
        with pytest.raises(error) as err:
            flow.plans.comment_on_draft(req.id, **call)
        if bad.get("stage"):
            assert err.value.field == "stage"  # type: ignore[attr-defined]
        if "text" in bad:
            assert err.value.field == "text"  # type: ignore[attr-defined]
    assert flow.get(req.id) == req
    assert _count(flow) == count


def test_stage_errors_name_the_rule(staffed: rf.ReleaseFlow) -> None:
    flow = staffed
    req = _draft(flow)
    with pytest.raises(ValidationError) as err:
        _comment(flow, req, "x", stage="someday")
    assert (err.value.field, err.value.rule) == ("stage", "enum")
    with pytest.raises(ValidationError) as err:
        _comment(flow, req, "x", stage="implementing")
    assert (err.value.field, err.value.rule) == ("stage", "current_stage")
    assert flow.plans.draft_comments(req.id) == []


def test_only_policy_drafts_take_comments(staffed: rf.ReleaseFlow) -> None:
    flow = staffed
    inquiry = new_inquiry(flow)
    count = _count(flow)
    with pytest.raises(ValidationError) as err:
        _comment(flow, inquiry, "Góp ý.")
    assert (err.value.field, err.value.rule) == ("request_id", "policy_draft_only")
    # the role is checked first: an outsider learns nothing about the request
    with pytest.raises(NotPermittedError):
        _comment(flow, inquiry, "Góp ý.", actor="review.le")
    with pytest.raises(RequestNotFoundError):
        _comment(flow, inquiry.model_copy(update={"id": uuid4()}), "Góp ý.")
    with pytest.raises(ValidationError):
        flow.plans.comment_on_draft("not-a-uuid", text="x", actor="comms.vo")
    assert flow.get(inquiry.id) == inquiry
    assert _count(flow) == count


@pytest.mark.parametrize("trigger", ["withdraw", "refuse"])
def test_no_comments_once_the_draft_left_the_lifecycle(
    staffed: rf.ReleaseFlow, trigger: str
) -> None:
    flow = staffed
    req = _draft(flow)
    payload: dict[str, Any] = (
        {"reason": "dừng"}
        if trigger == "withdraw"
        else {"ground": "draft_policy_not_releasable", "reasons": "chưa được công bố"}
    )
    req = flow.fire(req.id, trigger, actor="spoke.tran", **payload)
    count = _count(flow)
    with pytest.raises(InvalidTransitionError):
        _comment(flow, req, "Muộn rồi.")
    assert flow.get(req.id) == req
    assert _count(flow) == count


def test_stage_of_state() -> None:
    expected = {
        "planning": "planning",
        "planning_commented": "planning",
        "drafting_commented": "drafting",
        "finalising": "finalising",
        "issuing": "issuing",
        "in_review": "issuing",
        "awaiting_spokesperson": "issuing",
        "approved": "issuing",
        "implementing": "implementing",
    }
    for state, stage in expected.items():
        assert stage_of_state(state) is PolicyStage(stage), state
    for state in ("refused", "withdrawn", "retracted", "closed", "plan", "draftingx"):
        assert stage_of_state(state) is None, state


def test_comment_entries_verify_independently_and_tampering_shows(
    tmp_path: Path,
) -> None:
    """The new event hashes like every other: tools/verify_chain.py agrees."""
    from tests.audit.test_verify_tool import load_tool

    url = f"sqlite:///{tmp_path / 'agency.db'}"
    flow = rf.ReleaseFlow.open(url, clock=Clock())
    flow.directory.bootstrap("admin", unit="agency")
    flow.directory.grant(OFFICER, "comms_officer", unit="agency", by="admin")
    contact = flow.media.add_contact(
        unit="agency", kind="journalist", name="E", press_card="PC-1", actor=OFFICER
    )
    new_inquiry(flow, requester=flow.media.requester_for(contact.id))
    req = _comment(flow, _draft(flow), "Góp ý.", actor=OFFICER)
    flow.close()
    tool = load_tool()
    assert tool.main([url]) == 0
    reader = rf.ReleaseFlow.open(url)
    entry = next(
        e
        for e in reader.audit.history(req.id)
        if e.event is rf.AuditEvent.DRAFT_COMMENTED
    )
    reader.close()
    with sqlite3.connect(tmp_path / "agency.db") as conn:
        conn.execute(
            "UPDATE rf_audit_entries SET payload = replace(payload, 'Góp ý.', 'OK')"
            " WHERE ledger = ? AND seq = ?",
            (entry.ledger, entry.seq),
        )
    assert tool.main([url]) != 0
    reader = rf.ReleaseFlow.open(url)
    bad = reader.audit.verify().first_bad
    reader.close()
    assert bad is not None
    assert (bad.ledger, bad.seq) == (entry.ledger, entry.seq)
