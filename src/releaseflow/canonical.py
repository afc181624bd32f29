"""Canonical JSON, version 1: the exact bytes that audit hashes are computed over.

Rules (``CANON_VERSION = 1``):

* UTF-8, no insignificant white space, object keys sorted by code point, non-ASCII
  characters written as themselves (``ensure_ascii=False``);
* strings in NFC (the edge already normalised them; this is checked, not repaired);
* integers of any size; **no floats** (``NaN``/``Infinity`` and binary rounding make
  hashes differ across languages), booleans and ``null`` as in JSON;
* aware datetimes as ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` in UTC, always six fractional
  digits; naive datetimes are refused;
* UUIDs as lowercase hyphenated text; enum members as their value; tuples as arrays;
* nesting at most :data:`MAX_DEPTH` deep.

The independent verifier in ``tools/verify_chain.py`` re-implements these rules.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from enum import Enum
from typing import Any, Final
from uuid import UUID

from .exceptions import ValidationError

__all__ = [
    "CANON_VERSION",
    "HASH_ALG",
    "MAX_DEPTH",
    "canonical_bytes",
    "canonical_plain_text",
    "sha256_hex",
]

CANON_VERSION: Final = 1
HASH_ALG: Final = "sha256"
MAX_DEPTH: Final = 16


_SCALARS: Final = frozenset({bool, int})
"""Exact types that are their own plain form (subclasses, e.g. enums, are not)."""
_ENCODER: Final = json.JSONEncoder(
    ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False
)
"""The canonical JSON encoder (made once: ``json.dumps`` builds one per call)."""


def format_timestamp(value: datetime) -> str:
    """Return an aware datetime as canonical UTC text with microseconds."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValidationError("datetime must be timezone-aware", rule="aware_datetime")
    try:
        utc = value.astimezone(UTC)
    except OverflowError as exc:
        raise ValidationError(
            "datetime is out of range in UTC", rule="datetime_range"
        ) from exc
    # isoformat pads the year to four digits on every platform (strftime's %Y
    # does not on glibc: year 5 came out as "5-01-01...").
    return utc.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def _plain(value: Any, depth: int, path: str) -> Any:
    if depth > MAX_DEPTH:
        raise ValidationError(
            f"{path} is nested deeper than {MAX_DEPTH}", field=path, rule="max_depth"
        )
    kind = type(value)
    if kind is str:
        if not value.isascii() and unicodedata.normalize("NFC", value) != value:
            raise ValidationError(f"{path} is not in NFC", field=path, rule="nfc")
        return value
    if value is None or kind is bool or kind is int:
        return value
    # the common exact types first (none of them is an Enum), then the general rules
    if kind is dict:
        return _plain_mapping(value, depth, path)
    if kind is datetime:
        return format_timestamp(value)
    if kind is UUID:
        return str(value)
    if kind is tuple or kind is list:
        return _plain_sequence(value, depth, path)
    if isinstance(value, Enum):
        return _plain(value.value, depth, path)
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        if unicodedata.normalize("NFC", value) != value:
            raise ValidationError(f"{path} is not in NFC", field=path, rule="nfc")
        return value
    if isinstance(value, datetime):
        return format_timestamp(value)
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, Mapping):
        return _plain_mapping(value, depth, path)
    if isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
        return _plain_sequence(value, depth, path)
    raise ValidationError(
        f"{path} has a type canonical JSON refuses: {type(value).__name__}",
        field=path,
        rule="canonical_type",
    )


def _plain_sequence(value: Sequence[Any], depth: int, path: str) -> list[Any]:
    if depth < MAX_DEPTH:  # items at depth + 1 pass the depth check
        return [
            item
            if (type(item) is str and item.isascii())
            or item is None
            or type(item) in _SCALARS
            else _plain(item, depth + 1, f"{path}[{i}]")
            for i, item in enumerate(value)
        ]
    return [_plain(item, depth + 1, f"{path}[{i}]") for i, item in enumerate(value)]


def _plain_mapping(value: Mapping[Any, Any], depth: int, path: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    # Items at depth + 1 pass the depth check when depth < MAX_DEPTH: then the
    # common item types are made plain here, as _plain would, without a call or a
    # path (built only for an error); the rest goes through _plain.
    inline = depth < MAX_DEPTH
    for key, item in value.items():
        if type(key) is not str or not key.isascii():
            if not isinstance(key, str):
                raise ValidationError(
                    f"{path} has a non-text key", field=path, rule="canonical_key"
                )
            if unicodedata.normalize("NFC", key) != key:
                raise ValidationError(
                    f"{path} has a key not in NFC", field=path, rule="nfc"
                )
        if inline:
            kind = type(item)
            if kind is str:
                if item.isascii() or unicodedata.normalize("NFC", item) == item:
                    out[key] = item
                    continue
            elif item is None or kind is int or kind is bool:
                out[key] = item
                continue
            elif kind is datetime:
                out[key] = format_timestamp(item)
                continue
            elif kind is UUID:
                out[key] = str(item)
                continue
            elif isinstance(item, Enum):
                member = item._value_
                if type(member) is str and member.isascii():
                    out[key] = member
                    continue
        out[key] = _plain(item, depth + 1, f"{path}.{key}")
    return out


def to_plain(value: Any, *, path: str = "value") -> Any:
    """Return ``value`` as plain JSON data under the canonical rules."""
    return _plain(value, 0, path)


def canonical_bytes(value: Any) -> bytes:
    """Return the canonical JSON encoding of ``value``.

    Raises:
        ValidationError: when ``value`` holds something canonical JSON refuses.
    """
    return canonical_plain_text(_plain(value, 0, "value")).encode("utf-8")


def canonical_plain_text(plain: Any) -> str:
    """The canonical JSON text of a value that is plain already (:func:`to_plain`).

    Raises:
        ValidationError: an int too long to encode.
    """
    try:
        return _ENCODER.encode(plain)
    except ValueError as exc:  # an int beyond sys.get_int_max_str_digits()
        raise ValidationError(
            f"value cannot be encoded: {exc}", field="value", rule="canonical_int"
        ) from exc


def sha256_hex(data: bytes) -> str:
    """Return the lowercase hex SHA-256 digest of ``data``."""
    return hashlib.sha256(data).hexdigest()
