"""Text rules applied once, at the edge: NFC, no control characters, canonical actor ids.

Every string that enters releaseflow passes through one of these functions (through the
pydantic annotated types :data:`Text`, :data:`ShortText` and :data:`ActorId`), so every
backend stores, hashes and compares the same code points.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache
from typing import Annotated, Any, Final

from pydantic import AfterValidator, BeforeValidator

from .exceptions import ValidationError

__all__ = [
    "MAX_ACTOR_ID",
    "MAX_BODY",
    "MAX_SHORT",
    "ActorId",
    "ShortText",
    "Text",
    "canonical_actor_id",
    "clean_json",
    "clean_text",
]

#: Longest body, in characters (fits MariaDB MEDIUMTEXT / any TEXT in bytes x4).
MAX_BODY: Final = 100_000
#: Longest title, name or reason line, in characters.
MAX_SHORT: Final = 2_000
#: Longest actor id, in characters.
MAX_ACTOR_ID: Final = 128

_ALLOWED_CONTROLS: Final = frozenset("\n\t")
_BAD_CATEGORIES: Final = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})
_ID_PUNCTUATION: Final = frozenset("._-@+")
_CONFUSABLE_SCRIPTS: Final = ("LATIN", "CYRILLIC", "GREEK")


def clean_text(value: str, *, field: str = "text", max_length: int = MAX_BODY) -> str:
    r"""Return ``value`` in NFC, refusing control, format and unassigned characters.

    Newlines and tabs are kept; ``\\r\\n`` and lone ``\\r`` become ``\\n``.

    Raises:
        ValidationError: naming ``field`` when the text breaks a rule.
    """
    if not isinstance(value, str):
        raise ValidationError(f"{field} must be text", field=field, rule="type")
    if type(value) is str and value.isascii() and value.isprintable():
        # U+0020..U+007E only: no CR to fold, NFC already, no character in a
        # refused category; only the length is left to check
        if len(value) > max_length:
            raise ValidationError(
                f"{field} is longer than {max_length} characters",
                field=field,
                rule="max_length",
            )
        return value
    text = unicodedata.normalize("NFC", value.replace("\r\n", "\n").replace("\r", "\n"))
    if len(text) > max_length:
        raise ValidationError(
            f"{field} is longer than {max_length} characters",
            field=field,
            rule="max_length",
        )
    for char in text:
        if char in _ALLOWED_CONTROLS:
            continue
        if unicodedata.category(char) in _BAD_CATEGORIES:
            raise ValidationError(
                f"{field} contains the control or format character U+{ord(char):04X}",
                field=field,
                rule="control_character",
            )
    return text


def clean_json(
    value: Any, *, field: str = "value", max_length: int = MAX_BODY, depth: int = 0
) -> Any:
    """Return ``value`` with :func:`clean_text` applied to every nested string and key.

    Lists, tuples and dicts are walked (at most 32 levels); other values are kept
    as they are (the canonical-JSON rules judge them).

    Raises:
        ValidationError: naming the field path of the first bad string.
    """
    if depth > 32:
        raise ValidationError(
            f"{field} is nested too deeply", field=field, rule="max_depth"
        )
    if isinstance(value, str):
        return clean_text(value, field=field, max_length=max_length)
    if isinstance(value, dict):
        return {
            clean_text(key, field=field, max_length=MAX_SHORT)
            if isinstance(key, str)
            else key: clean_json(
                item, field=f"{field}.{key}", max_length=max_length, depth=depth + 1
            )
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [
            clean_json(
                item, field=f"{field}[{i}]", max_length=max_length, depth=depth + 1
            )
            for i, item in enumerate(value)
        ]
    return value


def _script_of(char: str) -> str | None:
    name = unicodedata.name(char, "")
    for script in _CONFUSABLE_SCRIPTS:
        if name.startswith(script):
            return script
    return None


def _width_mapped(text: str) -> str:
    """Map fullwidth and halfwidth forms to their ordinary letters (PRECIS)."""
    if text.isascii():
        return text
    return "".join(
        unicodedata.normalize("NFKC", char)
        if unicodedata.decomposition(char).startswith(("<wide>", "<narrow>"))
        else char
        for char in text
    )


def canonical_actor_id(value: str, *, field: str = "actor") -> str:
    """Return the one canonical form of an actor id (NFC, case-folded).

    Ids are letters, digits and ``. _ - @ +``; no spaces, controls or format
    characters; no mixing of Latin, Cyrillic and Greek letters (``alice`` spelt
    with a Cyrillic ``a``, U+0430, is refused, not treated as ``alice``).
    Fullwidth and halfwidth forms map to their ordinary letters (fullwidth U+FF41
    is ``a``); other compatibility characters (mathematical letters, ligatures) are
    refused.

    Raises:
        ValidationError: naming ``field`` when the id breaks a rule.
    """
    if not isinstance(value, str):
        raise ValidationError(f"{field} must be text", field=field, rule="type")
    if len(value) > 4 * MAX_ACTOR_ID:  # refuse huge input before caching it
        raise ValidationError(
            f"{field} is longer than {MAX_ACTOR_ID} characters",
            field=field,
            rule="max_length",
        )
    return _canonical_actor_id(value, field)


@lru_cache(maxsize=4096)
def _canonical_actor_id(value: str, field: str) -> str:
    # Pure and called for every id read back from storage (grants, approvals), so
    # cached; a refused id raises and is not cached.
    mapped = _width_mapped(unicodedata.normalize("NFC", value))
    ident = unicodedata.normalize("NFC", mapped.casefold())
    if not ident:
        raise ValidationError(f"{field} must not be empty", field=field, rule="empty")
    if len(ident) > MAX_ACTOR_ID:
        raise ValidationError(
            f"{field} is longer than {MAX_ACTOR_ID} characters",
            field=field,
            rule="max_length",
        )
    scripts: set[str] = set()
    for char in ident:
        if char in _ID_PUNCTUATION:
            continue
        if unicodedata.decomposition(char).startswith("<"):
            # A compatibility character (mathematical letters, ligatures, circled
            # or superscript forms) looks like another id; PRECIS disallows it.
            raise ValidationError(
                f"{field} holds the compatibility character U+{ord(char):04X}",
                field=field,
                rule="actor_compatibility",
            )
        category = unicodedata.category(char)
        if not (category.startswith("L") or category.startswith("N")):
            raise ValidationError(
                f"{field} may hold only letters, digits and . _ - @ + "
                f"(found U+{ord(char):04X})",
                field=field,
                rule="actor_charset",
            )
        script = _script_of(char)
        if script is not None:
            scripts.add(script)
    if len(scripts) > 1:
        raise ValidationError(
            f"{field} mixes {' and '.join(sorted(scripts))} letters",
            field=field,
            rule="mixed_script",
        )
    return ident


def _text(value: str) -> str:
    return clean_text(value, field="text", max_length=MAX_BODY)


def _short(value: str) -> str:
    return clean_text(value, field="text", max_length=MAX_SHORT)


def _require_str(value: object) -> object:
    if not isinstance(value, str):
        raise ValueError("must be a string")
    return value


#: Free text (a body): NFC, no controls, at most :data:`MAX_BODY` characters.
Text = Annotated[str, BeforeValidator(_require_str), AfterValidator(_text)]
#: Short free text (a title, a reason): at most :data:`MAX_SHORT` characters.
ShortText = Annotated[str, BeforeValidator(_require_str), AfterValidator(_short)]
#: A canonical actor id (see :func:`canonical_actor_id`).
ActorId = Annotated[
    str, BeforeValidator(_require_str), AfterValidator(canonical_actor_id)
]
