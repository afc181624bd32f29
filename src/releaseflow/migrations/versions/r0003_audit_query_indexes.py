"""Indexes serving audit queries: by time, and by actor over time.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from __future__ import annotations

from alembic import context, op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the (at, ledger, seq) and (actor, at, ledger, seq) audit indexes."""
    p: str = context.config.attributes["table_prefix"]
    schema: str | None = context.config.attributes.get("schema")
    table = f"{p}audit_entries"
    op.create_index(f"ix_{p}audit_at", table, ["at", "ledger", "seq"], schema=schema)
    op.create_index(
        f"ix_{p}audit_actor", table, ["actor", "at", "ledger", "seq"], schema=schema
    )


def downgrade() -> None:
    """Drop the two indexes."""
    p: str = context.config.attributes["table_prefix"]
    schema: str | None = context.config.attributes.get("schema")
    table = f"{p}audit_entries"
    op.drop_index(f"ix_{p}audit_actor", table, schema=schema)
    op.drop_index(f"ix_{p}audit_at", table, schema=schema)
