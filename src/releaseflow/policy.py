"""Who may do what: deny by default, separation of duties, the release gate.

Pure functions over frozen data; the service evaluates them inside the unit of work,
against the grants and authorisations current in that transaction.

Rules that no definition can switch off (Decree 09 Art. 3):

* only the head, the spokesperson, or an actor holding an **active authorisation
  covering this request** may release, or approve at the definition's speaker stage;
* the author of any version of the content never approves it;
* one person approves at most once per content version: a reviewer is never also
  the approving spokesperson, and k-of-n review counts distinct people;
* a request whose classification is not public cannot be released;
* approvals count only while they are bound to the current content hash.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from .definitions import Action, TransitionSpec, WorkflowDefinition
from .exceptions import (
    NotPermittedError,
    PolicyError,
    ReleaseBlockedError,
    SeparationOfDutiesError,
    StaleApprovalError,
)
from .models import Authorisation, Request
from .vocabulary import Classification, Role

__all__ = [
    "SPEAKER_ROLES",
    "Denial",
    "PolicyContext",
    "describe",
    "effective_roles",
    "evaluate",
    "raise_first",
    "stage_quorum",
]

#: Roles that speak in the agency's name without a per-case authorisation.
SPEAKER_ROLES: Final = frozenset({Role.HEAD, Role.SPOKESPERSON})
#: The approval stage that needs speaker powers, unless a definition names another.
SPEAKER_STAGE: Final = "spokesperson"
#: Definitions name host guards as ``host:<name>``; the host registers ``<name>``.
HOST_GUARD_PREFIX: Final = "host:"

#: A host guard: returns None to allow, or the reason it denies.
Guard = Callable[[Request, "PolicyContext"], str | None]


@dataclass(frozen=True)
class PolicyContext:
    """Everything the policy needs about the actor, read inside the transaction."""

    actor: str
    roles: frozenset[Role]
    authorisations: tuple[Authorisation, ...]
    now: datetime
    host_guards: Mapping[str, Guard] = field(default_factory=dict)

    def authorised_for(self, request: Request) -> Authorisation | None:
        """The actor's active authorisation covering ``request``, if any."""
        for auth in self.authorisations:
            if auth.actor == self.actor and auth.active(request.id, self.now):
                return auth
        return None


@dataclass(frozen=True)
class Denial:
    """One reason a trigger is denied, with the error type it raises."""

    error: type[PolicyError]
    message: str


def effective_roles(ctx: PolicyContext, request: Request) -> frozenset[Role]:
    """The actor's roles for ``request``: grants plus a covering authorisation."""
    if ctx.authorised_for(request) is not None:
        return ctx.roles | {Role.AUTHORISED_SPEAKER}
    if type(ctx.roles) is frozenset and Role.AUTHORISED_SPEAKER not in ctx.roles:
        return ctx.roles  # immutable: the set the difference would make
    return ctx.roles - {Role.AUTHORISED_SPEAKER}


def stage_quorum(definition: WorkflowDefinition, stage: str) -> int:
    """How many distinct approvals ``stage`` needs."""
    quorums = [t.quorum for t in definition.transitions if t.stage == stage]
    return max(quorums, default=1)


def _speaker(ctx: PolicyContext, request: Request) -> bool:
    return bool(
        effective_roles(ctx, request) & (SPEAKER_ROLES | {Role.AUTHORISED_SPEAKER})
    )


def _role_denials(
    spec: TransitionSpec, ctx: PolicyContext, request: Request
) -> list[Denial]:
    roles = effective_roles(ctx, request)
    if roles & set(spec.roles):
        return []
    need = ", ".join(r.value for r in spec.roles)
    return [
        Denial(NotPermittedError, f"{spec.trigger!r} needs one of the roles: {need}")
    ]


def _approval_denials(
    definition: WorkflowDefinition,
    spec: TransitionSpec,
    ctx: PolicyContext,
    request: Request,
) -> list[Denial]:
    denials: list[Denial] = []
    if ctx.actor in request.contributors:
        denials.append(
            Denial(
                SeparationOfDutiesError, "an author of the content cannot approve it"
            )
        )
    for approval in request.valid_approvals():
        if approval.actor != ctx.actor:
            continue
        if approval.stage == spec.stage:
            message = f"already approved stage {spec.stage!r} of this content"
        else:
            message = (
                f"already approved stage {approval.stage!r} of this content;"
                f" {spec.stage!r} needs a different person"
            )
        denials.append(Denial(SeparationOfDutiesError, message))
    if spec.stage in definition.speaker_stages and not _speaker(ctx, request):
        denials.append(
            Denial(
                NotPermittedError,
                "approving for release needs the head, the spokesperson or an active"
                " authorisation covering this request (Decree 09 Art. 3)",
            )
        )
    return denials


def _approvals_missing(
    definition: WorkflowDefinition, request: Request
) -> list[Denial]:
    denials: list[Denial] = []
    for stage in definition.release_requires:
        need = stage_quorum(definition, stage)
        have = len(request.valid_approvals(stage))
        if have >= need:
            continue
        stale = [
            a
            for a in request.approvals
            if a.stage == stage
            and not a.revoked
            and a.content_hash != request.content_hash
        ]
        if stale:
            denials.append(
                Denial(
                    StaleApprovalError,
                    f"the {stage!r} approval was given for an earlier version of the"
                    " content",
                )
            )
        else:
            denials.append(
                Denial(
                    ReleaseBlockedError,
                    f"stage {stage!r} has {have} of {need} approvals on the current"
                    " content",
                )
            )
    return denials


def _classification_denials(request: Request) -> list[Denial]:
    if (
        request.classification is Classification.PUBLIC
        and not request.restriction_grounds
    ):
        return []
    grounds = ", ".join(g.value for g in request.restriction_grounds) or "none recorded"
    return [
        Denial(
            ReleaseBlockedError,
            f"classification {request.classification.value!r} is not releasable"
            f" (grounds: {grounds})",
        )
    ]


def _guard_denials(
    definition: WorkflowDefinition,
    spec: TransitionSpec,
    ctx: PolicyContext,
    request: Request,
) -> list[Denial]:
    denials: list[Denial] = []
    for guard in spec.guards:
        if guard == "approvals_complete":
            denials.extend(_approvals_missing(definition, request))
        elif guard == "classification_releasable":
            denials.extend(_classification_denials(request))
        elif guard.startswith(HOST_GUARD_PREFIX):
            denials.extend(_host_guard(guard, ctx, request))
    return denials


def _host_guard(guard: str, ctx: PolicyContext, request: Request) -> list[Denial]:
    name = guard.removeprefix(HOST_GUARD_PREFIX)
    host_guard = ctx.host_guards.get(name)
    if host_guard is None:  # fail closed: a definition names a guard nobody registered
        return [Denial(NotPermittedError, f"guard {name!r} is not registered")]
    reason = host_guard(request, ctx)
    if reason is None:
        return []
    return [Denial(NotPermittedError, f"guard {name!r}: {reason}")]


def evaluate(
    definition: WorkflowDefinition,
    spec: TransitionSpec,
    ctx: PolicyContext,
    request: Request,
) -> list[Denial]:
    """Every reason ``ctx.actor`` may not fire ``spec`` on ``request`` now.

    An empty list means allowed. Payload checks are not made here.
    """
    denials = _role_denials(spec, ctx, request)
    if spec.action is Action.APPROVE:
        denials.extend(_approval_denials(definition, spec, ctx, request))
    elif spec.action is Action.RELEASE:
        if not _speaker(ctx, request):
            denials.append(
                Denial(
                    NotPermittedError,
                    "releasing needs the head, the spokesperson or an active"
                    " authorisation covering this request (Decree 09 Art. 3)",
                )
            )
        denials.extend(_approvals_missing(definition, request))
        denials.extend(_classification_denials(request))
    denials.extend(_guard_denials(definition, spec, ctx, request))
    return denials


def raise_first(denials: Sequence[Denial], *, actor: str, trigger: str) -> None:
    """Raise the most specific error for ``denials`` (no-op when empty)."""
    if not denials:
        return
    order: tuple[type[PolicyError], ...] = (
        NotPermittedError,
        SeparationOfDutiesError,
        StaleApprovalError,
        ReleaseBlockedError,
    )
    for error in order:
        chosen = [d for d in denials if d.error is error]
        if not chosen:
            continue
        if error is ReleaseBlockedError:
            raise ReleaseBlockedError(
                [d.message for d in chosen], actor=actor, trigger=trigger
            )
        raise error(chosen[0].message, actor=actor, trigger=trigger)
    raise NotPermittedError(denials[0].message, actor=actor, trigger=trigger)


def describe(denials: Sequence[Denial]) -> tuple[str, ...]:
    """The denial messages, for :class:`~releaseflow.models.TriggerOption`."""
    return tuple(d.message for d in denials)
