"""Deadline rules as data: what period applies, from when, on which legal basis."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

__all__ = [
    "DeadlineRule",
    "Extension",
    "Flag",
    "KnownChannel",
    "KnownKind",
    "PeriodicObligation",
    "StartRule",
    "Unit",
]

Slug = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]
Text = Annotated[str, StringConstraints(min_length=1, strip_whitespace=True)]


class Unit(StrEnum):
    """The unit a period is counted in."""

    WORKING_DAYS = "working_days"
    CALENDAR_DAYS = "calendar_days"
    HOURS = "hours"


class StartRule(StrEnum):
    """When counting starts."""

    DAY_AFTER_RECEIPT = "day_after_receipt"
    """Civil Code Art. 147: the day of receipt is not counted."""
    FROM_MOMENT = "from_moment"
    """Hour periods: from the exact moment of the trigger (Art. 147(1))."""
    DAY_AFTER_PREVIOUS_DEADLINE = "day_after_previous_deadline"
    """Extensions: counted from the end of the original period."""


class Flag(StrEnum):
    """How sure we are of the rule (see domain reference)."""

    CONFIRMED = "C"
    CONFIRMED_INDIRECTLY = "C2"
    UNCONFIRMED = "U"
    AGENCY_DEFAULT = "agency_default"


class KnownKind(StrEnum):
    """Request kinds the shipped rules know (the core maps its enums to these)."""

    CITIZEN_INFO_REQUEST = "citizen_info_request"
    PRESS_INQUIRY = "press_inquiry"
    INCIDENT_STATEMENT = "incident_statement"
    DISCLOSURE_CORRECTION_PROPOSAL = "disclosure_correction_proposal"
    PERIODIC_RELEASE = "periodic_release"
    REPORT_REQUEST = "report_request"
    CORRECTION_REQUEST = "correction_request"
    FAKE_NEWS_RESPONSE = "fake_news_response"


class KnownChannel(StrEnum):
    """Channels a request can arrive through."""

    POST = "post"
    FAX = "fax"
    ELECTRONIC = "electronic"
    IN_PERSON = "in_person"
    PHONE = "phone"
    INTERNAL = "internal"


class DeadlineRule(BaseModel):
    """One legal or agency-set period.

    Attributes:
        id: Stable identifier, e.g. ``"lati2016.post_fax.simple"``.
        kind: Request kind (lowercase snake_case).
        channels: Channels it applies to; empty means every channel.
        step: What must be done by the deadline, e.g. ``"provide"``,
            ``"notify_deadline"``, ``"extension"``.
        complexity: ``"simple"``, ``"complex"`` or ``"any"``.
        amount: The period length (for ``is_maximum`` rules: the maximum).
        unit: Its unit.
        start_rule: When counting starts.
        legal_source: Article and instrument, or "agency default".
        flag: Confidence flag.
        effective_from: First receipt date the rule applies to (inclusive).
        effective_to: Last receipt date it applies to (inclusive), or None.
        is_maximum: True if ``amount`` is an upper bound chosen case by case
            (extensions).
        note: Free text (settings, uncertainty).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: Annotated[str, StringConstraints(pattern=r"^[a-z0-9_.\-]+$", max_length=120)]
    kind: Slug
    channels: tuple[Slug, ...] = ()
    step: Slug = "respond"
    complexity: Slug = "any"
    amount: Annotated[int, Field(ge=0, le=10_000)]
    unit: Unit
    start_rule: StartRule = StartRule.DAY_AFTER_RECEIPT
    legal_source: Text
    flag: Flag
    effective_from: date
    effective_to: date | None = None
    is_maximum: bool = False
    note: str = ""

    @model_validator(mode="after")
    def _check(self) -> DeadlineRule:
        if self.effective_to is not None and self.effective_to < self.effective_from:
            raise ValueError("effective_to is before effective_from")
        hourly = self.unit is Unit.HOURS
        if hourly != (self.start_rule is StartRule.FROM_MOMENT):
            raise ValueError(
                "hour rules start from the moment; day rules the day after"
            )
        return self

    def in_force(self, on: date) -> bool:
        """Return True if the rule applies to something received on ``on``.

        Args:
            on: The local receipt date.

        Returns:
            Whether ``effective_from <= on <= effective_to``.
        """
        return self.effective_from <= on and (
            self.effective_to is None or on <= self.effective_to
        )

    def applies_to(self, channel: str) -> bool:
        """Return True if the rule covers ``channel``.

        Args:
            channel: A channel string.

        Returns:
            True if ``channels`` is empty or contains ``channel``.
        """
        return not self.channels or channel in self.channels


class Extension(BaseModel):
    """An extension granted on a deadline (LATI Art. 31(2): written notice, reason).

    Attributes:
        amount: Length of the extension.
        unit: Its unit (for LATI, the documented ``extension_unit`` setting).
        reason: Why it was granted (required, audited by the engine).
        rule_id: The extension rule it was granted under, if any.
        legal_source: The basis, copied from the rule.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    amount: Annotated[int, Field(ge=1, le=10_000)]
    unit: Unit
    reason: Text
    rule_id: str | None = None
    legal_source: str = ""


class PeriodicObligation(BaseModel):
    """A recurring release duty (Decree 09 Art. 5), per administrative level.

    Attributes:
        id: Stable identifier.
        obligation: ``"monthly_information"``, ``"press_conference"``...
        levels: Administrative levels it binds (e.g. ``"ministry"``,
            ``"provincial_people_committee"``).
        every_months: Maximum months between two occurrences.
        legal_source: Article and instrument.
        flag: Confidence flag.
        effective_from: First day in force (inclusive).
        effective_to: Last day in force (inclusive), or None.
        note: Free text.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: Annotated[str, StringConstraints(pattern=r"^[a-z0-9_.\-]+$", max_length=120)]
    obligation: Slug
    levels: tuple[Slug, ...]
    every_months: Annotated[int, Field(ge=1, le=120)]
    legal_source: Text
    flag: Flag
    effective_from: date
    effective_to: date | None = None
    note: str = ""

    def in_force(self, on: date) -> bool:
        """Return True if the obligation applies on ``on``.

        Args:
            on: The date.

        Returns:
            Whether ``effective_from <= on <= effective_to``.
        """
        return self.effective_from <= on and (
            self.effective_to is None or on <= self.effective_to
        )
