"""Unit tests of ``releaseflow.chain``: sealing, verification, anchors (T18-T20, T27).

Threat model these tests pin down:

* a plain SHA-256 chain detects any change, deletion, reordering or insertion made by
  someone who does **not** recompute the later hashes;
* it detects **nothing** when the attacker deletes the tail (and the head) or rewrites
  an entry and recomputes every later hash -- the database alone cannot tell;
* an anchor exported earlier and kept outside the database catches both (the anchored
  position is missing or has another hash);
* a keyed anchor (HMAC-SHA256 under a key kept outside the database) additionally
  catches an attacker who also replaces the exported anchor with one recomputed over
  the forged log, because they cannot produce the MAC without the key.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from releaseflow.chain import (
    GENESIS_HASH,
    Replay,
    UnreadableEntry,
    anchor_digest,
    entry_hash,
    ledger_for,
    make_anchor,
    seal,
    verify_stream,
)
from releaseflow.models import AuditEntry, ChainHead
from releaseflow.vocabulary import AuditEvent, RequestKind

T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
KEY = b"k" * 32


def draft(n: int, request_id: UUID | None = None, **kw: Any) -> dict[str, Any]:
    """An entry draft for step ``n`` of a request."""
    fields: dict[str, Any] = {
        "event": AuditEvent.TRANSITIONED,
        "request_id": request_id,
        "request_version": n if request_id else None,
        "request_kind": RequestKind.PRESS_INQUIRY if request_id else None,
        "unit": "agency",
        "from_state": f"s{n - 1}",
        "to_state": f"s{n}",
        "trigger": f"t{n}",
        "actor": "spoke.tran",
        "roles": ("spokesperson",),
        "at": T0 + timedelta(seconds=n),
        "payload": {"n": n, "text": "Đà Nẵng 😀"},
        "content_hash": "a" * 64,
    }
    fields.update(kw)
    return fields


def chain(
    length: int, ledger: int = 0, request_id: UUID | None = None
) -> list[AuditEntry]:
    """A valid chain of ``length`` entries on ``ledger``."""
    head = ChainHead(ledger=ledger, seq=0, hash=GENESIS_HASH)
    out = []
    for n in range(1, length + 1):
        entry = seal(draft(n, request_id), head)
        out.append(entry)
        head = ChainHead(ledger=ledger, seq=entry.seq, hash=entry.hash)
    return out


def heads_of(entries: list[AuditEntry]) -> list[ChainHead]:
    """The head each ledger would store for ``entries``."""
    last: dict[int, AuditEntry] = {}
    for entry in entries:
        last[entry.ledger] = entry
    return [ChainHead(ledger=e.ledger, seq=e.seq, hash=e.hash) for e in last.values()]


def reseal(entries: list[AuditEntry]) -> list[AuditEntry]:
    """Recompute every seq, prev_hash and hash (what a full-recompute forger does)."""
    out: list[AuditEntry] = []
    for entry in entries:
        prev = out[-1] if out else None
        head = ChainHead(
            ledger=entry.ledger,
            seq=prev.seq if prev else 0,
            hash=prev.hash if prev else GENESIS_HASH,
        )
        body = entry.model_dump(
            exclude={"ledger", "seq", "prev_hash", "hash", "canon_version", "hash_alg"}
        )
        out.append(seal(body, head))
    return out


def test_seal_links_and_hashes() -> None:
    """Sealed entries carry seq+1, the previous hash and a hash of all other fields."""
    entries = chain(3)
    assert [e.seq for e in entries] == [1, 2, 3]
    assert entries[0].prev_hash == GENESIS_HASH
    assert entries[1].prev_hash == entries[0].hash
    for entry in entries:
        assert entry_hash(entry.model_dump()) == entry.hash
        assert len(entry.hash) == 64


def test_hash_covers_every_field() -> None:
    """Changing any single field of an entry changes its hash."""
    entry = chain(1)[0]
    changes: dict[str, Any] = {
        "ledger": 1,
        "seq": 2,
        "event": AuditEvent.APPROVED,
        "request_id": uuid4(),
        "request_version": 9,
        "request_kind": RequestKind.INCIDENT_STATEMENT,
        "unit": "other",
        "from_state": "x",
        "to_state": "y",
        "trigger": "z",
        "actor": "mallory",
        "roles": ("head",),
        "at": T0 + timedelta(microseconds=1),
        "payload": {"n": 2},
        "content_hash": "b" * 64,
        "prev_hash": "c" * 64,
        "canon_version": 2,
        "hash_alg": "sha512",
    }
    fields = set(AuditEntry.model_fields) - {"hash"}
    assert set(changes) == fields
    for name, value in changes.items():
        changed = entry.model_copy(update={name: value})
        assert entry_hash(changed.model_dump()) != entry.hash, name


def test_clean_chain_verifies() -> None:
    """A valid chain on two ledgers verifies with no problems."""
    entries = chain(5, 0) + chain(4, 3)
    report = verify_stream(entries, heads_of(entries))
    assert report.ok
    assert report.first_bad is None
    assert (report.entries_checked, report.ledgers_checked) == (9, 2)


def test_ledger_for_is_stable_and_in_range() -> None:
    """ledger_for is deterministic and within [0, count)."""
    assert ledger_for("directory", 16) == ledger_for("directory", 16)
    assert all(0 <= ledger_for(str(uuid4()), 7) < 7 for _ in range(50))


@pytest.mark.parametrize("position", [0, 2, 4])
def test_changed_entry_is_named(position: int) -> None:
    """Changing the first/middle/last entry's payload names that exact seq."""
    entries = chain(5)
    entries[position] = entries[position].model_copy(update={"payload": {"n": -1}})
    report = verify_stream(entries, heads_of(chain(5)))
    assert not report.ok
    assert report.first_bad is not None
    assert (report.first_bad.ledger, report.first_bad.seq) == (0, position + 1)


def test_deleted_middle_entry_is_named() -> None:
    """Deleting entry 3 is reported at seq 3, the position that is missing."""
    entries = chain(5)
    del entries[2]
    report = verify_stream(entries, heads_of(chain(5)))
    assert report.first_bad is not None
    assert report.first_bad.seq == 3
    assert "jumps" in report.first_bad.problem


def test_reordered_entries_are_named() -> None:
    """Swapping entries 2 and 3 names seq 2 first; every displaced entry is listed."""
    entries = chain(5)
    entries[1], entries[2] = entries[2], entries[1]
    report = verify_stream(entries, heads_of(chain(5)))
    assert report.first_bad is not None
    assert report.first_bad.seq == 2
    assert {p.seq for p in report.problems} == {2, 3, 4}


def test_tail_truncation_with_head_fixed_up_passes_without_anchor() -> None:
    """Threat model: deleting the tail and its head is invisible to the chain alone."""
    entries = chain(5)[:3]
    assert verify_stream(entries, heads_of(entries)).ok


def test_tail_truncation_is_caught_by_an_earlier_anchor() -> None:
    """An anchor taken at seq 5 reports the log ending at 3 as truncated."""
    full = chain(5)
    anchor = make_anchor(heads_of(full), T0)
    truncated = full[:3]
    report = verify_stream(truncated, heads_of(truncated), anchor=anchor)
    assert report.anchor_checked
    assert report.first_bad is not None
    assert (report.first_bad.ledger, report.first_bad.seq) == (0, 4)
    assert "truncated" in report.first_bad.problem


def test_full_recompute_forgery_passes_the_plain_chain_but_not_the_anchor() -> None:
    """Full-recompute forgery passes the plain chain but fails the earlier anchor.

    Threat model in the module docstring.
    """
    original = chain(5)
    anchor = make_anchor(heads_of(original), T0, key=KEY, key_id="k1")
    forged = list(original)
    forged[1] = forged[1].model_copy(update={"actor": "mallory"})
    forged = reseal(forged)
    plain = verify_stream(forged, heads_of(forged))
    assert plain.ok  # the chain alone cannot tell
    report = verify_stream(forged, heads_of(forged), anchor=anchor, key=KEY)
    assert not report.ok
    assert report.first_bad is not None
    assert "rewritten" in report.first_bad.problem


def test_forger_who_also_replaces_the_anchor_is_caught_by_the_key() -> None:
    """A recomputed anchor without the key fails HMAC; with a wrong key too."""
    original = chain(4)
    forged = reseal(
        [original[0].model_copy(update={"actor": "mallory"}), *original[1:]]
    )
    unkeyed = make_anchor(heads_of(forged), T0)
    wrong_key = make_anchor(heads_of(forged), T0, key=b"guess")
    for fake in (unkeyed, wrong_key):
        assert verify_stream(forged, heads_of(forged), anchor=fake).ok  # digest only
        report = verify_stream(forged, heads_of(forged), anchor=fake, key=KEY)
        assert [p.problem for p in report.problems] == [
            "anchor signature (HMAC) does not verify"
        ]
    honest = make_anchor(heads_of(original), T0, key=KEY)
    assert verify_stream(original, heads_of(original), anchor=honest, key=KEY).ok


def test_anchor_with_edited_heads_fails_its_digest() -> None:
    """Editing an anchor's heads without its digest is reported."""
    entries = chain(3)
    anchor = make_anchor(heads_of(entries), T0)
    bent = anchor.model_copy(
        update={"heads": (anchor.heads[0].model_copy(update={"seq": 2}),)}
    )
    report = verify_stream(entries, heads_of(entries), anchor=bent)
    assert any("digest" in p.problem for p in report.problems)


def test_anchor_digest_is_order_independent() -> None:
    """anchor_digest sorts heads by ledger."""
    heads = heads_of(chain(2, 0) + chain(3, 5))
    assert anchor_digest(heads) == anchor_digest(list(reversed(heads)))


def test_anchor_beyond_the_log_and_for_unknown_ledger_is_reported() -> None:
    """An anchored seq past the end, or on a ledger with no entries, is truncation."""
    entries = chain(2)
    fake = make_anchor(
        [
            ChainHead(ledger=0, seq=9, hash="d" * 64),
            ChainHead(ledger=4, seq=1, hash="e" * 64),
        ],
        T0,
    )
    report = verify_stream(entries, heads_of(entries), anchor=fake)
    assert {(p.ledger, p.seq) for p in report.problems} == {(0, 3), (4, 1)}


def test_stored_head_disagreeing_with_last_entry_is_reported() -> None:
    """A head row that does not match the last entry is a problem."""
    entries = chain(3)
    head = ChainHead(ledger=0, seq=3, hash="f" * 64)
    assert not verify_stream(entries, [head]).ok


def test_unreadable_row_is_reported_not_raised() -> None:
    """An UnreadableEntry is reported at its position; verification goes on."""
    entries: list[AuditEntry | UnreadableEntry] = list(chain(3))
    entries[1] = UnreadableEntry(ledger=0, seq=2, error="bad json")
    report = verify_stream(entries, heads_of(chain(3)))
    assert report.first_bad is not None
    assert (report.first_bad.seq, report.first_bad.problem) == (2, "bad json")


def test_unknown_canon_version_is_reported() -> None:
    """An entry claiming another canon_version/hash_alg is not trusted."""
    entries = chain(2)
    entries[1] = entries[1].model_copy(update={"canon_version": 99})
    report = verify_stream(entries, heads_of(chain(2)))
    assert report.first_bad is not None
    assert report.first_bad.seq == 2


def test_problem_list_is_bounded() -> None:
    """A wholly broken log keeps at most 100 problems (bounded memory)."""
    entries = [e.model_copy(update={"hash": "0" * 64}) for e in chain(150)]
    report = verify_stream(entries, [])
    assert len(report.problems) == 100


def test_replay_rebuilds_state_and_flags_version_gaps() -> None:
    """Replay follows to_state/version; a gap in request versions is a problem."""
    rid = uuid4()
    replay = Replay()
    entries = chain(3, request_id=rid)
    for entry in entries:
        replay.feed(entry)
    assert (replay.requests[rid].state, replay.requests[rid].version) == ("s3", 3)
    assert replay.requests[rid].problem is None
    gap = Replay()
    gap.feed(entries[0])
    gap.feed(entries[2])
    assert gap.requests[rid].problem is not None


@given(
    st.integers(min_value=1, max_value=12),
    st.data(),
)
@settings(max_examples=150, derandomize=True)
def test_any_single_field_mutation_is_detected_at_its_seq(
    length: int, data: st.DataObject
) -> None:
    """Mutating any one field of any entry is reported at exactly that (ledger, seq)."""
    entries = chain(length, ledger=2)
    heads = heads_of(entries)
    index = data.draw(st.integers(0, length - 1))
    field = data.draw(
        st.sampled_from(
            ["actor", "payload", "to_state", "at", "prev_hash", "hash", "seq"]
        )
    )
    value: Any = {
        "actor": "mallory",
        "payload": {"n": "forged"},
        "to_state": "released",
        "at": T0 - timedelta(days=1),
        "prev_hash": "9" * 64,
        "hash": "8" * 64,
        "seq": 99,
    }[field]
    entries[index] = entries[index].model_copy(update={field: value})
    report = verify_stream(entries, heads)
    assert report.first_bad is not None
    assert (report.first_bad.ledger, report.first_bad.seq) == (2, index + 1)


@given(st.integers(min_value=1, max_value=10), st.integers(min_value=1, max_value=5))
@settings(max_examples=50, derandomize=True)
def test_appending_never_invalidates_a_verified_prefix(length: int, more: int) -> None:
    """An anchor of any prefix still verifies after more entries are appended."""
    entries = chain(length + more)
    prefix_anchor = make_anchor(heads_of(entries[:length]), T0, key=KEY)
    assert verify_stream(entries, heads_of(entries), anchor=prefix_anchor, key=KEY).ok
