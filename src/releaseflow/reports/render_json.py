"""JSON: the canonical, machine-readable form of a report.

Keys sorted, no insignificant whitespace, UTF-8 text (``ensure_ascii=False``), so
the same report always gives the same bytes; that is what
:func:`releaseflow.reports.submit.submit_report` freezes on the audit log.

A year's report carries about a million request ids in its drill-down lists, so the
compact form is written by a small encoder that joins each figure's ids in one
step instead of encoding them one by one (and equal lists, a third of a year's
ids, only once); it yields exactly the bytes
``json.dumps(report.model_dump(mode="json"), sort_keys=True, ensure_ascii=False,
separators=(",", ":"))`` gives (a test checks), and falls back to that for any id
that would need escaping.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Final

from pydantic import BaseModel, TypeAdapter
from pydantic_core import to_jsonable_python

from .model import Figure, IncidentItem, Report

__all__ = ["from_json", "to_json"]

_SEPARATORS: Final = (",", ":")
_NEEDS_ESCAPE: Final = re.compile(r"[\\\x00-\x1f]")
#: What JSON escapes in ASCII text: control characters, backslash, quote.
_ESCAPED_BYTES: Final = bytes(range(0x20)) + b'\\"'
#: A year's report lists thousands of incidents: dumped in one call, not one by one.
_INCIDENTS: Final = TypeAdapter(list[IncidentItem])


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=_SEPARATORS)


def _clean(joined: str, quotes: int) -> bool:
    """Whether JSON would escape nothing in ``joined`` but its ``quotes`` quotes.

    ASCII text (UUIDs) is checked in one pass in C: deleting every byte JSON
    escapes must remove exactly the separators' quotes.
    """
    if joined.isascii():
        raw = joined.encode("ascii")
        return len(raw.translate(None, _ESCAPED_BYTES)) == len(raw) - quotes
    return joined.count('"') == quotes and _NEEDS_ESCAPE.search(joined) is None


#: Encoded id lists of one :func:`to_json` call, by (length, first id, last id).
_Memo = dict[tuple[int, str, str], list[tuple[tuple[str, ...], tuple[str, ...]]]]


def _ids(ids: tuple[str, ...] | None, out: list[str], memo: _Memo) -> None:
    if ids is None:
        out.append("null")
        return
    if not ids:
        out.append("[]")
        return
    # A third of a year's ids are in figures equal to an earlier one (a kind's
    # figures under corrections, released ones under time to release...): equal
    # lists are encoded once. The tuples share their str objects, so comparing
    # them costs a pointer check an id.
    seen = memo.setdefault((len(ids), ids[0], ids[-1]), [])
    for other, parts in seen:
        if other == ids:
            out += parts
            return
    joined = '","'.join(ids)
    if _clean(joined, 2 * (len(ids) - 1)):
        parts = ('["', joined, '"]')
    else:
        parts = (_dumps(list(ids)),)
    seen.append((ids, parts))
    out += parts


def _has_figure(model: BaseModel) -> bool:
    return isinstance(model, Figure) or any(
        isinstance(v, BaseModel | Mapping | tuple) for v in model.__dict__.values()
    )


def _encode(value: Any, out: list[str], memo: _Memo) -> None:
    if isinstance(value, Figure):
        out.append('{"ids":')
        _ids(value.ids, out, memo)
        out.append(',"value":' + str(value.value) + "}")
    elif isinstance(value, BaseModel):
        if not _has_figure(value):
            out.append(_dumps(value.model_dump(mode="json")))
            return
        fields = {k: getattr(value, k) for k in type(value).model_fields}
        _mapping(fields, out, memo)
    elif isinstance(value, Mapping):
        _mapping(value, out, memo)
    elif isinstance(value, tuple | list):
        if value and all(type(v) is IncidentItem for v in value):
            out.append(_dumps(_INCIDENTS.dump_python(list(value), mode="json")))
            return
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _encode(item, out, memo)
        out.append("]")
    else:
        out.append(_dumps(to_jsonable_python(value)))


def _mapping(value: Mapping[str, Any], out: list[str], memo: _Memo) -> None:
    out.append("{")
    for i, key in enumerate(sorted(value)):
        if i:
            out.append(",")
        out.append(_dumps(key) + ":")
        _encode(value[key], out, memo)
    out.append("}")


def to_json(report: Report, *, indent: int | None = None) -> str:
    """The report as canonical JSON text (``indent`` for a human-friendly form)."""
    if indent is None:
        out: list[str] = []
        _encode(report, out, {})
        return "".join(out)
    plain = report.model_dump(mode="json")
    return json.dumps(
        plain, sort_keys=True, ensure_ascii=False, separators=(",", ": "), indent=indent
    )


def from_json(text: str) -> Report:
    """Read a report back from :func:`to_json` output."""
    return Report.model_validate_json(text)
