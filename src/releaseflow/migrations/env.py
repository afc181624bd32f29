"""Alembic environment: runs online against the connection handed in by releaseflow.

:func:`releaseflow.storage.sql.migrate.upgrade` puts a live ``connection``, the
``table_prefix`` and the ``schema`` into ``config.attributes``; this file only
configures the migration context with releaseflow's own version table.
"""

from __future__ import annotations

from typing import Any

from alembic import context


def run_migrations(config: Any) -> None:
    """Run the migrations on the connection releaseflow passed in."""
    connection = config.attributes.get("connection")
    if connection is None:
        raise RuntimeError(
            "run releaseflow migrations through releaseflow.storage.sql.upgrade()"
        )
    prefix: str = config.attributes["table_prefix"]
    schema: str | None = config.attributes.get("schema")
    context.configure(
        connection=connection,
        target_metadata=None,
        version_table=f"{prefix}alembic_version",
        version_table_schema=schema,
        transactional_ddl=connection.dialect.name not in ("mysql", "mariadb"),
    )
    with context.begin_transaction():
        context.run_migrations()


_config: Any
try:
    _config = context.config
except AttributeError:  # imported outside an Alembic run (doctest collection)
    _config = None
if _config is not None:
    run_migrations(_config)
