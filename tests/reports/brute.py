"""Brute-force counts over ``flow.find`` and the request documents, for checking."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, time, timedelta, timezone

import releaseflow as rf
from releaseflow.models import DeadlineStatus

VN = timezone(timedelta(hours=7))


def in_q3(r: rf.Request) -> bool:
    local = r.received_at.astimezone(VN)
    return datetime(2026, 7, 1, tzinfo=VN) <= local < datetime(2026, 10, 1, tzinfo=VN)


def requests(flow: rf.ReleaseFlow, unit: str | None = None) -> list[rf.Request]:
    found: list[rf.Request] = []
    for kind in rf.RequestKind:
        filters = {"kind": kind, "limit": 1000}
        if unit:
            filters["unit"] = unit
        found += flow.find(**filters)
    return [r for r in found if in_q3(r)]


def outcome(r: rf.Request, cutoff: datetime) -> str:
    if r.release is not None and r.release.at < cutoff:
        return "released"
    if r.refusal is not None and r.refusal.at < cutoff:
        return "refused"
    if r.state == "withdrawn":
        return "withdrawn"
    return "pending"


def deadline_states(r: rf.Request, cutoff: datetime) -> dict[str, str]:
    out = {}
    for d in r.deadlines:
        if d.status is DeadlineStatus.CANCELLED:
            continue
        if d.status is DeadlineStatus.MET and d.met_at is not None:
            out[d.rule_id] = "met" if d.met_at < d.due_at else "missed"
        else:
            out[d.rule_id] = "missed" if d.due_at <= cutoff else "open"
    return out


def counter(values: list[str]) -> dict[str, int]:
    return dict(Counter(values))


def local_day_end(day: datetime) -> datetime:
    return datetime.combine(day.date(), time(0), VN)
