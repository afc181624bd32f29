"""Plans, plan items, press contacts, commissioned tasks and progress records.

The frozen pydantic models the planning services store and return, their enums
(:class:`PlanState`, :class:`ContactKind`, :class:`TaskState`, :class:`ItemStatus`)
and the field types they share.
"""

from __future__ import annotations

import re
from datetime import date
from enum import StrEnum
from typing import Annotated, Any, Final
from uuid import UUID

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
)

from ..exceptions import NotFoundError
from ..models import UnitPath
from ..text import ActorId, ShortText, Text
from ..vocabulary import Channel, PolicyStage, ReleaseForm

__all__ = [
    "CommissionedTask",
    "CommsPlan",
    "ContactKind",
    "ItemProgress",
    "ItemStatus",
    "PlanItem",
    "PlanProgress",
    "PlanStage",
    "PlanState",
    "PressContact",
    "TaskState",
]

_EMAIL_RE: Final = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE_RE: Final = re.compile(r"^\+?[0-9 .()-]{6,32}$")


def _email(value: str) -> str:
    if not _EMAIL_RE.match(value):
        raise ValueError("not an e-mail address")
    return value


def _phone(value: str) -> str:
    if not _PHONE_RE.match(value):
        raise ValueError("not a phone number (digits, spaces, + . ( ) -)")
    return value


def _channel(value: Any) -> Any:
    if isinstance(value, ReleaseForm | Channel) or not isinstance(value, str):
        return value
    for enum in (ReleaseForm, Channel):
        try:
            return enum(value)
        except ValueError:
            pass
    raise ValueError(f"{value!r} is neither a release form nor a channel")


def _nonblank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


#: Short free text that is not blank (a title, a topic, a name).
Label = Annotated[ShortText, AfterValidator(_nonblank)]
Email = Annotated[ShortText, AfterValidator(_email)]
Phone = Annotated[ShortText, AfterValidator(_phone)]
#: A non-negative amount of Vietnamese dong (an int: no floats, no bools).
Budget = Annotated[int, Field(ge=0, strict=True)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=False)


#: The policy lifecycle stage a plan item communicates (seed letter point 4); the
#: same vocabulary as :class:`releaseflow.vocabulary.PolicyStage`, which draft
#: comments use too.
PlanStage = PolicyStage


class PlanState(StrEnum):
    """Where a plan stands: edited while ``draft``, frozen once ``approved``."""

    DRAFT = "draft"
    SUBMITTED = "submitted"
    APPROVED = "approved"


class ContactKind(StrEnum):
    """A press agency or a journalist."""

    PRESS_AGENCY = "press_agency"
    JOURNALIST = "journalist"


class TaskState(StrEnum):
    """A commissioned task: ordered, then delivered or cancelled."""

    ORDERED = "ordered"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"


class ItemStatus(StrEnum):
    """A plan item's progress at a date."""

    DONE = "done"
    """A linked request was released."""
    LATE = "late"
    """Not done and its planned date has passed."""
    NOT_STARTED = "not_started"
    """Not done and not yet due."""


class PlanItem(_Frozen):
    """One planned piece of communication."""

    id: UUID
    topic: Label
    policy_ref: ShortText | None = None
    """The policy or draft legal document communicated, if any."""
    stage: PlanStage
    channel: Annotated[ReleaseForm | Channel, BeforeValidator(_channel)]
    responsible_unit: UnitPath
    planned_date: date
    budget_vnd: Budget = 0
    request_ids: tuple[UUID, ...] = ()
    """Requests linked to this item (see :meth:`PlanService.link_request`)."""


class CommsPlan(_Frozen):
    """A unit's annual communication plan."""

    id: UUID
    unit: UnitPath
    year: int = Field(ge=2000, le=2100)
    title: Label
    state: PlanState = PlanState.DRAFT
    version: int = Field(ge=1)
    items: tuple[PlanItem, ...] = ()
    created_by: ActorId
    created_at: AwareDatetime
    updated_at: AwareDatetime
    submitted_by: ActorId | None = None
    submitted_at: AwareDatetime | None = None
    approved_by: ActorId | None = None
    approved_at: AwareDatetime | None = None

    def item(self, item_id: UUID) -> PlanItem:
        """The item ``item_id`` (raises ``NotFoundError``)."""
        for item in self.items:
            if item.id == item_id:
                return item
        raise NotFoundError(f"plan item {item_id} not found", item_id=str(item_id))


class PressContact(_Frozen):
    """A press agency or journalist in a unit's media network."""

    id: UUID
    unit: UnitPath
    kind: ContactKind
    name: Label
    organisation: ShortText | None = None
    press_card: ShortText | None = None
    """Press card number (journalists)."""
    email: Email | None = None
    phone: Phone | None = None
    active: bool = True
    version: int = Field(ge=1)
    created_by: ActorId
    created_at: AwareDatetime
    updated_at: AwareDatetime


class CommissionedTask(_Frozen):
    """Communication work commissioned from a press agency (đặt hàng)."""

    id: UUID
    unit: UnitPath
    plan_id: UUID
    plan_item_id: UUID
    contact_id: UUID
    """The press agency (a :class:`PressContact` of kind ``press_agency``)."""
    description: Annotated[Text, AfterValidator(_nonblank)]
    budget_vnd: Budget
    outcome: Text | None = None
    state: TaskState = TaskState.ORDERED
    version: int = Field(ge=1)
    created_by: ActorId
    created_at: AwareDatetime
    updated_at: AwareDatetime


class ItemProgress(_Frozen):
    """One item's progress."""

    item_id: UUID
    topic: str
    stage: PlanStage
    planned_date: date
    status: ItemStatus
    request_ids: tuple[UUID, ...]
    released_ids: tuple[UUID, ...]
    """Linked requests released on or before the progress date."""


class PlanProgress(_Frozen):
    """A plan's progress at ``as_of`` (a date in agency time)."""

    plan_id: UUID
    plan_version: int
    unit: str
    year: int
    as_of: date
    items: tuple[ItemProgress, ...]
    unplanned: tuple[UUID, ...]
    """Requests of the unit (and sub-units) released in the plan's year, up to
    ``as_of``, that no item of the plan links."""

    def ids(self, status: ItemStatus | str) -> tuple[UUID, ...]:
        """The ids of the items in ``status``."""
        wanted = ItemStatus(status)
        return tuple(i.item_id for i in self.items if i.status is wanted)

    @property
    def counts(self) -> dict[str, int]:
        """Items per status, plus ``unplanned`` requests."""
        out = {s.value: len(self.ids(s)) for s in ItemStatus}
        out["unplanned"] = len(self.unplanned)
        return out
