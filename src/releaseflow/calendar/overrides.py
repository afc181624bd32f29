"""The override table: project- or agency-owned corrections on top of a base calendar.

Each entry sets the status of one date and names the announcement behind it:

* ``extra_day_off``: the office is closed (a swapped weekday, a one-off day off);
* ``makeup_workday``: the office is open (a make-up Saturday);
* ``not_a_holiday``: ignore the base calendar's entry for the date; the day is then
  what its weekday makes it (Monday-Friday working, weekend rest).

A table is immutable. :meth:`OverrideTable.with_overrides` returns a new table in
which later entries replace earlier ones for the same date, so an agency can
correct a shipped entry at run time. :attr:`OverrideTable.fingerprint` changes with
any entry.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from importlib import resources
from typing import Any

import yaml

from releaseflow.exceptions import CalendarError

__all__ = [
    "CalendarOverride",
    "OverrideKind",
    "OverrideTable",
    "load_overrides_yaml",
    "shipped_vn_overrides",
]

_SHIPPED_VN = "vn_overrides.yaml"


class OverrideKind(StrEnum):
    """What an override does to its date."""

    EXTRA_DAY_OFF = "extra_day_off"
    MAKEUP_WORKDAY = "makeup_workday"
    NOT_A_HOLIDAY = "not_a_holiday"


@dataclass(frozen=True, slots=True)
class CalendarOverride:
    """One correction: the status of ``day`` and the announcement that decided it.

    Attributes:
        day: The date concerned.
        kind: What the override does.
        name: A short human name (e.g. "New Year swap: day off").
        legal_source: The announcement or law (number, date, issuer). Required.
        note: Free text: uncertainty, verification status, the counterpart day.
        verified: False if the source was not read in the primary text.

    Raises:
        CalendarError: ``legal_source`` or ``name`` is empty, or a field has the
            wrong type.
    """

    day: date
    kind: OverrideKind
    name: str
    legal_source: str
    note: str = ""
    verified: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.day, date) or isinstance(self.day, datetime):
            raise CalendarError("override day must be a date", field="day", rule="type")
        if not isinstance(self.kind, OverrideKind):
            raise CalendarError("override kind is invalid", field="kind", rule="enum")
        for field in ("name", "legal_source"):
            value = getattr(self, field)
            if not isinstance(value, str) or not value.strip():
                raise CalendarError(
                    f"override for {self.day.isoformat()} needs a non-empty {field}",
                    field=field,
                    rule="required",
                )

    def as_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (for audit entries and fingerprints).

        Returns:
            The override's fields with the date as an ISO string.
        """
        return {
            "date": self.day.isoformat(),
            "kind": self.kind.value,
            "name": self.name,
            "legal_source": self.legal_source,
            "note": self.note,
            "verified": self.verified,
        }

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> CalendarOverride:
        """Build an override from a mapping such as a YAML entry.

        Args:
            raw: Keys ``date``, ``kind``, ``name``, ``legal_source`` and
                optionally ``note`` and ``verified``.

        Returns:
            The override.

        Raises:
            CalendarError: A key is missing or a value is invalid.
        """
        try:
            kind = OverrideKind(raw["kind"])
        except (KeyError, ValueError) as exc:
            raise CalendarError(f"bad override kind in {raw!r}", field="kind") from exc
        return cls(
            day=_parse_date(raw.get("date")),
            kind=kind,
            name=str(raw.get("name") or ""),
            legal_source=str(raw.get("legal_source") or ""),
            note=str(raw.get("note") or ""),
            verified=bool(raw.get("verified", True)),
        )


def _parse_date(value: object) -> date:
    """Accept a date or an ISO string; raise CalendarError otherwise."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError as exc:
            raise CalendarError(f"bad date {value!r}", field="date") from exc
    raise CalendarError(f"bad date {value!r}", field="date", rule="type")


class OverrideTable:
    """An immutable, fingerprinted set of overrides, at most one per date."""

    __slots__ = ("_by_day",)

    def __init__(self, overrides: Iterable[CalendarOverride] = ()) -> None:
        by_day: dict[date, CalendarOverride] = {}
        for entry in overrides:
            if not isinstance(entry, CalendarOverride):
                raise CalendarError(
                    "not a CalendarOverride", field="overrides", rule="type"
                )
            if entry.day in by_day and by_day[entry.day] != entry:
                raise CalendarError(
                    f"two different overrides for {entry.day.isoformat()}",
                    field="overrides",
                    rule="one_per_date",
                )
            by_day[entry.day] = entry
        self._by_day = dict(sorted(by_day.items()))

    def get(self, day: date) -> CalendarOverride | None:
        """Return the override for ``day``, if any.

        Args:
            day: The date to look up.

        Returns:
            The override or None.
        """
        return self._by_day.get(day)

    @property
    def entries(self) -> tuple[CalendarOverride, ...]:
        """All overrides in date order."""
        return tuple(self._by_day.values())

    def with_overrides(self, overrides: Iterable[CalendarOverride]) -> OverrideTable:
        """Return a new table with ``overrides`` added.

        A new entry replaces an existing one for the same date (agency
        corrections win over shipped data); two different new entries for one
        date are an error.

        Args:
            overrides: The entries to add.

        Returns:
            A new table; this one is unchanged.

        Raises:
            CalendarError: An entry is invalid or two new entries clash.
        """
        added = OverrideTable(overrides)
        merged = {**self._by_day, **added._by_day}
        return OverrideTable(merged.values())

    @property
    def fingerprint(self) -> str:
        """A 16-hex-digit SHA-256 prefix over the canonical JSON of the entries."""
        payload = json.dumps([e.as_dict() for e in self.entries], sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    def __len__(self) -> int:
        return len(self._by_day)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, OverrideTable) and self._by_day == other._by_day

    def __hash__(self) -> int:
        return hash(self.fingerprint)


def load_overrides_yaml(text: str) -> tuple[CalendarOverride, ...]:
    """Parse overrides from YAML text (the format of the shipped data file).

    Args:
        text: A YAML document with a top-level ``overrides`` list.

    Returns:
        The overrides in file order.

    Raises:
        CalendarError: The document is malformed or an entry is invalid.
    """
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CalendarError(f"invalid YAML: {exc}", field="overrides") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("overrides"), list):
        raise CalendarError(
            "expected a mapping with an 'overrides' list", field="overrides"
        )
    entries = []
    for raw in doc["overrides"]:
        if not isinstance(raw, dict):
            raise CalendarError(
                f"override entry {raw!r} is not a mapping", field="overrides"
            )
        entries.append(CalendarOverride.from_mapping(raw))
    return tuple(entries)


def shipped_vn_overrides() -> tuple[CalendarOverride, ...]:
    """Return the overrides shipped in ``releaseflow/calendar/data/vn_overrides.yaml``.

    Returns:
        The shipped Vietnamese overrides.
    """
    ref = resources.files("releaseflow.calendar").joinpath("data", _SHIPPED_VN)
    return load_overrides_yaml(ref.read_text(encoding="utf-8"))
