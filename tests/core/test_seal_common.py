"""``chain._seal_common`` (the sealing fast path) gives what ``_seal_general`` gives.

Every draft the engine writes for a request goes through ``_seal_common``; anything
outside its common shape falls back to the general path. These tests pin the two
together: same entry (hence the same hash), same stored payload and roles text, or
the same error -- for the engine's own drafts and for generated ones that mix
common and uncommon values (non-ASCII and NFD text, naive and non-UTC times, enum
look-alikes, nested or float payloads, huge ints, missing and extra keys).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from uuid import UUID, uuid4

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from releaseflow import chain
from releaseflow.chain import (
    Sealed,
    _seal_common,
    _seal_general,
    entry_hash,
    seal_stored,
)
from releaseflow.models import ChainHead
from releaseflow.vocabulary import AuditEvent, RequestKind

T0 = datetime(2026, 3, 2, 2, 0, 0, 123456, tzinfo=UTC)
HEAD = ChainHead(ledger=7, seq=41, hash="ab" * 32)


def common_draft(**changes: Any) -> dict[str, Any]:
    """A draft as ``ReleaseFlow._append`` makes for a transition."""
    draft: dict[str, Any] = {
        "event": AuditEvent.TRANSITIONED,
        "request_id": UUID("3e99457c-569e-444e-83f0-1148ea97d3ea"),
        "request_version": 3,
        "request_kind": RequestKind.PRESS_INQUIRY,
        "unit": "agency/ttyt",
        "from_state": "drafting",
        "to_state": "gathering",
        "trigger": "request_information",
        "actor": "coord.bui",
        "roles": ("coordinating_officer",),
        "at": T0,
        "payload": {"definition": "press_inquiry@1"},
        "content_hash": "28" * 32,
    }
    draft.update(changes)
    return draft


def outcome(seal: Any, draft: Any, head: ChainHead) -> Any:
    """What ``seal`` gives: the Sealed tuple (entry fields and texts), or the error."""
    try:
        sealed: Sealed = seal(draft, head)
    except Exception as exc:  # the error itself is compared
        return ("error", type(exc), str(exc))
    entry = sealed.entry
    return (
        "sealed",
        [(name, type(value), value) for name, value in entry.__dict__.items()],
        entry.model_fields_set,
        entry.__pydantic_extra__,
        entry.__pydantic_private__,
        sealed.payload_json,
        sealed.roles_json,
    )


def assert_same(draft: Any, head: ChainHead = HEAD) -> Any:
    """``seal_stored`` (and ``_seal_common`` when it takes the draft) == general."""
    general = outcome(_seal_general, draft, head)
    assert outcome(seal_stored, draft, head) == general
    fast = _seal_common(draft, head)
    if fast is not None:
        assert outcome(lambda d, h: fast, draft, head) == general
        # the hash is the one verification recomputes from the entry
        assert entry_hash(fast.entry.model_dump()) == fast.entry.hash
        assert json.loads(fast.payload_json) == fast.entry.payload
        assert json.loads(fast.roles_json) == list(fast.entry.roles)
    return fast


# -- the engine's common drafts take the fast path ---------------------------------


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"from_state": None, "event": AuditEvent.CREATED, "trigger": "create"},
        {"request_id": None, "request_version": None, "request_kind": None},
        {"content_hash": None, "unit": None, "to_state": None},
        {"roles": ()},
        {"roles": ("comms_officer", "head", "spokesperson")},
        {"payload": {}},
        {"payload": {"reason": "x", "definition": "d@1", "n": 3, "ok": True}},
        {"payload": {"b": None, "a": False, "c": -(10**17)}},
        {"payload": {"received_at": T0, "on": datetime(1, 1, 1, tzinfo=UTC)}},
        {"payload": {"quote": 'say "hi"\\ \n\t\x00\x1f\x7f'}},
        {"actor": 'we"ird\\actor', "trigger": "tab\there"},
        {"actor": "nguyễn.văn", "unit": "Đà Nẵng", "roles": ("Đ", "a")},
        {"payload": {"lý do": "Đà Nẵng 😀", "Đ": 1, "a": "\u00c5"}},
        {"at": datetime(1, 1, 1, tzinfo=UTC)},
        {"at": datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)},
        {"at": datetime(2026, 1, 1, tzinfo=UTC)},
        {"request_version": 0},
        {"request_version": 10**18 - 1},
    ],
)
def test_common_drafts_take_the_fast_path_with_the_general_result(
    changes: dict[str, Any],
) -> None:
    assert assert_same(common_draft(**changes)) is not None


@pytest.mark.parametrize("event", list(AuditEvent))
@pytest.mark.parametrize("kind", list(RequestKind))
def test_every_event_and_kind(event: AuditEvent, kind: RequestKind) -> None:
    assert assert_same(common_draft(event=event, request_kind=kind)) is not None


def test_payload_key_order_canonical_sorted_stored_as_given() -> None:
    fast = assert_same(common_draft(payload={"z": 1, "a": "x", "m": None}))
    assert fast is not None
    assert fast.payload_json == '{"z":1,"a":"x","m":null}'


def test_the_head_links_the_entry() -> None:
    fast = assert_same(common_draft(), ChainHead(ledger=0, seq=0, hash="0" * 64))
    assert fast is not None
    assert (fast.entry.ledger, fast.entry.seq, fast.entry.prev_hash) == (0, 1, "0" * 64)


def test_the_entry_does_not_share_the_drafts_payload() -> None:
    draft = common_draft()
    fast = _seal_common(draft, HEAD)
    assert fast is not None
    draft["payload"]["definition"] = "changed"
    assert fast.entry.payload == {"definition": "press_inquiry@1"}


# -- anything else falls back, with the same outcome --------------------------------


class _Str(str):
    pass


class _Uuid(UUID):
    pass


UNCOMMON: list[dict[str, Any]] = [
    {"unit": "Cafe\u0301"},  # NFD: refused by the general path
    {"trigger": "e\u0301"},
    {"from_state": _Str("drafting")},
    {"actor": None},
    {"actor": 5},
    {"event": "transitioned"},
    {"event": "nonsense"},
    {"request_kind": "press_inquiry"},
    {"request_id": str(uuid4())},
    {"request_id": _Uuid(int=5)},
    {"request_version": True},
    {"request_version": "3"},
    {"request_version": 10**18},
    {"request_version": 10**5000},
    {"at": T0.replace(tzinfo=None)},
    {"at": T0.astimezone(timezone(timedelta(hours=7)))},
    {"at": "2026-03-02T02:00:00Z"},
    {"roles": ["comms_officer"]},
    {"roles": (1,)},
    {"payload": {"n": 1.5}},
    {"payload": {"n": 10**18}},
    {"payload": {"n": 10**5000}},
    {"payload": {"nested": {"b": 1, "a": 2}}},
    {"payload": {"list": [1, "x"]}},
    {"payload": {"text": "e\u0301"}},
    {"payload": {"e\u0301": 1}},
    {"roles": ("e\u0301",)},
    {"content_hash": "\u212b"},  # Angstrom sign: NFC makes it U+00C5
    {"payload": {1: "int key"}},
    {"payload": {"at": T0.replace(tzinfo=None)}},
    {"payload": {"at": T0.astimezone(timezone(timedelta(hours=7)))}},
    {"payload": {"kind": RequestKind.PRESS_INQUIRY}},
    {"payload": [("definition", "x")]},
    {"content_hash": b"x"},
]


@pytest.mark.parametrize(
    "changes", UNCOMMON, ids=[f"{i}-{next(iter(c))}" for i, c in enumerate(UNCOMMON)]
)
def test_uncommon_drafts_fall_back_to_the_same_outcome(
    changes: dict[str, Any],
) -> None:
    assert assert_same(common_draft(**changes)) is None


@pytest.mark.parametrize(
    "head",
    [
        ChainHead(ledger=1, seq=2, hash="é" * 64),
        ChainHead.model_construct(ledger=True, seq=2, hash="a" * 64),
        ChainHead.model_construct(ledger=1, seq=2.0, hash="a" * 64),
        ChainHead.model_construct(ledger=1, seq=2, hash=None),
    ],
)
def test_uncommon_heads_fall_back(head: ChainHead) -> None:
    assert assert_same(common_draft(), head) is None


def test_missing_extra_and_non_dict_drafts_fall_back() -> None:
    draft = common_draft()
    del draft["content_hash"]
    assert assert_same(draft) is None
    assert assert_same(common_draft(ledger=3)) is None
    assert assert_same(common_draft(extra="x")) is None

    class Draft(dict[str, Any]):
        pass

    assert assert_same(Draft(common_draft())) is None


# -- generated drafts ----------------------------------------------------------------

_ascii = st.sampled_from(["", "agency", "a b", 'q"\\', "\x00\x1f\x7f"]) | st.text(
    alphabet=st.characters(max_codepoint=127), max_size=6
)
_texts = _ascii | st.sampled_from(["Đà", "e\u0301", "\u212b"]) | st.text(max_size=6)
_bound = 10**18 - 1
_zones = st.sampled_from([timezone(timedelta(hours=7)), timezone(timedelta(hours=-3))])
_flat = (
    st.datetimes(timezones=st.just(UTC))
    | st.none()
    | st.booleans()
    | st.integers(min_value=-_bound, max_value=_bound)
    | _ascii
)
_any_value = (
    _flat
    | _texts
    | st.integers()
    | st.sampled_from([10**18, -(10**18), 10**5000])
    | st.floats(allow_nan=False)
    | st.datetimes(timezones=st.none() | _zones)
    | st.lists(_flat, max_size=2)
    | st.dictionaries(_ascii, _flat, max_size=2)
)


def _either(draw: st.DrawFn, common: Any, uncommon: Any) -> Any:
    """A common value mostly; an uncommon one about one time in twelve."""
    if draw(st.integers(min_value=0, max_value=11)) == 0:
        return draw(uncommon)
    return draw(common)


@st.composite
def drafts(draw: st.DrawFn) -> dict[str, Any]:
    """Drafts near the common shape: each field common or, sometimes, not."""
    at = draw(
        st.datetimes(
            min_value=datetime(2, 1, 1),
            max_value=datetime(9998, 12, 31),
            timezones=st.just(UTC),
        )
    )
    at = _either(
        draw,
        st.just(at),
        st.just(at.replace(tzinfo=None)) | _zones.map(at.astimezone),
    )

    def text(optional: bool = True) -> Any:
        common = st.none() | _ascii if optional else _ascii
        return _either(draw, common, st.none() | _texts | st.integers())

    draft: dict[str, Any] = {
        "event": _either(
            draw, st.sampled_from(AuditEvent), st.sampled_from(["created", "x"])
        ),
        "request_id": _either(
            draw, st.none() | st.uuids(), st.uuids().map(str) | st.just(_Uuid(int=1))
        ),
        "request_version": _either(
            draw,
            st.none() | st.integers(min_value=-_bound, max_value=_bound),
            st.integers() | st.booleans() | st.just(10**5000),
        ),
        "request_kind": _either(
            draw,
            st.none() | st.sampled_from(RequestKind),
            st.sampled_from(["press_inquiry", "x"]),
        ),
        "unit": text(),
        "from_state": text(),
        "to_state": text(),
        "trigger": text(),
        "actor": text(optional=False),
        "roles": _either(
            draw,
            st.lists(_ascii, max_size=3).map(tuple),
            st.lists(_texts, max_size=2) | st.lists(_texts, max_size=2).map(tuple),
        ),
        "at": at,
        "payload": _either(
            draw,
            st.dictionaries(_ascii, _flat, max_size=4),
            st.dictionaries(
                _texts | st.integers(min_value=0, max_value=3), _any_value, max_size=4
            ),
        ),
        "content_hash": text(),
    }
    if draw(st.integers(min_value=0, max_value=19)) == 0:
        draft.pop(draw(st.sampled_from(sorted(draft))))
    elif draw(st.integers(min_value=0, max_value=19)) == 0:
        draft["ledger"] = 1
    return draft


heads = st.builds(
    ChainHead,
    ledger=st.integers(min_value=0, max_value=63),
    seq=st.integers(min_value=0, max_value=10**12),
    hash=st.sampled_from(["0" * 64, "ab" * 32]) | _texts,
)


@given(drafts(), heads)
@settings(max_examples=600, derandomize=True, deadline=None)
def test_generated_drafts_seal_alike(draft: dict[str, Any], head: ChainHead) -> None:
    assert_same(draft, head)


def test_generated_drafts_do_reach_the_fast_path() -> None:
    """The generated drafts are not all uncommon (the pin above is not vacuous)."""
    hits = 0

    @given(drafts(), heads)
    @settings(max_examples=600, derandomize=True, deadline=None)
    def count(draft: dict[str, Any], head: ChainHead) -> None:
        nonlocal hits
        hits += _seal_common(draft, head) is not None

    count()
    assert hits >= 100


def test_engine_writes_take_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """A request's life through the engine seals each of its entries fast."""
    import releaseflow as rf
    from tests.conftest import STAFF, new_inquiry

    calls = {"fast": 0, "general": 0}
    fast, general = chain._seal_common, chain._seal_general

    def counted_fast(draft: Any, head: ChainHead) -> Sealed | None:
        sealed = fast(draft, head)
        if sealed is not None:
            calls["fast"] += 1
            assert outcome(general, draft, head) == outcome(
                lambda d, h: sealed, draft, head
            )
        return sealed

    def counted_general(draft: Any, head: ChainHead) -> Sealed:
        calls["general"] += 1
        return general(draft, head)

    flow = rf.ReleaseFlow.open("memory://")
    flow.directory.bootstrap("admin", unit="agency")
    for actor, role in STAFF.items():
        flow.directory.grant(actor, role, unit="agency", by="admin")
    monkeypatch.setattr(chain, "_seal_common", counted_fast)
    monkeypatch.setattr(chain, "_seal_general", counted_general)
    request = new_inquiry(flow)
    request = flow.fire(request.id, "triage", actor="spoke.tran")
    for trigger in ("request_information", "information_received") * 2:
        request = flow.fire(
            request.id,
            trigger,
            actor="coord.bui",
            expected_version=request.version,
        )
    assert calls == {"fast": 6, "general": 0}  # created, triaged, four toggles
    assert flow.audit.verify().ok
