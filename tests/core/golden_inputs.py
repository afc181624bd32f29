"""Inputs of the canonical-JSON golden vectors (``data/canonical_vectors.json``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from uuid import UUID

from releaseflow.vocabulary import Role

ICT = timezone(timedelta(hours=7))

#: name -> Python value; the JSON file holds each one's canonical text and SHA-256.
GOLDEN_INPUTS: dict[str, Any] = {
    "empty_object": {},
    "empty_list": [],
    "null": None,
    "empty_string": "",
    "empty_vs_null": {"a": "", "b": None, "c": [], "d": {}},
    "booleans": [True, False],
    "key_order": {"b": 1, "a": 2, "A": 3, "_": 4, "aa": 5},
    "non_ascii_key_order": {"é": 1, "z": 2, "Đ": 3, "😀": 4},
    "vietnamese": "Thông cáo báo chí: Đà Nẵng",
    "non_bmp": "😀 𝄞 𠀀",
    "escapes": 'quote" backslash\\ newline\n tab\t',
    "zero": 0,
    "negative": -1,
    "int64_max": 2**63 - 1,
    "beyond_int64": 2**64 + 1,
    "big_int": 10**40,
    "big_negative": -(10**40),
    "utc_micro": datetime(2026, 3, 2, 2, 0, 0, 123456, tzinfo=UTC),
    "utc_no_micro": datetime(2026, 3, 2, 2, 0, 0, tzinfo=UTC),
    "ict_converted_to_utc": datetime(2026, 3, 2, 9, 0, 0, 1, tzinfo=ICT),
    "year_five_padded": datetime(5, 1, 1, tzinfo=UTC),
    "uuid_lowercase": UUID("1B4E28BA-2FA1-11D2-883F-0016D3CCA427"),
    "enum_as_value": Role.SPOKESPERSON,
    "tuple_as_list": (1, "a", None),
    "nested": {"x": [{"y": [1, [2, [3]]]}]},
}
