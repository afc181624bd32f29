"""Alembic environment of releaseflow (``script_location="releaseflow:migrations"``).

Run through :func:`releaseflow.storage.sql.upgrade` or ``releaseflow db upgrade``;
the version table is ``{table_prefix}alembic_version``, never the host's own.
"""
