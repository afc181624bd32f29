"""``plan_progress(flow, plan_id)``: a plan's progress and commissioned work, traceable.

Every figure carries the ids behind it (plan item ids, request ids or task ids), and
the report records the audit heads it was computed at, like :func:`build`. Progress,
tasks and heads are read in one unit of work, so they describe one state.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from ..chain import anchor_digest
from ..models import ChainHead
from ..planning import (
    CommissionedTask,
    CommsPlan,
    ItemStatus,
    PlanProgress,
    TaskState,
    compute_progress,
)
from ..ports import UnitOfWork
from .model import Figure, PlanFigures
from .period import AGENCY_TZ, Period

if TYPE_CHECKING:
    from uuid import UUID

    from ..service import ReleaseFlow

__all__ = ["CommissionFigures", "PlanReport", "plan_figures", "plan_progress"]


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


def _covers(outer: str | None, inner: str) -> bool:
    return outer is None or inner == outer or inner.startswith(outer + "/")


def plan_figures(
    uow: UnitOfWork, unit: str | None, period: Period, cutoff: datetime
) -> tuple[PlanFigures, ...]:
    """Progress of every plan of ``unit`` (and sub-units) for the period's years.

    Each plan is measured at the end of the local day of the cut-off, with the
    rules of :func:`releaseflow.planning.compute_progress`; unplanned work is read
    from the requests' ``fact_released_at`` column on SQL (no document parsing).
    """
    day = (cutoff - timedelta(microseconds=1)).astimezone(AGENCY_TZ).date()
    out: list[PlanFigures] = []
    for year in range(period.first.year, period.last.year + 1):
        for plan in uow.plans.find(year=year):
            if _covers(unit, plan.unit):
                out.append(_plan(uow, plan, day))
    return tuple(sorted(out, key=lambda p: (p.unit, p.year, p.plan_id)))


def _plan(uow: UnitOfWork, plan: CommsPlan, day: date) -> PlanFigures:
    cutoff = datetime.combine(day + timedelta(days=1), time(0), AGENCY_TZ)
    linked: set[str] = set()
    status: dict[str, list[str]] = {s.value: [] for s in ItemStatus}
    done_by: list[str] = []
    for item in plan.items:
        released = [
            str(rid)
            for rid in item.request_ids
            if (r := uow.requests.get(rid)).release is not None
            and r.release.at < cutoff
        ]
        linked.update(str(rid) for rid in item.request_ids)
        done_by += released
        if released:
            state = ItemStatus.DONE
        elif item.planned_date < day:
            state = ItemStatus.LATE
        else:
            state = ItemStatus.NOT_STARTED
        status[state.value].append(str(item.id))
    first = datetime.combine(date(plan.year, 1, 1), time(0), AGENCY_TZ)
    after = datetime.combine(date(plan.year + 1, 1, 1), time(0), AGENCY_TZ)
    until = min(after, cutoff).astimezone(UTC)
    unplanned = [
        rid
        for rid in _released_between(uow, plan.unit, first.astimezone(UTC), until)
        if rid not in linked
    ]
    return PlanFigures(
        plan_id=str(plan.id),
        plan_version=plan.version,
        unit=plan.unit,
        year=plan.year,
        state=plan.state.value,
        as_of=day,
        items={k: Figure.of(v) for k, v in status.items()},
        done_by=Figure.of(done_by),
        unplanned=Figure.of(unplanned),
    )


def _released_between(
    uow: UnitOfWork, unit: str, start: datetime, end: datetime
) -> list[str]:
    """Ids of requests of ``unit`` (and sub-units) first released in [start, end)."""
    if hasattr(uow, "tables") and hasattr(uow, "connection"):
        return _released_sql(uow, unit, start, end)
    return [
        str(r.id)
        for r in uow.requests.iter_all()
        if r.release is not None
        and start <= r.release.at < end
        and _covers(unit, r.unit)
    ]


def _released_sql(uow: Any, unit: str, start: datetime, end: datetime) -> list[str]:
    import sqlalchemy as sa

    r = uow.tables.requests
    stmt = sa.select(r.c.id).where(
        r.c.fact_released_at >= start,
        r.c.fact_released_at < end,
        sa.or_(r.c.unit == unit, r.c.unit.startswith(unit + "/", autoescape=True)),
    )
    return [rid for (rid,) in uow.connection.execute(stmt)]
