"""The fixed costs of a query page: shortcuts pinned to the general code.

``sql_statement``'s per-shape plan agrees with the general builders, and a page
built from a backend's exact entries (``page_of_entries``) is the validated page.

The statement and the reading of its parameters are cached per query *shape*
(which filters are set, the ordering, whether there is a cursor); the values are
read from the query each time. Pinned here against ``_statement(_shape(...))``
and ``_values``, for every filter set alone and for combinations.
"""

from __future__ import annotations

import base64
import itertools
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pydantic
import pytest
import sqlalchemy as sa

import releaseflow as rf
from releaseflow import audit as audit_module
from releaseflow import queries
from releaseflow.models import AuditEntry
from releaseflow.queries import (
    AuditCursor,
    AuditPage,
    AuditQuery,
    make_query,
    page_of_entries,
    sql_statement,
)
from releaseflow.storage.sql import SqlStore
from releaseflow.storage.sql.schema import build_tables

_T0 = datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=UTC)

_VALUES: dict[str, Any] = {
    "request_id": UUID("12345678-1234-5678-1234-567812345678"),
    "kind": "press_inquiry",
    "actor": "alice",
    "role": "rev_50%",
    "trigger": "submit",
    "event": "created",
    "from_state": "draft",
    "to_state": "open",
    "ground": "criminal_case_pending",
    "unit": "north/a_b",
    "since": _T0,
    "until": _T0 + timedelta(days=1),
}


def _queries() -> list[AuditQuery]:
    names = list(_VALUES)
    made = [make_query({})]
    made += [make_query({name: _VALUES[name]}) for name in names]
    made += [
        make_query({a: _VALUES[a], b: _VALUES[b]})
        for a, b in itertools.combinations(names, 2)
    ]
    made.append(make_query(dict(_VALUES)))
    made.append(make_query({"actor": "bob", "order": "sequence"}))
    made.append(make_query({"unit": "north", "include_subunits": False}))
    made.append(make_query({"include_subunits": False, "actor": "carol"}))
    made.append(AuditQuery(actor="dave", scope=("north", "south/x"), since=_T0))
    return made


@pytest.fixture(name="audit", scope="module")
def _audit() -> sa.Table:
    return build_tables("plan_").audit


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql", "mysql"])
@pytest.mark.parametrize("after", [None, AuditCursor(_T0, 2, 9)])
def test_plan_is_the_general_statement_and_parameters(
    audit: sa.Table, dialect: str, after: AuditCursor | None
) -> None:
    for q in _queries():
        stmt, params = sql_statement(dialect, audit, q, after=after, limit=51)
        general = queries._statement(
            dialect, audit, queries._shape(q, after is not None)
        )
        assert stmt is general, q
        expected = queries._values(q)
        expected["limit"] = 51
        if after is not None:
            expected.update(after_ledger=after.ledger, after_seq=after.seq)
            if q.order == "time":
                expected["after_at"] = after.at
        assert params == expected, q
        assert all(type(params[k]) is type(v) for k, v in expected.items()), q


def test_plan_is_keyed_by_shape_not_values(audit: sa.Table) -> None:
    queries._plan.cache_clear()
    for actor in ("alice", "bob", "carol"):
        sql_statement(
            "sqlite", audit, make_query({"actor": actor}), after=None, limit=5
        )
    info = queries._plan.cache_info()
    assert (info.misses, info.hits) == (1, 2)


def _entry(seq: int) -> AuditEntry:
    return AuditEntry.model_validate(
        {
            "ledger": 1,
            "seq": seq,
            "event": "created",
            "request_id": None,
            "request_version": None,
            "request_kind": None,
            "unit": None,
            "from_state": None,
            "to_state": None,
            "trigger": None,
            "content_hash": None,
            "canon_version": 1,
            "hash_alg": "sha256",
            "actor": "alice",
            "roles": ("reviewer",),
            "at": _T0,
            "payload": {"n": seq},
            "prev_hash": "0" * 64,
            "hash": "1" * 64,
        }
    )


@pytest.mark.parametrize("cursor", [None, "abc.0123456789abcdef"])
@pytest.mark.parametrize("count", [0, 1, 3])
def test_page_of_entries_is_the_validated_page(cursor: str | None, count: int) -> None:
    entries = [_entry(i) for i in range(count)]
    fast = page_of_entries(list(entries), cursor)
    general = AuditPage.model_validate({"entries": entries, "next_cursor": cursor})
    assert type(fast) is AuditPage
    assert fast == general
    assert fast.__dict__ == general.__dict__
    assert fast.model_fields_set == general.model_fields_set
    assert fast.__pydantic_extra__ == general.__pydantic_extra__
    assert fast.__pydantic_private__ == general.__pydantic_private__
    assert fast.model_dump_json() == general.model_dump_json()
    assert fast.model_dump() == general.model_dump()
    assert all(a is b for a, b in zip(fast.entries, general.entries, strict=True))
    assert fast.model_copy(update={"next_cursor": "x"}) == general.model_copy(
        update={"next_cursor": "x"}
    )
    assert AuditPage.model_validate(fast) == general
    with pytest.raises(pydantic.ValidationError):
        fast.next_cursor = "changed"  # type: ignore[misc]  # frozen like the other


@pytest.mark.parametrize("by", [None, "auditor.ly"])
def test_a_pages_shortcut_gives_the_validated_pages(
    seeded: rf.ReleaseFlow, monkeypatch: pytest.MonkeyPatch, by: str | None
) -> None:
    """Every page of a walk equals the page built the general way.

    The SQL backend takes the shortcut, others the general path.
    """
    built: list[AuditPage] = []

    def spy(entries: list[AuditEntry], cursor: str | None) -> AuditPage:
        page = page_of_entries(entries, cursor)
        built.append(page)
        return page

    monkeypatch.setattr(audit_module, "page_of_entries", spy)
    cursor = None
    pages = 0
    while True:
        page = seeded.audit.query(by=by, limit=7, cursor=cursor)
        general = AuditPage(entries=list(page.entries), next_cursor=page.next_cursor)
        assert page == general
        assert page.model_fields_set == general.model_fields_set
        assert page.model_dump_json() == general.model_dump_json()
        assert len(page.entries) <= 7
        pages += 1
        cursor = page.next_cursor
        if cursor is None:
            break
    assert pages > 1
    sql = isinstance(seeded.store, SqlStore)
    assert len(built) == (pages if sql else 0)


def test_urlsafe_b64_is_base64s() -> None:
    samples = [bytes(range(n)) for n in range(70)]
    samples += [bytes([255 - i % 256 for i in range(n)]) for n in range(70)]
    samples += [b"\xfb\xff\xbf" * 9, b"\xf8" * 5, b""]
    for raw in samples:
        assert queries._urlsafe_b64(raw) == base64.urlsafe_b64encode(raw)
