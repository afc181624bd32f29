"""Canonical JSON v1: golden vectors, refusals and properties (T22, T27, T36)."""

from __future__ import annotations

import hashlib
import json
import math
import unicodedata
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from enum import IntEnum, StrEnum
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from releaseflow.canonical import (
    CANON_VERSION,
    HASH_ALG,
    MAX_DEPTH,
    canonical_bytes,
    sha256_hex,
)
from releaseflow.exceptions import ValidationError
from tests.core.golden_inputs import GOLDEN_INPUTS

VECTORS = json.loads(
    (Path(__file__).parent / "data" / "canonical_vectors.json").read_text("utf-8")
)


def test_golden_file_matches_this_canon_version() -> None:
    """The committed vectors are for canon v1 / sha256 and cover every input."""
    assert (VECTORS["canon_version"], VECTORS["hash_alg"]) == (CANON_VERSION, HASH_ALG)
    assert set(VECTORS["vectors"]) == set(GOLDEN_INPUTS)


@pytest.mark.parametrize("name", sorted(GOLDEN_INPUTS))
def test_golden_vector(name: str) -> None:
    """canonical_bytes gives the committed bytes, and they hash to the committed digest."""
    want = VECTORS["vectors"][name]
    got = canonical_bytes(GOLDEN_INPUTS[name])
    assert got == want["canonical"].encode("utf-8")
    assert sha256_hex(got) == want["sha256"]
    assert (
        hashlib.sha256(want["canonical"].encode("utf-8")).hexdigest() == want["sha256"]
    )


def test_golden_bytes_parse_back_as_plain_json() -> None:
    """Every golden text is valid JSON that re-encodes to itself (no hidden escapes)."""
    for vector in VECTORS["vectors"].values():
        text = vector["canonical"]
        again = json.dumps(
            json.loads(text), ensure_ascii=False, sort_keys=True, separators=(",", ":")
        )
        assert again == text


def test_non_ascii_is_written_raw_not_escaped() -> None:
    """Non-BMP characters are raw UTF-8 bytes, not escapes or surrogate pairs."""
    assert canonical_bytes("😀") == b'"\xf0\x9f\x98\x80"'


def test_nfd_strings_are_refused_not_repaired() -> None:
    """An NFD string (or key) is a ValidationError with rule nfc."""
    nfd = unicodedata.normalize("NFD", "é")
    for value in (nfd, [nfd], {"k": nfd}, {nfd: 1}):
        with pytest.raises(ValidationError) as caught:
            canonical_bytes(value)
        assert caught.value.rule == "nfc"


def test_nfc_and_nfd_never_share_bytes() -> None:
    """The same visible text in NFC encodes; in NFD it cannot produce any bytes."""
    assert canonical_bytes("é") == '"é"'.encode()
    with pytest.raises(ValidationError):
        canonical_bytes(unicodedata.normalize("NFD", "é"))


@pytest.mark.parametrize(
    "value", [1.0, 0.5, math.nan, math.inf, -math.inf, Decimal("1.5"), {"x": 2.5}]
)
def test_floats_nan_and_decimals_are_refused(value: Any) -> None:
    """Floats (including NaN/Infinity) and Decimals have no canonical form."""
    with pytest.raises(ValidationError) as caught:
        canonical_bytes(value)
    assert caught.value.rule == "canonical_type"


@pytest.mark.parametrize("value", [b"x", {1, 2}, object(), {1: "int key"}])
def test_other_types_and_non_text_keys_are_refused(value: Any) -> None:
    """Bytes, sets, arbitrary objects and non-text keys are ValidationErrors."""
    with pytest.raises(ValidationError):
        canonical_bytes(value)


def test_naive_datetime_is_refused() -> None:
    """A naive datetime has no UTC instant and is refused."""
    with pytest.raises(ValidationError) as caught:
        canonical_bytes(datetime(2026, 1, 1))
    assert caught.value.rule == "aware_datetime"


def test_same_instant_in_any_zone_gives_same_bytes() -> None:
    """Hashes do not depend on the zone the time was given in (ASVS 16.2.2)."""
    utc = datetime(2026, 10, 25, 0, 30, 0, 500, tzinfo=UTC)
    rome = utc.astimezone(timezone(timedelta(hours=2)))
    tokyo = utc.astimezone(timezone(timedelta(hours=9)))
    assert canonical_bytes(utc) == canonical_bytes(rome) == canonical_bytes(tokyo)


def test_microseconds_are_always_six_digits() -> None:
    """Whole seconds and 1 µs are both written with six fractional digits."""
    assert canonical_bytes(datetime(2026, 1, 1, tzinfo=UTC)).endswith(b'.000000Z"')
    assert canonical_bytes(datetime(2026, 1, 1, 0, 0, 0, 1, tzinfo=UTC)).endswith(
        b'.000001Z"'
    )


def test_datetime_out_of_range_in_utc_is_a_validation_error() -> None:
    """0001-01-01 at +05:00 has no UTC form: ValidationError, not OverflowError."""
    with pytest.raises(ValidationError):
        canonical_bytes(datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=5))))


def test_huge_int_is_a_validation_error_not_value_error() -> None:
    """An int beyond Python's str-conversion limit is a typed ValidationError."""
    with pytest.raises(ValidationError):
        canonical_bytes({"n": 10**5000})


def test_depth_limit_is_exact() -> None:
    """MAX_DEPTH levels of nesting encode; one more is refused with rule max_depth."""

    def nest(levels: int) -> Any:
        value: Any = 1
        for _ in range(levels):
            value = [value]
        return value

    canonical_bytes(nest(MAX_DEPTH))
    with pytest.raises(ValidationError) as caught:
        canonical_bytes(nest(MAX_DEPTH + 1))
    assert caught.value.rule == "max_depth"


class _Word(StrEnum):
    ASCII = "plain"
    VIET = "Việt"
    NFD = unicodedata.normalize("NFD", "é")


class _Level(IntEnum):
    ONE = 1


class _Tagged(str):
    pass


class _Instant(datetime):
    pass


_ITEMS: list[Any] = [
    "ascii",
    "Việt",
    unicodedata.normalize("NFD", "é"),
    _Tagged("tag"),
    None,
    True,
    7,
    _Level.ONE,
    _Word.ASCII,
    _Word.VIET,
    _Word.NFD,
    datetime(2026, 3, 2, 9, 0, 0, 5, tzinfo=timezone(timedelta(hours=7))),
    datetime(2026, 3, 2),
    _Instant(2026, 3, 2, tzinfo=UTC),
    UUID("12345678-1234-5678-1234-567812345678"),
    (1, "x"),
    {"k": "v"},
    1.5,
]


def _outcome(value: Any) -> str:
    try:
        return canonical_bytes(value).decode("utf-8")
    except ValidationError as exc:
        return f"refused:{exc.rule}"


@pytest.mark.parametrize("item", _ITEMS, ids=repr)
@pytest.mark.parametrize("levels", [0, MAX_DEPTH - 1, MAX_DEPTH])
def test_an_item_encodes_alike_in_a_mapping_and_a_list(item: Any, levels: int) -> None:
    """A mapping's items follow the same rules as a list's, down to the depth limit."""

    def nest(value: Any) -> Any:
        for _ in range(levels):
            value = [value]
        return value

    in_map, in_list = _outcome(nest({"k": item})), _outcome(nest([item]))
    if in_list.startswith("refused:"):
        assert in_map == in_list
    else:
        opened = "[" * levels
        closed = "]" * levels
        assert (
            in_map
            == f'{opened}{{"k":{in_list[levels + 1 : len(in_list) - levels - 1]}}}{closed}'
        )


def test_deep_and_cyclic_structures_never_raise_recursion_error() -> None:
    """100,000-deep nesting and a self-containing list are ValidationErrors."""
    deep: list[Any] = []
    for _ in range(100_000):
        deep = [deep]
    cyclic: list[Any] = []
    cyclic.append(cyclic)
    for value in (deep, cyclic):
        with pytest.raises(ValidationError):
            canonical_bytes(value)


def test_bool_is_not_int() -> None:
    """True and 1 are different canonical values."""
    assert canonical_bytes(True) != canonical_bytes(1)
    assert canonical_bytes([True, 1]) == b"[true,1]"


json_scalars = st.none() | st.booleans() | st.integers() | st.text()
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=20,
)


def _nfc(value: Any) -> Any:
    if isinstance(value, str):
        return unicodedata.normalize("NFC", value)
    if isinstance(value, list):
        return [_nfc(v) for v in value]
    if isinstance(value, dict):
        return {unicodedata.normalize("NFC", k): _nfc(v) for k, v in value.items()}
    return value


@given(json_values, json_values)
@settings(max_examples=300, derandomize=True)
def test_canonical_bytes_is_injective_and_round_trips(a: Any, b: Any) -> None:
    """Distinct (NFC) values give distinct bytes, and bytes decode back to the value."""
    a, b = _nfc(a), _nfc(b)
    try:
        ba, bb = canonical_bytes(a), canonical_bytes(b)
    except ValidationError:
        return  # e.g. keys that collapse under NFC; refusal is allowed
    assert json.loads(ba) == a
    assert json.loads(bb) == b
    if a != b:
        assert ba != bb


@given(st.dictionaries(st.text(max_size=8), st.integers(), max_size=6))
@settings(max_examples=200, derandomize=True)
def test_key_insertion_order_does_not_matter(mapping: dict[str, int]) -> None:
    """The same mapping in any insertion order encodes to the same bytes."""
    mapping = {unicodedata.normalize("NFC", k): v for k, v in mapping.items()}
    reversed_mapping = dict(reversed(list(mapping.items())))
    assert canonical_bytes(mapping) == canonical_bytes(reversed_mapping)
