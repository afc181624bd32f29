"""Migrations: own version table, outdated schemas refused, populated upgrade (T43)."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

import releaseflow as rf
from releaseflow.exceptions import SchemaOutdatedError
from releaseflow.storage.sql import SqlStore, current_revision, head_revision, upgrade
from releaseflow.storage.sql.migrate import _config
from releaseflow.storage.sql.schema import build_tables
from tests.conftest import STAFF, Clock, new_inquiry, to_approved
from tests.sql.conftest import FILE_BACKENDS
from tests.sql_support import drop_tables, server_url, sqlite_url, unique_prefix


@pytest.fixture(name="target", params=FILE_BACKENDS)
def _target(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    """(url, prefix) of an empty database; its tables are dropped afterwards."""
    backend = str(request.param)
    url = sqlite_url(tmp_path) if backend == "sqlite" else server_url(backend)
    prefix = unique_prefix()
    yield url, prefix
    drop_tables(url, prefix)


def _downgrade(url: str, prefix: str, revision: str) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            cfg = _config(prefix, None)
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, revision)
    finally:
        engine.dispose()


def test_populated_database_upgrades_and_still_verifies(
    target: tuple[str, str],
) -> None:
    url, prefix = target
    store = SqlStore.open(url, table_prefix=prefix)
    flow = rf.ReleaseFlow(store, clock=Clock())
    flow.directory.bootstrap("admin", unit="agency")
    for actor, role in STAFF.items():
        if role != "administrator":
            flow.directory.grant(actor, role, unit="agency", by="admin")
    released = to_approved(flow, new_inquiry(flow))
    released = flow.fire(
        released.id, "release", actor="spoke.tran", form="written_answer"
    )
    anchor = flow.audit.anchor()
    store.close()

    _downgrade(url, prefix, "0001")  # the database of the first release
    assert current_revision(url, table_prefix=prefix) == "0001"
    with pytest.raises(SchemaOutdatedError):
        SqlStore.open(url, table_prefix=prefix, migrate=False)

    assert upgrade(url, table_prefix=prefix) == head_revision()
    store = SqlStore.open(url, table_prefix=prefix, migrate=False)
    try:
        flow = rf.ReleaseFlow(store, clock=Clock())
        report = flow.audit.verify(anchor=anchor)
        assert report.ok, report.problems
        assert flow.get(released.id) == released
    finally:
        store.close()


def test_version_table_is_our_own(target: tuple[str, str]) -> None:
    url, prefix = target
    engine = sa.create_engine(url)
    host = sa.Table(
        f"{prefix}host_alembic_version",
        sa.MetaData(),
        sa.Column("version_num", sa.String(32), primary_key=True),
    )
    try:
        with engine.begin() as conn:
            host.create(conn)
            conn.execute(host.insert().values(version_num="hosts_own"))
        SqlStore.open(url, table_prefix=prefix).close()
        with engine.connect() as conn:
            assert conn.execute(sa.select(host.c.version_num)).scalar() == "hosts_own"
            names = sa.inspect(conn).get_table_names()
            assert f"{prefix}alembic_version" in names
            assert "alembic_version" not in {n for n in names if n.startswith(prefix)}
    finally:
        engine.dispose()


def test_revisions_build_exactly_the_declared_schema(target: tuple[str, str]) -> None:
    """``alembic check``: the revisions and ``schema.py`` agree."""
    url, prefix = target
    assert upgrade(url, table_prefix=prefix, revision="0001") == "0001"
    assert upgrade(url, table_prefix=prefix) == head_revision()
    tables = build_tables(prefix)
    report_ix = f"ix_{prefix}requests_report"
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            # The covering report index exists on SQLite only (``ddl_if``, which
            # autogenerate does not read): compare it there, skip it elsewhere.
            sqlite_only = set() if conn.dialect.name == "sqlite" else {report_ix}
            context = MigrationContext.configure(
                conn,
                opts={
                    "include_name": lambda name, kind, _parent: (
                        kind != "table"
                        or (
                            (name or "").startswith(prefix)
                            and name != tables.version_table
                        )
                    ),
                    "include_object": lambda _obj, name, kind, _refl, _to: (
                        kind != "index" or name not in sqlite_only
                    ),
                    "compare_type": False,
                },
            )
            diffs = compare_metadata(context, tables.metadata)
    finally:
        engine.dispose()
    assert diffs == []
