"""`SqlStore` and its unit of work: one database transaction per unit of work.

A unit of work checks a connection out of the engine's pool on ``with``, begins a
transaction (SQLite: ``BEGIN IMMEDIATE`` for writes, ``BEGIN`` for reads;
PostgreSQL/MariaDB: a READ COMMITTED transaction), and rolls back on exit unless
:meth:`SqlUnitOfWork.commit` ran. Every statement and the commit run under
:func:`~.errors.translate`.

The statements of a transition run on the DB-API cursor
(:meth:`SqlUnitOfWork.fast_row`, :meth:`SqlUnitOfWork.fast_rowcount`) unless the
engine has cursor-execute listeners, which then see every statement on SQLAlchemy's
own path. On PostgreSQL that raw path sends the unit of work's own ``BEGIN`` (the
psycopg connection is in autocommit mode until the transaction ends), in the same
simple query as the first statement when that one takes no parameters: the
directory lock of a transition that does not guess the directory version, so it
costs no round trip of its own (a guessing transition sends no lock statement and
its BEGIN alone: see ``SqlDirectory.lock_guessing``). A write unit of work on
that path (SQLite, PostgreSQL) takes the idle connection the store keeps parked
(:class:`~.raw_reads.Parking`) and parks it again when it ends with no transaction
open (PostgreSQL: in autocommit mode, as a single read parks it); anything else
goes back to the pool, rolled back there.

The store's caches (:class:`~.caches.StoreCaches`: requests, ledger heads, a
directory snapshot) are filled only by units of work that committed their own
transaction, and each cached value is checked in the transaction that uses it.
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading
import types
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, CursorResult, Engine, Row
from sqlalchemy.sql import Executable

from ...chain import DEFAULT_LEDGER_COUNT, GENESIS_HASH
from ...exceptions import (
    ConflictError,
    StorageBusyError,
    StorageError,
    StorageUnavailableError,
)
from ...models import Request
from . import engine as engines
from . import raw_reads
from .caches import DirectorySnapshot, StoreCaches
from .errors import (
    classify,
    is_driver_error,
    link_lost,
    must_discard,
    translate,
)
from .planning import SqlMedia, SqlPlans
from .repositories import (
    SqlAudit,
    SqlCalendar,
    SqlDirectory,
    SqlIdempotency,
    SqlNotices,
    SqlRequests,
)
from .schema import Tables, build_tables
from .statements import DriverSql, build_driver_statements, build_statements

if TYPE_CHECKING:
    from .joined import JoinedSqlStore

__all__ = ["SqlSingleRead", "SqlStore", "SqlUnitOfWork"]


_PG_BEGIN = "BEGIN ISOLATION LEVEL READ COMMITTED"
"""What psycopg sends before the first statement on an engine this store made."""


_PG_IDLE = 0
"""libpq's ``PQTRANS_IDLE``: connected, no transaction open."""


_CONNECTION_BEGIN = "BEGIN"
"""Owed BEGIN that the unit of work's ``Connection`` sends (see ``_begin``)."""


def _driver_params(stmt: DriverSql, params: Mapping[str, Any]) -> Any:
    try:
        return stmt.parameters(params)
    except (KeyError, ValueError, TypeError) as exc:
        raise StorageError(f"bad statement parameters: {exc!r}") from exc


class SqlUnitOfWork:
    """One database transaction over every repository."""

    joined = False
    """True when the unit of work runs inside a host's transaction (``joined.py``):
    its writes are not durable until the host commits, so in-process caches must
    not be filled from it (``JoinedSqlUnitOfWork.after_commit`` runs after that)."""

    def __init__(self, store: SqlStore, *, write: bool) -> None:
        self.store = store
        self.tables = store.tables
        self._write = write
        self._conn: Connection | None = None
        self._locked = False
        self._cursor: Any = None
        self._fast = False
        self._raw: Any = None
        """The pool's connection on the raw path (no SQLAlchemy ``Connection`` yet)."""
        self._raw_pool: Any = None
        """The pool the raw path's connection came from (parked again only there)."""
        self._unready: Any = None
        """A pooled connection the raw path found without its first-use checks:
        SQLAlchemy's path takes that one (and checks it), not another."""
        self._raw_options: Mapping[str, Any] = {}
        self._raw_begun = False
        """Whether the raw path's own BEGIN is the open transaction."""
        self._raw_lost = False
        self._begin_sql: str | None = None
        """Raw path: the BEGIN still to send, before (PostgreSQL: with) the next
        statement."""
        self._autocommit = False
        """Whether this unit of work put its psycopg connection in autocommit mode
        (to send its own BEGIN); switched back when that transaction ends."""
        self.heads_written: dict[int, tuple[int, str]] = {}
        """Ledger heads this unit of work advanced (published on commit)."""
        self.heads_locked: dict[int, tuple[int, str]] = {}
        """Ledger heads read ``FOR UPDATE`` in this transaction (and not yet advanced)."""
        self.requests_written: dict[str, Request] = {}
        """Requests this unit of work stored (published on commit)."""
        self.directory_seen: DirectorySnapshot | None = None
        """Directory rows read under this unit of work's version lock."""
        self.directory_dirty = False
        """Whether this unit of work changed grants, authorisations or the version."""
        self.directory_guess: int | None = None
        """A directory version ``directory.lock_guessing()`` took from the cache and
        nothing has confirmed yet (see ``SqlDirectory.lock_guessing``)."""

    # -- ports (each repository made on first use) -----------------------------

    @functools.cached_property
    def requests(self) -> SqlRequests:
        """The request repository."""
        return SqlRequests(self)

    @functools.cached_property
    def audit(self) -> SqlAudit:
        """The audit log."""
        return SqlAudit(self)

    @functools.cached_property
    def directory(self) -> SqlDirectory:
        """The role directory."""
        return SqlDirectory(self)

    @functools.cached_property
    def idempotency(self) -> SqlIdempotency:
        """The idempotency records."""
        return SqlIdempotency(self)

    @functools.cached_property
    def notices(self) -> SqlNotices:
        """The deadline notices."""
        return SqlNotices(self)

    @functools.cached_property
    def calendar(self) -> SqlCalendar:
        """The stored calendar overrides."""
        return SqlCalendar(self)

    @functools.cached_property
    def plans(self) -> SqlPlans:
        """The annual communication plans."""
        return SqlPlans(self)

    @functools.cached_property
    def media(self) -> SqlMedia:
        """Press contacts and commissioned tasks."""
        return SqlMedia(self)

    # -- statement helpers (all translated) ----------------------------------

    @property
    def connection(self) -> Connection:
        """The open connection (raises outside ``with``).

        On the raw path it is made on first use, on the same pooled connection
        and in the transaction already open on it.
        """
        conn = self._conn
        if conn is None:
            if self._raw is None:
                raise StorageError("the unit of work is not open")
            conn = self._wrap_raw()
        return conn

    def _wrap_raw(self) -> Connection:
        """A SQLAlchemy ``Connection`` over the raw path's pooled connection."""
        if self._raw_lost:
            raise StorageUnavailableError("the database connection was lost")
        raw = self._raw
        if self._begin_sql is not None:
            # not sent yet: SQLAlchemy's begin (SQLite) or psycopg (out of
            # autocommit) begins the transaction, as on SQLAlchemy's path
            self._begin_sql = None
            self._leave_autocommit()
            if self._raw_lost:
                raise StorageUnavailableError("the database connection was lost")
        with translate():
            conn = Connection(self.store.engine, connection=raw)
            if self._raw_options:
                conn.execution_options(**self._raw_options)
            if self._raw_begun:
                # the transaction is open already: SQLAlchemy only records it
                # (the SQLite begin listener skips its BEGIN once)
                raw.info[engines.SKIP_BEGIN] = True
            try:
                conn.begin()
            finally:
                raw.info.pop(engines.SKIP_BEGIN, None)
        self._conn = conn
        return conn

    def run(
        self, stmt: Executable, params: dict[str, Any] | None = None
    ) -> CursorResult[Any]:
        """Execute ``stmt``; driver errors become releaseflow errors."""
        with translate():
            return self.connection.execute(stmt, params)

    def run_many(
        self, stmt: Executable, rows: Sequence[dict[str, Any]]
    ) -> CursorResult[Any]:
        """Execute ``stmt`` once per row (executemany)."""
        with translate():
            return self.connection.execute(stmt, list(rows))

    def scalar(self, stmt: Executable, params: dict[str, Any] | None = None) -> Any:
        """The first column of the first row, or None."""
        with translate():
            return self.connection.execute(stmt, params).scalar()

    def scalars(
        self, stmt: Executable, params: dict[str, Any] | None = None
    ) -> Sequence[Any]:
        """The first column of every row."""
        with translate():
            return self.connection.execute(stmt, params).scalars().all()

    def first(
        self, stmt: Executable, params: dict[str, Any] | None = None
    ) -> Row[Any] | None:
        """The first row, or None."""
        with translate():
            return self.connection.execute(stmt, params).first()

    def all(
        self, stmt: Executable, params: dict[str, Any] | None = None
    ) -> Sequence[Row[Any]]:
        """Every row."""
        with translate():
            return self.connection.execute(stmt, params).all()

    def stream(
        self,
        stmt: Executable,
        params: dict[str, Any] | None = None,
        *,
        batch: int = 2000,
    ) -> Iterator[Row[Any]]:
        """Rows fetched ``batch`` at a time, so big tables keep memory flat.

        Uses a server-side cursor where the driver has one.
        """
        with translate():
            # a statement-level option: Connection.execution_options() would
            # switch every later statement of this connection to a server-side
            # cursor, and PostgreSQL cannot DECLARE a cursor for an UPDATE
            result = self.connection.execute(
                stmt.execution_options(yield_per=batch), params
            )
            yield from result

    def fast_row(
        self, stmt: DriverSql, params: Mapping[str, Any]
    ) -> Sequence[Any] | None:
        """Run a compiled transition query; its first row (raw values) or None.

        Runs on the DB-API cursor when the engine has no cursor-execute listeners,
        else on SQLAlchemy's path; either way a driver error becomes exactly one
        releaseflow error (and a lost link invalidates the pooled connection).
        """
        values = _driver_params(stmt, params)
        if not self._fast:
            with translate():
                result = self.connection.exec_driver_sql(stmt.text, values)
                row = result.fetchone()
                result.close()
                return None if row is None else tuple(row)
        cursor = self._cursor
        with translate():  # OSError, UnicodeError: as on SQLAlchemy's path
            try:
                if self._begin_sql is None or not self._begin(cursor, stmt.literal):
                    cursor.execute(stmt.text, values)
                found: Sequence[Any] | None = cursor.fetchone()
                # drain: unread rows would block the next statement on MariaDB
                while cursor.fetchone() is not None:
                    pass
            except Exception as exc:
                if not is_driver_error(exc):
                    raise
                raise self._driver_error(exc) from exc
        return found

    def fast_select(
        self, sql: str, values: Any, *, names: Sequence[str] | None = None
    ) -> tuple[Sequence[str], list[Sequence[Any]]] | None:
        """Run a compiled read on the DB-API cursor: (column names, raw rows).

        The names are ``names`` when given (known from an earlier run of the same
        text: reading the cursor's description costs an object per column on
        psycopg), else the cursor's.

        None when this unit of work has no driver path (cursor-execute listeners
        are present): the caller then runs the statement through SQLAlchemy. A
        driver error becomes exactly one releaseflow error, as in :meth:`fast_row`.
        """
        if not self._fast:
            return None
        cursor = self._cursor
        with translate():
            try:
                if self._begin_sql is not None:
                    self._begin(cursor, None)
                cursor.execute(sql, values)
                rows: list[Sequence[Any]] = cursor.fetchall()
                keys = (
                    names if names is not None else [d[0] for d in cursor.description]
                )
            except Exception as exc:
                if not is_driver_error(exc):
                    raise
                raise self._driver_error(exc) from exc
        return keys, rows

    def fast_rowcount(self, stmt: DriverSql, params: Mapping[str, Any]) -> int:
        """Run a compiled transition write; the number of rows it matched."""
        values = _driver_params(stmt, params)
        if not self._fast:
            with translate():
                result = self.connection.exec_driver_sql(stmt.text, values)
                return int(result.rowcount)
        cursor = self._cursor
        with translate():
            try:
                if self._begin_sql is None or not self._begin(cursor, stmt.literal):
                    cursor.execute(stmt.text, values)
                return int(cursor.rowcount)
            except Exception as exc:
                if not is_driver_error(exc):
                    raise
                raise self._driver_error(exc) from exc

    def _begin(self, cursor: Any, literal: str | None) -> bool:
        """Send the pending BEGIN (raw path); True if ``literal`` ran with it.

        PostgreSQL: a statement without parameters (:attr:`DriverSql.literal`)
        travels in the same simple query as the BEGIN, one round trip where
        psycopg would make two. Else (and always on SQLite) the BEGIN goes alone.
        """
        conn = self._conn
        if conn is not None:
            # the Connection ended its transaction (commit, rollback): it begins
            # the next one (SQLite: its begin listener's BEGIN), so that it also
            # knows to roll it back on exit (unless a Core statement began it)
            if not conn.in_transaction():
                conn.begin()
            self._begin_sql = None
            return False
        begin = self._begin_sql
        if literal is None or self.store.is_sqlite:
            cursor.execute(begin)
            self._begin_sql = None  # not before: a BEGIN that failed (busy) is owed
            return False
        # the BEGIN may run and the statement fail: never send a second BEGIN
        self._begin_sql = None
        cursor.execute(f"{begin}; {literal}")
        cursor.nextset()
        return True

    def _leave_autocommit(self, conn: Connection | None = None) -> None:
        """Take the psycopg connection out of autocommit once its transaction ended.

        ``conn`` is the ``Connection`` made over the raw one, if any. A connection
        that refuses (a transaction still open after a failure) is invalidated: it
        must never reach the pool in autocommit mode, where the statements of a
        later unit of work would each commit on their own.
        """
        if not self._autocommit:
            return
        self._autocommit = False
        self._begin_sql = None
        if conn is None:
            conn = self._conn
        if conn is not None and (conn.invalidated or conn.closed):
            # its DB-API connection is gone (never back to the pool as it is);
            # ``conn.connection`` would check a new one out, or raise
            # PendingRollbackError over the error that invalidated it
            return
        entry: Any = conn.connection if conn is not None else self._raw
        if entry is None or (conn is None and self._raw_lost):
            return
        dbapi = entry.dbapi_connection
        if dbapi is None:  # invalidated already
            return
        try:
            dbapi.autocommit = False
        except Exception as exc:
            with contextlib.suppress(Exception):
                if conn is not None:
                    conn.invalidate(exc)
                else:
                    self._raw_lost = True
                    entry.invalidate(exc)

    def _driver_error(self, exc: Exception, *, committing: bool = False) -> Exception:
        """The releaseflow error of a raw driver error; a lost link is invalidated."""
        conn = self._conn
        raw = self._raw if conn is None else conn.connection
        gone = link_lost(
            self.store.engine.dialect,
            exc,
            None if raw is None else raw.dbapi_connection,
        )
        if gone or must_discard(exc):
            if conn is not None:
                conn.invalidate(exc)
            elif raw is not None and not self._raw_lost:
                self._raw_lost = True  # invalidating returns it to the pool
                with contextlib.suppress(Exception):
                    raw.invalidate(exc)
        return classify(exc, committing=committing, disconnected=gone)

    def check_write(self) -> None:
        """Refuse writes in a read-only unit of work."""
        if not self._write:
            raise ConflictError("this unit of work is read-only")

    # -- transaction -----------------------------------------------------------

    def __enter__(self) -> SqlUnitOfWork:
        return self._open(self.store.uow_options(self._write), begin=True)

    def _open(self, options: Mapping[str, Any], *, begin: bool) -> SqlUnitOfWork:
        """Check a connection out with ``options``; ``begin`` a transaction or not."""
        store = self.store
        self._take_lock()
        try:
            if begin and store.raw_path_ok() and self._open_raw(options):
                return self
            with translate():
                unready, self._unready = self._unready, None
                if unready is None:
                    conn = store.engine.connect()
                else:
                    # the connection the raw path checked out: checked here, so
                    # the next raw path finds it ready (another from the pool
                    # could leave this one unchecked at the queue's head for good)
                    try:
                        conn = Connection(store.engine, connection=unready)
                    except BaseException:
                        with contextlib.suppress(Exception):
                            unready.close()
                        raise
                try:
                    engines.prepare_connection(conn, store)
                    if options:
                        conn = conn.execution_options(**options)
                    if begin:
                        conn.begin()
                    if store.driver_path_ok(conn):
                        dbapi = conn.connection.dbapi_connection
                        if dbapi is not None:
                            self._cursor = dbapi.cursor()
                            self._fast = True
                except BaseException:
                    conn.close()
                    raise
            self._conn = conn
        except BaseException:
            self._release_lock()
            raise
        return self

    def _open_raw(self, options: Mapping[str, Any]) -> bool:
        """Begin on a connection checked out of the pool, without a ``Connection``.

        False (nothing held) when the connection has not had its first-use checks
        (:func:`~.engine.prepare_connection` runs on SQLAlchemy's path).
        """
        store = self.store
        raw: Any = None
        cursor: Any = None
        if self._write and store.parking is not None:
            # writes: the connection the last single read or write unit of work
            # parked (idle, checked by releaseflow, of this process and pool).
            # Not for reads: their BEGIN leaves a transaction for the exit's
            # rollback, so they could never park it again (see _park)
            # (PostgreSQL: parked in autocommit mode, idle -- Parking.park checks
            # it -- and untouched since)
            leased = store.parking.take()
            if leased is not None:
                self._raw_pool = leased.pool
                raw, cursor = leased.detach()
        if raw is None:
            self._raw_pool = store.engine.pool
            with translate():
                raw = store.engine.raw_connection()
        dbapi = raw.dbapi_connection
        if not raw.info.get(engines.READY) or (
            store.is_sqlite and dbapi.isolation_level is not None
        ):
            if cursor is not None:
                with contextlib.suppress(Exception):
                    cursor.close()
            self._unready = raw
            return False
        self._raw = raw
        try:
            if store.is_sqlite:
                dbapi.execute(options[engines.BEGIN_OPTION])
            self._cursor = dbapi.cursor() if cursor is None else cursor
            cursor = None
            if not store.is_sqlite:
                # autocommit, so the BEGIN can travel with the first statement
                # (a local switch, no round trip; refused with a transaction open;
                # a parked connection is in autocommit already)
                with contextlib.suppress(Exception):
                    if not dbapi.autocommit:
                        dbapi.autocommit = True
                    self._autocommit = True
                    self._begin_sql = _PG_BEGIN
        except BaseException as exc:
            self._cursor = None
            if cursor is not None:  # a parked connection's cursor, not yet used
                with contextlib.suppress(Exception):
                    cursor.close()
            error = self._driver_error(exc) if isinstance(exc, Exception) else None
            if not self._raw_lost:
                with contextlib.suppress(Exception):
                    dbapi.rollback()
                raw.close()
            self._raw = None
            self._raw_lost = False
            if error is not None and is_driver_error(exc):
                raise error from exc
            with translate():
                raise
        # with the SQLite BEGIN statement: a Connection made after a commit
        # begins its transaction as the SQLAlchemy path would
        self._raw_options = options
        self._raw_begun = True
        self._fast = True
        return True

    def _park(self, cursor: Any) -> bool:
        """Park the raw path's connection, with ``cursor``, for the next use.

        Only a connection with no transaction open (committed, or nothing begun)
        and still valid: there the pool's return would roll back nothing. On
        PostgreSQL it is parked in autocommit mode, as a single read parks its
        own (:meth:`~.raw_reads.RawLease.idle`; switched back before it goes to
        the pool). The parking refuses anything unusual (another connection
        parked, a fork, a disposed pool, the store closed), which then goes back
        to the pool as before. False (nothing done) when it is not this path's
        to park.
        """
        store = self.store
        parking = store.parking
        raw = self._raw
        if parking is None or self._raw_lost:
            return False
        dbapi = raw.dbapi_connection
        if dbapi is None or not raw.is_valid:
            return False
        if store.is_sqlite:
            if dbapi.in_transaction:
                return False
            autocommit_was = None
        else:
            if dbapi.closed or dbapi.info.transaction_status != _PG_IDLE:
                return False
            try:
                dbapi.autocommit = True  # no transaction: a local switch
            except Exception:
                return False
            self._autocommit = False
            autocommit_was = False
        self._raw, self._raw_begun, self._begin_sql = None, False, None
        raw_reads.RawLease(
            raw, cursor, store.engine.dialect, autocommit_was, parking, self._raw_pool
        ).release()
        return True

    def _close_raw(self, exc_info: tuple[object, ...]) -> None:
        """Roll back and return the raw path's connection (no ``Connection`` made).

        The rollback is :meth:`_end_raw`'s, so a lost link or a SQLite I/O error
        invalidates the connection instead of returning it to the pool. Its error
        is raised only when no other exception is on its way out.
        """
        raw = self._raw
        failure: Exception | None = None
        if raw is not None and not self._raw_lost:
            try:
                self._end_raw(committing=False)
            except Exception as exc:
                failure = exc
        lost = self._raw_lost
        self._raw, self._raw_lost, self._raw_begun = None, False, False
        self._begin_sql = None
        if raw is not None and not lost:
            if failure is None:
                with translate():
                    raw.close()
            else:
                with contextlib.suppress(Exception):
                    raw.close()
        if failure is not None and exc_info[0] is None:
            raise failure

    def __exit__(self, *exc_info: object) -> None:
        conn, self._conn = self._conn, None
        self._forget()
        cursor, self._cursor = self._cursor, None
        self._fast = False
        if conn is None and self._raw is not None:
            try:
                if cursor is None or exc_info[0] is not None or not self._park(cursor):
                    if cursor is not None:
                        try:  # noqa: SIM105 - hot path: contextlib.suppress costs a call
                            cursor.close()
                        except Exception:
                            pass  # the rollback below reports
                    self._close_raw(exc_info)
            finally:
                self._release_lock()
            return
        if cursor is not None:
            try:  # noqa: SIM105 - hot path: contextlib.suppress costs a call
                cursor.close()
            except Exception:
                pass  # the rollback below reports
        self._raw = None
        self._raw_lost = False
        self._raw_begun = False
        try:
            if conn is not None:
                try:
                    with translate():
                        try:
                            conn.rollback()
                        finally:
                            engines.restore_connection(conn)
                            self._leave_autocommit(conn)
                            conn.close()
                except StorageError:
                    if exc_info[0] is None:
                        raise
        finally:
            self._release_lock()

    def _take_lock(self) -> None:
        """After a fork, drop the parent's pool; take the in-memory database's lock."""
        store = self.store
        store.check_fork()
        if store.serial_lock is not None:
            if not store.serial_lock.acquire(timeout=store.busy_timeout):
                raise StorageBusyError("the in-memory database stayed locked too long")
            self._locked = True

    def _release_lock(self) -> None:
        if self._locked and self.store.serial_lock is not None:
            self._locked = False
            self.store.serial_lock.release()

    def commit(self) -> None:
        """Commit the transaction; a link lost here is ``CommitOutcomeUnknownError``."""
        try:
            if self._conn is None and self._raw is not None:
                self._commit_raw()
            else:
                conn = self.connection
                try:
                    with translate(committing=True):
                        conn.commit()
                except StorageError as exc:
                    if must_discard(exc):  # a failed fsync: never reuse it
                        conn.invalidate(exc)
                    raise
                finally:
                    self._leave_autocommit(conn)
                    self._owe_begin()
        except BaseException:
            self._forget()
            raise
        if not self.joined:
            self.store.caches.publish(
                self.heads_written,
                None
                if self.directory_dirty or self.directory_guess is not None
                else self.directory_seen,
                self.requests_written,
            )
        self._forget()
        # No eager BEGIN here: on SQLite that would take the write lock again only
        # for __exit__ to roll it back. A later statement autobegins a transaction.

    def _commit_raw(self) -> None:
        """COMMIT on the raw path's connection (no ``Connection`` was made)."""
        self._end_raw(committing=True)

    def _end_raw(self, *, committing: bool) -> None:
        """COMMIT or ROLLBACK on the raw path's connection; errors translated."""
        if self._raw_lost:
            raise StorageUnavailableError("the database connection was lost")
        self._raw_begun = False
        dbapi = self._raw.dbapi_connection
        try:
            if committing:
                dbapi.commit()
            else:
                dbapi.rollback()
        except Exception as exc:
            if is_driver_error(exc):
                raise self._driver_error(exc, committing=committing) from exc
            with translate(committing=committing):
                raise
        finally:
            self._leave_autocommit()
            if self.store.is_sqlite:
                # the driver is in autocommit mode: a later statement of this
                # unit of work must begin a transaction first, as SQLAlchemy's
                # begin listener would
                self._begin_sql = self._raw_options[engines.BEGIN_OPTION]

    def rollback(self) -> None:
        """Roll back every change made since the last commit."""
        if self._conn is None and self._raw is not None:
            self._forget()
            self._end_raw(committing=False)
            return
        conn = self.connection
        self._forget()
        try:
            with translate():
                conn.rollback()
        finally:
            self._leave_autocommit(conn)
            self._owe_begin()

    def _owe_begin(self) -> None:
        """Owe a BEGIN, through the ``Connection``, to the cursor's next statement.

        Called after the ``Connection`` ended its transaction: the SQLite driver is
        in autocommit mode (a statement would commit on its own), and on PostgreSQL
        psycopg's own BEGIN would be unknown to SQLAlchemy.
        """
        if self._fast:
            self._begin_sql = _CONNECTION_BEGIN

    def _forget(self) -> None:
        """Drop what this transaction read and wrote: none of it gets published."""
        # runs twice per unit of work (commit, exit): no new dict for an empty one
        if self.heads_written:
            self.heads_written = {}
        if self.heads_locked:
            self.heads_locked = {}
        if self.requests_written:
            self.requests_written = {}
        self.directory_seen = None
        self.directory_dirty = False
        self.directory_guess = None


class SqlSingleRead(SqlUnitOfWork):
    """A read-only unit of work for reads that are one SELECT: no transaction.

    One statement is its own consistent snapshot, so no ``BEGIN`` is sent
    (SQLite) and PostgreSQL runs it in autocommit: no BEGIN and ROLLBACK round
    trips. MariaDB keeps an ordinary read transaction (switching pymysql to
    autocommit and back costs two round trips as well). Open it with
    :meth:`SqlStore.read_once`; fork safety, the schema map and error
    translation are those of every unit of work. Only for callers that run
    exactly one statement in it (or whose later statements may see a later
    snapshot without harm).

    On SQLite and PostgreSQL it holds a DB-API connection checked out of the pool
    (:mod:`.raw_reads`), not a SQLAlchemy ``Connection``: the compiled statements
    of :meth:`fast_select`, :meth:`fast_row` and :meth:`fast_rowcount` run on its
    cursor. Anything that asks for :attr:`connection` (a statement that needs
    SQLAlchemy) gets an ordinary one, the raw connection going back to the pool
    first. With cursor-execute listeners on the engine, or on a pooled connection
    not yet checked by releaseflow, it opens an ordinary ``Connection`` at once.
    """

    def __init__(self, store: SqlStore) -> None:
        super().__init__(store, write=False)
        self._lease: raw_reads.RawLease | None = None
        self._pid_seen: int | None = None
        self._single_options: Mapping[str, Any] | None = None
        # the audit log made now: ``functools.cached_property`` takes a lock on
        # every first use (Python 3.11), which costs more than the repository
        self.__dict__["audit"] = SqlAudit(self)

    def __enter__(self) -> SqlUnitOfWork:
        store = self.store
        options = store.single_read_options()
        if options is None:  # MariaDB: an ordinary read transaction
            return super().__enter__()
        self._single_options = options
        self._take_lock()
        # the fork check just read this process's id into the store: the parking
        # need not read it again (a system call), on the way in or out -- a fork
        # meanwhile leaves this read in the parent
        self._pid_seen = pid = store.pid
        try:
            leased = raw_reads.lease(store, store.parking, pid)
        except BaseException:
            self._release_lock()
            raise
        if leased is None:
            self._release_lock()
            return self._open(options, begin=False)
        self._lease = leased
        self._cursor = leased.cursor
        self._fast = True
        return self

    @property
    def connection(self) -> Connection:
        """An ordinary connection (the raw one, if held, goes back to the pool)."""
        if self._lease is not None:
            self._give_back()
            assert self._single_options is not None  # set with the lease
            self._open(self._single_options, begin=False)
        return super().connection

    def _give_back(self) -> None:
        leased, self._lease = self._lease, None
        self._cursor = None
        self._fast = False
        try:
            if leased is not None:
                leased.release(self._pid_seen)
        finally:
            self._release_lock()

    def fast_select(
        self, sql: str, values: Any, *, names: Sequence[str] | None = None
    ) -> tuple[Sequence[str], list[Sequence[Any]]] | None:
        """:meth:`SqlUnitOfWork.fast_select`, on the raw connection when one is held."""
        leased = self._lease
        if leased is None:
            return super().fast_select(sql, values, names=names)
        return leased.select(sql, values, names)

    def _driver_error(self, exc: Exception, *, committing: bool = False) -> Exception:
        if self._lease is not None:
            return self._lease.error(exc)
        return super()._driver_error(exc, committing=committing)

    def __exit__(self, *exc_info: object) -> None:
        if self._lease is None:
            super().__exit__(*exc_info)
            return
        self._forget()
        try:
            self._give_back()
        except StorageError:
            if exc_info[0] is None:
                raise


class SqlStore:
    """A releaseflow store on SQLite, PostgreSQL or MariaDB (SQLAlchemy 2 Core).

    Open it with :meth:`open`. The store owns an engine it created from a URL and
    disposes of it on :meth:`close`; a host's engine is used as given (after the
    start-up checks) and left open.
    """

    def __init__(
        self,
        engine: Engine,
        tables: Tables,
        *,
        ledger_count: int,
        schema: str | None,
        owns_engine: bool,
        busy_timeout: float,
    ) -> None:
        self.engine = engine
        self.tables = tables
        self.sql = build_statements(tables)
        self.driver_sql = build_driver_statements(self.sql, engine.dialect, schema)
        self.caches = StoreCaches()
        """Heads and directory rows read by committed units of work."""
        self.schema = schema
        self.busy_timeout = busy_timeout
        self._ledger_count = ledger_count
        self._owns_engine = owns_engine
        self._pid = os.getpid()
        self._fork_lock = threading.Lock()
        self.dialect = engine.dialect.name
        self.is_sqlite = self.dialect == "sqlite"
        self.row_locks = not self.is_sqlite
        self.memory = self.is_sqlite and engines.is_memory(engine)
        self.serial_lock: threading.RLock | None = (
            threading.RLock() if self.memory else None
        )
        self.version_check = True
        """Test-only switch: False drops ``AND version = :expected`` from the CAS."""
        self._closed = False
        self.parking: raw_reads.Parking | None = (
            raw_reads.Parking(engine)
            if owns_engine
            and not self.memory
            and self.dialect in ("sqlite", "postgresql")
            else None
        )
        """Where :meth:`read_once` keeps one pooled connection between reads (only
        on an engine this store created: a host's pool is never held)."""
        self._options: dict[bool, dict[str, Any]] = {
            write: self._make_options(write) for write in (True, False)
        }
        self._single_read_options = self._make_single_read_options()

    def _make_options(self, write: bool) -> dict[str, Any]:
        options: dict[str, Any] = {}
        if self.schema is not None:
            options["schema_translate_map"] = {None: self.schema}
        if self.is_sqlite:
            options[engines.BEGIN_OPTION] = "BEGIN IMMEDIATE" if write else "BEGIN"
        elif not self._owns_engine:
            options["isolation_level"] = "READ COMMITTED"
        return options

    def uow_options(self, write: bool) -> dict[str, Any]:
        """Execution options of a unit of work's connection."""
        return self._options[write]

    def raw_path_ok(self) -> bool:
        """Whether a unit of work may begin on a pooled connection without SQLAlchemy.

        Only on an engine this store created (a host's engine keeps its own
        isolation and events), on SQLite or PostgreSQL (PyMySQL would send an
        extra ROLLBACK when the pool takes the connection back), and only while
        nobody listens for cursor executes or transaction events, which must
        see everything on SQLAlchemy's path.
        """
        if not self._owns_engine or self.dialect not in ("sqlite", "postgresql"):
            return False
        dispatch: Any = self.engine.dispatch
        if (
            dispatch.before_cursor_execute
            or dispatch.after_cursor_execute
            or dispatch.commit
            or dispatch.rollback
        ):
            return False
        return all(fn is engines.on_begin for fn in dispatch.begin)

    def driver_path_ok(self, conn: Connection) -> bool:
        """Whether transition statements may bypass SQLAlchemy on ``conn``.

        Not when anyone listens for cursor executes (tracing, statement
        counting): they must see every statement.
        """
        dispatch = conn.dispatch
        return not (dispatch.before_cursor_execute or dispatch.after_cursor_execute)

    @classmethod
    def open(
        cls,
        target: str | sa.URL | Engine,
        *,
        table_prefix: str = "rf_",
        schema: str | None = None,
        migrate: bool = True,
        ledger_count: int = DEFAULT_LEDGER_COUNT,
        busy_timeout: float = 5.0,
    ) -> SqlStore:
        """Open (and by default create or upgrade) a store.

        Args:
            target: a database URL (``sqlite:///agency.db``,
                ``postgresql+psycopg://…``, ``mysql+pymysql://…``) or a host
                ``Engine``.
            table_prefix: prefix of every table, index and the Alembic version
                table (``{prefix}alembic_version``).
            schema: database schema to put the tables in (PostgreSQL).
            migrate: run pending migrations; with False an outdated schema raises
                ``SchemaOutdatedError``.
            ledger_count: audit ledgers of a new store (an existing store keeps
                its own).
            busy_timeout: seconds to wait for a lock before ``StorageBusyError``.

        Raises:
            UnsafeConfigurationError: the database could lose or corrupt records.
            SchemaOutdatedError: ``migrate=False`` and migrations are pending.
            StorageUnavailableError: the database cannot be reached.
        """
        if ledger_count < 1:
            raise ValueError("ledger_count must be at least 1")
        owns = not isinstance(target, Engine)
        engine = engines.make_engine(target, busy_timeout=busy_timeout)
        try:
            engines.check_dialect(engine)
            engines.check_settings(engine, busy_timeout=busy_timeout)
            tables = build_tables(table_prefix)
            from .migrate import ensure_schema

            ensure_schema(engine, tables, schema=schema, migrate=migrate)
            store = cls(
                engine,
                tables,
                ledger_count=ledger_count,
                schema=schema,
                owns_engine=owns,
                busy_timeout=busy_timeout,
            )
            store._initialise(ledger_count)
        except BaseException:
            if owns:
                engine.dispose()
            raise
        return store

    def _initialise(self, ledger_count: int) -> None:
        """Create the meta, directory and ledger-head rows of a new store."""
        t = self.tables
        read_count = sa.select(t.meta.c.ledger_count).where(t.meta.c.id == 1)
        try:
            with self.unit_of_work() as uow:
                if uow.scalar(read_count) is None:
                    created = datetime.now(UTC)
                    uow.run(
                        sa.insert(t.meta).values(
                            id=1, ledger_count=ledger_count, created=created
                        )
                    )
                    uow.run(sa.insert(t.directory).values(id=1, version=0))
                    uow.run_many(
                        sa.insert(t.heads),
                        [
                            {"ledger": n, "seq": 0, "hash": GENESIS_HASH}
                            for n in range(ledger_count)
                        ],
                    )
                    uow.commit()
        except ConflictError:
            pass  # another process created the store at the same moment
        with self.unit_of_work(write=False) as uow:
            stored = uow.scalar(read_count)
        if stored is None:
            raise StorageError("the store's meta row is missing")
        self._ledger_count = int(stored)

    @property
    def ledger_count(self) -> int:
        """How many audit ledgers this store keeps."""
        return self._ledger_count

    def unit_of_work(self, *, write: bool = True) -> SqlUnitOfWork:
        """A new unit of work; begin it with ``with``."""
        if self._closed:
            raise StorageError("the store is closed")
        return SqlUnitOfWork(self, write=write)

    def read_once(self) -> SqlUnitOfWork:
        """A read-only unit of work for one SELECT, run without a transaction.

        See :class:`SqlSingleRead`; begin it with ``with``.
        """
        if self._closed:
            raise StorageError("the store is closed")
        return SqlSingleRead(self)

    def single_read_options(self) -> Mapping[str, Any] | None:
        """Execution options of :meth:`read_once`; None where it uses a transaction.

        Made once per store (read-only: the same mapping every time).
        """
        return self._single_read_options

    def _make_single_read_options(self) -> Mapping[str, Any] | None:
        if self.dialect != "postgresql" and not self.is_sqlite:
            return None
        options: dict[str, Any] = {}
        if self.schema is not None:
            options["schema_translate_map"] = {None: self.schema}
        if not self.is_sqlite:
            options["isolation_level"] = "AUTOCOMMIT"
        return types.MappingProxyType(options)

    def joined(self, host: Any) -> JoinedSqlStore:
        """A view of this store that works inside ``host``'s open transaction.

        ``host`` is a SQLAlchemy ``Connection`` or ORM ``Session`` on this store's
        database. Each unit of work of the view runs in a SAVEPOINT of the host's
        transaction and never commits, rolls back or closes it; see
        ``docs/how-to/host-transaction.md``. The tables must already exist.
        """
        from .joined import JoinedSqlStore

        if self._closed:
            raise StorageError("the store is closed")
        return JoinedSqlStore(self, host)

    @property
    def pid(self) -> int:
        """The id of the process the store's connections belong to.

        After :meth:`check_fork`, this process's.
        """
        return self._pid

    def check_fork(self) -> None:
        """After ``fork()``, drop the parent's pooled connections (never share them)."""
        pid = os.getpid()
        if pid != self._pid:
            with self._fork_lock:
                if pid != self._pid:
                    self.engine.dispose(close=False)
                    self.caches = StoreCaches()
                    self._pid = pid

    def close(self) -> None:
        """Dispose of the engine if this store created it."""
        if self._closed:
            return
        self._closed = True
        if self.parking is not None:
            self.parking.close()
        if self._owns_engine:
            with translate():
                self.engine.dispose()
