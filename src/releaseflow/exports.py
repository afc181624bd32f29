"""Audit exports: JSON Lines (exact round trip) and CSV (for spreadsheets).

Both formats are streamed: they consume pages of entries and yield text, so memory
stays flat however large the export. Every export is a snapshot **as of the chain
heads it was taken at**: entries appended while it runs are left out, and the heads
(with their anchor digest, HMAC-signed when a key is given) are written into it.

JSON Lines layout::

    {"export": {"format": "releaseflow-audit", "version": 1, "taken_at": ...,
                "anchor": {...heads, digest, mac...}, "query": {...}, "actor": ...}}
    {...one AuditEntry per line...}
    {"export_end": {"entries": N, "digest": <anchor digest>,
                    "entries_sha256": <sha256 of the entry lines, newlines included>}}

CSV layout (UTF-8 with a byte-order mark, RFC 4180 quoting): one header row of
:data:`CSV_COLUMNS`, one row per entry, then **one final metadata row** whose first
cell is ``#export`` and whose second cell is the same JSON object as the JSON Lines
trailer plus the anchor. Cells beginning with ``= + - @``, tab, CR, LF or NUL get a
leading ``'`` so a spreadsheet shows them as text instead of running them (formula
injection, OWASP ASVS 1.2.10).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Final

from .exceptions import ValidationError
from .models import Anchor, AuditEntry

__all__ = [
    "CSV_COLUMNS",
    "EXPORT_FORMAT",
    "ExportMeta",
    "JsonlExport",
    "csv_lines",
    "jsonl_lines",
    "neutralise_cell",
    "read_jsonl",
]

EXPORT_FORMAT: Final = "releaseflow-audit"
CSV_COLUMNS: Final = (
    "ledger",
    "seq",
    "at",
    "event",
    "request_id",
    "request_version",
    "request_kind",
    "unit",
    "from_state",
    "to_state",
    "trigger",
    "actor",
    "roles",
    "payload",
    "content_hash",
    "prev_hash",
    "hash",
    "canon_version",
    "hash_alg",
)
_RISKY: Final = ("=", "+", "-", "@", "\t", "\r", "\n", "\0")


@dataclass(frozen=True)
class ExportMeta:
    """What an export says about itself: the heads it was taken at, and the query."""

    anchor: Anchor
    query: dict[str, Any]
    actor: str | None = None

    def header(self) -> dict[str, Any]:
        """The JSON Lines header object."""
        return {
            "export": {
                "format": EXPORT_FORMAT,
                "version": 1,
                "taken_at": self.anchor.model_dump(mode="json")["taken_at"],
                "anchor": self.anchor.model_dump(mode="json"),
                "query": self.query,
                "actor": self.actor,
            }
        }


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def _entry_line(entry: AuditEntry) -> str:
    return _dumps(entry.model_dump(mode="json")) + "\n"


def _trailer(meta: ExportMeta, count: int, digest: Any) -> dict[str, Any]:
    return {
        "entries": count,
        "digest": meta.anchor.digest,
        "entries_sha256": digest.hexdigest(),
    }


def jsonl_lines(meta: ExportMeta, entries: Iterable[AuditEntry]) -> Iterator[str]:
    """Yield the JSON Lines export: header, one line per entry, trailer."""
    yield _dumps(meta.header()) + "\n"
    digest = hashlib.sha256()
    count = 0
    for entry in entries:
        line = _entry_line(entry)
        digest.update(line.encode("utf-8"))
        count += 1
        yield line
    yield _dumps({"export_end": _trailer(meta, count, digest)}) + "\n"


def neutralise_cell(value: str) -> str:
    """Prefix ``'`` to a cell a spreadsheet would read as a formula or control."""
    return "'" + value if value.startswith(_RISKY) else value


def _cells(entry: AuditEntry) -> list[str]:
    plain = entry.model_dump(mode="json")
    cells: list[str] = []
    for column in CSV_COLUMNS:
        value = plain[column]
        if value is None:
            text = ""
        elif isinstance(value, list | dict):
            text = _dumps(value)
        else:
            text = str(value)
        cells.append(neutralise_cell(text))
    return cells


def csv_lines(meta: ExportMeta, entries: Iterable[AuditEntry]) -> Iterator[str]:
    """Yield the CSV export: BOM + header row, one row per entry, metadata row."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")

    def row(cells: list[str]) -> str:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(cells)
        return buffer.getvalue()

    yield "\ufeff" + row(list(CSV_COLUMNS))
    digest = hashlib.sha256()
    count = 0
    for entry in entries:
        digest.update(_entry_line(entry).encode("utf-8"))
        count += 1
        yield row(_cells(entry))
    trailer = {**_trailer(meta, count, digest), **meta.header()["export"]}
    yield row(["#export", _dumps(trailer)])


@dataclass(frozen=True)
class JsonlExport:
    """A JSON Lines export read back: its header, entries and trailer."""

    header: dict[str, Any]
    entries: list[AuditEntry]
    trailer: dict[str, Any]

    @property
    def anchor(self) -> Anchor:
        """The anchor (chain heads) the export was taken at."""
        return Anchor.model_validate(self.header["anchor"])


def _bad(why: str) -> ValidationError:
    return ValidationError(f"not a releaseflow audit export: {why}", rule="export")


def read_jsonl(lines: Iterable[str]) -> JsonlExport:
    """Parse a JSON Lines export and check its trailer (count and checksum).

    Raises:
        ValidationError: when the export is malformed, truncated or altered.
    """
    header: dict[str, Any] | None = None
    trailer: dict[str, Any] | None = None
    entries: list[AuditEntry] = []
    digest = hashlib.sha256()
    for number, line in enumerate(lines):
        if not line.strip():
            continue
        if trailer is not None:
            raise _bad("lines after the trailer")
        try:
            data = json.loads(line)
        except ValueError as exc:
            raise _bad(f"line {number + 1} is not JSON") from exc
        if header is None:
            if not isinstance(data, dict) or "export" not in data:
                raise _bad("missing header")
            header = data["export"]
        elif isinstance(data, dict) and set(data) == {"export_end"}:
            trailer = data["export_end"]
        else:
            entries.append(AuditEntry.model_validate(data))
            digest.update(_entry_line(entries[-1]).encode("utf-8"))
    if header is None or trailer is None:
        raise _bad("truncated (no trailer)")
    if trailer.get("entries") != len(entries):
        raise _bad("entry count does not match the trailer")
    if trailer.get("entries_sha256") != digest.hexdigest():
        raise _bad("entries do not match the trailer's checksum")
    return JsonlExport(header=header, entries=entries, trailer=trailer)
