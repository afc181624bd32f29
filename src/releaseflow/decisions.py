"""Decisions that change what may be released without moving the state.

Classification changes and approval revocations each bump the request version and
write one audit entry, so a release racing them loses the compare-and-set.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Final
from uuid import UUID

from . import policy
from .commands import ClassifyCommand
from .definitions import Action
from .exceptions import InvalidTransitionError, NotPermittedError, ValidationError
from .models import Request, parse
from .text import canonical_actor_id, clean_text
from .vocabulary import AuditEvent, Classification, RefusalGround, Role

if TYPE_CHECKING:
    from .service import ReleaseFlow

__all__ = ["classify_request", "revoke_approval"]

_RANK: Final = {
    Classification.PUBLIC: 0,
    Classification.CONSENT_REQUIRED: 1,
    Classification.RESTRICTED: 2,
}
_REVOKERS: Final = frozenset({Role.HEAD, Role.SPOKESPERSON})


def _check_classification(command: ClassifyCommand) -> None:
    if command.classification is Classification.PUBLIC and command.grounds:
        raise ValidationError(
            "a public classification takes no restriction grounds",
            field="grounds",
            rule="public_without_grounds",
        )
    if command.classification is Classification.RESTRICTED and not command.grounds:
        raise ValidationError(
            "a restricted classification needs at least one legal ground",
            field="grounds",
            rule="restricted_needs_ground",
        )


def _may_classify(
    request: Request,
    command: ClassifyCommand,
    roles: frozenset[Role],
    classifiers: set[Role],
) -> str | None:
    lowering = _RANK[command.classification] < _RANK[request.classification]
    if request.classification is Classification.RESTRICTED and lowering:
        return None if Role.HEAD in roles else "lifting a restriction needs the head"
    if roles & (classifiers | {Role.HEAD}):
        return None
    need = ", ".join(sorted(r.value for r in classifiers | {Role.HEAD}))
    return f"classifying needs one of the roles: {need}"


def classify_request(
    flow: ReleaseFlow,
    rid: UUID,
    classification: str,
    *,
    actor: str,
    reason: str,
    grounds: Iterable[RefusalGround | str],
    expected_version: int | None,
) -> Request:
    """Implementation of :meth:`releaseflow.ReleaseFlow.classify`."""
    who = canonical_actor_id(actor)
    command = parse(
        ClassifyCommand,
        {"classification": classification, "grounds": tuple(grounds), "reason": reason},
    )
    _check_classification(command)
    with flow.store.unit_of_work() as uow:
        request = flow._load(uow, rid, expected_version)
        definition = flow._compiled(request).definition
        if definition.state(request.state).final:
            raise InvalidTransitionError(request.state, "classify")
        ctx = flow._context(uow, who, request)
        roles = policy.effective_roles(ctx, request)
        denied = _may_classify(
            request, command, roles, set(definition.classifier_roles)
        )
        if denied:
            raise NotPermittedError(denied, actor=who, trigger="classify")
        updated = flow._bump(
            request,
            classification=command.classification,
            restriction_grounds=tuple(sorted(set(command.grounds))),
        )
        entry = flow._write(
            uow,
            request,
            updated,
            event=AuditEvent.CLASSIFIED,
            actor=who,
            ctx=ctx,
            trigger="classify",
            payload={
                "classification": command.classification.value,
                "grounds": [g.value for g in updated.restriction_grounds],
                "previous": request.classification.value,
                "reason": command.reason,
            },
        )
        flow._commit(uow)
    flow._notify(
        "request_transitioned", request=updated, entry=entry, trigger="classify"
    )
    return updated


def revoke_approval(
    flow: ReleaseFlow,
    rid: UUID,
    *,
    actor: str,
    stage: str,
    reason: str,
    expected_version: int | None,
) -> Request:
    """Implementation of :meth:`releaseflow.ReleaseFlow.revoke_approval`."""
    who = canonical_actor_id(actor)
    why = clean_text(reason, field="reason", max_length=2000)
    if not why.strip():
        raise ValidationError("reason must not be blank", field="reason", rule="empty")
    with flow.store.unit_of_work() as uow:
        request = flow._load(uow, rid, expected_version)
        definition = flow._compiled(request).definition
        released = {
            t.dest for t in definition.transitions if t.action is Action.RELEASE
        }
        if definition.state(request.state).final or request.state in released:
            raise InvalidTransitionError(
                request.state,
                "revoke_approval",
                f"approvals cannot be revoked in state {request.state!r}: the content"
                " was already released (correct or retract it instead)",
            )
        ctx = flow._context(uow, who, request)
        valid = request.valid_approvals(stage)
        if not valid:
            raise ValidationError(
                f"stage {stage!r} has no valid approval to revoke",
                field="stage",
                rule="no_valid_approval",
            )
        own = [a for a in valid if a.actor == who]
        if not own and not policy.effective_roles(ctx, request) & _REVOKERS:
            raise NotPermittedError(
                "only the approver, the head or the spokesperson may revoke an approval",
                actor=who,
                trigger="revoke_approval",
            )
        targets = set(map(id, own or valid))
        approvals = tuple(
            a.model_copy(
                update={"revoked": True, "revoked_by": who, "revoked_reason": why}
            )
            if id(a) in targets
            else a
            for a in request.approvals
        )
        updated = flow._bump(request, approvals=approvals)
        entry = flow._write(
            uow,
            request,
            updated,
            event=AuditEvent.APPROVAL_REVOKED,
            actor=who,
            ctx=ctx,
            trigger="revoke_approval",
            payload={
                "stage": stage,
                "reason": why,
                "revoked": sorted({a.actor for a in (own or valid)}),
            },
        )
        flow._commit(uow)
    flow._notify(
        "request_transitioned", request=updated, entry=entry, trigger="revoke_approval"
    )
    return updated
