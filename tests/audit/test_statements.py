"""Every statement the audit read API sends binds its filter values.

On each SQL backend, every statement sent while querying, reading a history and
exporting is captured (SQLAlchemy ``before_cursor_execute``) while the filters carry
injection attempts: quotes, comment markers, LIKE wildcards, backslashes. Each
hostile value starts with a unique marker, so "the value never reaches the SQL
text" is a plain substring check; the value must instead be among the parameters,
and the results must be exactly the literal matches (what the reference matcher
:func:`releaseflow.queries.matches` selects from every entry).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import releaseflow as rf
from releaseflow.chain import seal
from releaseflow.exceptions import ValidationError
from releaseflow.queries import make_query, matches
from releaseflow.storage.sql import SqlStore
from tests.conftest import BACKENDS, make_store

SQL_BACKENDS = [b for b in BACKENDS if b != "memory"]

HOSTILE_TAILS = [
    "'",
    "' OR '1'='1",
    "'; DROP TABLE rf_audit_entries; --",
    '"',
    "--",
    "/*",
    "*/",
    "%",
    "_",
    "a%b_c",
    "\\",
    "\\'",
    "\\%",
    "//",
    "/%",
    "%(x)s",
    "?",
    ":p",
    "$1",
    "ổ'é",
]
HOSTILE = [f"zq{i:02d}{tail}" for i, tail in enumerate(HOSTILE_TAILS)]
TEXT_FILTERS = ("actor", "role", "trigger", "from_state", "to_state")


class Capture:
    """Statements (and their parameters) sent through one engine."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.sent: list[tuple[str, Any]] = []

    def __call__(
        self, conn: Any, cursor: Any, statement: str, params: Any, *a: Any
    ) -> None:
        self.sent.append((statement, params))

    def __enter__(self) -> Capture:
        sa.event.listen(self.engine, "before_cursor_execute", self)
        return self

    def __exit__(self, *exc: object) -> None:
        sa.event.remove(self.engine, "before_cursor_execute", self)


def _param_texts(params: Any) -> list[str]:
    if isinstance(params, dict):
        values = list(params.values())
    elif isinstance(params, list | tuple):
        values = []
        for item in params:
            values += (
                _param_texts(item) if isinstance(item, dict | list | tuple) else [item]
            )
    else:
        values = [params]
    return [v for v in values if isinstance(v, str)]


@pytest.fixture(name="hostile_flow", params=SQL_BACKENDS)
def _hostile_flow(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[rf.ReleaseFlow]:
    """A SQL store whose log holds entries carrying each hostile value.

    Plus decoys that a wildcard (not literal) match would also pick up.
    """
    store = make_store(str(request.param), tmp_path, ledger_count=4)
    assert isinstance(store, SqlStore)
    rng = random.Random(5)
    at = datetime(2026, 1, 1, tzinfo=UTC)
    values = [*HOSTILE, "zq07x", "zq08Q", "zq09aXbYc", "zq10", "plain"]
    with store.unit_of_work() as uow:
        for i, text in enumerate(values * 2):
            at += timedelta(minutes=1)
            draft = {
                "event": rf.AuditEvent.TRANSITIONED,
                "request_id": None,
                "request_version": None,
                "request_kind": None,
                "unit": rng.choice(["lab/a_b", "lab/axb", "lab/a%b", None]),
                "from_state": text,
                "to_state": values[(i + 3) % len(values)],
                "trigger": text,
                "actor": values[(i + 1) % len(values)],
                "roles": (text, "head"),
                "at": at,
                "payload": {"n": i},
                "content_hash": None,
            }
            head = uow.audit.lock_head(rng.randrange(store.ledger_count))
            uow.audit.append(seal(draft, head))
        uow.commit()
    flow = rf.ReleaseFlow(store)
    yield flow
    store.close()


def _expected(flow: rf.ReleaseFlow, **filters: Any) -> list[tuple[int, int]]:
    q = make_query(filters)
    found = [e for e in flow.audit.entries() if matches(e, q)]
    found.sort(key=lambda e: (e.at, e.ledger, e.seq))
    return [(e.ledger, e.seq) for e in found]


def _assert_bound(sent: list[tuple[str, Any]], value: str) -> None:
    marker = value[:4]
    assert sent, "no statement was captured"
    for statement, _ in sent:
        assert marker not in statement, statement
    assert any(marker in text for _, params in sent for text in _param_texts(params)), (
        f"{value!r} was not sent as a parameter"
    )


@pytest.mark.parametrize("name", TEXT_FILTERS)
def test_query_filters_are_bound_and_literal(
    hostile_flow: rf.ReleaseFlow, name: str
) -> None:
    engine = hostile_flow.store.engine  # type: ignore[attr-defined]
    hits = 0
    for value in HOSTILE:
        with Capture(engine) as cap:
            page = hostile_flow.audit.query(limit=1000, **{name: value})
        _assert_bound(cap.sent, value)
        got = [(e.ledger, e.seq) for e in page.entries]
        assert got == _expected(hostile_flow, **{name: value}), (name, value)
        hits += bool(got)
        for e in page.entries:
            stored = e.roles if name == "role" else (getattr(e, name),)
            assert value in stored
    assert hits == len(HOSTILE)  # each hostile value is stored, and found literally


def test_unit_wildcards_match_literally(hostile_flow: rf.ReleaseFlow) -> None:
    for unit in ("lab/a_b", "lab/axb", "lab"):
        for subunits in (True, False):
            page = hostile_flow.audit.query(
                unit=unit, include_subunits=subunits, limit=1000
            )
            assert [(e.ledger, e.seq) for e in page.entries] == _expected(
                hostile_flow, unit=unit, include_subunits=subunits
            )
    assert {
        e.unit for e in hostile_flow.audit.query(unit="lab/a_b", limit=1000).entries
    } == {"lab/a_b"}


def test_all_filters_at_once_and_pages_stay_bound(hostile_flow: rf.ReleaseFlow) -> None:
    engine = hostile_flow.store.engine  # type: ignore[attr-defined]
    value = HOSTILE[2]
    filters = {"trigger": value, "from_state": value, "role": value}
    seen: list[tuple[int, int]] = []
    cursor = None
    with Capture(engine) as cap:
        while True:
            page = hostile_flow.audit.query(limit=1, cursor=cursor, **filters)
            seen += [(e.ledger, e.seq) for e in page.entries]
            cursor = page.next_cursor
            if cursor is None:
                break
    _assert_bound(cap.sent, value)
    assert seen == _expected(hostile_flow, **filters)
    assert len(seen) == 2


def test_exports_bind_their_filters(hostile_flow: rf.ReleaseFlow) -> None:
    import json

    engine = hostile_flow.store.engine  # type: ignore[attr-defined]
    for value in (HOSTILE[1], HOSTILE[9], HOSTILE[11]):
        with Capture(engine) as cap:
            lines = list(hostile_flow.audit.export_jsonl(trigger=value))
        _assert_bound(cap.sent, value)
        rows = [json.loads(line) for line in lines[1:-1]]
        got = [(r["ledger"], r["seq"]) for r in rows]
        assert got == _expected(hostile_flow, trigger=value)
        assert rows
        assert all(r["trigger"] == value for r in rows)


def test_history_binds_the_request_id(tmp_path: Path) -> None:
    for backend in SQL_BACKENDS:
        (tmp_path / backend).mkdir()
        store = make_store(backend, tmp_path / backend)
        flow = rf.ReleaseFlow(store)
        try:
            flow.directory.bootstrap("admin", unit="agency")
            flow.directory.grant(
                "comms.nguyen", "comms_officer", unit="agency", by="admin"
            )
            request = flow.create(
                "press_inquiry",
                title="T",
                body="B",
                actor="comms.nguyen",
                unit="agency",
                channel="electronic",
                requester={"type": "journalist", "name": "N", "organisation": "O"},
            )
            with Capture(store.engine) as cap:  # type: ignore[attr-defined]
                trail = flow.audit.history(request.id)
            assert [e.request_id for e in trail] == [request.id]
            _assert_bound(cap.sent, str(request.id))
        finally:
            store.close()


@pytest.mark.parametrize("bad", ["zq\x00nul", "a\x1fb", "x" * 201, ""])
def test_control_characters_are_refused_before_any_sql(
    hostile_flow: rf.ReleaseFlow, bad: str
) -> None:
    engine = hostile_flow.store.engine  # type: ignore[attr-defined]
    for name in ("trigger", "role", "from_state"):
        with Capture(engine) as cap, pytest.raises(ValidationError):
            hostile_flow.audit.query(**{name: bad})
        assert cap.sent == []
