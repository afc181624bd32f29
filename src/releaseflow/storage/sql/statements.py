"""Hot-path statements, built once per store with bind parameters.

Building a Core statement costs far more than executing a cached one; every unit of
work reuses these objects, so SQLAlchemy only looks up the compiled form.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from .schema import Tables

__all__ = ["Statements", "build_statements"]

_REQUEST_FIELDS = (
    "kind",
    "definition",
    "definition_version",
    "state",
    "version",
    "unit",
    "created_by",
    "created_at",
    "updated_at",
    "received_at",
    "next_due_at",
    "doc",
)


@dataclass(frozen=True)
class Statements:
    """Prepared statements of one store."""

    request_doc: Any
    request_version: Any
    request_insert: Any
    request_cas: Any
    request_blind: Any
    head_select: Any
    head_select_locked: Any
    head_advance: Any
    audit_insert: Any
    directory_version: Any
    directory_version_shared: Any
    grants_of_actor: Any
    auths_of_actor_request: Any
    idempotency_get: Any


def build_statements(t: Tables) -> Statements:
    """Build every hot-path statement for ``t``."""
    r, h, d, g, a = t.requests, t.heads, t.directory, t.grants, t.authorisations
    values: dict[str, Any] = {n: sa.bindparam(f"v_{n}") for n in _REQUEST_FIELDS}
    head_select = sa.select(h.c.seq, h.c.hash).where(
        h.c.ledger == sa.bindparam("ledger")
    )
    directory = sa.select(d.c.version).where(d.c.id == 1)
    return Statements(
        request_doc=sa.select(r.c.doc).where(r.c.id == sa.bindparam("id")),
        request_version=sa.select(r.c.version).where(r.c.id == sa.bindparam("id")),
        request_insert=sa.insert(r),
        request_cas=sa.update(r)
        .where(
            r.c.id == sa.bindparam("b_id"), r.c.version == sa.bindparam("b_expected")
        )
        .values(values),
        request_blind=sa.update(r).where(r.c.id == sa.bindparam("b_id")).values(values),
        head_select=head_select,
        head_select_locked=head_select.with_for_update(),
        head_advance=sa.update(h)
        .where(
            h.c.ledger == sa.bindparam("b_ledger"),
            h.c.seq == sa.bindparam("b_seq"),
            h.c.hash == sa.bindparam("b_hash"),
        )
        .values(seq=sa.bindparam("v_seq"), hash=sa.bindparam("v_hash")),
        audit_insert=sa.insert(t.audit),
        directory_version=directory,
        directory_version_shared=directory.with_for_update(read=True),
        grants_of_actor=sa.select(g)
        .where(g.c.actor == sa.bindparam("actor"))
        .order_by(g.c.actor, g.c.role, g.c.unit),
        auths_of_actor_request=sa.select(a.c.doc)
        .where(
            a.c.actor == sa.bindparam("actor"), a.c.request_id == sa.bindparam("rid")
        )
        .order_by(a.c.granted_at, a.c.id),
        idempotency_get=sa.select(t.idempotency.c.record).where(
            t.idempotency.c.key == sa.bindparam("key")
        ),
    )
