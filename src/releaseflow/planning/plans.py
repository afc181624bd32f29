"""Annual communication plans: :class:`PlanService` (``flow.plans``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Final
from uuid import UUID, uuid4

from ..exceptions import (
    ConflictError,
    InvalidTransitionError,
    NotFoundError,
    SeparationOfDutiesError,
    ValidationError,
)
from ..models import AuditEntry, parse
from ..ports import UnitOfWork
from ..text import ShortText, canonical_actor_id
from ..vocabulary import Channel, ReleaseForm, Role
from .access import _require
from .draft_comments import DraftCommentsMixin
from .models import CommsPlan, PlanItem, PlanProgress, PlanStage, PlanState, _Frozen
from .progress import _AGENCY_TZ, compute_progress
from .records import _bumped, _check_version, _covers, _known_fields, _unit_of, _uuid
from .streams import PLANNING_STREAM, _seal

if TYPE_CHECKING:
    from ..service import ReleaseFlow

__all__ = ["PlanService"]

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

_PlanChange = Callable[[CommsPlan, str, datetime], tuple[CommsPlan, dict[str, Any]]]


class PlanService(DraftCommentsMixin):
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
        _known_fields(changes, _ITEM_FIELDS, "item", prefix="item.")

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
