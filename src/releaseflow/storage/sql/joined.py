"""Joining a host's own SQLAlchemy transaction: :meth:`SqlStore.joined`.

A host that already holds a :class:`~sqlalchemy.engine.Connection` (or an ORM
``Session``) with an open transaction gets a :class:`JoinedSqlStore`: a view of the
store whose units of work run **on the host's connection**, each inside its own
SAVEPOINT (``begin_nested``). A unit of work that commits releases its savepoint; one
that fails rolls back to it, so a ``ConflictError`` or any other refusal undoes only
releaseflow's part and leaves the host's transaction usable. The view never commits,
rolls back or closes the host's transaction: the host's own ``commit()`` makes its
writes and releaseflow's durable together, its ``rollback()`` undoes both.

Work meant to happen *after* the host commits (signals, cache fills) is registered
with :meth:`JoinedSqlStore.after_host_commit` or :meth:`JoinedSqlUnitOfWork.after_commit`
and runs only once the host's COMMIT succeeded; a rollback of the host's transaction
(or of a host savepoint it was registered inside) drops it.

Joined mode never migrates: the tables must exist (open the store normally once).
"""

from __future__ import annotations

import contextlib
import logging
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final, cast

from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, CursorResult, NestedTransaction

from ...exceptions import StorageError, UnsafeConfigurationError, ValidationError
from . import engine as engines
from .errors import translate
from .store import SqlUnitOfWork

if TYPE_CHECKING:
    from .store import SqlStore

__all__ = ["JoinedSqlStore", "JoinedSqlUnitOfWork"]

Callback = Callable[[], None]

_BEGIN: Final = {True: "BEGIN IMMEDIATE", False: "BEGIN"}
_CHECKED: Final = "releaseflow_host_checked"
_log = logging.getLogger("releaseflow.storage")


class _HostTransaction:
    """Callbacks waiting for one host connection's COMMIT (one per connection).

    Listens to the connection's transaction events: ``commit`` runs the callbacks
    once the database acknowledged the COMMIT; ``rollback`` drops them; a rolled
    back host savepoint drops those registered inside it.
    """

    def __init__(self, conn: Connection) -> None:
        self.savepoints = 0
        self.pending: list[tuple[int, Callback]] = []
        event.listen(conn, "begin", self._on_begin)
        event.listen(conn, "commit", self._on_commit)
        event.listen(conn, "rollback", self._on_rollback)
        event.listen(conn, "savepoint", self._on_savepoint)
        event.listen(conn, "release_savepoint", self._on_release)
        event.listen(conn, "rollback_savepoint", self._on_rollback_savepoint)

    def add(self, callback: Callback) -> None:
        """Run ``callback`` after the host's COMMIT (at the current savepoint depth)."""
        self.pending.append((self.savepoints, callback))

    def _reset(self) -> None:
        self.savepoints = 0
        self.pending.clear()

    def _on_begin(self, _conn: Connection) -> None:
        self._reset()

    def _on_rollback(self, _conn: Connection) -> None:
        self._reset()

    # SQLAlchemy names a savepoint only after its "savepoint" event, and its nested
    # transactions close innermost first: the stack keeps depths, and a release or
    # rollback always ends the innermost open savepoint.

    def _on_savepoint(self, _conn: Connection, _name: str | None) -> None:
        self.savepoints += 1

    def _on_release(self, _conn: Connection, _name: str, _context: Any) -> None:
        self.savepoints = max(0, self.savepoints - 1)

    def _on_rollback_savepoint(
        self, _conn: Connection, _name: str, _context: Any
    ) -> None:
        if self.savepoints == 0:
            # begun before releaseflow joined: everything registered is inside it
            self.pending.clear()
            return
        self.savepoints -= 1
        depth = self.savepoints
        self.pending = [(d, cb) for d, cb in self.pending if d <= depth]

    def _on_commit(self, conn: Connection) -> None:
        pending, self.pending = self.pending, []
        self.savepoints = 0
        if not pending:
            return
        # SQLAlchemy fires "commit" just *before* it sends COMMIT; send it here so
        # that callbacks run only once the database acknowledged it. SQLAlchemy's
        # own COMMIT that follows finds no open transaction and does nothing.
        try:
            conn.dialect.do_commit(conn.connection)
        except Exception as exc:
            # the transaction is over for SQLAlchemy either way; SQLite keeps it
            # open after a failed COMMIT (a deferred foreign key), and the pooled
            # connection must not go back to the pool inside it
            with contextlib.suppress(Exception):
                conn.dialect.do_rollback(conn.connection)
            dbapi = conn.dialect.loaded_dbapi
            if isinstance(exc, dbapi.Error):
                raise sa_exc.DBAPIError.instance(
                    None, None, exc, dbapi.Error, dialect=conn.dialect
                ) from exc
            raise
        for _depth, callback in pending:
            # the COMMIT stands: a failing callback is logged, never raised into
            # the host's commit(), and does not stop the others
            try:
                callback()
            except Exception:
                _log.exception("after-commit callback %r failed", callback)


_hosts: weakref.WeakKeyDictionary[Connection, _HostTransaction] = (
    weakref.WeakKeyDictionary()
)


def _host_transaction(conn: Connection) -> _HostTransaction:
    found = _hosts.get(conn)
    if found is None:
        found = _hosts[conn] = _HostTransaction(conn)
    return found


class _OptionedConnection:
    """The host connection with the store's execution options on each statement.

    ``Connection.execution_options()`` would change the host's connection for good
    (a ``schema_translate_map`` leaking into the host's own statements); this
    passes them per call instead.
    """

    def __init__(self, conn: Connection, options: dict[str, Any]) -> None:
        self._conn = conn
        self._options = options

    def execute(
        self,
        statement: Any,
        parameters: Any = None,
        *,
        execution_options: dict[str, Any] | None = None,
    ) -> CursorResult[Any]:
        """Execute with the store's options merged in."""
        options = {**self._options, **(execution_options or {})}
        return self._conn.execute(statement, parameters, execution_options=options)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


class JoinedSqlUnitOfWork(SqlUnitOfWork):
    """A unit of work inside a SAVEPOINT of the host's transaction.

    ``commit()`` releases the savepoint (the host's COMMIT makes it durable);
    leaving ``with`` without it rolls back to the savepoint only.
    """

    joined = True

    def __init__(self, view: JoinedSqlStore, *, write: bool) -> None:
        super().__init__(view.store, write=write)
        self._view = view
        self._savepoint: NestedTransaction | None = None
        self._host: Connection | None = None
        self._after: list[Callback] = []

    def after_commit(self, callback: Callback) -> None:
        """Run ``callback`` after the host's transaction commits (dropped on rollback).

        Registered callbacks are kept only if this unit of work commits.
        """
        self._after.append(callback)

    def __enter__(self) -> JoinedSqlUnitOfWork:
        host = self._view.host_connection()
        with translate():
            if self.store.is_sqlite:
                _ensure_sqlite_transaction(host, write=self._write)
            _check_host(host, self.store)
            _host_transaction(host)
            self._savepoint = host.begin_nested()
        self._host = host
        options = self._view.options
        self._conn = cast(
            Connection, _OptionedConnection(host, options) if options else host
        )
        return self

    def __exit__(self, *exc_info: object) -> None:
        savepoint, self._savepoint = self._savepoint, None
        self._conn = None
        self._after = []
        if savepoint is None or not savepoint.is_active:
            return
        try:
            with translate():
                savepoint.rollback()
        except StorageError:
            if exc_info[0] is None:
                raise

    def commit(self) -> None:
        """Release this unit of work's savepoint; the host's COMMIT makes it durable."""
        savepoint = self._savepoint
        if savepoint is None or self._host is None:
            raise StorageError("the unit of work is not open")
        with translate():
            savepoint.commit()
        registry = _host_transaction(self._host)
        self._view.last_host = self._host
        for callback in self._after:
            registry.add(callback)
        self._after = []

    def rollback(self) -> None:
        """Undo every change since the savepoint began (the host's work stays)."""
        savepoint = self._savepoint
        if savepoint is None or self._host is None:
            raise StorageError("the unit of work is not open")
        with translate():
            savepoint.rollback()
            self._savepoint = self._host.begin_nested()


def _check_host(conn: Connection, store: SqlStore) -> None:
    """The start-up safety checks, once per host connection, without a rollback.

    A connection the store itself prepared has passed them already; a host
    engine's connection (SQLite ``synchronous`` below FULL, MariaDB not strict,
    PostgreSQL ``synchronous_commit=off``...) is refused with
    ``UnsafeConfigurationError`` before anything is written.
    """
    if conn.info.get(engines.READY) or conn.info.get(_CHECKED):
        return
    if store.is_sqlite:
        engines._check_sqlite(conn, store)
    elif store.dialect in ("mysql", "mariadb"):
        engines._check_mysql(conn)
    else:
        engines._check_postgres(conn)
    conn.info[_CHECKED] = True


def _ensure_sqlite_transaction(conn: Connection, *, write: bool) -> None:
    """Make sure SQLite itself is inside a transaction, not only SQLAlchemy.

    releaseflow's SQLite engines switch the driver's own transaction handling off,
    so a ``begin()`` without releaseflow's BEGIN option emits nothing; a SAVEPOINT
    outside a transaction would then commit on RELEASE.
    """
    dbapi = conn.connection.dbapi_connection
    if dbapi is not None and not getattr(dbapi, "in_transaction", True):
        conn.exec_driver_sql(_BEGIN[write])


class JoinedSqlStore:
    """A view of a :class:`SqlStore` bound to a host's connection or ORM session.

    Get one from :meth:`SqlStore.joined` (or a whole flow from
    ``ReleaseFlow.joined``). It implements the store port; :meth:`close` only
    stops the view — the host's connection, transaction and the store's engine
    are left alone.
    """

    def __init__(self, store: SqlStore, host: Any) -> None:
        self.store = store
        self._host = host
        self._session = _is_session(host)
        if not self._session and not isinstance(host, Connection):
            raise ValidationError(
                "joined() needs a SQLAlchemy Connection or ORM Session,"
                f" not {type(host).__name__}",
                field="host",
                rule="type",
            )
        self.options: dict[str, Any] = (
            {"schema_translate_map": {None: store.schema}}
            if store.schema is not None
            else {}
        )
        self.last_host: Connection | None = None
        self._closed = False
        if not self._session:
            conn = cast(Connection, host)
            if conn.closed:
                raise StorageError("the host connection is closed")
            self._check_dialect(conn)
            if store.is_sqlite:
                # begin the database transaction now, so that the host's own
                # statements after joined() are inside it too
                with translate():
                    _ensure_sqlite_transaction(conn, write=True)
            _host_transaction(conn)  # track the host's savepoints from now on

    def _check_dialect(self, conn: Connection) -> None:
        if conn.dialect.name != self.store.dialect:
            raise UnsafeConfigurationError(
                f"the host connection is {conn.dialect.name}, the store"
                f" {self.store.dialect}"
            )

    def host_connection(self) -> Connection:
        """The host's connection now (a session's connection of its transaction)."""
        if self._closed:
            raise StorageError("the joined store is closed")
        if self._session:
            with translate():
                conn: Connection = self._host.connection()
            self._check_dialect(conn)
            return conn
        conn = cast(Connection, self._host)
        if conn.closed:
            raise StorageError("the host connection is closed")
        if conn.invalidated:
            raise StorageError("the host connection was invalidated; roll back")
        return conn

    @property
    def ledger_count(self) -> int:
        """How many audit ledgers the store keeps."""
        return self.store.ledger_count

    def unit_of_work(self, *, write: bool = True) -> JoinedSqlUnitOfWork:
        """A unit of work in a savepoint of the host's transaction."""
        if self._closed:
            raise StorageError("the joined store is closed")
        return JoinedSqlUnitOfWork(self, write=write)

    def after_host_commit(self, callback: Callback) -> None:
        """Run ``callback`` once the host's transaction commits; drop it on rollback.

        Registered on the host transaction of the last committed unit of work.
        """
        conn = self.last_host or self.host_connection()
        _host_transaction(conn).add(callback)

    def joined(self, host: Any) -> JoinedSqlStore:
        """A view of the same store bound to another host connection or session."""
        return JoinedSqlStore(self.store, host)

    def close(self) -> None:
        """Stop using the host; it and the store stay open."""
        self._closed = True


def _is_session(host: Any) -> bool:
    try:
        from sqlalchemy.orm import Session
    except ImportError:  # pragma: no cover - the ORM ships with SQLAlchemy
        return False
    return isinstance(host, Session)
