"""A plan's progress at a date: items done, late or not started, and unplanned work."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Final
from uuid import UUID

from ..models import Request
from ..ports import UnitOfWork
from .models import ItemProgress, ItemStatus, PlanProgress
from .records import _covers

#: The agency's civil time (the same offset as ``releaseflow.reports.AGENCY_TZ``).
_AGENCY_TZ: Final = timezone(timedelta(hours=7), "Asia/Ho_Chi_Minh")


def _released(request: Request, cutoff: datetime) -> bool:
    return request.release is not None and request.release.at < cutoff.astimezone(UTC)


def compute_progress(uow: UnitOfWork, plan_id: UUID, day: date) -> PlanProgress:
    """A plan's progress at the end of ``day``, read inside ``uow``."""
    cutoff = datetime.combine(day + timedelta(days=1), time(0), _AGENCY_TZ)
    plan = uow.plans.get(plan_id)
    linked: set[UUID] = set()
    items = []
    for item in plan.items:
        requests = [uow.requests.get(rid) for rid in item.request_ids]
        released = tuple(r.id for r in requests if _released(r, cutoff))
        linked.update(item.request_ids)
        if released:
            status = ItemStatus.DONE
        elif item.planned_date < day:
            status = ItemStatus.LATE
        else:
            status = ItemStatus.NOT_STARTED
        items.append(
            ItemProgress(
                item_id=item.id,
                topic=item.topic,
                stage=item.stage,
                planned_date=item.planned_date,
                status=status,
                request_ids=item.request_ids,
                released_ids=released,
            )
        )
    unplanned = tuple(
        r.id
        for r in uow.requests.iter_all()
        if r.id not in linked
        and _covers(plan.unit, r.unit)
        and _released(r, cutoff)
        and r.release is not None
        and r.release.at.astimezone(_AGENCY_TZ).year == plan.year
    )
    return PlanProgress(
        plan_id=plan.id,
        plan_version=plan.version,
        unit=plan.unit,
        year=plan.year,
        as_of=day,
        items=tuple(items),
        unplanned=unplanned,
    )
