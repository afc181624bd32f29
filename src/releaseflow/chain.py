"""The audit hash chain: sealing entries, anchors, streaming verification, replay.

Shape: the log is split into ``ledger_count`` **ledgers** (:data:`DEFAULT_LEDGER_COUNT`
by default). Every
request's entries go to one ledger chosen from its id (directory events go to the
ledger of the stream ``"directory"``), and each ledger is its own SHA-256 chain:
``hash = sha256(canonical_bytes(entry without hash))`` with ``prev_hash`` the hash of
the ledger's previous entry (64 zeros for the first). Writers to requests on different
ledgers never wait for each other; writers on one request are already serialised by its
version. An :class:`~releaseflow.models.Anchor` is the digest of every ledger head;
exported outside the database, it turns tail truncation and whole-chain rewrites into
detectable faults (``docs/explanation/audit-chain.md``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from json.encoder import encode_basestring as _enc
from typing import Any, Final, NamedTuple
from uuid import UUID

from .canonical import (
    CANON_VERSION,
    HASH_ALG,
    MAX_DEPTH,
    canonical_bytes,
    canonical_plain_text,
    sha256_hex,
    to_plain,
)
from .exceptions import ValidationError
from .models import Anchor, AuditEntry, ChainHead
from .vocabulary import AuditEvent, RequestKind

__all__ = [
    "DEFAULT_LEDGER_COUNT",
    "GENESIS_HASH",
    "RAW_FIELDS",
    "BadEntry",
    "Replay",
    "RowScan",
    "Sealed",
    "UnreadableEntry",
    "VerifyReport",
    "anchor_digest",
    "entry_hash",
    "finish_report",
    "ledger_for",
    "make_anchor",
    "raw_canonical",
    "row_canonical",
    "scan_rows",
    "seal",
    "seal_stored",
    "verify_rows",
    "verify_stream",
]

GENESIS_HASH: Final = "0" * 64
DEFAULT_LEDGER_COUNT: Final = 64
"""Ledgers of a new store. Writers whose requests hash to one ledger queue on its
head row until the first commits (on PostgreSQL and MariaDB, that includes the
commit's flush); with 64, eight writers in flight share a ledger about a third of
the time, against nine times in ten with 16. The count is fixed when a store is made."""
_MAX_PROBLEMS: Final = 100


@lru_cache(maxsize=4096)
def ledger_for(stream: str, ledger_count: int) -> int:
    """The ledger that ``stream`` (a request id or ``"directory"``) writes to."""
    digest = hashlib.sha256(stream.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % ledger_count


def entry_hash(fields: Mapping[str, Any]) -> str:
    """The hash of an entry's fields (every field except ``hash`` itself)."""
    return sha256_hex(canonical_bytes({k: v for k, v in fields.items() if k != "hash"}))


def seal(draft: Mapping[str, Any], head: ChainHead) -> AuditEntry:
    """Chain ``draft`` after ``head`` and return the sealed entry."""
    return seal_stored(draft, head).entry


class Sealed(NamedTuple):
    """A sealed entry and the JSON text a store keeps of its payload and roles."""

    entry: AuditEntry
    payload_json: str
    """``entry.payload`` as stored: compact JSON, keys in the payload's order."""
    roles_json: str
    """``entry.roles`` as a stored JSON array."""


_STORED_JSON: Final = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
"""``json.dumps(value, ensure_ascii=False, separators=(",", ":"))``, made once."""


def _stored_json(value: Any) -> str:
    """The stored JSON text of a plain value (what the SQL store writes)."""
    return _STORED_JSON.encode(value)


def seal_stored(draft: Mapping[str, Any], head: ChainHead) -> Sealed:
    """:func:`seal`, with the entry's payload and roles as stored JSON text.

    The payload is made plain once: its plain form is both hashed (inside the
    canonical text of the entry) and written as the stored text, so a store does
    not walk it again.
    """
    fields = dict(draft)
    # the payload is stored as JSON: keep only JSON values so it reads back equal
    payload = to_plain(fields.pop("payload", {}), path="payload")
    fields.update(
        ledger=head.ledger,
        seq=head.seq + 1,
        prev_hash=head.hash,
        canon_version=CANON_VERSION,
        hash_alg=HASH_ALG,
    )
    # Hash the plain form of exactly the fields the entry stores; verify() hashes
    # ``entry.model_dump()``, whose plain form is the same (tests pin the two).
    # The payload is plain already: only the other fields are made plain here, and
    # the text is canonical_bytes' json.dumps of the whole.
    plain = to_plain(fields, path="value")
    plain["payload"] = payload
    text = canonical_plain_text(plain)
    fields["payload"] = payload
    fields["hash"] = sha256_hex(text.encode("utf-8"))
    entry = AuditEntry.model_validate(fields)
    return Sealed(entry, _stored_json(payload), _stored_json(plain["roles"]))


def anchor_digest(heads: Iterable[ChainHead]) -> str:
    """Digest of a set of ledger heads (order-independent)."""
    ordered = sorted(heads, key=lambda h: h.ledger)
    return sha256_hex(canonical_bytes([[h.ledger, h.seq, h.hash] for h in ordered]))


def make_anchor(
    heads: Iterable[ChainHead],
    taken_at: datetime,
    *,
    key: bytes | None = None,
    key_id: str | None = None,
) -> Anchor:
    """Build an anchor; with ``key``, add an HMAC-SHA256 of the digest."""
    ordered = tuple(sorted(heads, key=lambda h: h.ledger))
    digest = anchor_digest(ordered)
    mac = hmac.new(key, digest.encode(), "sha256").hexdigest() if key else None
    return Anchor(
        taken_at=taken_at, heads=ordered, digest=digest, key_id=key_id, mac=mac
    )


@dataclass(frozen=True)
class UnreadableEntry:
    """A stored row that could not even be read as an entry."""

    ledger: int
    seq: int
    error: str


@dataclass(frozen=True)
class BadEntry:
    """Where verification failed and why."""

    ledger: int
    seq: int
    request_id: UUID | None
    problem: str


@dataclass
class VerifyReport:
    """The outcome of :func:`verify_stream`; ``ok`` only when nothing failed."""

    entries_checked: int = 0
    ledgers_checked: int = 0
    problems: list[BadEntry] = field(default_factory=list)
    anchor_checked: bool = False

    @property
    def ok(self) -> bool:
        """True when no problem was found."""
        return not self.problems

    @property
    def first_bad(self) -> BadEntry | None:
        """The first failing entry, in (ledger, seq) order."""
        return self.problems[0] if self.problems else None

    def add(self, problem: BadEntry) -> None:
        """Record a problem (keeps at most 100)."""
        if len(self.problems) < _MAX_PROBLEMS:
            self.problems.append(problem)


@dataclass
class _LedgerState:
    seq: int = 0
    hash: str = GENESIS_HASH
    hashes_at: dict[int, str] = field(default_factory=dict)


def _check_entry(entry: AuditEntry, state: _LedgerState, report: VerifyReport) -> None:
    # Name the position the entry occupies in the stream (the seq it should have):
    # a deleted entry is then reported at its own seq, and a tampered ``seq`` field
    # at the row that carries it, not at the number it was changed to.
    where = state.seq + 1

    def bad(problem: str) -> None:
        report.add(BadEntry(entry.ledger, where, entry.request_id, problem))

    if entry.seq != state.seq + 1:
        bad(f"sequence jumps from {state.seq} to {entry.seq}")
    if entry.prev_hash != state.hash:
        bad("prev_hash does not match the previous entry's hash")
    if entry.canon_version != CANON_VERSION or entry.hash_alg != HASH_ALG:
        bad(f"unknown canon_version/hash_alg {entry.canon_version}/{entry.hash_alg}")
    else:
        try:
            recomputed = entry_hash(entry.model_dump())
        except ValueError as exc:
            bad(f"entry cannot be canonicalised: {exc}")
        else:
            if recomputed != entry.hash:
                bad("hash does not match the entry's content")


def verify_stream(
    entries: Iterable[AuditEntry | UnreadableEntry],
    stored_heads: Iterable[ChainHead],
    *,
    anchor: Anchor | None = None,
    key: bytes | None = None,
    wanted: Mapping[int, set[int]] | None = None,
) -> VerifyReport:
    """Verify entries streamed in (ledger, seq) order against the stored heads.

    Memory stays bounded: only each ledger's last hash (and the hashes at anchored
    positions) is kept.
    """
    report = VerifyReport()
    anchored = {h.ledger: h for h in anchor.heads} if anchor else {}
    states: dict[int, _LedgerState] = {}
    for entry in entries:
        state = states.setdefault(entry.ledger, _LedgerState())
        if isinstance(entry, UnreadableEntry):
            report.add(BadEntry(entry.ledger, entry.seq, None, entry.error))
            state.seq = entry.seq
            state.hash = "?"
            continue
        report.entries_checked += 1
        _check_entry(entry, state, report)
        mark = anchored.get(entry.ledger)
        if mark is not None and mark.seq == entry.seq:
            state.hashes_at[entry.seq] = entry.hash
        state.seq, state.hash = entry.seq, entry.hash
    report.ledgers_checked = len(states)
    _check_heads(states, stored_heads, report)
    if anchor is not None:
        _check_anchor(anchor, states, key, report)
    report.problems.sort(key=lambda p: (p.ledger, p.seq))
    return report


def _check_heads(
    states: Mapping[int, _LedgerState],
    stored: Iterable[ChainHead],
    report: VerifyReport,
) -> None:
    for head in stored:
        state = states.get(head.ledger, _LedgerState())
        if head.seq == 0 and state.seq == 0:
            continue
        if (state.seq, state.hash) != (head.seq, head.hash):
            report.add(
                BadEntry(
                    head.ledger,
                    min(head.seq, state.seq) + 1 if head.seq != state.seq else head.seq,
                    None,
                    f"stored head ({head.seq}) disagrees with the last entry ({state.seq})",
                )
            )


def _check_anchor(
    anchor: Anchor,
    states: Mapping[int, _LedgerState],
    key: bytes | None,
    report: VerifyReport,
) -> None:
    report.anchor_checked = True
    if anchor_digest(anchor.heads) != anchor.digest:
        report.add(BadEntry(-1, 0, None, "anchor digest does not match its heads"))
    if key is not None:
        expected = hmac.new(key, anchor.digest.encode(), "sha256").hexdigest()
        if anchor.mac is None or not hmac.compare_digest(expected, anchor.mac):
            report.add(BadEntry(-1, 0, None, "anchor signature (HMAC) does not verify"))
    for head in anchor.heads:
        if head.seq == 0:
            continue
        state = states.get(head.ledger, _LedgerState())
        if state.seq < head.seq:
            report.add(
                BadEntry(
                    head.ledger,
                    state.seq + 1,
                    None,
                    f"truncated: the anchor has entry {head.seq}, the log ends at"
                    f" {state.seq}",
                )
            )
        elif state.hashes_at.get(head.seq) != head.hash:
            report.add(
                BadEntry(
                    head.ledger,
                    head.seq,
                    None,
                    "rewritten: the entry's hash differs from the anchored hash",
                )
            )


_RawState = tuple[str | None, int, str | None, str, str | None]
_FRESH: _RawState = (None, 0, None, "public", None)


@dataclass(slots=True)
class ReplayedRequest:
    """A request's state as rebuilt from its audit entries alone."""

    state: str | None = None
    version: int = 0
    content_hash: str | None = None
    classification: str = "public"
    """Requests start public; each ``classified`` entry records the new value."""
    problem: str | None = None


class Replay:
    """Rebuilds each request's state, version, content hash and classification."""

    def __init__(self) -> None:
        self.requests: dict[UUID, ReplayedRequest] = {}
        self._raw: dict[str, _RawState] = {}

    def feed(self, entry: AuditEntry) -> None:
        """Apply one entry (entries of one request arrive in sequence order)."""
        if entry.request_id is None or entry.event is AuditEvent.READ:
            return
        replayed = self.requests.setdefault(entry.request_id, ReplayedRequest())
        expected = replayed.version + 1
        if entry.request_version != expected and replayed.problem is None:
            replayed.problem = f"audit versions jump from {replayed.version} to {entry.request_version}"
        replayed.version = entry.request_version or replayed.version
        if entry.to_state is not None:
            replayed.state = entry.to_state
        if entry.content_hash is not None:
            replayed.content_hash = entry.content_hash
        if entry.event is AuditEvent.CLASSIFIED:
            replayed.classification = str(entry.payload.get("classification"))

    def feed_raw(
        self,
        request_id: str | None,
        event: str,
        request_version: int | None,
        to_state: str | None,
        content_hash: str | None,
        payload: Mapping[str, Any],
    ) -> None:
        """:meth:`feed` for a stored row's values (same rules; ids as text).

        The state is kept as one tuple per request (no per-request objects for the
        garbage collector to walk); :meth:`replayed` reads either form.
        """
        if request_id is None or event == _READ:
            return
        state, version, digest, classification, problem = self._raw.get(
            request_id, _FRESH
        )
        if request_version != version + 1 and problem is None:
            problem = f"audit versions jump from {version} to {request_version}"
        version = request_version or version
        if to_state is not None:
            state = to_state
        if content_hash is not None:
            digest = content_hash
        if event == _CLASSIFIED:
            classification = str(payload.get("classification"))
        self._raw[request_id] = (state, version, digest, classification, problem)

    def raw_states(self) -> Mapping[str, _RawState] | None:
        """The replayed states by request id text, when every entry came raw.

        Each is ``(state, version, content_hash, classification, problem)``, what
        :meth:`replayed` gives as a :class:`ReplayedRequest`. None once an entry
        was fed as a model (:meth:`feed`): then only :meth:`replayed` is whole.
        """
        return None if self.requests else self._raw

    def replayed(self, request_id: UUID) -> ReplayedRequest | None:
        """The replayed state of one request (None when it has no entries)."""
        found = self.requests.get(request_id)
        if found is not None:
            return found
        raw = self._raw.get(str(request_id))
        return None if raw is None else ReplayedRequest(*raw)


# -- the fast path: verifying stored rows without building models -------------------

#: An entry's fields in canonical (code-point) key order, with ``hash`` last: the
#: column order of the raw rows :func:`verify_rows` reads.
RAW_FIELDS: Final = (
    "actor",
    "at",
    "canon_version",
    "content_hash",
    "event",
    "from_state",
    "hash_alg",
    "ledger",
    "payload",
    "prev_hash",
    "request_id",
    "request_kind",
    "request_version",
    "roles",
    "seq",
    "to_state",
    "trigger",
    "unit",
    "hash",
)
_MODEL_ORDER: Final = tuple(f for f in AuditEntry.model_fields if f != "hash")
_EVENTS: Final = frozenset(e.value for e in AuditEvent)
_KINDS: Final = frozenset(k.value for k in RequestKind)
_UUID_RE: Final = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
)
_READ: Final = AuditEvent.READ.value
_CLASSIFIED: Final = AuditEvent.CLASSIFIED.value


class _NotFastError(Exception):
    """The row needs the model path (anything unusual, including tampering)."""


def _refuse(_text: str) -> Any:
    raise _NotFastError


# what canonical_bytes' json.dumps does; floats and NaN/Infinity are never fast
_DECODER: Final = json.JSONDecoder(parse_float=_refuse, parse_constant=_refuse)
_ENCODER: Final = json.JSONEncoder(
    ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False
)
_CACHE_MAX: Final = 4096
_CACHED_TEXT: Final = 256
# stored JSON text -> (canonical text, value): most payloads and role lists repeat
_payloads: dict[str, tuple[str, dict[str, Any]]] = {}
_roles: dict[str, tuple[str, list[str]]] = {}
# SQLite's stored text of a datetime whose date part fromisoformat accepts
_SQLITE_AT: Final = re.compile(
    r"([0-9]{4}-[0-9]{2}-[0-9]{2}) (?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
    r"\.[0-9]{6}"
)
_good_dates: set[str] = set()


def _payload(text: Any) -> tuple[str, dict[str, Any]]:
    if type(text) is not str:
        raise _NotFastError
    found = _payloads.get(text)
    if found is not None:
        return found
    if text.count("{") + text.count("[") > MAX_DEPTH - 1:
        raise _NotFastError  # maybe too deep: let canonical_bytes decide
    try:
        value = _DECODER.decode(text)
    except ValueError as exc:  # not JSON, or an int too long to read
        raise _NotFastError from exc
    if type(value) is not dict:
        raise _NotFastError
    result = (_ENCODER.encode(value), value)
    if len(text) <= _CACHED_TEXT and len(_payloads) < _CACHE_MAX:
        _payloads[text] = result
    return result


def _roles_json(text: Any) -> tuple[str, list[str]]:
    if type(text) is not str:
        raise _NotFastError
    found = _roles.get(text)
    if found is not None:
        return found
    try:
        roles = json.loads(text)
    except ValueError as exc:
        raise _NotFastError from exc
    if type(roles) is not list or any(type(r) is not str for r in roles):
        raise _NotFastError
    result = (_ENCODER.encode(roles), roles)
    if len(text) <= _CACHED_TEXT and len(_roles) < _CACHE_MAX:
        _roles[text] = result
    return result


def _timestamp(value: Any) -> str:
    """The canonical text of a stored ``at`` as the driver returns it (naive UTC)."""
    if type(value) is str:  # SQLite: the text SQLAlchemy parses with fromisoformat
        match = _SQLITE_AT.fullmatch(value)
        if match is None:
            raise _NotFastError
        day = match[1]
        if day not in _good_dates:
            try:
                datetime.fromisoformat(day)
            except ValueError as exc:
                raise _NotFastError from exc
            if len(_good_dates) < _CACHE_MAX:
                _good_dates.add(day)
        return f"{day}T{value[11:]}Z"
    if type(value) is not datetime or value.tzinfo is not None:
        raise _NotFastError
    return value.isoformat(timespec="microseconds") + "Z"


_ROW_JSON: Final = (
    '{"actor":%s,"at":"%s","canon_version":%d,"content_hash":%s,"event":"%s",'
    '"from_state":%s,"hash_alg":%s,"ledger":%d,"payload":%s,"prev_hash":%s,'
    '"request_id":%s,"request_kind":%s,"request_version":%s,"roles":%s,"seq":%d,'
    '"to_state":%s,"trigger":%s,"unit":%s}'
)


def raw_canonical(row: Sequence[Any]) -> tuple[bytes, dict[str, Any]]:
    """Canonical bytes of a stored row, byte-identical to the model path's.

    ``row`` holds the :data:`RAW_FIELDS` as stored: ``roles`` and ``payload`` as
    JSON text, ``at`` as the driver returns it (naive UTC ``datetime``, or SQLite's
    text). Returns the bytes ``entry_hash`` would hash for the entry the model path
    reads from the same row, and the payload. Raises ``_NotFastError`` for any row
    whose model-path reading is not the identity on its values (wrong types,
    unknown enum values, non-canonical UUID text, floats, deep nesting...), and
    ``ValidationError`` where canonical JSON refuses a value (text not in NFC);
    such rows go through the model path instead, so the outcome is the same.
    """
    (
        actor,
        at,
        canon_version,
        content_hash,
        event,
        from_state,
        hash_alg,
        ledger,
        payload_text,
        prev_hash,
        request_id,
        request_kind,
        request_version,
        roles_text,
        seq,
        to_state,
        trigger,
        unit,
        digest,
    ) = row
    if (
        event not in _EVENTS
        or (request_kind is not None and request_kind not in _KINDS)
        or (request_id is not None and not _is_uuid(request_id))
        or type(ledger) is not int
        or type(seq) is not int
        or type(canon_version) is not int
        or (request_version is not None and type(request_version) is not int)
        or type(actor) is not str
        or type(hash_alg) is not str
        or type(prev_hash) is not str
        or type(digest) is not str
    ):
        raise _NotFastError
    for value in (content_hash, from_state, to_state, trigger, unit):
        if value is not None and type(value) is not str:
            raise _NotFastError
    canon_payload, payload = _payload(payload_text)
    canon_roles, roles = _roles_json(roles_text)
    stamp = _timestamp(at)
    text = _ROW_JSON % (
        _enc(actor),
        stamp,
        canon_version,
        "null" if content_hash is None else _enc(content_hash),
        event,  # one of the AuditEvent values: plain ASCII words
        "null" if from_state is None else _enc(from_state),
        _enc(hash_alg),
        ledger,
        canon_payload,
        _enc(prev_hash),
        "null" if request_id is None else f'"{request_id}"',
        "null" if request_kind is None else f'"{request_kind}"',
        "null" if request_version is None else request_version,
        canon_roles,
        seq,
        "null" if to_state is None else _enc(to_state),
        "null" if trigger is None else _enc(trigger),
        "null" if unit is None else _enc(unit),
    )
    if text.isascii():  # ASCII text is NFC, and nothing needed escaping beyond JSON's
        return text.encode("ascii"), payload
    # Non-ASCII: let canonical_bytes check NFC over the same plain values, in the
    # model's field order (so a refusal names the same field as the model path).
    plain = dict(zip(RAW_FIELDS, row, strict=True))
    plain.update(at=stamp, payload=payload, roles=roles)
    return canonical_bytes({k: plain[k] for k in _MODEL_ORDER}), payload


def _is_uuid(value: Any) -> bool:
    return type(value) is str and _UUID_RE.fullmatch(value) is not None


# -- templates: the per-row work of raw_canonical, done once per repeating shape ---
#
# Most entries share everything but their position, time, request and hashes: the
# same actor, event, states, trigger, unit, roles and payload recur. For each such
# "shape" (the stored text of those ten fields, all ``str`` or ``None``) the
# canonical text is built once, with the checks raw_canonical makes on them, as a
# %-template whose holes are the per-row fields. A row then costs a dict lookup and
# a format. Anything unusual about the per-row fields (a type, a time, a non-ASCII
# hash) falls back to raw_canonical itself, so the outcome is always the same.

_Shape = tuple[Any, ...]
_Template = tuple[str, dict[str, Any]]
_templates: dict[_Shape, _Template] = {}
_TEMPLATE_MAX: Final = 4096
_SHAPE_TEXT: Final = 512


def _template(shape: _Shape) -> _Template:
    """Build (or refuse) the template of one shape, checking it as raw_canonical."""
    (actor, event, from_state, hash_alg, payload_text, request_kind, roles_text) = (
        shape[:7]
    )
    to_state, trigger, unit = shape[7:]
    if (
        event not in _EVENTS
        or (request_kind is not None and request_kind not in _KINDS)
        or type(actor) is not str
        or type(hash_alg) is not str
    ):
        raise _NotFastError
    for value in (from_state, to_state, trigger, unit):
        if value is not None and type(value) is not str:
            raise _NotFastError
    canon_payload, payload = _payload(payload_text)
    canon_roles, roles = _roles_json(roles_text)

    def text(value: str | None) -> str:
        return "null" if value is None else _enc(value)

    pieces = (
        f'{{"actor":{_enc(actor)},"at":"',
        '","canon_version":',
        ',"content_hash":',
        f',"event":"{event}","from_state":{text(from_state)},'
        f'"hash_alg":{_enc(hash_alg)},"ledger":',
        f',"payload":{canon_payload},"prev_hash":',
        ',"request_id":',
        f',"request_kind":{text(request_kind)},"request_version":',
        f',"roles":{canon_roles},"seq":',
        f',"to_state":{text(to_state)},"trigger":{text(trigger)},"unit":{text(unit)}}}',
    )
    body = "%s".join(piece.replace("%", "%%") for piece in pieces)
    if not body.isascii():
        # the same NFC check canonical_bytes makes (ValidationError when refused)
        to_plain({"actor": actor, "payload": payload, "roles": roles})
        to_plain([from_state, hash_alg, to_state, trigger, unit])
    return body, payload


def row_canonical(row: Sequence[Any]) -> tuple[bytes, dict[str, Any]]:
    """:func:`raw_canonical` of ``row``, by its shape's template when it has one.

    Same result and same exceptions as :func:`raw_canonical` (the template path
    only takes rows whose per-row fields are plainly typed ASCII; every other row
    goes to raw_canonical).
    """
    shape = (
        row[0],  # actor
        row[4],  # event
        row[5],  # from_state
        row[6],  # hash_alg
        row[8],  # payload
        row[11],  # request_kind
        row[13],  # roles
        row[15],  # to_state
        row[16],  # trigger
        row[17],  # unit
    )
    found = _templates.get(shape)
    if found is None:
        payload_text, roles_text = row[8], row[13]
        if (
            type(payload_text) is not str
            or type(roles_text) is not str
            or len(payload_text) + len(roles_text) > _SHAPE_TEXT
        ):
            return raw_canonical(row)
        try:
            found = _template(shape)
        except (_NotFastError, ValidationError):
            return raw_canonical(row)  # raises what it raises for this row
        if len(_templates) >= _TEMPLATE_MAX:
            _templates.clear()
        _templates[shape] = found
    at, canon_version, content_hash, ledger = row[1], row[2], row[3], row[7]
    prev_hash, request_id, request_version, seq = row[9], row[10], row[12], row[14]
    if (
        type(ledger) is not int
        or type(seq) is not int
        or type(canon_version) is not int
        or type(prev_hash) is not str
        or not prev_hash.isascii()
        or type(row[18]) is not str
        or (request_version is not None and type(request_version) is not int)
        or (request_id is not None and not _is_uuid(request_id))
        or (
            content_hash is not None
            and (type(content_hash) is not str or not content_hash.isascii())
        )
    ):
        return raw_canonical(row)
    try:
        stamp = _timestamp(at)
    except _NotFastError:
        return raw_canonical(row)
    body, payload = found
    text = body % (
        stamp,
        canon_version,
        "null" if content_hash is None else _enc(content_hash),
        ledger,
        _enc(prev_hash),
        "null" if request_id is None else f'"{request_id}"',
        "null" if request_version is None else request_version,
        seq,
    )
    return text.encode("utf-8"), payload


# -- the fast path of scan_rows: templates that fix canon_version and hash_alg ---

_FastTemplate = tuple[str, str, str, str, str, str, str, str, str, bool, str | None]
_NO_TEMPLATE: Final[_FastTemplate] = ("",) * 9 + (False, None)
"""A shape the fast path does not take (its rows go through :func:`_scan_one`)."""
_fast_templates: dict[_Shape, _FastTemplate] = {}
_UNSET: Final = object()
_HEX_DIGEST: Final = re.compile(r"[0-9a-f]{64}")


def _is_hex_digest(value: Any) -> bool:
    """Whether ``value`` is a SHA-256 hex digest as ``hexdigest()`` writes it."""
    return type(value) is str and _HEX_DIGEST.fullmatch(value) is not None


def _fast_template(row: Sequence[Any]) -> _FastTemplate:
    """The fast path's template of ``row``'s shape, made and cached on first sight.

    The shape is ``row_canonical``'s plus ``canon_version``; only a shape whose
    ``canon_version`` and ``hash_alg`` are exactly the current ones, and which
    :func:`_template` accepts, gets one. The template is the canonical text in
    nine pieces around the day and the time of ``at``, ``content_hash`` (as
    JSON), ``ledger``, ``prev_hash`` (a hex digest, written as is),
    ``request_id`` (as JSON), ``request_version`` and ``seq``; then whether the
    entry feeds the replay, and the classification it sets (None: unchanged).
    """
    shape = (
        row[0],  # actor
        row[2],  # canon_version
        row[4],  # event
        row[5],  # from_state
        row[6],  # hash_alg
        row[8],  # payload
        row[11],  # request_kind
        row[13],  # roles
        row[15],  # to_state
        row[16],  # trigger
        row[17],  # unit
    )
    actor, canon_version, event, from_state, hash_alg, payload_text = shape[:6]
    request_kind, roles_text, to_state, trigger, unit = shape[6:]
    if (
        type(payload_text) is not str
        or type(roles_text) is not str
        or len(payload_text) + len(roles_text) > _SHAPE_TEXT
    ):
        return _NO_TEMPLATE  # not cached: the shape may be large
    found = _NO_TEMPLATE
    if (
        type(canon_version) is int
        and canon_version == CANON_VERSION
        and type(hash_alg) is str
        and hash_alg == HASH_ALG
    ):
        try:
            _, payload = _template(
                (
                    actor,
                    event,
                    from_state,
                    hash_alg,
                    payload_text,
                    request_kind,
                    roles_text,
                    to_state,
                    trigger,
                    unit,
                )
            )
        except (_NotFastError, ValidationError):
            pass
        else:
            canon_payload, _ = _payload(payload_text)
            canon_roles, _ = _roles_json(roles_text)

            def text(value: str | None) -> str:
                return "null" if value is None else _enc(value)

            pieces = (
                f'{{"actor":{_enc(actor)},"at":"',
                "T",
                f'Z","canon_version":{CANON_VERSION},"content_hash":',
                f',"event":"{event}","from_state":{text(from_state)},'
                f'"hash_alg":{_enc(hash_alg)},"ledger":',
                f',"payload":{canon_payload},"prev_hash":"',
                '","request_id":',
                f',"request_kind":{text(request_kind)},"request_version":',
                f',"roles":{canon_roles},"seq":',
                f',"to_state":{text(to_state)},"trigger":{text(trigger)},'
                f'"unit":{text(unit)}}}',
            )
            to_class = (
                str(payload.get("classification")) if event == _CLASSIFIED else None
            )
            found = (*pieces, event != _READ, to_class)
    if len(_fast_templates) >= _TEMPLATE_MAX:
        _fast_templates.clear()
    _fast_templates[shape] = found
    return found


def verify_rows(
    rows: Iterable[Sequence[Any]],
    stored_heads: Iterable[ChainHead],
    *,
    read_entry: Callable[[Sequence[Any]], AuditEntry],
    replay: Replay | None = None,
    anchor: Anchor | None = None,
    key: bytes | None = None,
) -> VerifyReport:
    """:func:`verify_stream` over raw stored rows (see :func:`raw_canonical`).

    The same checks, in the same order, with the same report; rows the fast path
    cannot vouch for are read with ``read_entry`` (the backend's model path) and
    checked exactly as :func:`verify_stream` checks them. ``replay`` is fed every
    entry. Memory: each ledger's last hash, and the replay's per-request state.
    """
    anchored = {h.ledger: h.seq for h in anchor.heads} if anchor else {}
    scan = scan_rows(rows, read_entry=read_entry, replay=replay, anchored=anchored)
    return finish_report([scan], stored_heads, anchor=anchor, key=key)


@dataclass
class RowScan:
    """What :func:`scan_rows` found in one stream of rows (some ledgers).

    Scans of disjoint ledger ranges, taken in ledger order, combine with
    :func:`finish_report` into exactly the report one scan of all rows gives.
    """

    report: VerifyReport = field(default_factory=VerifyReport)
    states: dict[int, _LedgerState] = field(default_factory=dict)


def scan_rows(
    rows: Iterable[Sequence[Any]],
    *,
    read_entry: Callable[[Sequence[Any]], AuditEntry],
    replay: Replay | None = None,
    anchored: Mapping[int, int] | None = None,
) -> RowScan:
    """Check each row's chain link and hash (the per-entry part of verify_rows).

    ``anchored`` maps a ledger to the seq whose hash an anchor pins.

    Most rows take a fast path (see :func:`_fast_template`): a row whose shape has
    a template, whose link to the previous entry of its ledger holds, whose
    per-row values are plainly typed and whose recomputed hash matches is checked
    and replayed inline. Every other row -- the first of a ledger whose state is
    not known clean, anything unusual, anything that fails -- goes through
    :func:`_scan_one`, the general per-row check, so the report is the same.
    """
    scan = RowScan()
    report = scan.report
    states = scan.states
    anchored = anchored or {}
    raw = replay._raw if replay is not None else None
    templates = _fast_templates
    template_of = templates.get
    at_form = _SQLITE_AT.fullmatch
    uuid_form = _UUID_RE.fullmatch
    good_dates = _good_dates
    sha256 = hashlib.sha256
    enc = _enc
    fresh = _LedgerState
    fast = 0
    # the ledger whose state the fast path may extend: its last seq and hash (a
    # verified hex digest, or the genesis hash); _UNSET until (re)synchronised
    ok_ledger: object = _UNSET
    ok_state = fresh()
    ok_seq = 0
    ok_hash = GENESIS_HASH
    mark: int | None = None
    for row in rows:
        (
            actor,
            at,
            canon_version,
            content_hash,
            event,
            from_state,
            hash_alg,
            ledger,
            payload_text,
            prev_hash,
            request_id,
            request_kind,
            request_version,
            roles_text,
            seq,
            to_state,
            trigger,
            unit,
            digest,
        ) = row
        if ledger != ok_ledger:
            ok_ledger = _UNSET
            if type(ledger) is int:
                state = states.get(ledger)
                if state is None:
                    state = states[ledger] = fresh()
                if type(state.seq) is int and _is_hex_digest(state.hash):
                    ok_ledger, ok_state = ledger, state
                    ok_seq, ok_hash = state.seq, state.hash
                    mark = anchored.get(ledger)
        template = template_of(
            (
                actor,
                canon_version,
                event,
                from_state,
                hash_alg,
                payload_text,
                request_kind,
                roles_text,
                to_state,
                trigger,
                unit,
            )
        )
        if template is None:
            template = _fast_template(row)
        old: _RawState | None = None
        if (
            template is not _NO_TEMPLATE
            and ledger == ok_ledger
            and type(ledger) is int
            and type(canon_version) is int  # 1.0 or True would find 1's template
            and type(seq) is int
            and seq == ok_seq + 1
            and prev_hash == ok_hash  # a hex digest: nothing to escape
            and (request_version is None or type(request_version) is int)
            and (
                content_hash is None
                or (type(content_hash) is str and content_hash.isascii())
            )
        ):
            if type(at) is str:
                day = at[:10]
                clock = at[11:]
                timed = at_form(at) is not None and day in good_dates
            elif type(at) is datetime and at.tzinfo is None:
                stamp = at.isoformat(timespec="microseconds")
                day = stamp[:10]
                clock = stamp[11:]
                timed = True
            else:
                timed = False
            if request_id is not None and timed:
                if raw is not None:
                    old = raw.get(request_id)
                # a key of the replay is a request id read as canonical already
                timed = old is not None or (
                    type(request_id) is str and uuid_form(request_id) is not None
                )
            if timed:
                (p0, p1, p2, p3, p4, p5, p6, p7, p8, feeds, to_class) = template
                text = (
                    f"{p0}{day}{p1}{clock}{p2}"
                    f"{'null' if content_hash is None else enc(content_hash)}"
                    f"{p3}{ledger}{p4}{prev_hash}{p5}"
                    f"""{"null" if request_id is None else f'"{request_id}"'}"""
                    f"{p6}{'null' if request_version is None else request_version}"
                    f"{p7}{seq}{p8}"
                )
                if sha256(text.encode("utf-8")).hexdigest() == digest:
                    fast += 1
                    if raw is not None and feeds and request_id is not None:
                        # Replay.feed_raw, inline
                        (state_name, version, held, classification, problem) = (
                            _FRESH if old is None else old
                        )
                        if request_version != version + 1 and problem is None:
                            problem = (
                                f"audit versions jump from {version} to"
                                f" {request_version}"
                            )
                        raw[request_id] = (
                            state_name if to_state is None else to_state,
                            request_version or version,
                            held if content_hash is None else content_hash,
                            classification if to_class is None else to_class,
                            problem,
                        )
                    if seq == mark:
                        ok_state.hashes_at[seq] = digest
                    ok_state.seq = ok_seq = seq
                    ok_state.hash = ok_hash = digest
                    continue
        ok_ledger = _UNSET  # resynchronised from the states on the next row
        _scan_one(row, states, report, read_entry, replay, anchored)
    report.entries_checked += fast
    report.ledgers_checked = len(states)
    return scan


def _scan_one(
    row: Sequence[Any],
    states: dict[int, _LedgerState],
    report: VerifyReport,
    read_entry: Callable[[Sequence[Any]], AuditEntry],
    replay: Replay | None,
    anchored: Mapping[int, int],
) -> None:
    """Check and replay one row in general (any row; the fast path's fallback)."""
    add = report.add
    try:
        data, payload = row_canonical(row)
    except (_NotFastError, ValidationError):
        entry = read_entry(row)
        state = states.get(entry.ledger)
        if state is None:
            state = states[entry.ledger] = _LedgerState()
        report.entries_checked += 1
        _check_entry(entry, state, report)
        if replay is not None:
            replay.feed_raw(
                None if entry.request_id is None else str(entry.request_id),
                entry.event.value,
                entry.request_version,
                entry.to_state,
                entry.content_hash,
                entry.payload,
            )
        if anchored.get(entry.ledger) == entry.seq:
            state.hashes_at[entry.seq] = entry.hash
        state.seq, state.hash = entry.seq, entry.hash
        return
    ledger, seq, digest = row[7], row[14], row[18]
    state = states.get(ledger)
    if state is None:
        state = states[ledger] = _LedgerState()
    report.entries_checked += 1
    where = state.seq + 1
    if seq != where:
        add(
            BadEntry(
                ledger,
                where,
                _uuid(row[10]),
                f"sequence jumps from {state.seq} to {seq}",
            )
        )
    if row[9] != state.hash:
        add(
            BadEntry(
                ledger,
                where,
                _uuid(row[10]),
                "prev_hash does not match the previous entry's hash",
            )
        )
    if row[2] != CANON_VERSION or row[6] != HASH_ALG:
        add(
            BadEntry(
                ledger,
                where,
                _uuid(row[10]),
                f"unknown canon_version/hash_alg {row[2]}/{row[6]}",
            )
        )
    elif hashlib.sha256(data).hexdigest() != digest:
        add(
            BadEntry(
                ledger,
                where,
                _uuid(row[10]),
                "hash does not match the entry's content",
            )
        )
    if replay is not None:
        replay.feed_raw(row[10], row[4], row[12], row[15], row[3], payload)
    if anchored.get(ledger) == seq:
        state.hashes_at[seq] = digest
    state.seq, state.hash = seq, digest


def finish_report(
    scans: Sequence[RowScan],
    stored_heads: Iterable[ChainHead],
    *,
    anchor: Anchor | None = None,
    key: bytes | None = None,
) -> VerifyReport:
    """Combine scans, then check the stored heads and the anchor.

    With scans of disjoint ledger ranges given in ledger order, the result is the
    report :func:`verify_rows` gives for all their rows in one stream.
    """
    report = VerifyReport()
    states: dict[int, _LedgerState] = {}
    for scan in scans:
        report.entries_checked += scan.report.entries_checked
        report.ledgers_checked += scan.report.ledgers_checked
        for problem in scan.report.problems:
            report.add(problem)
        states.update(scan.states)
    _check_heads(states, stored_heads, report)
    if anchor is not None:
        _check_anchor(anchor, states, key, report)
    report.problems.sort(key=lambda p: (p.ledger, p.seq))
    return report


def _uuid(value: str | None) -> UUID | None:
    return None if value is None else UUID(value)
