"""The audit hash chain: sealing entries, anchors, streaming verification, replay.

Shape: the log is split into ``ledger_count`` **ledgers** (16 by default). Every
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
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final
from uuid import UUID

from .canonical import CANON_VERSION, HASH_ALG, canonical_bytes, sha256_hex, to_plain
from .models import Anchor, AuditEntry, ChainHead
from .vocabulary import AuditEvent

__all__ = [
    "GENESIS_HASH",
    "BadEntry",
    "Replay",
    "UnreadableEntry",
    "VerifyReport",
    "anchor_digest",
    "entry_hash",
    "ledger_for",
    "make_anchor",
    "seal",
    "verify_stream",
]

GENESIS_HASH: Final = "0" * 64
_MAX_PROBLEMS: Final = 100


def ledger_for(stream: str, ledger_count: int) -> int:
    """The ledger that ``stream`` (a request id or ``"directory"``) writes to."""
    digest = hashlib.sha256(stream.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % ledger_count


def entry_hash(fields: Mapping[str, Any]) -> str:
    """The hash of an entry's fields (every field except ``hash`` itself)."""
    return sha256_hex(canonical_bytes({k: v for k, v in fields.items() if k != "hash"}))


def seal(draft: Mapping[str, Any], head: ChainHead) -> AuditEntry:
    """Chain ``draft`` after ``head`` and return the sealed entry."""
    fields = dict(draft)
    # the payload is stored as JSON: keep only JSON values so it reads back equal
    fields["payload"] = to_plain(fields.get("payload", {}), path="payload")
    fields.update(
        ledger=head.ledger,
        seq=head.seq + 1,
        prev_hash=head.hash,
        canon_version=CANON_VERSION,
        hash_alg=HASH_ALG,
    )
    # Hash the plain form of exactly the fields the entry stores; verify() hashes
    # ``entry.model_dump()``, whose plain form is the same (tests pin the two).
    digest = sha256_hex(canonical_bytes(fields))
    return AuditEntry.model_validate({**fields, "hash": digest})


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


@dataclass
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
