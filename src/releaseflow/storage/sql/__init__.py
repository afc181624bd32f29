"""The SQL backend: SQLite by default, PostgreSQL and MariaDB for deployments.

``SqlStore.open(url_or_engine)`` opens (and migrates) a store;
:func:`upgrade` runs the migrations alone (``releaseflow db upgrade``);
:func:`backup` copies a live SQLite store and :func:`protect_audit` makes the audit
table append-only in the database (``storage/sql/maintenance.py``).
See ``docs/how-to/storage.md``.
"""

from __future__ import annotations

from .maintenance import (
    BackupResult,
    audit_protected,
    backup,
    protect_audit,
    unprotect_audit,
)
from .migrate import current_revision, head_revision, upgrade
from .store import SqlStore, SqlUnitOfWork

__all__ = [
    "BackupResult",
    "SqlStore",
    "SqlUnitOfWork",
    "audit_protected",
    "backup",
    "current_revision",
    "head_revision",
    "protect_audit",
    "unprotect_audit",
    "upgrade",
]
