"""Report labels in Vietnamese and English, from gettext catalogues.

The catalogues are ``releaseflow/locale/<lang>/LC_MESSAGES/releaseflow.po``. They are
the only source: Babel reads a ``.po`` and compiles it in memory on first use (no
compiled ``.mo`` file to keep in step, no build hook), and the standard
:class:`gettext.GNUTranslations` serves lookups. Message ids are stable keys
(vocabulary values such as ``press_inquiry``, or short keys such as ``Summary``);
an id missing from a catalogue is shown as is. Without Babel installed (the
``reports`` extra) every label is its key.
"""

from __future__ import annotations

import gettext
import io
from collections.abc import Callable
from functools import cache
from importlib import resources
from typing import Final, Literal

__all__ = ["LANGUAGES", "Lang", "labels"]

Lang = Literal["vi", "en"]
LANGUAGES: Final = ("vi", "en")
DOMAIN: Final = "releaseflow"


@cache
def _catalogue(lang: str) -> gettext.NullTranslations:
    try:
        from babel.messages.mofile import write_mo
        from babel.messages.pofile import read_po
    except ImportError:  # pragma: no cover - the reports extra is not installed
        return gettext.NullTranslations()
    path = resources.files("releaseflow").joinpath(
        "locale", lang, "LC_MESSAGES", f"{DOMAIN}.po"
    )
    with path.open("rb") as fp:
        catalog = read_po(fp, locale=lang, domain=DOMAIN)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


def labels(lang: str = "vi") -> Callable[[str], str]:
    """The ``gettext`` function of ``lang`` (``vi`` or ``en``).

    Raises:
        ValidationError: ``field="lang"`` for any other language.
    """
    if lang not in LANGUAGES:
        from ..exceptions import ValidationError

        raise ValidationError(
            f"language must be one of {', '.join(LANGUAGES)}", field="lang", rule="enum"
        )
    return _catalogue(lang).gettext
