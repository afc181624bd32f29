"""Deny-by-default role checks for the planning services."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..exceptions import NotPermittedError
from ..ports import UnitOfWork
from ..vocabulary import Role

if TYPE_CHECKING:
    from ..service import ReleaseFlow


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
