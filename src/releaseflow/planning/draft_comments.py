"""The comms unit's comments on policy drafts, filed per lifecycle stage.

:class:`DraftCommentsMixin` gives :class:`~releaseflow.planning.PlanService` its
``comment_on_draft`` and ``draft_comments`` methods; :func:`stage_of_state` maps a
``policy_draft_comms`` workflow state to its lifecycle stage.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final
from uuid import UUID, uuid4

from .. import policy
from ..exceptions import InvalidTransitionError, NotPermittedError, ValidationError
from ..models import DraftComment, Request
from ..text import MAX_SHORT, canonical_actor_id, clean_text
from ..vocabulary import AuditEvent, PolicyStage, RequestKind, Role

if TYPE_CHECKING:
    from ..service import ReleaseFlow

__all__ = ["DraftCommentsMixin", "stage_of_state"]

#: Who may comment on a policy draft for the comms unit.
_COMMENTERS: Final = frozenset({Role.COMMS_OFFICER, Role.SPOKESPERSON})
#: The longest draft comment, in characters.
_MAX_COMMENT: Final = MAX_SHORT * 5
#: States of the shipped ``policy_draft_comms`` workflow outside the ``<stage>`` /
#: ``<stage>_commented`` naming: the issuing stage's approval loop.
_ISSUING_STATES: Final = frozenset({"in_review", "awaiting_spokesperson", "approved"})


class DraftCommentsMixin:
    """Draft comments on policy requests; part of :class:`PlanService`."""

    _flow: ReleaseFlow

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
