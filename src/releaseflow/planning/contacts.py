"""Requests that name a stored press contact: the check and the requester snapshot."""

from __future__ import annotations

from typing import Final

from ..exceptions import NotFoundError, ValidationError
from ..models import Request, Requester
from ..ports import UnitOfWork
from ..vocabulary import RequesterType
from .models import PressContact
from .records import _covers

__all__ = ["check_requester_contact"]

#: The requester type a contact of each kind is.
_REQUESTER_TYPE: Final = {
    "journalist": RequesterType.JOURNALIST,
    "press_agency": RequesterType.PRESS_AGENCY,
}


def check_requester_contact(uow: UnitOfWork, request: Request) -> PressContact | None:
    """Check the stored contact a new request's requester names, and index it.

    Called by ``ReleaseFlow.create`` inside its unit of work, after the actor's
    roles were checked. The contact must exist, be active and belong to the
    request's unit or a unit above it; the requester's ``type``, ``name``,
    ``organisation`` and ``press_card`` must equal the contact's (the request keeps
    that snapshot). The contact is read under a shared lock at the version checked,
    so a concurrent edit or deactivation makes one of the two writers fail with
    ``ConflictError``. Returns the contact (None when the requester names none).

    Raises:
        ValidationError: ``requester.contact_id`` unknown, inactive or of another
            unit; ``requester.<field>`` differing from the contact.
    """
    requester = request.requester
    if requester is None or requester.contact_id is None:
        return None
    cid = requester.contact_id
    try:
        contact = uow.media.contact(cid)
    except NotFoundError as exc:
        raise ValidationError(
            f"requester.contact_id: no press contact {cid}",
            field="requester.contact_id",
            rule="unknown_contact",
        ) from exc
    if not contact.active:
        raise ValidationError(
            f"requester.contact_id: contact {cid} is inactive",
            field="requester.contact_id",
            rule="inactive_contact",
        )
    if not _covers(contact.unit, request.unit):
        raise ValidationError(
            f"requester.contact_id: contact {cid} of {contact.unit!r} is not"
            f" available to {request.unit!r}",
            field="requester.contact_id",
            rule="contact_unit",
        )
    expected = _snapshot(contact)
    for name in ("type", "name", "organisation", "press_card"):
        if getattr(requester, name) != getattr(expected, name):
            raise ValidationError(
                f"requester.{name} differs from contact {cid}"
                f" ({getattr(expected, name)!r}); use flow.media.requester_for()",
                field=f"requester.{name}",
                rule="contact_mismatch",
            )
    uow.media.link_request(contact, request.id, request.created_at)
    return contact


def _snapshot(contact: PressContact) -> Requester:
    return Requester(
        type=_REQUESTER_TYPE[contact.kind.value],
        name=contact.name,
        organisation=contact.organisation,
        press_card=contact.press_card,
        contact=contact.email or contact.phone,
        contact_id=contact.id,
    )
