"""Annual communication plans, their items, press contacts, commissioned tasks.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

from releaseflow.storage.sql.types import (
    TABLE_KWARGS,
    UtcDateTime,
    ascii_path,
    ident,
    json_text,
)

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the plan, plan-item, press-contact and commissioned-task tables."""
    p: str = context.config.attributes["table_prefix"]
    schema: str | None = context.config.attributes.get("schema")
    op.create_table(
        f"{p}plans",
        sa.Column("id", ident(36), primary_key=True),
        sa.Column("unit", ascii_path(1040), nullable=False),
        sa.Column("year", sa.Integer, nullable=False),
        sa.Column("state", ident(64), nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.Column("doc", json_text(), nullable=False),
        schema=schema,
        **TABLE_KWARGS,
    )
    op.create_index(
        f"ux_{p}plans_unit_year",
        f"{p}plans",
        ["unit", "year"],
        unique=True,
        schema=schema,
    )
    op.create_table(
        f"{p}plan_items",
        sa.Column("item_id", ident(36), primary_key=True),
        sa.Column("plan_id", ident(36), nullable=False),
        schema=schema,
        **TABLE_KWARGS,
    )
    op.create_index(
        f"ix_{p}plan_items_plan", f"{p}plan_items", ["plan_id"], schema=schema
    )
    op.create_table(
        f"{p}press_contacts",
        sa.Column("id", ident(36), primary_key=True),
        sa.Column("unit", ascii_path(1040), nullable=False),
        sa.Column("kind", ident(64), nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.Column("doc", json_text(), nullable=False),
        schema=schema,
        **TABLE_KWARGS,
    )
    op.create_index(
        f"ix_{p}press_contacts_unit", f"{p}press_contacts", ["unit"], schema=schema
    )
    op.create_table(
        f"{p}commissioned_tasks",
        sa.Column("id", ident(36), primary_key=True),
        sa.Column("plan_id", ident(36), nullable=False),
        sa.Column("plan_item_id", ident(36), nullable=False),
        sa.Column("contact_id", ident(36), nullable=False),
        sa.Column("unit", ascii_path(1040), nullable=False),
        sa.Column("state", ident(64), nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("doc", json_text(), nullable=False),
        schema=schema,
        **TABLE_KWARGS,
    )
    op.create_index(
        f"ix_{p}tasks_plan",
        f"{p}commissioned_tasks",
        ["plan_id", "created_at"],
        schema=schema,
    )
    op.create_index(
        f"ix_{p}tasks_contact", f"{p}commissioned_tasks", ["contact_id"], schema=schema
    )


def downgrade() -> None:
    """Drop the four tables (and their indexes)."""
    p: str = context.config.attributes["table_prefix"]
    schema: str | None = context.config.attributes.get("schema")
    for name in ("commissioned_tasks", "press_contacts", "plan_items", "plans"):
        op.drop_table(f"{p}{name}", schema=schema)
