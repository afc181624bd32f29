"""Deadlines on requests: planned at receipt, paused, extended, met, recomputed.

Pure functions over frozen models; the service calls them inside the unit of work so
a deadline change is part of the same version bump and audit entry as its cause.

* **Plan** at creation: the rules in force on the local receipt date for the
  request's kind and channel (``RuleSet.rules_for``), of complexity ``any`` or
  ``simple`` (a citizen request is simple until assessed otherwise).
* **Re-plan** on a transition with ``deadline_effect: set_complexity``: deadlines of
  the other complexity are cancelled, the new complexity's rules start from the
  original receipt (LATI Art. 31 counts from the valid request).
* **Pause** while the request sits in a state with ``waits_on_requester``; the pause
  is closed on leaving it and the due time recomputed.
* **Extend** on ``deadline_effect: extend`` under the rule set's extension rule.
* **Meet**: a step listed in the definition's ``deadline_steps`` is met on entering
  one of its states; every other running deadline is met by a release or refusal;
  entering a final state cancels whatever still runs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final

from .calendar import WorkingCalendar, local_date
from .deadlines import DeadlineRule, Extension, Pause, RuleSet, compute_deadline
from .definitions import Action, DeadlineEffect, TransitionSpec, WorkflowDefinition
from .exceptions import CalendarError, ValidationError
from .models import (
    DeadlineExtension,
    DeadlineStatus,
    PauseSpan,
    Request,
    TrackedDeadline,
)

__all__ = ["COMPLEXITIES", "DeadlinePlanner", "DeadlineState", "DeadlineView"]

#: The complexity values a ``set_complexity`` transition accepts.
COMPLEXITIES: Final = ("simple", "complex")


class DeadlineState(StrEnum):
    """A deadline's state as seen now (what ``flow.deadlines`` reports)."""

    RUNNING = "running"
    DUE_SOON = "due_soon"
    PAUSED = "paused"
    MET = "met"
    MISSED = "missed"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class DeadlineView:
    """One deadline of a request, with its state now and its explanation."""

    rule_id: str
    step: str
    state: DeadlineState
    due_at: datetime
    met_at: datetime | None
    legal_source: str
    explanation: tuple[str, ...]


class DeadlinePlanner:
    """Computes and updates the deadlines a request carries."""

    def __init__(
        self, calendar: WorkingCalendar, rules: RuleSet, *, due_soon: timedelta
    ) -> None:
        self.calendar = calendar
        self.rules = rules
        self.due_soon = due_soon

    # -- planning -----------------------------------------------------------------

    def _rules(self, request: Request, complexity: str) -> list[DeadlineRule]:
        kind, channel = request.kind.value, request.channel.value
        if kind not in self.rules.kinds or channel not in self.rules.channels:
            return []
        day = local_date(request.received_at, self.calendar.timezone, "received_at")
        found = self.rules.rules_for(kind, channel, day)
        return [
            r for r in found if not r.is_maximum and r.complexity in ("any", complexity)
        ]

    def plan(
        self, request: Request, complexity: str = "simple"
    ) -> tuple[TrackedDeadline, ...]:
        """The deadlines a newly received request starts with."""
        return tuple(
            self._track(rule, request.received_at)
            for rule in self._rules(request, complexity)
        )

    def _track(
        self,
        rule: DeadlineRule,
        received_at: datetime,
        pauses: tuple[PauseSpan, ...] = (),
        extension: DeadlineExtension | None = None,
    ) -> TrackedDeadline:
        closed = [
            Pause(start=p.start, end=p.end, reason=p.reason) for p in pauses if p.end
        ]
        ext = None
        if extension is not None:
            ext = Extension.model_validate(extension.model_dump())
        result = compute_deadline(rule, received_at, self.calendar, closed, ext)
        return TrackedDeadline(
            rule_id=rule.id,
            step=rule.step,
            complexity=rule.complexity,
            amount=rule.amount,
            unit=rule.unit.value,
            legal_source=rule.legal_source,
            flag=rule.flag.value,
            received_at=received_at,
            due_at=result.due_at,
            pauses=pauses,
            extension=extension,
            calendar_version=self.calendar.version,
            explanation=tuple(result.explanation()),
        )

    def recompute(self, deadline: TrackedDeadline) -> TrackedDeadline:
        """The same deadline under the current calendar (open pause kept open)."""
        fresh = self._track(
            self.rules.rule(deadline.rule_id),
            deadline.received_at,
            deadline.pauses,
            deadline.extension,
        )
        return fresh.model_copy(
            update={"status": deadline.status, "met_at": deadline.met_at}
        )

    # -- transitions ----------------------------------------------------------------

    def on_transition(
        self,
        definition: WorkflowDefinition,
        spec: TransitionSpec,
        before: Request,
        after: Request,
        payload: dict[str, object],
        now: datetime,
    ) -> tuple[TrackedDeadline, ...]:
        """The deadlines after ``spec`` moved ``before`` to ``after`` at ``now``."""
        deadlines = before.deadlines
        if spec.deadline_effect is DeadlineEffect.SET_COMPLEXITY:
            deadlines = self._replan(before, deadlines, payload.get("complexity"))
        elif spec.deadline_effect is DeadlineEffect.EXTEND:
            deadlines = self._extend(deadlines, payload, now)
        was_waiting = definition.state(before.state).waits_on_requester
        waiting = definition.state(after.state).waits_on_requester
        if waiting and not was_waiting:
            deadlines = tuple(self._pause(d, now, after.state) for d in deadlines)
        elif was_waiting and not waiting:
            deadlines = tuple(self._resume(d, now) for d in deadlines)
        return self._settle(definition, spec, after.state, deadlines, now)

    def _replan(
        self, request: Request, deadlines: tuple[TrackedDeadline, ...], value: object
    ) -> tuple[TrackedDeadline, ...]:
        if value not in COMPLEXITIES:
            raise ValidationError(
                f"complexity must be one of {', '.join(COMPLEXITIES)}",
                field="complexity",
                rule="enum",
            )
        assert isinstance(value, str)
        kept = [d for d in deadlines if d.complexity in ("any", value) or _closed(d)]
        cancelled = [
            d.model_copy(update={"status": DeadlineStatus.CANCELLED})
            for d in deadlines
            if d not in kept
        ]
        have = {d.rule_id for d in kept}
        fresh = [
            self._track(rule, request.received_at)
            for rule in self._rules(request, value)
            if rule.id not in have
        ]
        return (*kept, *cancelled, *fresh)

    def _extend(
        self,
        deadlines: tuple[TrackedDeadline, ...],
        payload: dict[str, object],
        now: datetime,
    ) -> tuple[TrackedDeadline, ...]:
        rule = next((r for r in self.rules.rules if r.is_maximum), None)
        if rule is None:
            raise ValidationError("no extension rule is configured", field="extension")
        amount = payload.get("extension")
        if not isinstance(amount, int) or isinstance(amount, bool):
            raise ValidationError("extension must be a whole number", field="extension")
        granted = self.rules.make_extension(
            rule.id, amount, str(payload.get("reason", ""))
        )
        extension = DeadlineExtension.model_validate(granted.model_dump(mode="json"))
        extended: list[TrackedDeadline] = []
        for d in deadlines:
            if _closed(d) or d.extension is not None:
                extended.append(d)
                continue
            if now >= d.due_at:
                raise ValidationError(
                    f"deadline {d.rule_id} already passed: an extension must be"
                    " notified within the original time limit",
                    field="extension",
                    rule="within_time_limit",
                )
            fresh = self._track(
                self.rules.rule(d.rule_id), d.received_at, d.pauses, extension
            )
            extended.append(fresh.model_copy(update={"status": d.status}))
        return tuple(extended)

    def _pause(self, d: TrackedDeadline, now: datetime, state: str) -> TrackedDeadline:
        if d.status is not DeadlineStatus.RUNNING or now >= d.due_at:
            return d
        return d.model_copy(
            update={
                "status": DeadlineStatus.PAUSED,
                "pauses": (
                    *d.pauses,
                    PauseSpan(start=now, reason=f"waiting in {state}"),
                ),
            }
        )

    def _resume(self, d: TrackedDeadline, now: datetime) -> TrackedDeadline:
        if d.status is not DeadlineStatus.PAUSED or not d.pauses:
            return d
        last = d.pauses[-1].model_copy(update={"end": now})
        try:
            fresh = self._track(
                self.rules.rule(d.rule_id),
                d.received_at,
                (*d.pauses[:-1], last),
                d.extension,
            )
        except CalendarError:
            return d.model_copy(update={"status": DeadlineStatus.RUNNING})
        return fresh

    def _settle(
        self,
        definition: WorkflowDefinition,
        spec: TransitionSpec,
        state: str,
        deadlines: tuple[TrackedDeadline, ...],
        now: datetime,
    ) -> tuple[TrackedDeadline, ...]:
        listed = definition.deadline_steps
        releasing = spec.action in (Action.RELEASE, Action.REFUSE)
        final = definition.state(state).final
        settled: list[TrackedDeadline] = []
        for d in deadlines:
            if _closed(d):
                settled.append(d)
            elif state in listed.get(d.step, ()) or (
                releasing and d.step not in listed
            ):
                settled.append(
                    d.model_copy(update={"status": DeadlineStatus.MET, "met_at": now})
                )
            elif final:
                settled.append(
                    d.model_copy(update={"status": DeadlineStatus.CANCELLED})
                )
            else:
                settled.append(d)
        return tuple(settled)

    # -- reading ------------------------------------------------------------------

    def view(self, d: TrackedDeadline, now: datetime) -> DeadlineView:
        """How ``d`` stands at ``now``."""
        return DeadlineView(
            rule_id=d.rule_id,
            step=d.step,
            state=self.state_of(d, now),
            due_at=d.due_at,
            met_at=d.met_at,
            legal_source=d.legal_source,
            explanation=d.explanation,
        )

    def state_of(self, d: TrackedDeadline, now: datetime) -> DeadlineState:
        """The state of ``d`` at ``now``."""
        if d.status is DeadlineStatus.CANCELLED:
            return DeadlineState.CANCELLED
        if d.status is DeadlineStatus.MET:
            assert d.met_at is not None
            return DeadlineState.MET if d.met_at < d.due_at else DeadlineState.MISSED
        if d.status is DeadlineStatus.PAUSED:
            return DeadlineState.PAUSED
        if now >= d.due_at:
            return DeadlineState.MISSED
        if d.due_at - now <= self.due_soon:
            return DeadlineState.DUE_SOON
        return DeadlineState.RUNNING


def _closed(d: TrackedDeadline) -> bool:
    return d.status in (DeadlineStatus.MET, DeadlineStatus.CANCELLED)


def open_deadlines(requests: Iterable[Request]) -> Iterable[Request]:
    """Requests that carry at least one running or paused deadline."""
    return (
        r
        for r in requests
        if any(
            d.status in (DeadlineStatus.RUNNING, DeadlineStatus.PAUSED)
            for d in r.deadlines
        )
    )
