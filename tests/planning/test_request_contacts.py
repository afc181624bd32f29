"""Requests that name a stored press contact (issue 6: "records that requests refer to")."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import pytest

import releaseflow as rf
from releaseflow.exceptions import (
    NotFoundError,
    NotPermittedError,
    ValidationError,
)
from releaseflow.planning import PressContact
from tests.conftest import Clock, new_inquiry
from tests.planning.test_plans import OFFICER, _count


def _journalist(flow: rf.ReleaseFlow, unit: str = "agency") -> PressContact:
    return flow.media.add_contact(
        unit=unit,
        kind="journalist",
        name="Hoàng Thị E",
        organisation="Báo Đà Nẵng",
        press_card="PC-123456",
        email="e.hoang@baodanang.vn",
        actor=OFFICER,
    )


def _agency(flow: rf.ReleaseFlow) -> PressContact:
    return flow.media.add_contact(
        unit="agency", kind="press_agency", name="Báo Đà Nẵng", actor=OFFICER
    )


def _names(flow: rf.ReleaseFlow, contact: PressContact) -> dict[str, Any]:
    return flow.media.requester_for(contact.id).model_dump()


def test_request_names_a_contact_snapshot_audit_and_listing(
    staffed: rf.ReleaseFlow, clock: Clock
) -> None:
    flow = staffed
    journalist = _journalist(flow)
    agency = _agency(flow)
    requester = flow.media.requester_for(journalist.id)
    assert requester == rf.Requester(
        type="journalist",
        name="Hoàng Thị E",
        organisation="Báo Đà Nẵng",
        press_card="PC-123456",
        contact="e.hoang@baodanang.vn",
        contact_id=journalist.id,
    )
    second = new_inquiry(flow, requester=requester.model_dump())
    clock.advance(minutes=-5)  # listed by when each was created, not by id
    first = new_inquiry(flow, requester=requester)
    unlinked = new_inquiry(flow)
    by_agency = new_inquiry(flow, requester=flow.media.requester_for(agency.id))

    stored = flow.get(first.id)
    assert stored.requester == requester
    assert stored.requester is not None
    assert stored.requester.contact_id == journalist.id
    created = flow.audit.history(first.id)[0]
    assert created.event is rf.AuditEvent.CREATED
    assert created.payload["contact_id"] == str(journalist.id)
    assert "contact_id" not in flow.audit.history(unlinked.id)[0].payload

    assert [r.id for r in flow.media.requests(journalist.id)] == [first.id, second.id]
    assert [r.id for r in flow.media.requests(str(agency.id))] == [by_agency.id]
    assert flow.media.requests(_journalist(flow).id) == []

    # the request keeps what the contact was when it asked
    flow.media.update_contact(journalist.id, actor="admin", press_card="PC-999999")
    assert flow.get(first.id).requester == requester
    assert [r.id for r in flow.media.requests(journalist.id)] == [first.id, second.id]
    # ... and new requests must carry the contact's new details
    with pytest.raises(ValidationError) as err:
        new_inquiry(flow, requester=requester)
    assert err.value.field == "requester.press_card"
    assert new_inquiry(flow, requester=flow.media.requester_for(journalist.id))
    assert flow.audit.verify().ok


def _bad_requesters(flow: rf.ReleaseFlow) -> list[tuple[dict[str, Any], str, str]]:
    journalist = _journalist(flow)
    good = _names(flow, journalist)
    retired = _journalist(flow)
    flow.media.update_contact(retired.id, actor="admin", active=False)
    elsewhere = _journalist(flow, unit="agency/other")
    return [
        ({**good, "contact_id": uuid4()}, "requester.contact_id", "unknown_contact"),
        ({**good, "contact_id": "not-a-uuid"}, "requester.contact_id", "uuid_parsing"),
        (_names(flow, retired), "requester.contact_id", "inactive_contact"),
        (_names(flow, elsewhere), "requester.contact_id", "contact_unit"),
        ({**good, "name": "Người khác"}, "requester.name", "contact_mismatch"),
        ({**good, "type": "citizen"}, "requester.type", "contact_mismatch"),
        ({**good, "organisation": None}, "requester.organisation", "contact_mismatch"),
        ({**good, "press_card": "PC-1"}, "requester.press_card", "contact_mismatch"),
    ]


def test_bad_contact_references_change_nothing(staffed: rf.ReleaseFlow) -> None:
    flow = staffed
    cases = _bad_requesters(flow)
    contacts = flow.media.contacts()
    count = _count(flow)
    for requester, field, rule in cases:
        with pytest.raises(ValidationError) as err:
            new_inquiry(flow, requester=requester)
        assert (err.value.field, err.value.rule) == (field, rule), requester
    assert flow.find() == []
    assert _count(flow) == count
    assert flow.media.contacts() == contacts
    assert all(flow.media.requests(c.id) == [] for c in contacts)


def test_a_contact_of_a_unit_above_is_usable_below_not_sideways(
    staffed: rf.ReleaseFlow,
) -> None:
    flow = staffed
    above = _journalist(flow, unit="agency")
    same = _journalist(flow, unit="agency/ttyt")
    below = _journalist(flow, unit="agency/ttyt/khoa")
    for contact in (above, same):
        request = new_inquiry(flow, requester=flow.media.requester_for(contact.id))
        assert [r.id for r in flow.media.requests(contact.id)] == [request.id]
    with pytest.raises(ValidationError) as err:
        new_inquiry(flow, requester=flow.media.requester_for(below.id))
    assert err.value.rule == "contact_unit"


def test_roles_are_checked_before_the_contact(staffed: rf.ReleaseFlow) -> None:
    """Someone who may not create learns nothing about contacts and writes nothing."""
    flow = staffed
    journalist = _journalist(flow)
    count = _count(flow)
    for actor in ("review.le", "auditor.ly", "nobody"):
        for contact_id in (journalist.id, uuid4()):
            requester = {**_names(flow, journalist), "contact_id": contact_id}
            with pytest.raises(NotPermittedError):
                new_inquiry(flow, actor=actor, requester=requester)
    assert flow.find() == []
    assert flow.media.requests(journalist.id) == []
    assert _count(flow) == count


def test_contact_reads_refuse_unknown_ids(staffed: rf.ReleaseFlow) -> None:
    flow = staffed
    with pytest.raises(NotFoundError):
        flow.media.requester_for(uuid4())
    with pytest.raises(NotFoundError):
        flow.media.requests(uuid4())
    with pytest.raises(ValidationError) as err:
        flow.media.requests("nope")
    assert err.value.field == "contact_id"


def test_idempotent_create_with_a_contact_links_once(staffed: rf.ReleaseFlow) -> None:
    flow = staffed
    journalist = _journalist(flow)
    requester = flow.media.requester_for(journalist.id)
    first = new_inquiry(flow, requester=requester, idempotency_key="k-1")
    again = new_inquiry(flow, requester=requester, idempotency_key="k-1")
    assert again == first
    assert [r.id for r in flow.media.requests(journalist.id)] == [first.id]
