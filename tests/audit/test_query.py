"""flow.audit.query: results equal a brute-force filter; keyset pages; bad input."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import releaseflow as rf
from releaseflow.exceptions import NotPermittedError, ValidationError
from releaseflow.queries import encode_cursor

SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
HOSTILE = [
    "x'--",
    '"; DROP TABLE rf_audit_entries; --',
    "%",
    "_",
    "h_ad",
    "/*",
    "spoke%",
]


def brute(entries: list[rf.AuditEntry], f: dict[str, Any]) -> list[rf.AuditEntry]:
    """The oracle: an independent, obvious filter over every entry."""

    def ok(e: rf.AuditEntry) -> bool:
        p = e.payload
        if "request_id" in f and str(e.request_id) != str(f["request_id"]):
            return False
        for name, attr in (
            ("kind", "request_kind"),
            ("actor", "actor"),
            ("trigger", "trigger"),
            ("event", "event"),
            ("from_state", "from_state"),
            ("to_state", "to_state"),
        ):
            if name in f:
                value = getattr(e, attr)
                if value is None or str(getattr(value, "value", value)) != f[name]:
                    return False
        if "role" in f and f["role"] not in e.roles:
            return False
        if "ground" in f:
            cited = p.get("ground") == f["ground"] or (
                e.event.value == "classified" and f["ground"] in p.get("grounds", [])
            )
            if not cited:
                return False
        if "unit" in f:
            sub = f.get("include_subunits", True)
            if e.unit is None or not (
                e.unit == f["unit"] or (sub and e.unit.startswith(f["unit"] + "/"))
            ):
                return False
        if "since" in f and e.at < f["since"]:
            return False
        return not ("until" in f and e.at >= f["until"])

    key = (
        (lambda e: (e.ledger, e.seq))
        if f.get("order") == "sequence"
        else (lambda e: (e.at, e.ledger, e.seq))
    )
    return sorted((e for e in entries if ok(e)), key=key)


def read_all(flow: rf.ReleaseFlow, limit: int, **filters: Any) -> list[rf.AuditEntry]:
    out: list[rf.AuditEntry] = []
    cursor = None
    while True:
        page = flow.audit.query(limit=limit, cursor=cursor, **filters)
        assert len(page.entries) <= limit
        out.extend(page.entries)
        cursor = page.next_cursor
        if cursor is None:
            return out


def filters_strategy(entries: list[rf.AuditEntry]) -> st.SearchStrategy[dict[str, Any]]:
    def values(attr: str) -> list[str]:
        found = {getattr(e, attr) for e in entries if getattr(e, attr) is not None}
        return sorted(str(getattr(v, "value", v)) for v in found)

    units = sorted(
        {e.unit for e in entries if e.unit} | {"danang", "danang/lab", "danang/lab/a_b"}
    )
    times = sorted({e.at for e in entries})
    roles = sorted({r for e in entries for r in e.roles})
    options: dict[str, st.SearchStrategy[Any]] = {
        "request_id": st.sampled_from(
            sorted({str(e.request_id) for e in entries if e.request_id})
        ),
        "kind": st.sampled_from(values("request_kind")),
        "actor": st.sampled_from(values("actor") + HOSTILE),
        "role": st.sampled_from(roles + HOSTILE),
        "trigger": st.sampled_from(values("trigger") + HOSTILE),
        "event": st.sampled_from(values("event")),
        "from_state": st.sampled_from(values("from_state") + HOSTILE),
        "to_state": st.sampled_from(values("to_state")),
        "ground": st.sampled_from(
            [
                "criminal_case_pending",
                "a_inaccessible_or_conditions_unmet",
                "out_of_scope",
            ]
        ),
        "unit": st.sampled_from(units),
        "include_subunits": st.booleans(),
        "since": st.sampled_from(times),
        "until": st.sampled_from(times).map(lambda t: t + timedelta(microseconds=1)),
        "order": st.sampled_from(["time", "sequence"]),
    }
    return st.fixed_dictionaries({}, optional=options).filter(
        lambda f: not ("since" in f and "until" in f and f["since"] >= f["until"])
    )


def test_query_matches_brute_force(seeded: rf.ReleaseFlow) -> None:
    """Every generated filter combination returns exactly the oracle's entries."""
    everything = list(seeded.audit.entries())

    @SETTINGS
    @given(
        filters=filters_strategy(everything), limit=st.sampled_from([1, 7, 50, 1000])
    )
    def check(filters: dict[str, Any], limit: int) -> None:
        got = read_all(seeded, limit, **filters)
        assert got == brute(everything, filters)

    check()


def test_each_filter_alone_selects_something(seeded: rf.ReleaseFlow) -> None:
    """The seeded data exercises every filter (so the property test is not vacuous)."""
    everything = list(seeded.audit.entries())
    for filters in (
        {"ground": "criminal_case_pending"},
        {"ground": "a_inaccessible_or_conditions_unmet"},
        {"role": "head"},
        {"unit": "danang/soyte"},
        {"unit": "danang/lab/a_b"},
        {"event": "approval_revoked"},
        {"kind": "policy_draft_comms"},
    ):
        assert brute(everything, filters), filters
        assert read_all(seeded, 1000, **filters) == brute(everything, filters)


def test_wildcards_and_quotes_match_literally(seeded: rf.ReleaseFlow) -> None:
    """``_`` in a unit is not a wildcard; quotes and comment markers match nothing."""
    units = {e.unit for e in read_all(seeded, 1000, unit="danang/lab/a_b")}
    assert units == {"danang/lab/a_b"}
    assert read_all(seeded, 1000, role="h_ad") == []
    assert read_all(seeded, 1000, role="spoke%") == []
    for hostile in HOSTILE:
        assert seeded.audit.query(actor=hostile).entries == []
        assert seeded.audit.query(trigger=hostile).entries == []
    assert {e.roles for e in read_all(seeded, 1000, role="head")} <= {
        r for r in {e.roles for e in seeded.audit.entries()} if "head" in r
    }


def test_pages_never_skip_or_repeat_across_appends(
    seeded: rf.ReleaseFlow, clock: Any
) -> None:
    """Entries present at the first page appear exactly once, whatever is appended."""
    for order in ("time", "sequence"):
        before = list(seeded.audit.entries())
        seen: list[tuple[int, int]] = []
        cursor = None
        n = 0
        while True:
            page = seeded.audit.query(limit=5, cursor=cursor, order=order)
            seen += [(e.ledger, e.seq) for e in page.entries]
            clock.advance(minutes=1)
            n += 1
            seeded.directory.grant(
                f"temp.{order}{n}", "contributor", unit="danang/lab", by="admin"
            )
            cursor = page.next_cursor
            if cursor is None:
                break
        assert len(seen) == len(set(seen))
        assert {(e.ledger, e.seq) for e in before} <= set(seen)


@pytest.mark.parametrize("limit", [0, -1, 1001, 10**12, 2.5, "10", True, None])
def test_bad_limits_are_validation_errors(flow: rf.ReleaseFlow, limit: Any) -> None:
    with pytest.raises(ValidationError) as info:
        flow.audit.query(limit=limit)
    assert info.value.field == "limit"


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "garbage",
        "a.b",
        "x" * 600,
        "eyJ2IjoxfQ.0000000000000000",
        "eyJ2IjoxfQ.' OR 1=1 --",
        "%%%%.0123456789abcdef",
    ],
)
def test_malformed_cursors_are_validation_errors(
    seeded: rf.ReleaseFlow, cursor: str
) -> None:
    with pytest.raises(ValidationError) as info:
        seeded.audit.query(cursor=cursor)
    assert info.value.field == "cursor"


def test_altered_or_foreign_cursors_are_refused(seeded: rf.ReleaseFlow) -> None:
    """A cursor edited by hand, or taken from another query, is refused."""
    page = seeded.audit.query(limit=2)
    assert page.next_cursor is not None
    text, check = page.next_cursor.split(".")
    forged = text[:-2] + ("AA" if text[-2:] != "AA" else "BB") + "." + check
    with pytest.raises(ValidationError):
        seeded.audit.query(limit=2, cursor=forged)
    with pytest.raises(ValidationError):
        seeded.audit.query(limit=2, cursor=page.next_cursor, order="sequence")
    with pytest.raises(ValidationError):
        seeded.audit.query(limit=2, cursor=page.next_cursor, by="auditor.ly")
    other = seeded.audit.query(limit=2, event="approved")
    assert other.next_cursor is not None
    with pytest.raises(ValidationError):
        seeded.audit.query(limit=2, cursor=other.next_cursor)


def test_unknown_filters_and_naive_datetimes(flow: rf.ReleaseFlow) -> None:
    with pytest.raises(ValidationError, match="colour") as info:
        flow.audit.query(colour="red")
    assert info.value.field == "colour"
    with pytest.raises(ValidationError):
        flow.audit.query(scope=("danang",))  # set by the service only
    with pytest.raises(ValidationError) as naive:
        flow.audit.query(since=datetime(2026, 1, 1))
    assert naive.value.field == "since"
    with pytest.raises(ValidationError):
        flow.audit.query(order="hash; DROP TABLE x")
    with pytest.raises(ValidationError):
        flow.audit.query(kind="no_such_kind")
    with pytest.raises(ValidationError):
        flow.audit.query(actor="a\x00b")
    with pytest.raises(ValidationError):
        flow.audit.query(actor="x" * 10_000)


def test_cursor_round_trip_helper(seeded: rf.ReleaseFlow) -> None:
    """encode_cursor of the last entry resumes right after it."""
    first = seeded.audit.query(limit=3)
    cursor = encode_cursor(first.entries[-1], rf_query())
    assert seeded.audit.query(limit=3, cursor=cursor).entries == (
        seeded.audit.query(limit=3, cursor=first.next_cursor).entries
    )


def rf_query() -> Any:
    from releaseflow.queries import AuditQuery

    return AuditQuery()


# -- read access (T33) ----------------------------------------------------------


def test_reads_with_an_actor_need_auditor_or_head(seeded: rf.ReleaseFlow) -> None:
    for who in ("comms.nguyen", "admin", "spoke.tran", "nobody"):
        with pytest.raises(NotPermittedError):
            seeded.audit.query(by=who)
        with pytest.raises(NotPermittedError):
            seeded.audit.export_jsonl(by=who)
    assert seeded.audit.query(by="auditor.ly", limit=5).entries


def test_reads_are_scoped_and_recorded(seeded: rf.ReleaseFlow) -> None:
    """A head sees only their units (and unit-less entries); each read is an entry."""
    before = len(list(seeded.audit.entries()))
    seen = read_all_as(seeded, "head.dinh")
    assert seen
    assert all(e.unit is None or e.unit.startswith("danang/stttt") for e in seen)
    reads = seeded.audit.query(event="read", actor="head.dinh", limit=1000).entries
    assert reads
    assert reads[-1].roles == ("head",)
    assert reads[-1].payload["operation"] == "query"
    assert reads[-1].payload["query"]["scope"] == ["danang/stttt"]
    assert len(list(seeded.audit.entries())) > before
    assert seeded.audit.verify().ok


def read_all_as(flow: rf.ReleaseFlow, actor: str) -> list[rf.AuditEntry]:
    out: list[rf.AuditEntry] = []
    cursor = None
    while True:
        page = flow.audit.query(by=actor, limit=20, cursor=cursor)
        out += page.entries
        cursor = page.next_cursor
        if cursor is None:
            return out


def test_query_fingerprint_is_the_digest_of_its_canonical_form() -> None:
    """The cached fingerprint equals the digest of the query's canonical JSON form."""
    import hashlib
    from datetime import UTC, timezone

    from releaseflow.canonical import canonical_bytes
    from releaseflow.queries import make_query

    plus7 = timezone(timedelta(hours=7))
    cases: list[dict[str, Any]] = [
        {},
        {"actor": "review.le", "since": datetime(2026, 1, 1, tzinfo=UTC)},
        {"since": datetime(2026, 1, 1, 8, tzinfo=plus7)},  # the same instant
        {"unit": "danang/stttt", "include_subunits": True, "role": "head"},
        {"event": "approved", "order": "sequence"},
    ]
    seen = set()
    for filters in cases:
        for _ in range(2):  # computed, then from the cache
            q = make_query(filters)
            plain = q.model_dump(mode="json")
            digest = hashlib.sha256(canonical_bytes(plain)).hexdigest()[:16]
            assert q.fingerprint() == digest
        seen.add(digest)
    assert len(seen) == len(cases)  # different queries, different digests


@pytest.mark.parametrize("order", ["time", "sequence"])
def test_cursor_text_is_the_documented_encoding(
    seeded: rf.ReleaseFlow, order: str
) -> None:
    """A cursor is base64 of the sorted compact JSON body, then its digest's head.

    Pins the text itself, so cursors handed out before stay readable.
    """
    import base64
    import hashlib
    import json

    from releaseflow.canonical import format_timestamp
    from releaseflow.queries import AuditQuery

    query = AuditQuery(order=order, actor="x")  # type: ignore[arg-type]
    entry = seeded.audit.query(limit=1).entries[0]
    body = {
        "v": 1,
        "o": order,
        "q": query.fingerprint(),
        "l": entry.ledger,
        "s": entry.seq,
        "t": format_timestamp(entry.at) if order == "time" else None,
    }
    raw = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    text = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    expected = f"{text}.{hashlib.sha256(raw).hexdigest()[:16]}"
    assert encode_cursor(entry, query) == expected
