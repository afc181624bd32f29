"""Rule sets: effective-dated collections of deadline rules, replaceable at run time."""

from __future__ import annotations

import hashlib
from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, model_validator

from releaseflow.deadlines.models import (
    DeadlineRule,
    Extension,
    KnownChannel,
    KnownKind,
    PeriodicObligation,
)
from releaseflow.exceptions import ValidationError

__all__ = ["RuleSet"]


def _check_on(on: object) -> date:
    """Accept a plain date (the local receipt date) only."""
    if not isinstance(on, date) or isinstance(on, datetime):
        raise ValidationError(
            "on must be a datetime.date (local receipt date)", field="on"
        )
    return on


class RuleSet(BaseModel):
    """An immutable collection of deadline rules and periodic obligations.

    Each rule carries its own effective dates, so one set holds every version
    (LATI 2016 and the amended LATI side by side); :meth:`rules_for` picks the
    rules in force on the receipt date.

    Attributes:
        name: Human name, e.g. ``"releaseflow-vn"``.
        rules: The deadline rules (unique ids).
        periodic: The periodic obligations (unique ids).
        extra_kinds: Kinds accepted even when no rule names them.
        extra_channels: Channels accepted even when no rule names them.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    rules: tuple[DeadlineRule, ...] = ()
    periodic: tuple[PeriodicObligation, ...] = ()
    extra_kinds: tuple[str, ...] = tuple(k.value for k in KnownKind)
    extra_channels: tuple[str, ...] = tuple(c.value for c in KnownChannel)

    @model_validator(mode="after")
    def _unique_ids(self) -> RuleSet:
        for label, ids in (
            ("rule", [r.id for r in self.rules]),
            ("periodic", [p.id for p in self.periodic]),
        ):
            dupes = sorted({i for i in ids if ids.count(i) > 1})
            if dupes:
                raise ValueError(f"duplicate {label} ids: {dupes}")
        return self

    @property
    def kinds(self) -> frozenset[str]:
        """Every kind this set accepts."""
        return frozenset(self.extra_kinds) | {r.kind for r in self.rules}

    @property
    def channels(self) -> frozenset[str]:
        """Every channel this set accepts."""
        named = {c for r in self.rules for c in r.channels}
        return frozenset(self.extra_channels) | named

    @property
    def fingerprint(self) -> str:
        """A 16-hex-digit SHA-256 prefix of the canonical JSON of the set."""
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()[:16]

    def rules_for(self, kind: str, channel: str, on: date) -> tuple[DeadlineRule, ...]:
        """Return the rules in force for ``kind`` and ``channel`` on receipt day ``on``.

        Args:
            kind: Request kind, e.g. ``"citizen_info_request"``.
            channel: Channel, e.g. ``"post"``.
            on: The local date the request was received.

        Returns:
            The matching rules (possibly empty: a known kind with no deadline).

        Raises:
            ValidationError: Unknown ``kind`` or ``channel`` (``field`` names
                it), or ``on`` is not a date.
        """
        self._check_known(kind, channel)
        day = _check_on(on)
        return tuple(
            r
            for r in self.rules
            if r.kind == kind and r.applies_to(channel) and r.in_force(day)
        )

    def _check_known(self, kind: str, channel: str) -> None:
        """Raise ValidationError for an unknown kind or channel."""
        if kind not in self.kinds:
            raise ValidationError(
                f"unknown request kind {kind!r}", field="kind", rule="known"
            )
        if channel not in self.channels:
            raise ValidationError(
                f"unknown channel {channel!r}", field="channel", rule="known"
            )

    def rule(self, rule_id: str) -> DeadlineRule:
        """Return the rule with id ``rule_id``.

        Args:
            rule_id: The rule id.

        Returns:
            The rule.

        Raises:
            ValidationError: No such rule (``field="rule_id"``).
        """
        for r in self.rules:
            if r.id == rule_id:
                return r
        raise ValidationError(f"unknown deadline rule {rule_id!r}", field="rule_id")

    def with_rule(self, rule: DeadlineRule) -> RuleSet:
        """Return a new set with ``rule`` added, replacing any rule with the same id.

        Args:
            rule: The rule (e.g. an agency's own press-inquiry deadline).

        Returns:
            A new rule set; this one is unchanged.
        """
        kept = tuple(r for r in self.rules if r.id != rule.id)
        return self.model_copy(update={"rules": (*kept, rule)})

    def without_rule(self, rule_id: str) -> RuleSet:
        """Return a new set without the rule ``rule_id``.

        Args:
            rule_id: The rule id to drop.

        Returns:
            A new rule set.

        Raises:
            ValidationError: No such rule.
        """
        self.rule(rule_id)
        return self.model_copy(
            update={"rules": tuple(r for r in self.rules if r.id != rule_id)}
        )

    def with_periodic(self, obligation: PeriodicObligation) -> RuleSet:
        """Return a new set with ``obligation`` added or replaced (same id).

        Args:
            obligation: The periodic obligation (e.g. for a department level).

        Returns:
            A new rule set.
        """
        kept = tuple(p for p in self.periodic if p.id != obligation.id)
        return self.model_copy(update={"periodic": (*kept, obligation)})

    def periodic_for(self, level: str, on: date) -> tuple[PeriodicObligation, ...]:
        """Return the periodic obligations binding ``level`` on ``on``.

        Args:
            level: Administrative level, e.g. ``"provincial_people_committee"``.
            on: The date.

        Returns:
            The obligations in force (possibly empty).
        """
        day = _check_on(on)
        return tuple(p for p in self.periodic if level in p.levels and p.in_force(day))

    def make_extension(self, rule_id: str, amount: int, reason: str) -> Extension:
        """Build an :class:`Extension` under the extension rule ``rule_id``.

        Args:
            rule_id: An ``is_maximum`` rule (e.g. ``"lati2016.extension"``).
            amount: The extension granted, 1..rule.amount.
            reason: Why (required).

        Returns:
            The extension, in the rule's unit.

        Raises:
            ValidationError: Unknown rule, not an extension rule, amount out of
                range (``field="amount"``) or empty reason.
        """
        rule = self.rule(rule_id)
        if not rule.is_maximum:
            raise ValidationError(
                f"{rule_id} is not an extension rule", field="rule_id"
            )
        if (
            isinstance(amount, bool)
            or not isinstance(amount, int)
            or not 1 <= amount <= rule.amount
        ):
            raise ValidationError(
                f"extension must be 1..{rule.amount} {rule.unit.value}",
                field="amount",
                rule="max",
            )
        if not reason or not reason.strip():
            raise ValidationError(
                "an extension needs a reason", field="reason", rule="required"
            )
        return Extension(
            amount=amount,
            unit=rule.unit,
            reason=reason,
            rule_id=rule.id,
            legal_source=rule.legal_source,
        )
