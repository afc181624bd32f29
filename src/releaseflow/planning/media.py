"""The media network: :class:`MediaService` (``flow.media``).

Press contacts (agencies and journalists) and the work commissioned from press
agencies against plan items.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final
from uuid import UUID, uuid4

from ..exceptions import InvalidTransitionError, NotFoundError, ValidationError
from ..models import AuditEntry, Request, Requester, parse
from ..ports import UnitOfWork
from ..text import canonical_actor_id
from ..vocabulary import Role
from .access import _require
from .contacts import _snapshot
from .models import CommissionedTask, ContactKind, PlanState, PressContact, TaskState
from .records import (
    _bumped,
    _check_version,
    _covers,
    _known_fields,
    _unit_of,
    _uuid,
)
from .streams import MEDIA_STREAM, _seal

if TYPE_CHECKING:
    from ..service import ReleaseFlow

__all__ = ["MediaService"]

_CONTACT_FIELDS: Final = frozenset(
    {"name", "organisation", "press_card", "email", "phone", "active"}
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
            entry = self._audit_record(
                uow, "contact", contact, "add_contact", who, used
            )
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
        _known_fields(changes, _CONTACT_FIELDS, "contact")
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
            entry = self._audit_record(
                uow, "contact", updated, "update_contact", who, used
            )
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
            entry = self._audit_record(uow, "task", task, "commission", who, used)
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
            entry = self._audit_record(
                uow, "task", updated, "record_outcome", who, used
            )
            self._flow._commit(uow)
        self._flow._notify("audit_entry_written", entry=entry)
        return updated

    # -- helpers ----------------------------------------------------------------

    def _audit_record(
        self,
        uow: UnitOfWork,
        name: str,
        record: PressContact | CommissionedTask,
        trigger: str,
        actor: str,
        roles: tuple[str, ...],
    ) -> AuditEntry:
        """Seal a contact's or task's change: ``{name}_id``, ``_version`` and body."""
        payload = {
            f"{name}_id": str(record.id),
            f"{name}_version": record.version,
            name: record.model_dump(
                mode="json", exclude={"created_at", "updated_at", "created_by"}
            ),
        }
        return _seal(
            self._flow, uow, MEDIA_STREAM, trigger, actor, roles, record.unit, payload
        )
