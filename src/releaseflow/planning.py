"""The annual communication plan and the media network (seed letter points 4-6).

* :class:`CommsPlan` -- one plan per organisation unit and year, with
  items (:class:`PlanItem`) across the policy lifecycle (planning, drafting, finalising,
  issuing, implementing). A comms officer drafts it and submits it; the head approves
  it (never the person who submitted it). Requests link to plan items, and
  :meth:`PlanService.progress` says which items are done, late or not started, and
  which released requests were not planned.
* :class:`PressContact` -- press agencies and journalists (with press card numbers);
  :class:`CommissionedTask` -- communication work commissioned from a press agency
  (*đặt hàng*) against a plan item, with budget and outcome.

Every change is stored with a compare-and-set on the record's version and writes an
audit entry on its own stream (``planning`` or ``media``), sealed by the same helper
the directory uses. Deny by default: only the roles named on each method may call it.
Available as ``flow.plans`` and ``flow.media``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta, timezone
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, Final, TypeVar
from uuid import UUID, uuid4

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
)

from . import policy
from .directory import append_directory_entry
from .exceptions import (
    ConflictError,
    InvalidTransitionError,
    NotFoundError,
    NotPermittedError,
    SeparationOfDutiesError,
    ValidationError,
)
from .models import AuditEntry, DraftComment, Request, Requester, UnitPath, parse
from .ports import UnitOfWork
from .text import MAX_SHORT, ActorId, ShortText, Text, canonical_actor_id, clean_text
from .vocabulary import (
    AuditEvent,
    Channel,
    PolicyStage,
    ReleaseForm,
    RequesterType,
    RequestKind,
    Role,
)

if TYPE_CHECKING:
    from .service import ReleaseFlow

__all__ = [
    "MEDIA_STREAM",
    "PLANNING_STREAM",
    "CommissionedTask",
    "CommsPlan",
    "ContactKind",
    "ItemProgress",
    "ItemStatus",
    "MediaService",
    "PlanItem",
    "PlanProgress",
    "PlanService",
    "PlanStage",
    "PlanState",
    "PressContact",
    "TaskState",
    "check_requester_contact",
    "compute_progress",
    "stage_of_state",
]

#: The audit stream plan changes are chained on.
PLANNING_STREAM: Final = "planning"
#: The audit stream press-contact and commissioned-task changes are chained on.
MEDIA_STREAM: Final = "media"
#: The agency's civil time (the same offset as ``releaseflow.reports.AGENCY_TZ``).
_AGENCY_TZ: Final = timezone(timedelta(hours=7), "Asia/Ho_Chi_Minh")
_EMAIL_RE: Final = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE_RE: Final = re.compile(r"^\+?[0-9 .()-]{6,32}$")
#: Who may comment on a policy draft for the comms unit.
_COMMENTERS: Final = frozenset({Role.COMMS_OFFICER, Role.SPOKESPERSON})
#: The longest draft comment, in characters.
_MAX_COMMENT: Final = MAX_SHORT * 5
#: States of the shipped ``policy_draft_comms`` workflow outside the ``<stage>`` /
#: ``<stage>_commented`` naming: the issuing stage's approval loop.
_ISSUING_STATES: Final = frozenset({"in_review", "awaiting_spokesperson", "approved"})
#: The requester type a contact of each kind is.
_REQUESTER_TYPE: Final = {
    "journalist": RequesterType.JOURNALIST,
    "press_agency": RequesterType.PRESS_AGENCY,
}


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


# -- shared helpers -----------------------------------------------------------


def _covers(outer: str, inner: str) -> bool:
    return inner == outer or inner.startswith(outer + "/")


def _uuid(value: UUID | str, field: str) -> UUID:
    if isinstance(value, UUID):
        return value
    try:
        return UUID(str(value))
    except ValueError as exc:
        raise ValidationError(f"{field} is not a UUID", field=field) from exc


def _unit_of(value: str, field: str) -> str:
    class _U(_Frozen):
        unit: UnitPath

    return parse(_U, {"unit": value}, prefix=f"{field}.").unit


def _roles(flow: ReleaseFlow, uow: UnitOfWork, actor: str, unit: str) -> set[Role]:
    uow.directory.lock()
    if flow._role_provider is not None:
        return set(flow._provided_roles(actor, unit))
    return {g.role for g in uow.directory.grants(actor=actor) if g.covers(unit)}


def _require(
    flow: ReleaseFlow,
    uow: UnitOfWork,
    actor: str,
    unit: str,
    allowed: tuple[Role, ...],
    what: str,
) -> tuple[str, ...]:
    held = _roles(flow, uow, actor, unit)
    used = tuple(r.value for r in allowed if r in held)
    if not used:
        names = " or ".join(r.value for r in allowed)
        raise NotPermittedError(
            f"{what} needs the {names} role in {unit!r}", actor=actor, trigger=what
        )
    return used


def _check_version(kind: str, rid: UUID, actual: int, expected: int | None) -> None:
    if expected is not None and actual != expected:
        raise ConflictError(
            f"{kind} {rid} is at version {actual}, not {expected}",
            expected_version=expected,
            actual_version=actual,
        )


_M = TypeVar("_M", bound=BaseModel)


def _bumped(model: type[_M], record: _M, now: datetime, **changes: Any) -> _M:
    """Re-validate ``record`` with ``changes``, one version on."""
    data = record.model_dump()
    data.update(changes, version=data["version"] + 1, updated_at=now)
    return parse(model, data)


def _seal(
    flow: ReleaseFlow,
    uow: UnitOfWork,
    stream: str,
    trigger: str,
    actor: str,
    roles: tuple[str, ...],
    unit: str,
    payload: dict[str, Any],
) -> AuditEntry:
    event = (
        AuditEvent.PLAN_CHANGED
        if stream == PLANNING_STREAM
        else (AuditEvent.MEDIA_CHANGED)
    )
    return append_directory_entry(
        uow,
        event=event,
        actor=actor,
        roles=roles,
        payload=payload,
        unit=unit,
        at=flow.now(),
        trigger=trigger,
        stream=stream,
    )


_ITEM_FIELDS: Final = frozenset(
    {
        "topic",
        "policy_ref",
        "stage",
        "channel",
        "responsible_unit",
        "planned_date",
        "budget_vnd",
    }
)
_CONTACT_FIELDS: Final = frozenset(
    {"name", "organisation", "press_card", "email", "phone", "active"}
)

_PlanChange = Callable[[CommsPlan, str, datetime], tuple[CommsPlan, dict[str, Any]]]


class PlanService:
    """Annual communication plans; available as ``flow.plans``."""

    def __init__(self, flow: ReleaseFlow) -> None:
        self._flow = flow

    # -- reads ------------------------------------------------------------------

    def get(self, plan_id: UUID | str) -> CommsPlan:
        """The stored plan (raises ``NotFoundError``)."""
        pid = _uuid(plan_id, "plan_id")
        with self._flow.store.unit_of_work(write=False) as uow:
            return uow.plans.get(pid)

    def find(
        self, *, unit: str | None = None, year: int | None = None
    ) -> list[CommsPlan]:
        """Stored plans of exactly ``unit`` and/or ``year``, by (unit, year)."""
        where = _unit_of(unit, "unit") if unit is not None else None
        with self._flow.store.unit_of_work(write=False) as uow:
            return uow.plans.find(unit=where, year=year)

    def progress(self, plan_id: UUID | str, as_of: date | None = None) -> PlanProgress:
        """Each item done / late / not started at ``as_of``, and unplanned work.

        ``as_of`` is a date in agency time (default: today). An item is *done*
        when a linked request was released by the end of ``as_of``; *late* when
        not done and its planned date is before ``as_of``; else *not started*.
        """
        pid = _uuid(plan_id, "plan_id")
        day = as_of or self._flow.now().astimezone(_AGENCY_TZ).date()
        with self._flow.store.unit_of_work(write=False) as uow:
            return compute_progress(uow, pid, day)

    # -- writes -----------------------------------------------------------------

    def create(self, *, unit: str, year: int, title: str, actor: str) -> CommsPlan:
        """Start a draft plan for ``unit`` and ``year`` (comms officer)."""
        who = canonical_actor_id(actor)
        now = self._flow.now()
        plan = parse(
            CommsPlan,
            {
                "id": uuid4(),
                "unit": unit,
                "year": year,
                "title": title,
                "version": 1,
                "created_by": who,
                "created_at": now,
                "updated_at": now,
            },
        )
        with self._flow.store.unit_of_work() as uow:
            used = _require(
                self._flow, uow, who, plan.unit, (Role.COMMS_OFFICER,), "create_plan"
            )
            if uow.plans.find(unit=plan.unit, year=plan.year):
                raise ConflictError(f"{plan.unit!r} already has a plan for {plan.year}")
            uow.plans.add(plan)
            entry = self._audit(uow, plan, "create_plan", who, used, {})
            self._flow._commit(uow)
        self._flow._notify("audit_entry_written", entry=entry)
        return plan

    def add_item(
        self,
        plan_id: UUID | str,
        *,
        actor: str,
        topic: str,
        stage: PlanStage | str | None = None,
        channel: ReleaseForm | Channel | str | None = None,
        responsible_unit: str | None = None,
        planned_date: date | None = None,
        budget_vnd: int = 0,
        policy_ref: str | None = None,
        expected_version: int | None = None,
    ) -> CommsPlan:
        """Add an item to a draft plan (comms officer); returns the new plan."""
        item = parse(
            PlanItem,
            {
                "id": uuid4(),
                "topic": topic,
                "policy_ref": policy_ref,
                "stage": stage,
                "channel": channel,
                "responsible_unit": responsible_unit,
                "planned_date": planned_date,
                "budget_vnd": budget_vnd,
            },
            prefix="item.",
        )

        def change(
            plan: CommsPlan, who: str, now: datetime
        ) -> tuple[CommsPlan, dict[str, Any]]:
            self._editable(plan, "add_item")
            self._in_year(plan, item)
            return (
                _bumped(CommsPlan, plan, now, items=(*plan.items, item)),
                {"item": item.model_dump(mode="json")},
            )

        return self._change(plan_id, actor, "add_item", change, expected_version)

    def edit_item(
        self,
        plan_id: UUID | str,
        item_id: UUID | str,
        *,
        actor: str,
        expected_version: int | None = None,
        **changes: Any,
    ) -> CommsPlan:
        """Change fields of an item of a draft plan (comms officer)."""
        iid = _uuid(item_id, "item_id")
        unknown = sorted(set(changes) - _ITEM_FIELDS)
        if unknown:
            raise ValidationError(
                f"cannot edit item field {unknown[0]!r}",
                field=f"item.{unknown[0]}",
                rule="unknown_field",
            )

        def change(
            plan: CommsPlan, who: str, now: datetime
        ) -> tuple[CommsPlan, dict[str, Any]]:
            self._editable(plan, "edit_item")
            old = plan.item(iid)
            new = parse(PlanItem, {**old.model_dump(), **changes}, prefix="item.")
            self._in_year(plan, new)
            items = tuple(new if i.id == iid else i for i in plan.items)
            return (
                _bumped(CommsPlan, plan, now, items=items),
                {"item_id": str(iid), "changes": new.model_dump(mode="json")},
            )

        return self._change(plan_id, actor, "edit_item", change, expected_version)

    def remove_item(
        self,
        plan_id: UUID | str,
        item_id: UUID | str,
        *,
        actor: str,
        expected_version: int | None = None,
    ) -> CommsPlan:
        """Remove an item from a draft plan (comms officer)."""
        iid = _uuid(item_id, "item_id")

        def change(
            plan: CommsPlan, who: str, now: datetime
        ) -> tuple[CommsPlan, dict[str, Any]]:
            self._editable(plan, "remove_item")
            plan.item(iid)
            items = tuple(i for i in plan.items if i.id != iid)
            return _bumped(CommsPlan, plan, now, items=items), {"item_id": str(iid)}

        return self._change(plan_id, actor, "remove_item", change, expected_version)

    def submit(
        self, plan_id: UUID | str, *, actor: str, expected_version: int | None = None
    ) -> CommsPlan:
        """Send a draft plan (with at least one item) for approval (comms officer)."""

        def change(
            plan: CommsPlan, who: str, now: datetime
        ) -> tuple[CommsPlan, dict[str, Any]]:
            self._editable(plan, "submit_plan")
            if not plan.items:
                raise ValidationError(
                    "a plan needs at least one item", field="items", rule="empty"
                )
            updated = _bumped(
                CommsPlan,
                plan,
                now,
                state=PlanState.SUBMITTED,
                submitted_by=who,
                submitted_at=now,
            )
            return updated, {"from_state": "draft", "to_state": "submitted"}

        return self._change(plan_id, actor, "submit_plan", change, expected_version)

    def approve(
        self, plan_id: UUID | str, *, actor: str, expected_version: int | None = None
    ) -> CommsPlan:
        """Approve a submitted plan (the head; never its submitter)."""

        def change(
            plan: CommsPlan, who: str, now: datetime
        ) -> tuple[CommsPlan, dict[str, Any]]:
            self._submitted(plan, who, "approve_plan")
            updated = _bumped(
                CommsPlan,
                plan,
                now,
                state=PlanState.APPROVED,
                approved_by=who,
                approved_at=now,
            )
            return updated, {"from_state": "submitted", "to_state": "approved"}

        return self._change(
            plan_id, actor, "approve_plan", change, expected_version, role=Role.HEAD
        )

    def reject(
        self,
        plan_id: UUID | str,
        *,
        actor: str,
        reason: str,
        expected_version: int | None = None,
    ) -> CommsPlan:
        """Send a submitted plan back to draft (the head; never its submitter)."""
        why = parse(_Reason, {"reason": reason}).reason
        if not why.strip():
            raise ValidationError("a reason is required", field="reason", rule="empty")

        def change(
            plan: CommsPlan, who: str, now: datetime
        ) -> tuple[CommsPlan, dict[str, Any]]:
            self._submitted(plan, who, "reject_plan")
            updated = _bumped(
                CommsPlan,
                plan,
                now,
                state=PlanState.DRAFT,
                submitted_by=None,
                submitted_at=None,
            )
            payload = {"from_state": "submitted", "to_state": "draft", "reason": why}
            return updated, payload

        return self._change(
            plan_id, actor, "reject_plan", change, expected_version, role=Role.HEAD
        )

    def link_request(
        self, request_id: UUID | str, item_id: UUID | str, actor: str
    ) -> CommsPlan:
        """Link a request of the plan's unit (or a sub-unit) to a plan item.

        Allowed in every plan state (it records execution, not the plan's content);
        a request links to at most one item of a plan. Comms officer.
        """
        rid = self._flow._request_id(request_id)
        iid = _uuid(item_id, "item_id")
        who = canonical_actor_id(actor)
        now = self._flow.now()
        with self._flow.store.unit_of_work() as uow:
            plan = uow.plans.plan_of_item(iid)
            if plan is None:
                raise NotFoundError(f"plan item {iid} not found", item_id=str(iid))
            request = uow.requests.get(rid)
            used = _require(
                self._flow, uow, who, plan.unit, (Role.COMMS_OFFICER,), "link_request"
            )
            if not _covers(plan.unit, request.unit):
                raise ValidationError(
                    f"request {rid} of {request.unit!r} is outside {plan.unit!r}",
                    field="request_id",
                    rule="unit",
                )
            if any(rid in i.request_ids for i in plan.items):
                raise ValidationError(
                    f"request {rid} is already linked to an item of this plan",
                    field="request_id",
                    rule="already_linked",
                )
            items = tuple(
                i.model_copy(update={"request_ids": (*i.request_ids, rid)})
                if i.id == iid
                else i
                for i in plan.items
            )
            updated = _bumped(CommsPlan, plan, now, items=items)
            uow.plans.update(updated, expected_version=plan.version)
            entry = self._audit(
                uow,
                updated,
                "link_request",
                who,
                used,
                {"item_id": str(iid), "request_id": str(rid)},
            )
            self._flow._commit(uow)
        self._flow._notify("audit_entry_written", entry=entry)
        return updated

    # -- the comms unit's comments on policy drafts -------------------------------

    def comment_on_draft(
        self,
        request_id: UUID | str,
        *,
        text: str,
        actor: str,
        stage: PolicyStage | str | None = None,
        expected_version: int | None = None,
    ) -> Request:
        """Record the comms unit's comment on a policy draft; returns the request.

        Only ``policy_draft_comms`` requests take comments, only from a
        ``comms_officer`` or ``spokesperson`` of the request's unit, and only while
        the draft is at a lifecycle stage (see :func:`stage_of_state`). The comment
        is filed under the stage the draft is at now; ``stage``, when given, must
        be that stage (a comment is not back-dated to a stage already passed). The
        comment binds the exact content commented on; the request's version moves
        on (its state and approvals do not) and one ``draft_commented`` audit entry
        is written on the request's own trail.
        """
        rid = self._flow._request_id(request_id)
        who = canonical_actor_id(actor)
        wanted = _policy_stage(stage) if stage is not None else None
        body = clean_text(text, field="text", max_length=_MAX_COMMENT)
        if not body.strip():
            raise ValidationError("text must not be blank", field="text", rule="empty")
        flow = self._flow
        with flow.store.unit_of_work() as uow:
            request = flow._load(uow, rid, expected_version)
            ctx = flow._context(uow, who, request)
            roles = policy.effective_roles(ctx, request) & _COMMENTERS
            if not roles:
                raise NotPermittedError(
                    "commenting on a draft needs the comms_officer or spokesperson"
                    f" role in {request.unit!r}",
                    actor=who,
                    trigger="comment_on_draft",
                )
            if request.kind is not RequestKind.POLICY_DRAFT_COMMS:
                raise ValidationError(
                    f"request {rid} is a {request.kind.value} request; only"
                    " policy_draft_comms requests take draft comments",
                    field="request_id",
                    rule="policy_draft_only",
                )
            current = stage_of_state(request.state)
            if current is None:
                raise InvalidTransitionError(
                    request.state,
                    "comment_on_draft",
                    f"a draft in state {request.state!r} is at no lifecycle stage",
                )
            if wanted is not None and wanted is not current:
                raise ValidationError(
                    f"stage {wanted.value!r} is not the draft's current stage"
                    f" {current.value!r}",
                    field="stage",
                    rule="current_stage",
                )
            comment = DraftComment(
                id=uuid4(),
                stage=current,
                text=body,
                by=who,
                roles=tuple(sorted(roles)),
                at=ctx.now,
                content_hash=request.content_hash,
                request_version=request.version + 1,
            )
            updated = flow._bump(
                request, draft_comments=(*request.draft_comments, comment)
            )
            entry = flow._write(
                uow,
                request,
                updated,
                event=AuditEvent.DRAFT_COMMENTED,
                actor=who,
                ctx=ctx,
                trigger="comment_on_draft",
                payload={
                    "comment_id": str(comment.id),
                    "stage": current.value,
                    "text": body,
                },
            )
            flow._commit(uow)
        flow._notify(
            "request_transitioned",
            request=updated,
            entry=entry,
            trigger="comment_on_draft",
        )
        return updated

    def draft_comments(
        self, request_id: UUID | str, *, stage: PolicyStage | str | None = None
    ) -> list[DraftComment]:
        """A request's draft comments in stage order (then in the order made)."""
        wanted = _policy_stage(stage) if stage is not None else None
        request = self._flow.get(request_id)
        order = list(PolicyStage)
        return sorted(
            (c for c in request.draft_comments if wanted in (None, c.stage)),
            key=lambda c: order.index(c.stage),
        )

    # -- helpers ----------------------------------------------------------------

    def _change(
        self,
        plan_id: UUID | str,
        actor: str,
        trigger: str,
        change: _PlanChange,
        expected_version: int | None,
        *,
        role: Role = Role.COMMS_OFFICER,
    ) -> CommsPlan:
        pid = _uuid(plan_id, "plan_id")
        who = canonical_actor_id(actor)
        now = self._flow.now()
        with self._flow.store.unit_of_work() as uow:
            plan = uow.plans.get(pid)
            self._flow._call_hook("after_load")
            _check_version("plan", pid, plan.version, expected_version)
            used = _require(self._flow, uow, who, plan.unit, (role,), trigger)
            updated, payload = change(plan, who, now)
            uow.plans.update(updated, expected_version=plan.version)
            entry = self._audit(uow, updated, trigger, who, used, payload)
            self._flow._commit(uow)
        self._flow._notify("audit_entry_written", entry=entry)
        return updated

    def _audit(
        self,
        uow: UnitOfWork,
        plan: CommsPlan,
        trigger: str,
        actor: str,
        roles: tuple[str, ...],
        payload: dict[str, Any],
    ) -> AuditEntry:
        base = {
            "plan_id": str(plan.id),
            "plan_version": plan.version,
            "year": plan.year,
            "state": plan.state.value,
        }
        if trigger == "create_plan":
            base["title"] = plan.title
        return _seal(
            self._flow,
            uow,
            PLANNING_STREAM,
            trigger,
            actor,
            roles,
            plan.unit,
            {**base, **payload},
        )

    @staticmethod
    def _editable(plan: CommsPlan, trigger: str) -> None:
        if plan.state is not PlanState.DRAFT:
            raise InvalidTransitionError(
                plan.state.value,
                trigger,
                f"plan {plan.id} is {plan.state.value}; only a draft plan changes",
            )

    @staticmethod
    def _submitted(plan: CommsPlan, who: str, trigger: str) -> None:
        if plan.state is not PlanState.SUBMITTED:
            raise InvalidTransitionError(plan.state.value, trigger)
        if plan.submitted_by == who:
            raise SeparationOfDutiesError(
                "the person who submitted a plan cannot decide on it",
                actor=who,
                trigger=trigger,
            )

    @staticmethod
    def _in_year(plan: CommsPlan, item: PlanItem) -> None:
        if item.planned_date.year != plan.year:
            raise ValidationError(
                f"planned_date {item.planned_date} is not in {plan.year}",
                field="item.planned_date",
                rule="year",
            )


class _Reason(_Frozen):
    reason: ShortText


def _released(request: Request, cutoff: datetime) -> bool:
    return request.release is not None and request.release.at < cutoff.astimezone(UTC)


def compute_progress(uow: UnitOfWork, plan_id: UUID, day: date) -> PlanProgress:
    """A plan's progress at the end of ``day``, read inside ``uow``."""
    cutoff = datetime.combine(day + timedelta(days=1), time(0), _AGENCY_TZ)
    plan = uow.plans.get(plan_id)
    linked: set[UUID] = set()
    items = []
    for item in plan.items:
        requests = [uow.requests.get(rid) for rid in item.request_ids]
        released = tuple(r.id for r in requests if _released(r, cutoff))
        linked.update(item.request_ids)
        if released:
            status = ItemStatus.DONE
        elif item.planned_date < day:
            status = ItemStatus.LATE
        else:
            status = ItemStatus.NOT_STARTED
        items.append(
            ItemProgress(
                item_id=item.id,
                topic=item.topic,
                stage=item.stage,
                planned_date=item.planned_date,
                status=status,
                request_ids=item.request_ids,
                released_ids=released,
            )
        )
    unplanned = tuple(
        r.id
        for r in uow.requests.iter_all()
        if r.id not in linked
        and _covers(plan.unit, r.unit)
        and _released(r, cutoff)
        and r.release is not None
        and r.release.at.astimezone(_AGENCY_TZ).year == plan.year
    )
    return PlanProgress(
        plan_id=plan.id,
        plan_version=plan.version,
        unit=plan.unit,
        year=plan.year,
        as_of=day,
        items=tuple(items),
        unplanned=unplanned,
    )


def _policy_stage(value: PolicyStage | str) -> PolicyStage:
    try:
        return PolicyStage(value)
    except ValueError as exc:
        names = ", ".join(s.value for s in PolicyStage)
        raise ValidationError(
            f"unknown stage {value!r} (one of: {names})", field="stage", rule="enum"
        ) from exc


def stage_of_state(state: str) -> PolicyStage | None:
    """The lifecycle stage a policy draft in workflow state ``state`` is at.

    A state named after a stage (``drafting``) or a stage's sub-state
    (``drafting_commented``) is at that stage; the shipped workflow's approval
    loop (``in_review``, ``awaiting_spokesperson``, ``approved``) is at
    ``issuing``. Other states (refused, withdrawn, retracted, closed) are at none.
    """
    if state in _ISSUING_STATES:
        return PolicyStage.ISSUING
    for stage in PolicyStage:
        if state == stage.value or state.startswith(f"{stage.value}_"):
            return stage
    return None


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


class MediaService:
    """Press contacts and commissioned tasks; available as ``flow.media``."""

    def __init__(self, flow: ReleaseFlow) -> None:
        self._flow = flow

    # -- reads ------------------------------------------------------------------

    def contact(self, contact_id: UUID | str) -> PressContact:
        """One stored contact (raises ``NotFoundError``)."""
        cid = _uuid(contact_id, "contact_id")
        with self._flow.store.unit_of_work(write=False) as uow:
            return uow.media.contact(cid)

    def contacts(self, *, unit: str | None = None) -> list[PressContact]:
        """Stored contacts (of exactly ``unit``), by name."""
        where = _unit_of(unit, "unit") if unit is not None else None
        with self._flow.store.unit_of_work(write=False) as uow:
            return uow.media.contacts(unit=where)

    def requester_for(self, contact_id: UUID | str) -> Requester:
        """A requester that is the stored contact, for ``flow.create(requester=...)``.

        Type, name, organisation and press card are the contact's (``contact`` is
        its e-mail, else its phone); ``create`` checks them again in its own
        transaction. Raises ``NotFoundError`` for an unknown contact.
        """
        cid = _uuid(contact_id, "contact_id")
        with self._flow.store.unit_of_work(write=False) as uow:
            return _snapshot(uow.media.contact(cid))

    def requests(self, contact_id: UUID | str) -> list[Request]:
        """The requests whose requester names the contact, oldest first."""
        cid = _uuid(contact_id, "contact_id")
        with self._flow.store.unit_of_work(write=False) as uow:
            uow.media.contact(cid)
            return [uow.requests.get(rid) for rid in uow.media.request_ids(cid)]

    def task(self, task_id: UUID | str) -> CommissionedTask:
        """One commissioned task (raises ``NotFoundError``)."""
        tid = _uuid(task_id, "task_id")
        with self._flow.store.unit_of_work(write=False) as uow:
            return uow.media.task(tid)

    def tasks(self, *, plan_id: UUID | str | None = None) -> list[CommissionedTask]:
        """Commissioned tasks (of one plan), oldest first."""
        pid = _uuid(plan_id, "plan_id") if plan_id is not None else None
        with self._flow.store.unit_of_work(write=False) as uow:
            return uow.media.tasks(plan_id=pid)

    # -- writes -----------------------------------------------------------------

    def add_contact(
        self,
        *,
        unit: str,
        kind: ContactKind | str,
        name: str,
        actor: str,
        organisation: str | None = None,
        press_card: str | None = None,
        email: str | None = None,
        phone: str | None = None,
    ) -> PressContact:
        """Add a press agency or journalist (administrator or comms officer)."""
        who = canonical_actor_id(actor)
        now = self._flow.now()
        contact = parse(
            PressContact,
            {
                "id": uuid4(),
                "unit": unit,
                "kind": kind,
                "name": name,
                "organisation": organisation,
                "press_card": press_card,
                "email": email,
                "phone": phone,
                "version": 1,
                "created_by": who,
                "created_at": now,
                "updated_at": now,
            },
        )
        with self._flow.store.unit_of_work() as uow:
            used = _require(
                self._flow,
                uow,
                who,
                contact.unit,
                (Role.ADMINISTRATOR, Role.COMMS_OFFICER),
                "add_contact",
            )
            uow.media.add_contact(contact)
            entry = self._audit_contact(uow, contact, "add_contact", who, used)
            self._flow._commit(uow)
        self._flow._notify("audit_entry_written", entry=entry)
        return contact

    def update_contact(
        self,
        contact_id: UUID | str,
        *,
        actor: str,
        expected_version: int | None = None,
        **changes: Any,
    ) -> PressContact:
        """Change a contact's details or ``active`` flag (administrator, comms)."""
        cid = _uuid(contact_id, "contact_id")
        unknown = sorted(set(changes) - _CONTACT_FIELDS)
        if unknown:
            raise ValidationError(
                f"cannot edit contact field {unknown[0]!r}",
                field=unknown[0],
                rule="unknown_field",
            )
        who = canonical_actor_id(actor)
        now = self._flow.now()
        with self._flow.store.unit_of_work() as uow:
            contact = uow.media.contact(cid)
            self._flow._call_hook("after_load")
            _check_version("contact", cid, contact.version, expected_version)
            used = _require(
                self._flow,
                uow,
                who,
                contact.unit,
                (Role.ADMINISTRATOR, Role.COMMS_OFFICER),
                "update_contact",
            )
            updated = _bumped(PressContact, contact, now, **changes)
            uow.media.update_contact(updated, expected_version=contact.version)
            entry = self._audit_contact(uow, updated, "update_contact", who, used)
            self._flow._commit(uow)
        self._flow._notify("audit_entry_written", entry=entry)
        return updated

    def commission(
        self,
        *,
        plan_item_id: UUID | str,
        contact_id: UUID | str,
        description: str,
        budget_vnd: int,
        actor: str,
    ) -> CommissionedTask:
        """Commission a press agency for a plan item of an approved plan (comms).

        The agency must be an active ``press_agency`` contact of the plan's unit
        (or a unit above it); the item's commissioned budgets (cancelled tasks
        excluded) may not exceed the item's budget.
        """
        iid = _uuid(plan_item_id, "plan_item_id")
        cid = _uuid(contact_id, "contact_id")
        who = canonical_actor_id(actor)
        now = self._flow.now()
        with self._flow.store.unit_of_work() as uow:
            plan = uow.plans.plan_of_item(iid)
            if plan is None:
                raise NotFoundError(f"plan item {iid} not found", item_id=str(iid))
            item = plan.item(iid)
            task = parse(
                CommissionedTask,
                {
                    "id": uuid4(),
                    "unit": plan.unit,
                    "plan_id": plan.id,
                    "plan_item_id": iid,
                    "contact_id": cid,
                    "description": description,
                    "budget_vnd": budget_vnd,
                    "version": 1,
                    "created_by": who,
                    "created_at": now,
                    "updated_at": now,
                },
            )
            used = _require(
                self._flow, uow, who, plan.unit, (Role.COMMS_OFFICER,), "commission"
            )
            if plan.state is not PlanState.APPROVED:
                raise InvalidTransitionError(
                    plan.state.value,
                    "commission",
                    "tasks are commissioned only under an approved plan",
                )
            contact = uow.media.contact(cid)
            if (
                contact.kind is not ContactKind.PRESS_AGENCY
                or not contact.active
                or not _covers(contact.unit, plan.unit)
            ):
                raise ValidationError(
                    "commission an active press agency of the plan's unit",
                    field="contact_id",
                    rule="press_agency",
                )
            spent = sum(
                t.budget_vnd
                for t in uow.media.tasks(plan_id=plan.id)
                if t.plan_item_id == iid and t.state is not TaskState.CANCELLED
            )
            if spent + task.budget_vnd > item.budget_vnd:
                raise ValidationError(
                    f"commissioned budget {spent + task.budget_vnd} exceeds the"
                    f" item's budget {item.budget_vnd}",
                    field="budget_vnd",
                    rule="over_budget",
                )
            uow.media.add_task(task)
            entry = self._audit_task(uow, task, "commission", who, used)
            self._flow._commit(uow)
        self._flow._notify("audit_entry_written", entry=entry)
        return task

    def record_outcome(
        self,
        task_id: UUID | str,
        *,
        outcome: str,
        actor: str,
        state: TaskState | str = TaskState.DELIVERED,
        expected_version: int | None = None,
    ) -> CommissionedTask:
        """Close an ordered task as ``delivered`` or ``cancelled`` (comms officer)."""
        tid = _uuid(task_id, "task_id")
        try:
            final = TaskState(state)
        except ValueError as exc:
            raise ValidationError(
                f"unknown task state {state!r}", field="state", rule="enum"
            ) from exc
        if final is TaskState.ORDERED:
            raise ValidationError(
                "an outcome closes a task: delivered or cancelled",
                field="state",
                rule="final",
            )
        if not outcome.strip():
            raise ValidationError("outcome is empty", field="outcome", rule="empty")
        who = canonical_actor_id(actor)
        now = self._flow.now()
        with self._flow.store.unit_of_work() as uow:
            task = uow.media.task(tid)
            _check_version("task", tid, task.version, expected_version)
            used = _require(
                self._flow, uow, who, task.unit, (Role.COMMS_OFFICER,), "record_outcome"
            )
            if task.state is not TaskState.ORDERED:
                raise InvalidTransitionError(task.state.value, "record_outcome")
            updated = _bumped(CommissionedTask, task, now, outcome=outcome, state=final)
            uow.media.update_task(updated, expected_version=task.version)
            entry = self._audit_task(uow, updated, "record_outcome", who, used)
            self._flow._commit(uow)
        self._flow._notify("audit_entry_written", entry=entry)
        return updated

    # -- helpers ----------------------------------------------------------------

    def _audit_contact(
        self,
        uow: UnitOfWork,
        contact: PressContact,
        trigger: str,
        actor: str,
        roles: tuple[str, ...],
    ) -> AuditEntry:
        payload = {
            "contact_id": str(contact.id),
            "contact_version": contact.version,
            "contact": contact.model_dump(
                mode="json", exclude={"created_at", "updated_at", "created_by"}
            ),
        }
        return _seal(
            self._flow, uow, MEDIA_STREAM, trigger, actor, roles, contact.unit, payload
        )

    def _audit_task(
        self,
        uow: UnitOfWork,
        task: CommissionedTask,
        trigger: str,
        actor: str,
        roles: tuple[str, ...],
    ) -> AuditEntry:
        payload = {
            "task_id": str(task.id),
            "task_version": task.version,
            "task": task.model_dump(
                mode="json", exclude={"created_at", "updated_at", "created_by"}
            ),
        }
        return _seal(
            self._flow, uow, MEDIA_STREAM, trigger, actor, roles, task.unit, payload
        )
