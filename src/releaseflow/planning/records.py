"""Ids, unit paths and versioned record updates shared by the planning services."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

from pydantic import BaseModel

from ..exceptions import ConflictError, ValidationError
from ..models import UnitPath, parse
from .models import _Frozen


def _covers(outer: str, inner: str) -> bool:
    return inner == outer or inner.startswith(outer + "/")


def _uuid(value: UUID | str, field: str) -> UUID:
    if isinstance(value, UUID):
        return value
    try:
        return UUID(str(value))
    except ValueError as exc:
        raise ValidationError(f"{field} is not a UUID", field=field) from exc


def _unit_of(value: str, field: str) -> str:
    class _U(_Frozen):
        unit: UnitPath

    return parse(_U, {"unit": value}, prefix=f"{field}.").unit


def _known_fields(
    changes: Iterable[str], allowed: frozenset[str], noun: str, prefix: str = ""
) -> None:
    """Refuse an edit naming a field outside ``allowed`` (the first, sorted)."""
    unknown = sorted(set(changes) - allowed)
    if unknown:
        raise ValidationError(
            f"cannot edit {noun} field {unknown[0]!r}",
            field=f"{prefix}{unknown[0]}",
            rule="unknown_field",
        )


def _check_version(kind: str, rid: UUID, actual: int, expected: int | None) -> None:
    if expected is not None and actual != expected:
        raise ConflictError(
            f"{kind} {rid} is at version {actual}, not {expected}",
            expected_version=expected,
            actual_version=actual,
        )


_M = TypeVar("_M", bound=BaseModel)


def _bumped(model: type[_M], record: _M, now: datetime, **changes: Any) -> _M:
    """Re-validate ``record`` with ``changes``, one version on."""
    data = record.model_dump()
    data.update(changes, version=data["version"] + 1, updated_at=now)
    return parse(model, data)
