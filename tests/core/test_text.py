"""Unit tests of ``releaseflow.text``: NFC, control characters, canonical actor ids (T34)."""

# ruff: noqa: RUF001, RUF002, RUF003 - look-alike characters are the point

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from releaseflow.exceptions import ValidationError
from releaseflow.text import (
    MAX_ACTOR_ID,
    MAX_BODY,
    canonical_actor_id,
    clean_json,
    clean_text,
)

# -- clean_text -----------------------------------------------------------------


def test_clean_text_normalises_to_nfc() -> None:
    """NFD input is stored as NFC (one form for every backend and hash)."""
    nfd = unicodedata.normalize("NFD", "Nguyễn Văn Á")
    assert nfd != "Nguyễn Văn Á"
    assert clean_text(nfd) == "Nguyễn Văn Á"


def test_clean_text_keeps_newlines_and_tabs_and_folds_cr() -> None:
    """Tabs and newlines survive; CRLF and lone CR become LF."""
    assert clean_text("a\tb\r\nc\rd\n") == "a\tb\nc\nd\n"


@pytest.mark.parametrize(
    "char",
    [
        "\x00",  # NUL: PostgreSQL refuses it, SQLite stores it
        "\x07",
        "\x1b",  # ANSI escape (log injection)
        "\x7f",
        "\x85",  # C1 NEL
        "\u200b",  # zero-width space
        "\u200d",  # zero-width joiner
        "\u202e",  # RIGHT-TO-LEFT OVERRIDE (Trojan Source)
        "\u2066",  # LEFT-TO-RIGHT ISOLATE
        "\ufeff",  # BOM
        "\ud800",  # lone surrogate (drivers raise UnicodeEncodeError)
        "\udfff",  # noqa: PT014 - ruff cannot tell lone surrogates apart
        "\ue000",  # private use
        "\U000e0001",  # language tag
        "\u0378",  # unassigned
    ],
)
def test_clean_text_refuses_control_format_and_surrogate_characters(char: str) -> None:
    """Each control/format/surrogate/private/unassigned code point is a ValidationError."""
    with pytest.raises(ValidationError) as caught:
        clean_text(f"ok{char}ok", field="body")
    assert caught.value.field == "body"
    assert caught.value.rule == "control_character"


def test_clean_text_length_limit_is_exact() -> None:
    """MAX_BODY characters pass; one more is refused with rule max_length."""
    assert len(clean_text("x" * MAX_BODY)) == MAX_BODY
    with pytest.raises(ValidationError) as caught:
        clean_text("x" * (MAX_BODY + 1))
    assert caught.value.rule == "max_length"


def test_clean_text_counts_length_after_nfc() -> None:
    """The limit applies to the NFC form: NFD that composes to the limit passes."""
    nfd = unicodedata.normalize("NFD", "é") * 10
    assert len(nfd) == 20
    assert clean_text(nfd, max_length=10) == "é" * 10


@pytest.mark.parametrize("value", [None, 5, b"bytes", ["a"]])
def test_clean_text_refuses_non_text(value: object) -> None:
    """Non-str input is a ValidationError, not a TypeError."""
    with pytest.raises(ValidationError):
        clean_text(value)  # type: ignore[arg-type]


def test_clean_text_keeps_non_bmp_and_vietnamese() -> None:
    """Emoji, musical symbols and Vietnamese pass unchanged."""
    text = "Thông cáo 😀 𝄞 Đà Nẵng"
    assert clean_text(text) == text


@given(st.text())
@settings(max_examples=300, derandomize=True)
def test_clean_text_is_idempotent_or_refuses(text: str) -> None:
    """For any input, clean_text either raises ValidationError or is a fixed point."""
    try:
        once = clean_text(text)
    except ValidationError:
        return
    assert clean_text(once) == once
    assert unicodedata.is_normalized("NFC", once)
    assert "\r" not in once


@given(st.text(alphabet=st.characters(max_codepoint=0x7F), max_size=40))
@settings(max_examples=500, derandomize=True)
def test_clean_text_on_ascii_follows_the_rules(text: str) -> None:
    """ASCII input: CR folded, newline and tab kept, every other control refused."""
    folded = text.replace("\r\n", "\n").replace("\r", "\n")
    bad = [c for c in folded if c not in "\n\t" and not c.isprintable()]
    if bad:
        with pytest.raises(ValidationError) as caught:
            clean_text(text)
        assert caught.value.rule == "control_character"
        assert f"U+{ord(bad[0]):04X}" in caught.value.message
    else:
        assert clean_text(text) == folded
    if len(folded) > 5:
        with pytest.raises(ValidationError) as caught:
            clean_text(text, max_length=5)
        assert caught.value.rule == "max_length"


# -- clean_json -----------------------------------------------------------------


def test_clean_json_cleans_nested_strings_and_keys() -> None:
    """Strings in nested lists and dicts (and keys) are NFC-normalised."""
    nfd = unicodedata.normalize("NFD", "Huế")
    assert clean_json({nfd: [nfd, {"k": nfd}], "n": 1}) == {
        "Huế": ["Huế", {"k": "Huế"}],
        "n": 1,
    }


@pytest.mark.parametrize(
    "value", [["\x00"], {"a": {"b": "\u202e"}}, {"\x00key": 1}, ("ok", "\ud800")]
)
def test_clean_json_refuses_nested_controls(value: object) -> None:
    """A NUL, bidi override or lone surrogate anywhere inside is refused."""
    with pytest.raises(ValidationError):
        clean_json(value)


def test_clean_json_refuses_deep_nesting_without_recursion_error() -> None:
    """A 10,000-deep list is a ValidationError, never a RecursionError."""
    deep: list[object] = []
    for _ in range(10_000):
        deep = [deep]
    with pytest.raises(ValidationError):
        clean_json(deep)


# -- canonical_actor_id ---------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("alice", "alice"),
        ("ALICE", "alice"),
        ("Alice", "alice"),
        ("Nguyễn.Văn", "nguyễn.văn"),
        (unicodedata.normalize("NFD", "Nguyễn.Văn"), "nguyễn.văn"),  # NFD == NFC
        ("Straße", "strasse"),  # ß case-folds to ss
        ("STRASSE", "strasse"),
        ("\u212aelvin", "kelvin"),  # KELVIN SIGN is K
        ("ａｌｉｃｅ", "alice"),  # fullwidth maps to ASCII (PRECIS width mapping)
        ("ΑΛΦΑ", "αλφα"),  # Greek alone is fine
        ("алиса", "алиса"),  # Cyrillic alone is fine
        ("a.b_c-d@e+f", "a.b_c-d@e+f"),
        ("user42", "user42"),
    ],
)
def test_actor_ids_canonicalise_to_one_form(raw: str, canonical: str) -> None:
    """Case, normalisation and width variants of one id map to the same string."""
    assert canonical_actor_id(raw) == canonical
    assert canonical_actor_id(canonical) == canonical


def test_dotless_i_is_a_different_id_not_a_spelling_of_i() -> None:
    """``alıce`` (dotless ı) never compares equal to ``alice`` (the GitHub 2016 bug)."""
    assert canonical_actor_id("alıce") != canonical_actor_id("alice")
    assert canonical_actor_id("ALICE") == canonical_actor_id("alice")


@pytest.mark.parametrize(
    ("raw", "rule"),
    [
        ("", "empty"),
        ("alice ", "actor_charset"),
        (" alice", "actor_charset"),
        ("al ice", "actor_charset"),
        ("alice\x00", "actor_charset"),
        ("ali\u200bce", "actor_charset"),  # zero-width space
        ("ali\u200dce", "actor_charset"),  # zero-width joiner
        ("\u202eecila", "actor_charset"),  # bidi override
        ("alice\ud800", "actor_charset"),  # lone surrogate
        ("alice\n", "actor_charset"),
        ("alice/../admin", "actor_charset"),
        ("ali'ce", "actor_charset"),
        ("\u0430lice", "mixed_script"),  # Cyrillic а + Latin lice
        ("alicе", "mixed_script"),  # Cyrillic е at the end
        ("αlice", "mixed_script"),  # Greek alpha
        ("𝐚𝐥𝐢𝐜𝐞", "actor_compatibility"),  # mathematical bold letters
        ("ⓐlice", "actor_compatibility"),  # circled letter
        ("x" * (MAX_ACTOR_ID + 1), "max_length"),
        ("x" * 10_240, "max_length"),  # a 10 KB id
    ],
)
def test_bad_actor_ids_are_refused(raw: str, rule: str) -> None:
    """Spaces, controls, bidi, mixed scripts, look-alikes and oversize ids are refused."""
    with pytest.raises(ValidationError) as caught:
        canonical_actor_id(raw, field="by")
    assert caught.value.rule == rule
    assert caught.value.field == "by"


def test_actor_id_at_max_length_passes() -> None:
    """An id of exactly MAX_ACTOR_ID characters is accepted."""
    assert canonical_actor_id("A" * MAX_ACTOR_ID) == "a" * MAX_ACTOR_ID


def test_actor_id_length_is_counted_after_case_folding() -> None:
    """ß expands to ss when folded, so 100 ß (200 chars folded) exceeds the limit."""
    with pytest.raises(ValidationError):
        canonical_actor_id("ß" * 100)


@pytest.mark.parametrize("value", [None, 42, b"alice"])
def test_actor_id_must_be_text(value: object) -> None:
    """A non-str actor id is a ValidationError."""
    with pytest.raises(ValidationError):
        canonical_actor_id(value)  # type: ignore[arg-type]


@given(st.text(min_size=1, max_size=40))
@settings(max_examples=500, derandomize=True)
def test_actor_id_canonicalisation_is_idempotent(raw: str) -> None:
    """canonical(canonical(x)) == canonical(x), or x is refused with ValidationError."""
    try:
        once = canonical_actor_id(raw)
    except ValidationError:
        return
    assert canonical_actor_id(once) == once
    assert unicodedata.is_normalized("NFC", once)
