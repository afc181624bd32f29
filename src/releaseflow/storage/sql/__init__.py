"""The SQL backend: SQLite by default, PostgreSQL and MariaDB for deployments.

``SqlStore.open(url_or_engine)`` opens (and migrates) a store;
:func:`upgrade` runs the migrations alone (``releaseflow db upgrade``).
See ``docs/how-to/storage.md``.
"""

from __future__ import annotations

from .migrate import current_revision, head_revision, upgrade
from .store import SqlStore, SqlUnitOfWork

__all__ = [
    "SqlStore",
    "SqlUnitOfWork",
    "current_revision",
    "head_revision",
    "upgrade",
]
