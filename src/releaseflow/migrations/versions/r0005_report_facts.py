"""Report-fact columns on the requests table, backfilled from the stored documents.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27

The columns are what ``releaseflow.reports.row_facts.request_facts`` derives from a
request; every later write fills them in the same statement as the document.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

from releaseflow.models import Request
from releaseflow.reports.row_facts import FACT_COLUMNS, request_facts
from releaseflow.storage.sql.schema import fact_columns

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_BATCH = 1000


def upgrade() -> None:
    """Add the fact columns and their two indexes; backfill every row."""
    p: str = context.config.attributes["table_prefix"]
    schema: str | None = context.config.attributes.get("schema")
    for column in fact_columns():
        op.add_column(f"{p}requests", column, schema=schema)
    op.create_index(
        f"ix_{p}requests_received",
        f"{p}requests",
        ["received_at", "kind"],
        schema=schema,
    )
    op.create_index(
        f"ix_{p}requests_released",
        f"{p}requests",
        ["fact_released_at"],
        schema=schema,
    )
    table = sa.Table(
        f"{p}requests",
        sa.MetaData(),
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("doc", sa.Text()),
        *fact_columns(),
        schema=schema,
    )
    bind = op.get_bind()
    update = (
        sa.update(table)
        .where(table.c.id == sa.bindparam("b_id"))
        .values({n: sa.bindparam(f"v_{n}") for n in FACT_COLUMNS})
    )
    after = ""
    while True:
        rows = bind.execute(
            sa.select(table.c.id, table.c.doc)
            .where(table.c.id > after)
            .order_by(table.c.id)
            .limit(_BATCH)
        ).all()
        if not rows:
            break
        params = []
        for rid, doc in rows:
            facts = request_facts(Request.model_validate_json(doc))
            params.append({"b_id": rid, **{f"v_{k}": v for k, v in facts.items()}})
        bind.execute(update, params)
        after = rows[-1][0]


def downgrade() -> None:
    """Drop the index and the fact columns."""
    p: str = context.config.attributes["table_prefix"]
    schema: str | None = context.config.attributes.get("schema")
    op.drop_index(f"ix_{p}requests_released", f"{p}requests", schema=schema)
    op.drop_index(f"ix_{p}requests_received", f"{p}requests", schema=schema)
    for name in reversed(FACT_COLUMNS):
        op.drop_column(f"{p}requests", name, schema=schema)
