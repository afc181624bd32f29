"""The tables of the SQL backend, built for one table prefix.

The Alembic revisions in ``releaseflow.migrations`` create exactly these tables; a
test compares the two (``tests/sql/test_migrations.py``). Change the schema only by
adding a revision and updating this module to match.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from .types import TABLE_KWARGS, UtcDateTime, ascii_path, ident, json_text

__all__ = [
    "REPORT_INDEX_COLUMNS",
    "Tables",
    "build_tables",
    "fact_columns",
    "report_index",
]

ID = 36
HASH = 64
ACTOR = 128
NAME = 64
UNIT = 1040
KEY = 200
RULE = 200


@dataclass(frozen=True)
class Tables:
    """Every table of one releaseflow schema (one table prefix)."""

    metadata: sa.MetaData
    prefix: str
    requests: sa.Table
    audit: sa.Table
    heads: sa.Table
    grants: sa.Table
    authorisations: sa.Table
    idempotency: sa.Table
    directory: sa.Table
    meta: sa.Table
    notices: sa.Table
    overrides: sa.Table
    plans: sa.Table
    plan_items: sa.Table
    contacts: sa.Table
    tasks: sa.Table
    contact_requests: sa.Table

    @property
    def version_table(self) -> str:
        """The name of this schema's own Alembic version table."""
        return f"{self.prefix}alembic_version"


def fact_columns() -> list[sa.Column[object]]:
    """The report-fact columns of the requests table (``reports.row_facts``).

    Nullable, so a row written before revision 0005 is valid until backfilled.
    """
    return [
        sa.Column("fact_channel", ident(NAME), nullable=True),
        sa.Column("fact_released_at", UtcDateTime, nullable=True),
        sa.Column("fact_release_form", ident(NAME), nullable=True),
        sa.Column("fact_refused_at", UtcDateTime, nullable=True),
        sa.Column("fact_ground", ident(RULE), nullable=True),
        sa.Column("fact_deadlines", sa.Text(), nullable=True),
        sa.Column("fact_org", sa.Text(), nullable=True),
        sa.Column("fact_journalist", sa.Text(), nullable=True),
        sa.Column("fact_in_scope", sa.Boolean(), nullable=True),
        sa.Column("fact_title", sa.Text(), nullable=True),
        sa.Column("fact_seconds", sa.BigInteger(), nullable=True),
    ]


#: Every requests column a report reads, in the SQLite-only covering index (0007).
#: The range column comes first; the rest let SQLite answer a report's scan from
#: the index alone instead of reading each wide row (its document) page by page.
REPORT_INDEX_COLUMNS = (
    "received_at",
    "kind",
    "unit",
    "updated_at",
    "state",
    "id",
    "fact_channel",
    "fact_release_form",
    "fact_ground",
    "fact_in_scope",
    "fact_seconds",
    "fact_released_at",
    "fact_org",
    "fact_journalist",
    "fact_deadlines",
    "fact_title",
)


def report_index(prefix: str) -> sa.Index:
    """The covering report index, created on SQLite only (revision 0007).

    PostgreSQL scans the year's rows in about 0.2 s in the server and caps index
    entries at about 2.7 kB (a long title could not be written), and MariaDB cannot
    index TEXT without a prefix; so they do not carry it.
    """
    return sa.Index(f"ix_{prefix}requests_report", *REPORT_INDEX_COLUMNS).ddl_if(
        dialect="sqlite"
    )


def build_tables(prefix: str = "rf_") -> Tables:
    """Build the table objects for ``prefix`` (schema applied at execution time)."""
    md = sa.MetaData()
    p = prefix
    requests = sa.Table(
        f"{p}requests",
        md,
        sa.Column("id", ident(ID), primary_key=True),
        sa.Column("kind", ident(NAME), nullable=False),
        sa.Column("definition", ident(100), nullable=False),
        sa.Column("definition_version", sa.Integer, nullable=False),
        sa.Column("state", ident(NAME), nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.Column("unit", ascii_path(UNIT), nullable=False),
        sa.Column("created_by", ident(ACTOR), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.Column("received_at", UtcDateTime, nullable=False),
        sa.Column("next_due_at", UtcDateTime, nullable=True),
        sa.Column("doc", json_text(), nullable=False),
        *fact_columns(),
        sa.Index(f"ix_{p}requests_created", "created_at", "id"),
        sa.Index(f"ix_{p}requests_received", "received_at", "kind"),
        sa.Index(f"ix_{p}requests_released", "fact_released_at"),
        sa.Index(f"ix_{p}requests_due", "next_due_at", "id"),
        sa.Index(f"ix_{p}requests_state", "state", "created_at"),
        sa.Index(f"ix_{p}requests_unit", "unit"),
        report_index(p),
        **TABLE_KWARGS,
    )
    audit = sa.Table(
        f"{p}audit_entries",
        md,
        sa.Column("ledger", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("event", ident(NAME), nullable=False),
        sa.Column("request_id", ident(ID), nullable=True),
        sa.Column("request_version", sa.BigInteger, nullable=True),
        sa.Column("request_kind", ident(NAME), nullable=True),
        sa.Column("unit", ascii_path(UNIT), nullable=True),
        sa.Column("from_state", ident(NAME), nullable=True),
        sa.Column("to_state", ident(NAME), nullable=True),
        sa.Column("trigger", ident(NAME), nullable=True),
        sa.Column("actor", ident(ACTOR), nullable=False),
        sa.Column("roles", json_text(), nullable=False),
        sa.Column("at", UtcDateTime, nullable=False),
        sa.Column("payload", json_text(), nullable=False),
        sa.Column("content_hash", ident(HASH), nullable=True),
        sa.Column("prev_hash", ident(HASH), nullable=False),
        sa.Column("hash", ident(HASH), nullable=False),
        sa.Column("canon_version", sa.Integer, nullable=False),
        sa.Column("hash_alg", ident(32), nullable=False),
        sa.UniqueConstraint("ledger", "prev_hash", name=f"uq_{p}audit_prev"),
        sa.Index(f"ix_{p}audit_request", "request_id", "request_version"),
        sa.Index(f"ix_{p}audit_at", "at", "ledger", "seq"),
        sa.Index(f"ix_{p}audit_actor", "actor", "at", "ledger", "seq"),
        **TABLE_KWARGS,
    )
    heads = sa.Table(
        f"{p}ledger_heads",
        md,
        sa.Column("ledger", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("hash", ident(HASH), nullable=False),
        **TABLE_KWARGS,
    )
    grants = sa.Table(
        f"{p}grants",
        md,
        sa.Column("actor", ident(ACTOR), primary_key=True),
        sa.Column("role", ident(NAME), primary_key=True),
        sa.Column("unit", ascii_path(UNIT), primary_key=True),
        sa.Column("granted_by", ident(ACTOR), nullable=False),
        sa.Column("granted_at", UtcDateTime, nullable=False),
        **TABLE_KWARGS,
    )
    authorisations = sa.Table(
        f"{p}authorisations",
        md,
        sa.Column("id", ident(ID), primary_key=True),
        sa.Column("actor", ident(ACTOR), nullable=False),
        sa.Column("request_id", ident(ID), nullable=False),
        sa.Column("granted_at", UtcDateTime, nullable=False),
        sa.Column("doc", json_text(), nullable=False),
        sa.Index(f"ix_{p}auth_request", "request_id", "actor"),
        **TABLE_KWARGS,
    )
    idempotency = sa.Table(
        f"{p}idempotency",
        md,
        sa.Column("key", ident(KEY), primary_key=True),
        sa.Column("request_id", ident(ID), nullable=False),
        sa.Column("record", json_text(), nullable=False),
        **TABLE_KWARGS,
    )
    directory = sa.Table(
        f"{p}directory_state",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("version", sa.BigInteger, nullable=False),
        **TABLE_KWARGS,
    )
    meta = sa.Table(
        f"{p}meta",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("ledger_count", sa.Integer, nullable=False),
        sa.Column("created", UtcDateTime, nullable=False),
        **TABLE_KWARGS,
    )
    notices = sa.Table(
        f"{p}notices",
        md,
        sa.Column("request_id", ident(ID), primary_key=True),
        sa.Column("rule_id", ident(RULE), primary_key=True),
        sa.Column("kind", ident(NAME), primary_key=True),
        sa.Column("at", UtcDateTime, nullable=False),
        **TABLE_KWARGS,
    )
    overrides = sa.Table(
        f"{p}calendar_overrides",
        md,
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer, "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("doc", json_text(), nullable=False),
        **TABLE_KWARGS,
    )
    plans = sa.Table(
        f"{p}plans",
        md,
        sa.Column("id", ident(ID), primary_key=True),
        sa.Column("unit", ascii_path(UNIT), nullable=False),
        sa.Column("year", sa.Integer, nullable=False),
        sa.Column("state", ident(NAME), nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.Column("doc", json_text(), nullable=False),
        sa.Index(f"ux_{p}plans_unit_year", "unit", "year", unique=True),
        **TABLE_KWARGS,
    )
    plan_items = sa.Table(
        f"{p}plan_items",
        md,
        sa.Column("item_id", ident(ID), primary_key=True),
        sa.Column("plan_id", ident(ID), nullable=False),
        sa.Index(f"ix_{p}plan_items_plan", "plan_id"),
        **TABLE_KWARGS,
    )
    contacts = sa.Table(
        f"{p}press_contacts",
        md,
        sa.Column("id", ident(ID), primary_key=True),
        sa.Column("unit", ascii_path(UNIT), nullable=False),
        sa.Column("kind", ident(NAME), nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.Column("doc", json_text(), nullable=False),
        sa.Index(f"ix_{p}press_contacts_unit", "unit"),
        **TABLE_KWARGS,
    )
    tasks = sa.Table(
        f"{p}commissioned_tasks",
        md,
        sa.Column("id", ident(ID), primary_key=True),
        sa.Column("plan_id", ident(ID), nullable=False),
        sa.Column("plan_item_id", ident(ID), nullable=False),
        sa.Column("contact_id", ident(ID), nullable=False),
        sa.Column("unit", ascii_path(UNIT), nullable=False),
        sa.Column("state", ident(NAME), nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("doc", json_text(), nullable=False),
        sa.Index(f"ix_{p}tasks_plan", "plan_id", "created_at"),
        sa.Index(f"ix_{p}tasks_contact", "contact_id"),
        **TABLE_KWARGS,
    )
    contact_requests = sa.Table(
        f"{p}contact_requests",
        md,
        sa.Column("contact_id", ident(ID), primary_key=True),
        sa.Column("request_id", ident(ID), primary_key=True),
        sa.Column("created_at", UtcDateTime, nullable=False),
        **TABLE_KWARGS,
    )
    return Tables(
        metadata=md,
        prefix=prefix,
        requests=requests,
        audit=audit,
        heads=heads,
        grants=grants,
        authorisations=authorisations,
        idempotency=idempotency,
        directory=directory,
        meta=meta,
        notices=notices,
        overrides=overrides,
        plans=plans,
        plan_items=plan_items,
        contacts=contacts,
        tasks=tasks,
        contact_requests=contact_requests,
    )
