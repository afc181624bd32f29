"""Indexes for finding requests by state and by organisation unit.

Revision ID: 0002
Revises: 0001
Create Date: 2026-03-02
"""

from __future__ import annotations

from alembic import context, op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the state and unit indexes of the requests table."""
    p: str = context.config.attributes["table_prefix"]
    schema: str | None = context.config.attributes.get("schema")
    op.create_index(
        f"ix_{p}requests_state", f"{p}requests", ["state", "created_at"], schema=schema
    )
    op.create_index(f"ix_{p}requests_unit", f"{p}requests", ["unit"], schema=schema)


def downgrade() -> None:
    """Drop the two indexes."""
    p: str = context.config.attributes["table_prefix"]
    schema: str | None = context.config.attributes.get("schema")
    op.drop_index(f"ix_{p}requests_unit", f"{p}requests", schema=schema)
    op.drop_index(f"ix_{p}requests_state", f"{p}requests", schema=schema)
