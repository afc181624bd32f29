"""The audit streams plan and media changes are chained on, and the entry writer."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from ..directory import append_directory_entry
from ..models import AuditEntry
from ..ports import UnitOfWork
from ..vocabulary import AuditEvent

if TYPE_CHECKING:
    from ..service import ReleaseFlow

#: The audit stream plan changes are chained on.
PLANNING_STREAM: Final = "planning"
#: The audit stream press-contact and commissioned-task changes are chained on.
MEDIA_STREAM: Final = "media"


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
