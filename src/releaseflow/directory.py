"""Role grants and Decree 09 Art. 3 speaking authorisations, stored and audited.

Deny by default: nobody holds a role until it is granted. The first grant is made with
:meth:`DirectoryService.bootstrap`, which works only while the directory is empty; after
that an administrator (any role) or a head (any role but administrator, within their
unit) grants and revokes roles, and only a head authorises a person to speak on one
request for a limited time. Every change writes an audit entry on the ``directory``
stream and bumps the directory version **first** (an exclusive lock on the directory
row in SQL), so two directory writers queue instead of deadlocking, and a decision --
which reads the directory under a shared lock -- is decided against the grants current
in its own transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Final
from uuid import UUID, uuid4

from .chain import ledger_for, seal
from .exceptions import NotFoundError, NotPermittedError, ValidationError
from .models import AuditEntry, Authorisation, Grant, parse
from .ports import UnitOfWork
from .text import canonical_actor_id, clean_text
from .vocabulary import AuditEvent, Role

if TYPE_CHECKING:
    from .service import ReleaseFlow

__all__ = ["DIRECTORY_STREAM", "DirectoryService", "append_directory_entry"]

#: The audit stream directory events are chained on.
DIRECTORY_STREAM: Final = "directory"


def _role(value: Role | str) -> Role:
    try:
        return Role(value)
    except ValueError as exc:
        raise ValidationError(
            f"unknown role {value!r}", field="role", rule="enum"
        ) from exc


def _unit(value: str) -> str:
    return parse(
        Grant,
        {
            "actor": "x",
            "role": "head",
            "unit": value,
            "granted_by": "x",
            "granted_at": "2000-01-01T00:00:00Z",
        },
        prefix="",
    ).unit


class DirectoryService:
    """Who holds which role where; available as ``flow.directory``."""

    def __init__(self, flow: ReleaseFlow) -> None:
        self._flow = flow

    # -- reads ------------------------------------------------------------------

    def grants(self, actor: str | None = None) -> list[Grant]:
        """Stored grants (of one actor, or all)."""
        who = canonical_actor_id(actor) if actor is not None else None
        with self._flow.store.unit_of_work(write=False) as uow:
            return uow.directory.grants(actor=who)

    def roles_of(self, actor: str, unit: str) -> frozenset[Role]:
        """The stored roles ``actor`` holds for requests of ``unit``."""
        where = _unit(unit)
        return frozenset(g.role for g in self.grants(actor) if g.covers(where))

    def authorisations(
        self, *, actor: str | None = None, request_id: UUID | None = None
    ) -> list[Authorisation]:
        """Stored speaking authorisations, optionally filtered."""
        who = canonical_actor_id(actor) if actor is not None else None
        with self._flow.store.unit_of_work(write=False) as uow:
            return uow.directory.authorisations(actor=who, request_id=request_id)

    # -- writes -----------------------------------------------------------------

    def bootstrap(self, actor: str, *, unit: str) -> Grant:
        """Grant ``actor`` the administrator role while the directory is empty."""
        who = canonical_actor_id(actor)
        now = self._flow.now()
        grant = parse(
            Grant,
            {
                "actor": who,
                "role": Role.ADMINISTRATOR,
                "unit": unit,
                "granted_by": who,
                "granted_at": now,
            },
        )
        with self._flow.store.unit_of_work() as uow:
            uow.directory.bump()
            if uow.directory.grants():
                raise NotPermittedError(
                    "bootstrap works only on an empty directory",
                    actor=who,
                    trigger="bootstrap",
                )
            uow.directory.add_grant(grant)
            entry = self._audit(
                uow,
                AuditEvent.ROLE_GRANTED,
                who,
                ("bootstrap",),
                grant.model_dump(mode="json"),
                unit=grant.unit,
            )
            self._flow._commit(uow)
        self._flow._notify("audit_entry_written", entry=entry)
        return grant

    def grant(self, actor: str, role: Role | str, *, unit: str, by: str) -> Grant:
        """Give ``actor`` the ``role`` in ``unit`` (and its sub-units)."""
        who, granter = canonical_actor_id(actor), canonical_actor_id(by, field="by")
        now = self._flow.now()
        grant = parse(
            Grant,
            {
                "actor": who,
                "role": _role(role),
                "unit": unit,
                "granted_by": granter,
                "granted_at": now,
            },
        )
        with self._flow.store.unit_of_work() as uow:
            uow.directory.bump()
            used = self._authority(uow, granter, grant.unit, grant.role)
            uow.directory.add_grant(grant)
            entry = self._audit(
                uow,
                AuditEvent.ROLE_GRANTED,
                granter,
                used,
                grant.model_dump(mode="json"),
                unit=grant.unit,
            )
            self._flow._commit(uow)
        self._flow._notify("audit_entry_written", entry=entry)
        return grant

    def revoke(self, actor: str, role: Role | str, *, unit: str, by: str) -> bool:
        """Take ``role`` in ``unit`` away from ``actor``; False if it was not held."""
        who, revoker = canonical_actor_id(actor), canonical_actor_id(by, field="by")
        what, where = _role(role), _unit(unit)
        with self._flow.store.unit_of_work() as uow:
            uow.directory.bump()
            used = self._authority(uow, revoker, where, what)
            removed = uow.directory.remove_grant(who, what.value, where)
            if not removed:
                return False
            entry = self._audit(
                uow,
                AuditEvent.ROLE_REVOKED,
                revoker,
                used,
                {"actor": who, "role": what.value, "unit": where},
                unit=where,
            )
            self._flow._commit(uow)
        self._flow._notify("audit_entry_written", entry=entry)
        return True

    def authorise(
        self,
        actor: str,
        request_id: UUID | str,
        *,
        reference: str,
        published_at: str,
        valid_until: datetime,
        by: str,
        valid_from: datetime | None = None,
    ) -> Authorisation:
        """Authorise ``actor`` in writing to speak on one request until ``valid_until``.

        Decree 09 Art. 3: the authorisation is written (``reference`` names the
        document), per case (one request), time-limited, and the person's details
        are published (``published_at`` says where).
        """
        who, head = canonical_actor_id(actor), canonical_actor_id(by, field="by")
        rid = self._flow._request_id(request_id)
        now = self._flow.now()
        auth = parse(
            Authorisation,
            {
                "id": uuid4(),
                "actor": who,
                "request_id": rid,
                "reference": reference,
                "published_at": published_at,
                "valid_from": valid_from or now,
                "valid_until": valid_until,
                "granted_by": head,
                "granted_at": now,
            },
        )
        self._check_window(auth)
        with self._flow.store.unit_of_work() as uow:
            uow.directory.bump()
            request = uow.requests.get(rid)
            self._require_head(uow, head, request.unit, "authorise")
            uow.directory.put_authorisation(auth)
            entry = self._audit(
                uow,
                AuditEvent.AUTHORISED,
                head,
                (Role.HEAD.value,),
                auth.model_dump(mode="json"),
                unit=request.unit,
            )
            self._flow._commit(uow)
        self._flow._notify("audit_entry_written", entry=entry)
        return auth

    def revoke_authorisation(self, authorisation_id: UUID, *, by: str) -> Authorisation:
        """End an authorisation now."""
        head = canonical_actor_id(by, field="by")
        with self._flow.store.unit_of_work() as uow:
            uow.directory.bump()
            found = [
                a for a in uow.directory.authorisations() if a.id == authorisation_id
            ]
            if not found:
                raise NotFoundError(f"authorisation {authorisation_id} not found")
            request = uow.requests.get(found[0].request_id)
            self._require_head(uow, head, request.unit, "revoke_authorisation")
            ended = found[0].model_copy(update={"revoked_at": self._flow.now()})
            uow.directory.put_authorisation(ended)
            entry = self._audit(
                uow,
                AuditEvent.AUTHORISATION_REVOKED,
                head,
                (Role.HEAD.value,),
                {"id": str(ended.id)},
                unit=request.unit,
            )
            self._flow._commit(uow)
        self._flow._notify("audit_entry_written", entry=entry)
        return ended

    # -- helpers ----------------------------------------------------------------

    def _check_window(self, auth: Authorisation) -> None:
        if auth.valid_until <= auth.granted_at:
            raise ValidationError(
                "valid_until has already passed", field="valid_until", rule="past"
            )
        if auth.valid_until <= auth.valid_from:
            raise ValidationError(
                "valid_until must be after valid_from",
                field="valid_until",
                rule="window",
            )
        if not clean_text(auth.reference, field="reference").strip():
            raise ValidationError(
                "reference must name the written authorisation",
                field="reference",
                rule="empty",
            )
        if not auth.published_at.strip():
            raise ValidationError(
                "published_at must say where the speaker's details are published",
                field="published_at",
                rule="empty",
            )

    def _roles_at(self, uow: UnitOfWork, actor: str, unit: str) -> frozenset[Role]:
        uow.directory.lock()
        return frozenset(
            g.role for g in uow.directory.grants(actor=actor) if g.covers(unit)
        )

    def _authority(
        self, uow: UnitOfWork, actor: str, unit: str, role: Role
    ) -> tuple[str, ...]:
        roles = self._roles_at(uow, actor, unit)
        if Role.ADMINISTRATOR in roles:
            return (Role.ADMINISTRATOR.value,)
        if Role.HEAD in roles and role is not Role.ADMINISTRATOR:
            return (Role.HEAD.value,)
        raise NotPermittedError(
            f"changing {role.value!r} grants in {unit!r} needs an administrator"
            " (or the head, for roles other than administrator)",
            actor=actor,
            trigger="grant",
        )

    def _require_head(self, uow: UnitOfWork, actor: str, unit: str, what: str) -> None:
        if Role.HEAD not in self._roles_at(uow, actor, unit):
            raise NotPermittedError(
                f"{what} needs the head of the agency (Decree 09 Art. 3)",
                actor=actor,
                trigger=what,
            )

    def _audit(
        self,
        uow: UnitOfWork,
        event: AuditEvent,
        actor: str,
        roles: tuple[str, ...],
        payload: dict[str, Any],
        *,
        unit: str,
    ) -> AuditEntry:
        version = uow.directory.lock()  # bumped at the start of every write
        return append_directory_entry(
            uow,
            event=event,
            actor=actor,
            roles=roles,
            payload={**payload, "directory_version": version},
            unit=unit,
            at=self._flow.now(),
        )


def append_directory_entry(
    uow: UnitOfWork,
    *,
    event: AuditEvent,
    actor: str,
    roles: tuple[str, ...],
    payload: dict[str, Any],
    unit: str | None,
    at: datetime,
    trigger: str | None = None,
    stream: str = DIRECTORY_STREAM,
) -> AuditEntry:
    """Seal an entry that concerns no request on ``stream`` (default ``directory``).

    Used for directory changes, for audited reads of the log (``read``), and by
    other record families (plans, media) on their own stream.
    """
    head = uow.audit.lock_head(ledger_for(stream, uow.audit.ledger_count))
    entry = seal(
        {
            "event": event,
            "request_id": None,
            "request_version": None,
            "request_kind": None,
            "unit": unit,
            "from_state": None,
            "to_state": None,
            "trigger": trigger or event.value,
            "actor": actor,
            "roles": roles,
            "at": at,
            "payload": payload,
            "content_hash": None,
        },
        head,
    )
    uow.audit.append(entry)
    return entry
