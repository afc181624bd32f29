"""Alembic revisions of the releaseflow schema."""
