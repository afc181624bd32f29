"""Column types that behave the same on SQLite, PostgreSQL and MariaDB.

* :class:`UtcDateTime` stores aware datetimes as naive UTC with microseconds
  (``DATETIME(6)`` on MariaDB) and hands them back aware, in UTC.
* :func:`ident` is a string compared byte for byte: MariaDB tables use the
  ``utf8mb4_nopad_bin`` collation, so ``alice``, ``ALICE`` and ``alice   `` differ.
* :func:`ascii_path` holds organisation-unit paths (ASCII by validation) compactly
  enough to index on MariaDB.
* :func:`json_text` holds JSON documents as text (``LONGTEXT`` on MariaDB).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeEngine

__all__ = [
    "MYSQL_NAMES",
    "TABLE_KWARGS",
    "UtcDateTime",
    "ascii_path",
    "ident",
    "json_text",
]

#: Dialect names under which MariaDB can appear.
MYSQL_NAMES = ("mysql", "mariadb")

#: Table options: InnoDB, utf8mb4 and a binary, no-pad collation on MariaDB.
TABLE_KWARGS: dict[str, Any] = {
    f"{prefix}_{key}": value
    for prefix in MYSQL_NAMES
    for key, value in {
        "engine": "InnoDB",
        "charset": "utf8mb4",
        "collate": "utf8mb4_nopad_bin",
    }.items()
}


class UtcDateTime(sa.types.TypeDecorator[datetime]):
    """An aware datetime, stored as naive UTC with microseconds."""

    impl = sa.DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        """``DATETIME(fsp=6)`` on MariaDB, a plain timestamp elsewhere."""
        if dialect.name in MYSQL_NAMES:
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(sa.DateTime())

    def process_bind_param(
        self, value: datetime | None, dialect: Dialect
    ) -> datetime | None:
        """Refuse naive datetimes; convert aware ones to naive UTC."""
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(
        self, value: datetime | None, dialect: Dialect
    ) -> datetime | None:
        """Attach UTC to the stored naive value."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


def ident(length: int) -> TypeEngine[str]:
    """A string compared byte for byte (binary, no-pad collation on MariaDB)."""
    variant = mysql.VARCHAR(length, charset="utf8mb4", collation="utf8mb4_nopad_bin")
    return sa.String(length).with_variant(variant, *MYSQL_NAMES)


def ascii_path(length: int) -> TypeEngine[str]:
    """An ASCII string (unit paths), binary no-pad on MariaDB so it indexes small."""
    variant = mysql.VARCHAR(length, charset="ascii", collation="ascii_nopad_bin")
    return sa.String(length).with_variant(variant, *MYSQL_NAMES)


def json_text() -> TypeEngine[str]:
    """Unbounded text for JSON documents (``LONGTEXT`` on MariaDB)."""
    variant = mysql.LONGTEXT(charset="utf8mb4", collation="utf8mb4_nopad_bin")
    return sa.Text().with_variant(variant, *MYSQL_NAMES)
