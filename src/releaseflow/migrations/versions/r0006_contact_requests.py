"""Requests that name a stored press contact (the media network's index).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

from releaseflow.storage.sql.types import TABLE_KWARGS, UtcDateTime, ident

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the contact-request link table."""
    p: str = context.config.attributes["table_prefix"]
    schema: str | None = context.config.attributes.get("schema")
    op.create_table(
        f"{p}contact_requests",
        sa.Column("contact_id", ident(36), primary_key=True),
        sa.Column("request_id", ident(36), primary_key=True),
        sa.Column("created_at", UtcDateTime, nullable=False),
        schema=schema,
        **TABLE_KWARGS,
    )


def downgrade() -> None:
    """Drop the contact-request link table."""
    p: str = context.config.attributes["table_prefix"]
    schema: str | None = context.config.attributes.get("schema")
    op.drop_table(f"{p}contact_requests", schema=schema)
