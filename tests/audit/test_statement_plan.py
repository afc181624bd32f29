"""``sql_statement``'s per-shape plan agrees with the general builders.

The statement and the reading of its parameters are cached per query *shape*
(which filters are set, the ordering, whether there is a cursor); the values are
read from the query each time. Pinned here against ``_statement(_shape(...))``
and ``_values``, for every filter set alone and for combinations.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
import sqlalchemy as sa

from releaseflow import queries
from releaseflow.queries import AuditCursor, AuditQuery, make_query, sql_statement
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
