"""Audit-query fixtures: a seeded quarter, and the SQL query wired where missing."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

import releaseflow as rf
from releaseflow.demo import seed
from releaseflow.queries import AuditCursor, AuditQuery, sql_query


@pytest.fixture(autouse=True)
def _wire_sql_query(monkeypatch: pytest.MonkeyPatch) -> None:
    """Until the SQL backend has ``SqlAudit.query``, route it to ``sql_query``."""
    from releaseflow.storage.sql.errors import translate
    from releaseflow.storage.sql.repositories import SqlAudit

    if "query" in vars(SqlAudit):
        return

    def query(
        self: Any, q: AuditQuery, *, after: AuditCursor | None, limit: int
    ) -> list[rf.AuditEntry]:
        with translate():
            return sql_query(self._uow.connection, self._t, q, after=after, limit=limit)

    monkeypatch.setattr(SqlAudit, "query", query, raising=False)


@pytest.fixture(name="seeded")
def _seeded(flow: rf.ReleaseFlow) -> rf.ReleaseFlow:
    """A flow holding the demo quarter plus units whose names hold LIKE wildcards."""
    seed(flow, date(2026, 3, 20))
    flow.directory.grant("comms.x", "comms_officer", unit="danang/lab/a_b", by="admin")
    flow.directory.grant("comms.x", "comms_officer", unit="danang/lab/axb", by="admin")
    flow.directory.grant("comms.x", "comms_officer", unit="danang/lab/a.b", by="admin")
    return flow
