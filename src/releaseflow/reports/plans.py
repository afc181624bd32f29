"""``plan_progress(flow, plan_id)``: a plan's progress and commissioned work, traceable.

Every figure carries the ids behind it (plan item ids, request ids or task ids), and
the report records the audit heads it was computed at, like :func:`build`. Progress,
tasks and heads are read in one unit of work, so they describe one state.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from ..chain import anchor_digest
from ..models import ChainHead
from ..planning import (
    CommissionedTask,
    ItemStatus,
    PlanProgress,
    TaskState,
    compute_progress,
)
from .model import Figure
from .period import AGENCY_TZ

if TYPE_CHECKING:
    from uuid import UUID

    from ..service import ReleaseFlow

__all__ = ["CommissionFigures", "PlanReport", "plan_progress"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CommissionFigures(_Frozen):
    """Commissioned tasks (đặt hàng) under the plan."""

    tasks: Figure
    """Every task (ids: task ids)."""
    budget_vnd: int = Field(ge=0)
    """Total budget of tasks not cancelled."""
    by_state: dict[str, Figure]
    """Tasks per state: ordered, delivered, cancelled."""
    delivered_budget_vnd: int = Field(ge=0)


class PlanReport(_Frozen):
    """A plan's progress (items by status, unplanned work) and commissioned work."""

    plan_id: str
    plan_version: int
    unit: str
    year: int
    as_of: date
    items: dict[str, Figure]
    """Items per status (ids: plan item ids): done, late, not_started."""
    done_by: Figure
    """Released requests that made items done (ids: request ids)."""
    unplanned: Figure
    """Released requests of the unit and year no item links (ids: request ids)."""
    commissions: CommissionFigures
    heads: tuple[ChainHead, ...]
    anchor_digest: str
    generated_at: AwareDatetime


def plan_progress(
    flow: ReleaseFlow, plan_id: UUID | str, as_of: date | None = None
) -> PlanReport:
    """The progress of plan ``plan_id`` at the end of ``as_of`` (default: today)."""
    from ..planning import _uuid

    pid = _uuid(plan_id, "plan_id")
    now = flow.now()
    day = as_of or now.astimezone(AGENCY_TZ).date()
    with flow.store.unit_of_work(write=False) as uow:
        progress = compute_progress(uow, pid, day)
        tasks = uow.media.tasks(plan_id=pid)
        heads = tuple(sorted(uow.audit.heads(), key=lambda h: h.ledger))
    return _assemble(progress, tasks, heads, now)


def _assemble(
    progress: PlanProgress,
    tasks: list[CommissionedTask],
    heads: tuple[ChainHead, ...],
    now: datetime,
) -> PlanReport:
    by_state = {
        s.value: Figure.of(str(t.id) for t in tasks if t.state is s) for s in TaskState
    }
    live = [t for t in tasks if t.state is not TaskState.CANCELLED]
    return PlanReport(
        plan_id=str(progress.plan_id),
        plan_version=progress.plan_version,
        unit=progress.unit,
        year=progress.year,
        as_of=progress.as_of,
        items={s.value: Figure.of(str(i) for i in progress.ids(s)) for s in ItemStatus},
        done_by=Figure.of(str(r) for i in progress.items for r in i.released_ids),
        unplanned=Figure.of(str(r) for r in progress.unplanned),
        commissions=CommissionFigures(
            tasks=Figure.of(str(t.id) for t in tasks),
            budget_vnd=sum(t.budget_vnd for t in live),
            by_state=by_state,
            delivered_budget_vnd=sum(
                t.budget_vnd for t in tasks if t.state is TaskState.DELIVERED
            ),
        ),
        heads=heads,
        anchor_digest=anchor_digest(heads),
        generated_at=now,
    )
