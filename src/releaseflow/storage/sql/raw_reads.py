"""A pooled DB-API connection for one SELECT, without a SQLAlchemy ``Connection``.

``SqlStore.read_once`` serves reads that are one statement (an audit history, a
query page). Checking a SQLAlchemy ``Connection`` out and back costs more than an
indexed SELECT of a few rows, so where nothing needs SQLAlchemy's execution path
the read checks a DB-API connection out of the engine's pool directly
(``engine.raw_connection()``: pool events, pre-ping and reset-on-return still
apply) and runs the statement, compiled by SQLAlchemy, on its cursor.

It is not taken -- the caller opens an ordinary ``Connection`` instead -- when the
engine has ``before_cursor_execute``/``after_cursor_execute`` listeners (they must
see every statement), or when the pooled connection has not had releaseflow's
per-connection checks yet (``engine.prepare_connection`` runs on a ``Connection``).
A driver error on the cursor becomes exactly one releaseflow error, and a lost link
invalidates the pooled connection, as on every other path.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from types import TracebackType
from typing import Any, Final

from ...exceptions import ReleaseflowError
from .engine import READY as PREPARED_KEY
from .errors import classify, is_driver_error, link_lost, must_discard, translate

__all__ = ["RawLease", "lease", "translated"]


class _Translated:
    """:func:`~.errors.translate` as a plain context manager (for hot paths).

    Free on success (no generator per use); an exception goes through
    ``translate`` itself, so it becomes exactly the error ``translate`` makes.
    """

    __slots__ = ()

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None or not isinstance(exc, Exception):
            return
        if isinstance(exc, ReleaseflowError):
            return
        with translate():
            raise exc


translated: Final = _Translated()
"""``with translated:`` -- the same as ``with translate():``, cheaper."""


class RawLease:
    """A DB-API connection and cursor checked out of the pool for one read."""

    __slots__ = ("_autocommit_was", "_fairy", "cursor", "dialect")

    def __init__(
        self, fairy: Any, cursor: Any, dialect: Any, autocommit_was: bool | None
    ) -> None:
        self._fairy = fairy
        self.cursor = cursor
        """The DB-API cursor the statement runs on."""
        self.dialect = dialect
        """The engine's dialect (to tell a lost link)."""
        self._autocommit_was = autocommit_was

    def select(
        self, sql: str, values: Any, names: Sequence[str] | None
    ) -> tuple[Sequence[str], list[Sequence[Any]]]:
        """Run ``sql`` on the cursor: (column names, every row).

        The names are ``names`` when given, else the cursor's. A driver error
        becomes one releaseflow error (a lost link invalidates the connection);
        any other error is what ``translate`` makes of it.
        """
        cursor = self.cursor
        try:
            cursor.execute(sql, values)
            rows: list[Sequence[Any]] = cursor.fetchall()
            keys = names if names is not None else [d[0] for d in cursor.description]
        except Exception as exc:
            if is_driver_error(exc):
                raise self.error(exc) from exc
            with translate():
                raise
        return keys, rows

    def error(self, exc: Exception) -> Exception:
        """The releaseflow error of a driver error.

        A lost link, or a SQLite I/O or corruption error, invalidates the
        connection, as on the unit of work's paths.
        """
        fairy = self._fairy
        gone = link_lost(self.dialect, exc, fairy.dbapi_connection)
        if gone or must_discard(exc):
            with contextlib.suppress(Exception):
                fairy.invalidate(exc)
        return classify(exc, disconnected=gone)

    def release(self) -> None:
        """Close the cursor and return the connection to the pool (reset there)."""
        fairy, self._fairy = self._fairy, None
        if fairy is None:
            return
        cursor, self.cursor = self.cursor, None
        try:
            with translated:
                try:
                    if cursor is not None:
                        with contextlib.suppress(Exception):  # the close reports
                            cursor.close()
                    if self._autocommit_was is not None:
                        dbapi = fairy.driver_connection
                        if dbapi is not None and not dbapi.closed:
                            dbapi.autocommit = self._autocommit_was
                finally:
                    fairy.close()
        except Exception:
            # the statement's outcome stands; a connection that cannot be put back
            # in its pooled state is dropped instead of being reused
            with contextlib.suppress(Exception):
                fairy.invalidate()
            raise


def lease(store: Any) -> RawLease | None:
    """A raw connection for one SELECT on ``store``; None where it must not be used.

    SQLite runs the SELECT outside a transaction (its driver connection is in
    autocommit mode); PostgreSQL's psycopg connection is switched to autocommit
    for the statement (a local setting: no round trip) and back before it
    returns to the pool. Other dialects: None.
    """
    engine = store.engine
    dispatch = engine.dispatch
    if dispatch.before_cursor_execute or dispatch.after_cursor_execute:
        return None
    dialect = engine.dialect
    sqlite = dialect.name == "sqlite"
    if not sqlite and dialect.name != "postgresql":
        return None
    with translated:
        fairy = engine.raw_connection()
    try:
        with translated:
            if not fairy.info.get(PREPARED_KEY):
                fairy.close()  # a Connection runs the checks on its first use
                return None
            dbapi = fairy.driver_connection
            autocommit_was = None
            if not sqlite and not dbapi.autocommit:
                try:
                    dbapi.autocommit = True
                except Exception:
                    # e.g. a transaction left open by a pool that does not reset
                    # on return: the ordinary path decides what to make of it
                    fairy.close()
                    return None
                autocommit_was = False
            try:
                cursor = dbapi.cursor()
            except BaseException:
                if autocommit_was is not None:
                    dbapi.autocommit = autocommit_was
                raise
    except BaseException:
        with contextlib.suppress(Exception):
            fairy.invalidate()
        raise
    return RawLease(fairy, cursor, dialect, autocommit_was)
