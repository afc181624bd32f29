"""A request's audit trail in words: who did what, under which role and rule.

:func:`explain_entries` walks one request's entries in order and keeps track of the
approvals in force (an edit makes them stale; a revision or revocation withdraws
them), so a release line can say which approvals opened the release gate.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC
from typing import Any

from .definitions import Action, TransitionSpec
from .exceptions import ReleaseflowError
from .models import AuditEntry
from .vocabulary import AuditEvent

__all__ = ["SpecLookup", "explain_entries"]

#: Finds the transition an entry fired: ``(definition key, from_state, trigger)``.
SpecLookup = Callable[[str, str, str], TransitionSpec | None]


def _when(entry: AuditEntry) -> str:
    return entry.at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _who(entry: AuditEntry) -> str:
    roles = ", ".join(entry.roles) if entry.roles else "no role"
    return f"{entry.actor} ({roles})"


def _short(digest: object) -> str:
    return f"{str(digest)[:8]}…" if digest else "?"


def _quote(value: object) -> str:
    text = str(value).replace("\n", " ")
    return f"“{text[:300]}”"


class _Gate:
    """Approvals in force on the current content, by stage."""

    def __init__(self) -> None:
        self.by_stage: dict[str, list[str]] = {}

    def describe(self) -> str:
        if not self.by_stage:
            return "no approvals in force"
        return "; ".join(
            f"{stage} by {', '.join(actors)}"
            for stage, actors in self.by_stage.items()
            if actors
        )


def _deadlines(payload: dict[str, Any]) -> str:
    found = payload.get("deadlines")
    if not isinstance(found, list) or not found:
        return ""
    parts = [
        f"{d.get('rule_id')} {d.get('status')} (due {d.get('due_at')})"
        for d in found
        if isinstance(d, dict)
    ]
    return "; deadlines: " + ", ".join(parts)


def _transition(entry: AuditEntry, spec: TransitionSpec | None, gate: _Gate) -> str:
    p = entry.payload
    base = (
        f"{_who(entry)} fired {entry.trigger!r}: {entry.from_state} → {entry.to_state}"
    )
    action = spec.action if spec is not None else None
    if action is Action.REFUSE or "ground" in p:
        base += f"; refused under ground {p.get('ground')!r}, reasons: {_quote(p.get('reasons', ''))}"
    elif action is Action.RELEASE or "form" in p:
        base += (
            f"; released content {_short(entry.content_hash)} as {p.get('form')!r}"
            f"; release gate: {gate.describe()}"
        )
    if action is Action.REVISE:
        gate.by_stage.clear()
        base += "; every approval withdrawn"
    if "reason" in p and action is not Action.REFUSE:
        base += f"; reason: {_quote(p['reason'])}"
    return base + _deadlines(p)


def _line(entry: AuditEntry, spec: TransitionSpec | None, gate: _Gate) -> str:
    p = entry.payload
    event = entry.event
    if event is AuditEvent.CREATED:
        kind = entry.request_kind.value if entry.request_kind else "?"
        return (
            f"{_who(entry)} created a {kind} request in unit {entry.unit}"
            f" (definition {p.get('definition')}, channel {p.get('channel')},"
            f" received {p.get('received_at')}); state {entry.to_state}"
        )
    if event is AuditEvent.APPROVED:
        stage = spec.stage if spec is not None and spec.stage else entry.trigger
        gate.by_stage.setdefault(str(stage), []).append(entry.actor)
        done = (
            f"stage complete, {entry.from_state} → {entry.to_state}"
            if entry.from_state != entry.to_state
            else "stage needs more approvals"
        )
        return (
            f"{_who(entry)} approved stage {stage!r} of content"
            f" {_short(entry.content_hash)} ({done}); release gate: {gate.describe()}"
        )
    if event is AuditEvent.APPROVAL_REVOKED:
        stage = str(p.get("stage"))
        revoked = [str(a) for a in p.get("revoked", [])]
        gate.by_stage[stage] = [
            a for a in gate.by_stage.get(stage, []) if a not in revoked
        ]
        return (
            f"{_who(entry)} revoked the approval of stage {stage!r} by"
            f" {', '.join(revoked) or '?'}; reason: {_quote(p.get('reason', ''))}"
        )
    if event is AuditEvent.EDITED:
        gate.by_stage.clear()
        return (
            f"{_who(entry)} edited the content ({_short(p.get('previous_content_hash'))}"
            f" → {_short(entry.content_hash)}); earlier approvals are stale"
            + (f"; reason: {_quote(p['reason'])}" if p.get("reason") else "")
        )
    if event is AuditEvent.CLASSIFIED:
        grounds = ", ".join(str(g) for g in p.get("grounds", [])) or "none"
        return (
            f"{_who(entry)} classified the content {p.get('classification')}"
            f" (was {p.get('previous')}), grounds: {grounds};"
            f" reason: {_quote(p.get('reason', ''))}"
        )
    if event is AuditEvent.DEADLINES_RECOMPUTED:
        return (
            f"{_who(entry)} changed the calendar ({p.get('legal_source')},"
            f" {p.get('override_day')}): deadlines moved from {p.get('before')}"
            f" to {p.get('after')}"
        )
    if event is AuditEvent.DRAFT_COMMENTED:
        return (
            f"{_who(entry)} commented on draft {_short(entry.content_hash)} at"
            f" stage {p.get('stage')!r}: {_quote(p.get('text', ''))}"
        )
    if event is AuditEvent.TRANSITIONED:
        return _transition(entry, spec, gate)
    return f"{_who(entry)} {event.value} ({entry.trigger})"


def explain_entries(entries: Iterable[AuditEntry], lookup: SpecLookup) -> list[str]:
    """One sentence per entry, oldest first, prefixed with its UTC time."""
    gate = _Gate()
    lines: list[str] = []
    for entry in entries:
        spec: TransitionSpec | None = None
        definition = entry.payload.get("definition")
        if isinstance(definition, str) and entry.from_state and entry.trigger:
            try:
                spec = lookup(definition, entry.from_state, entry.trigger)
            except ReleaseflowError:
                spec = None
        lines.append(f"{_when(entry)} — {_line(entry, spec, gate)}")
    return lines
