"""Initial schema: requests, audit ledgers, directory, idempotency, meta.

Revision ID: 0001
Revises:
Create Date: 2026-03-02
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

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create every table of the first schema."""
    p: str = context.config.attributes["table_prefix"]
    schema: str | None = context.config.attributes.get("schema")
    op.create_table(
        f"{p}requests",
        sa.Column("id", ident(36), primary_key=True),
        sa.Column("kind", ident(64), nullable=False),
        sa.Column("definition", ident(100), nullable=False),
        sa.Column("definition_version", sa.Integer, nullable=False),
        sa.Column("state", ident(64), nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.Column("unit", ascii_path(1040), nullable=False),
        sa.Column("created_by", ident(128), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.Column("received_at", UtcDateTime, nullable=False),
        sa.Column("next_due_at", UtcDateTime, nullable=True),
        sa.Column("doc", json_text(), nullable=False),
        schema=schema,
        **TABLE_KWARGS,
    )
    op.create_index(
        f"ix_{p}requests_created",
        f"{p}requests",
        ["created_at", "id"],
        schema=schema,
    )
    op.create_index(
        f"ix_{p}requests_due", f"{p}requests", ["next_due_at", "id"], schema=schema
    )
    op.create_table(
        f"{p}audit_entries",
        sa.Column("ledger", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("event", ident(64), nullable=False),
        sa.Column("request_id", ident(36), nullable=True),
        sa.Column("request_version", sa.BigInteger, nullable=True),
        sa.Column("request_kind", ident(64), nullable=True),
        sa.Column("unit", ascii_path(1040), nullable=True),
        sa.Column("from_state", ident(64), nullable=True),
        sa.Column("to_state", ident(64), nullable=True),
        sa.Column("trigger", ident(64), nullable=True),
        sa.Column("actor", ident(128), nullable=False),
        sa.Column("roles", json_text(), nullable=False),
        sa.Column("at", UtcDateTime, nullable=False),
        sa.Column("payload", json_text(), nullable=False),
        sa.Column("content_hash", ident(64), nullable=True),
        sa.Column("prev_hash", ident(64), nullable=False),
        sa.Column("hash", ident(64), nullable=False),
        sa.Column("canon_version", sa.Integer, nullable=False),
        sa.Column("hash_alg", ident(32), nullable=False),
        sa.UniqueConstraint("ledger", "prev_hash", name=f"uq_{p}audit_prev"),
        schema=schema,
        **TABLE_KWARGS,
    )
    op.create_index(
        f"ix_{p}audit_request",
        f"{p}audit_entries",
        ["request_id", "request_version"],
        schema=schema,
    )
    op.create_table(
        f"{p}ledger_heads",
        sa.Column("ledger", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("hash", ident(64), nullable=False),
        schema=schema,
        **TABLE_KWARGS,
    )
    op.create_table(
        f"{p}grants",
        sa.Column("actor", ident(128), primary_key=True),
        sa.Column("role", ident(64), primary_key=True),
        sa.Column("unit", ascii_path(1040), primary_key=True),
        sa.Column("granted_by", ident(128), nullable=False),
        sa.Column("granted_at", UtcDateTime, nullable=False),
        schema=schema,
        **TABLE_KWARGS,
    )
    op.create_table(
        f"{p}authorisations",
        sa.Column("id", ident(36), primary_key=True),
        sa.Column("actor", ident(128), nullable=False),
        sa.Column("request_id", ident(36), nullable=False),
        sa.Column("granted_at", UtcDateTime, nullable=False),
        sa.Column("doc", json_text(), nullable=False),
        schema=schema,
        **TABLE_KWARGS,
    )
    op.create_index(
        f"ix_{p}auth_request",
        f"{p}authorisations",
        ["request_id", "actor"],
        schema=schema,
    )
    op.create_table(
        f"{p}idempotency",
        sa.Column("key", ident(200), primary_key=True),
        sa.Column("request_id", ident(36), nullable=False),
        sa.Column("record", json_text(), nullable=False),
        schema=schema,
        **TABLE_KWARGS,
    )
    op.create_table(
        f"{p}directory_state",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("version", sa.BigInteger, nullable=False),
        schema=schema,
        **TABLE_KWARGS,
    )
    op.create_table(
        f"{p}meta",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("ledger_count", sa.Integer, nullable=False),
        sa.Column("created", UtcDateTime, nullable=False),
        schema=schema,
        **TABLE_KWARGS,
    )
    op.create_table(
        f"{p}notices",
        sa.Column("request_id", ident(36), primary_key=True),
        sa.Column("rule_id", ident(200), primary_key=True),
        sa.Column("kind", ident(64), primary_key=True),
        sa.Column("at", UtcDateTime, nullable=False),
        schema=schema,
        **TABLE_KWARGS,
    )
    op.create_table(
        f"{p}calendar_overrides",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer, "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("doc", json_text(), nullable=False),
        schema=schema,
        **TABLE_KWARGS,
    )


def downgrade() -> None:
    """Drop every table (destroys the audit log: for tests only)."""
    p: str = context.config.attributes["table_prefix"]
    schema: str | None = context.config.attributes.get("schema")
    for name in (
        "calendar_overrides",
        "notices",
        "meta",
        "directory_state",
        "idempotency",
        "authorisations",
        "grants",
        "ledger_heads",
        "audit_entries",
        "requests",
    ):
        op.drop_table(f"{p}{name}", schema=schema)
