"""``schema=`` on PostgreSQL: every table and the Alembic version table live there."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

import releaseflow as rf
from releaseflow.exceptions import SchemaOutdatedError
from releaseflow.storage.sql import SqlStore, current_revision, head_revision
from tests.conftest import STAFF, Clock, new_inquiry, to_approved
from tests.sql_support import SQL_URL_ENV, unique_prefix

pytestmark = pytest.mark.skipif(
    not os.environ.get(SQL_URL_ENV["postgres"]),
    reason=f"{SQL_URL_ENV['postgres']} is not set",
)


@pytest.fixture(name="pg_schema")
def _pg_schema() -> Iterator[tuple[str, str]]:
    """A fresh schema ``rf_s_<unique>`` (dropped with CASCADE afterwards), and the URL."""
    url = os.environ[SQL_URL_ENV["postgres"]]
    schema = f"rf_s_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(url)
    try:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        yield url, schema
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        admin.dispose()


def _tables_in(url: str, schema: str) -> set[str]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT table_name FROM information_schema.tables"
                    " WHERE table_schema = :schema"
                ),
                {"schema": schema},
            )
            return {str(r[0]) for r in rows}
    finally:
        engine.dispose()


def _tables_named(url: str, prefix: str) -> set[tuple[str, str]]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT table_schema, table_name FROM information_schema.tables"
                    " WHERE table_name LIKE :pattern"
                ),
                {"pattern": prefix.replace("_", r"\_") + "%"},
            )
            return {(str(r[0]), str(r[1])) for r in rows}
    finally:
        engine.dispose()


def test_a_store_in_its_own_schema(pg_schema: tuple[str, str]) -> None:
    url, schema = pg_schema
    prefix = unique_prefix()
    store = SqlStore.open(url, schema=schema, table_prefix=prefix)
    try:
        flow = rf.ReleaseFlow(store, clock=Clock())
        flow.directory.bootstrap("admin", unit="agency")
        for actor, role in STAFF.items():
            if role != "administrator":
                flow.directory.grant(actor, role, unit="agency", by="admin")
        req = to_approved(flow, new_inquiry(flow))
        req = flow.fire(req.id, "release", actor="spoke.tran", form="written_answer")
        assert req.state == "released"
        assert flow.audit.verify().ok
    finally:
        store.close()

    expected = {t.name for t in store.tables.metadata.sorted_tables}
    expected.add(f"{prefix}alembic_version")
    in_schema = _tables_in(url, schema)
    assert expected <= in_schema, expected - in_schema
    # nothing of this store landed anywhere else (public included)
    assert {s for s, _ in _tables_named(url, prefix)} == {schema}
    assert current_revision(url, table_prefix=prefix, schema=schema) == head_revision()
    assert current_revision(url, table_prefix=prefix) is None

    reopened = SqlStore.open(url, schema=schema, table_prefix=prefix, migrate=False)
    try:
        flow = rf.ReleaseFlow(reopened, clock=Clock())
        assert flow.get(req.id).state == "released"
        trail = [e.trigger for e in flow.audit.history(req.id)]
        assert trail[0] == "create"
        assert trail[-1] == "release"
        report = flow.audit.verify()
        assert report.ok
        assert report.entries_checked >= len(trail)
        # the reopened store writes into the schema too
        again = new_inquiry(flow)
        assert flow.get(again.id).version == 1
        assert flow.audit.verify().ok
    finally:
        reopened.close()

    # the same prefix in the default schema is an empty database: migrate=False refuses
    with pytest.raises(SchemaOutdatedError):
        SqlStore.open(url, table_prefix=prefix, migrate=False)
    assert {s for s, _ in _tables_named(url, prefix)} == {schema}
