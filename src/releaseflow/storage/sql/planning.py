"""Plans and media-network repositories of one SQL unit of work.

Same semantics as ``releaseflow.storage.memory`` (``_Plans``, ``_Media``): records are
stored as JSON documents with their indexed keys beside them; updates are
``UPDATE … WHERE id = :id AND version = :expected`` with the row count checked. A
plan's item ids are kept in ``plan_items`` so :meth:`SqlPlans.plan_of_item` is one
indexed lookup; the unique (unit, year) index keeps one plan per unit and year. The
requests that name a contact are kept in ``contact_requests``.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

import sqlalchemy as sa

from ...exceptions import ConflictError, NotFoundError
from ...planning import CommissionedTask, CommsPlan, PressContact

if TYPE_CHECKING:
    from .store import SqlUnitOfWork

__all__ = ["SqlMedia", "SqlPlans"]


def _cas(
    uow: SqlUnitOfWork,
    table: sa.Table,
    kind: str,
    rid: UUID,
    version: int,
    expected_version: int,
    values: dict[str, Any],
) -> None:
    if version == expected_version + 1:
        stmt = sa.update(table).where(table.c.id == str(rid))
        if uow.store.version_check:
            stmt = stmt.where(table.c.version == expected_version)
        if uow.run(stmt.values(**values)).rowcount == 1:
            return
    actual = uow.scalar(sa.select(table.c.version).where(table.c.id == str(rid)))
    if actual is None:
        raise NotFoundError(f"{kind} {rid} not found")
    raise ConflictError(
        f"{kind} {rid} is at version {actual}, not {expected_version}",
        expected_version=expected_version,
        actual_version=int(actual),
    )


def _exists(uow: SqlUnitOfWork, table: sa.Table, rid: UUID) -> bool:
    found = uow.scalar(sa.select(table.c.version).where(table.c.id == str(rid)))
    return found is not None


class SqlPlans:
    """Annual communication plans, with compare-and-set updates."""

    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow
        self._t = uow.tables.plans
        self._items = uow.tables.plan_items

    @staticmethod
    def _values(plan: CommsPlan) -> dict[str, Any]:
        return {
            "unit": plan.unit,
            "year": plan.year,
            "state": plan.state.value,
            "version": plan.version,
            "doc": plan.model_dump_json(),
        }

    def _index_items(self, plan: CommsPlan) -> None:
        i = self._items
        self._uow.run(sa.delete(i).where(i.c.plan_id == str(plan.id)))
        for item in plan.items:
            self._uow.run(
                sa.insert(i).values(item_id=str(item.id), plan_id=str(plan.id))
            )

    def get(self, plan_id: UUID) -> CommsPlan:
        """Return the plan (raises ``NotFoundError``)."""
        t = self._t
        doc = self._uow.scalar(sa.select(t.c.doc).where(t.c.id == str(plan_id)))
        if doc is None:
            raise NotFoundError(f"plan {plan_id} not found", plan_id=str(plan_id))
        return CommsPlan.model_validate_json(doc)

    def add(self, plan: CommsPlan) -> None:
        """Insert a new plan (``ConflictError`` if the id or (unit, year) is taken)."""
        self._uow.check_write()
        if _exists(self._uow, self._t, plan.id) or self.find(
            unit=plan.unit, year=plan.year
        ):
            raise ConflictError(f"plan {plan.id} ({plan.unit}, {plan.year}) exists")
        self._uow.run(sa.insert(self._t).values(id=str(plan.id), **self._values(plan)))
        self._index_items(plan)

    def update(self, plan: CommsPlan, *, expected_version: int) -> None:
        """Compare-and-set replace on ``version``."""
        self._uow.check_write()
        _cas(
            self._uow,
            self._t,
            "plan",
            plan.id,
            plan.version,
            expected_version,
            self._values(plan),
        )
        self._index_items(plan)

    def find(
        self, *, unit: str | None = None, year: int | None = None
    ) -> list[CommsPlan]:
        """Plans of exactly ``unit`` and/or ``year``, by (unit, year)."""
        t = self._t
        stmt = sa.select(t.c.doc).order_by(t.c.unit, t.c.year)
        if unit is not None:
            stmt = stmt.where(t.c.unit == unit)
        if year is not None:
            stmt = stmt.where(t.c.year == year)
        return [CommsPlan.model_validate_json(d) for d in self._uow.scalars(stmt)]

    def plan_of_item(self, item_id: UUID) -> CommsPlan | None:
        """The plan holding ``item_id``, if any."""
        i = self._items
        pid = self._uow.scalar(
            sa.select(i.c.plan_id).where(i.c.item_id == str(item_id))
        )
        return None if pid is None else self.get(UUID(pid))


class SqlMedia:
    """Press contacts and commissioned tasks, with compare-and-set updates."""

    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow
        self._c = uow.tables.contacts
        self._t = uow.tables.tasks
        self._links = uow.tables.contact_requests

    @staticmethod
    def _contact_values(contact: PressContact) -> dict[str, Any]:
        return {
            "unit": contact.unit,
            "kind": contact.kind.value,
            "version": contact.version,
            "doc": contact.model_dump_json(),
        }

    @staticmethod
    def _task_values(task: CommissionedTask) -> dict[str, Any]:
        return {
            "plan_id": str(task.plan_id),
            "plan_item_id": str(task.plan_item_id),
            "contact_id": str(task.contact_id),
            "unit": task.unit,
            "state": task.state.value,
            "version": task.version,
            "created_at": task.created_at,
            "doc": task.model_dump_json(),
        }

    def contact(self, contact_id: UUID) -> PressContact:
        """Return the contact (raises ``NotFoundError``)."""
        c = self._c
        doc = self._uow.scalar(sa.select(c.c.doc).where(c.c.id == str(contact_id)))
        if doc is None:
            raise NotFoundError(f"contact {contact_id} not found")
        return PressContact.model_validate_json(doc)

    def contacts(self, *, unit: str | None = None) -> list[PressContact]:
        """Contacts (of exactly ``unit``), by (name, id)."""
        c = self._c
        stmt = sa.select(c.c.doc)
        if unit is not None:
            stmt = stmt.where(c.c.unit == unit)
        found = [PressContact.model_validate_json(d) for d in self._uow.scalars(stmt)]
        return sorted(found, key=lambda x: (x.name, x.id))

    def add_contact(self, contact: PressContact) -> None:
        """Insert a new contact (``ConflictError`` if the id exists)."""
        self._uow.check_write()
        if _exists(self._uow, self._c, contact.id):
            raise ConflictError(f"contact {contact.id} already exists")
        values = self._contact_values(contact)
        self._uow.run(sa.insert(self._c).values(id=str(contact.id), **values))

    def update_contact(self, contact: PressContact, *, expected_version: int) -> None:
        """Compare-and-set replace on ``version``."""
        self._uow.check_write()
        _cas(
            self._uow,
            self._c,
            "contact",
            contact.id,
            contact.version,
            expected_version,
            self._contact_values(contact),
        )

    def task(self, task_id: UUID) -> CommissionedTask:
        """Return the task (raises ``NotFoundError``)."""
        t = self._t
        doc = self._uow.scalar(sa.select(t.c.doc).where(t.c.id == str(task_id)))
        if doc is None:
            raise NotFoundError(f"task {task_id} not found")
        return CommissionedTask.model_validate_json(doc)

    def tasks(self, *, plan_id: UUID | None = None) -> list[CommissionedTask]:
        """Tasks (of one plan), by (created_at, id)."""
        t = self._t
        stmt = sa.select(t.c.doc).order_by(t.c.created_at, t.c.id)
        if plan_id is not None:
            stmt = stmt.where(t.c.plan_id == str(plan_id))
        return [
            CommissionedTask.model_validate_json(d) for d in self._uow.scalars(stmt)
        ]

    def add_task(self, task: CommissionedTask) -> None:
        """Insert a new task (``ConflictError`` if the id exists)."""
        self._uow.check_write()
        if _exists(self._uow, self._t, task.id):
            raise ConflictError(f"task {task.id} already exists")
        values = self._task_values(task)
        self._uow.run(sa.insert(self._t).values(id=str(task.id), **values))

    def update_task(self, task: CommissionedTask, *, expected_version: int) -> None:
        """Compare-and-set replace on ``version``."""
        self._uow.check_write()
        _cas(
            self._uow,
            self._t,
            "task",
            task.id,
            task.version,
            expected_version,
            self._task_values(task),
        )

    def link_request(
        self, contact: PressContact, request_id: UUID, at: datetime
    ) -> None:
        """Index a request naming ``contact``, which must still be at its version.

        The contact row is read ``FOR SHARE`` (PostgreSQL; ``LOCK IN SHARE MODE``
        on MariaDB; SQLite's ``BEGIN IMMEDIATE`` already serialises writers), so
        an edit racing this create waits for it or has already moved the version.
        """
        self._uow.check_write()
        c = self._c
        stmt = (
            sa.select(c.c.version)
            .where(c.c.id == str(contact.id))
            .with_for_update(read=True)
        )
        actual = self._uow.scalar(stmt)
        if actual is None:
            raise NotFoundError(f"contact {contact.id} not found")
        if int(actual) != contact.version:
            raise ConflictError(
                f"contact {contact.id} is at version {actual}, not {contact.version}",
                expected_version=contact.version,
                actual_version=int(actual),
            )
        self._uow.run(
            sa.insert(self._links).values(
                contact_id=str(contact.id), request_id=str(request_id), created_at=at
            )
        )

    def request_ids(self, contact_id: UUID) -> list[UUID]:
        """Requests naming the contact, by (created_at, request id)."""
        link = self._links
        stmt = (
            sa.select(link.c.request_id)
            .where(link.c.contact_id == str(contact_id))
            .order_by(link.c.created_at, link.c.request_id)
        )
        return [UUID(rid) for rid in self._uow.scalars(stmt)]
