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

A pool checkout and return cost about as much as the SELECT of a short history, so
a store that owns its engine parks one idle connection between single reads
(:class:`Parking`) instead of returning it to the pool each time.
"""

from __future__ import annotations

import contextlib
import os
import threading
import weakref
from collections.abc import Sequence
from typing import Any, Final

from .engine import READY as PREPARED_KEY
from .errors import classify, is_driver_error, link_lost, must_discard, translate

__all__ = ["Parking", "RawLease", "lease", "translated"]


translated: Final = translate()
"""``with translated:`` -- ``with translate():`` without the call (one shared object)."""


class RawLease:
    """A DB-API connection and cursor checked out of the pool (or parked) for reads."""

    __slots__ = ("_autocommit_was", "_fairy", "cursor", "dialect", "parking", "pool")

    def __init__(
        self,
        fairy: Any,
        cursor: Any,
        dialect: Any,
        autocommit_was: bool | None,
        parking: Parking | None = None,
        pool: Any = None,
    ) -> None:
        self._fairy = fairy
        self.parking = parking
        """Where :meth:`release` parks the connection (None: the pool takes it)."""
        self.pool = pool
        """The pool the connection was checked out of."""
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

    def release(self, pid: int | None = None) -> None:
        """Park the connection for the next single read, or give it back to the pool.

        Parked (cursor and all) only when the statement left no transaction open
        and the connection is still valid; else the cursor is closed and the
        connection goes back to the pool (reset there). ``pid``: this process's
        id when the caller knows it (see :meth:`Parking.park`).
        """
        parking = self.parking
        if parking is not None and self._fairy is not None and parking.park(self, pid):
            return
        self.give_back()

    def idle(self) -> bool:
        """Whether the connection is valid and no transaction is open on it."""
        fairy = self._fairy
        if fairy is None or not fairy.is_valid:
            return False
        dbapi = fairy.dbapi_connection
        if dbapi is None:
            return False
        if self._autocommit_was is None:  # SQLite, in autocommit (isolation None)
            return dbapi.isolation_level is None and not dbapi.in_transaction
        return bool(dbapi.autocommit) and dbapi.info.transaction_status == 0

    def detach(self) -> tuple[Any, Any]:
        """The pooled connection and its cursor, now the caller's (the lease is spent).

        A write unit of work takes a parked connection this way, and parks it
        again in a new lease when it ends idle (``SqlUnitOfWork``).
        """
        fairy, self._fairy = self._fairy, None
        cursor, self.cursor = self.cursor, None
        return fairy, cursor

    def discard(self) -> None:
        """Close the connection for good (it never goes back to a pool)."""
        fairy, self._fairy = self._fairy, None
        self.cursor = None
        if fairy is not None:
            with contextlib.suppress(Exception):
                fairy.invalidate()

    def give_back(self) -> None:
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


class Parking:
    """At most one raw connection kept checked out between single reads.

    Checking a connection out of the pool and back costs about as much as the
    indexed SELECT of a short history, so a single read puts its connection here
    instead of back in the pool, and the next single read takes it from here. The
    slot holds at most one connection of the engine's pool; anything unusual sends
    the connection back to the pool instead, exactly as before parking existed:
    a driver error that invalidated it, a transaction left open on it, another
    read already parked (one thread's read takes the slot; a concurrent read
    checks a connection out of the pool as usual). A parked connection whose pool
    the engine replaced (``engine.dispose()``) is closed, not used; a forked child
    never uses or closes its parent's. :meth:`close` (the store's close) gives the
    parked connection back, as does the collection of the parking.
    """

    __slots__ = ("__weakref__", "_closed", "_engine", "_lock", "_pid", "_slot")

    def __init__(self, engine: Any) -> None:
        self._engine = engine
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._slot: list[RawLease] = []
        self._closed = False
        weakref.finalize(self, _drain, self._slot, self._pid, engine)

    def take(self, pid: int | None = None) -> RawLease | None:
        """The parked lease, now the caller's; None when there is none to take.

        ``pid``: this process's id when the caller has just read it (the store's
        fork check), saving a system call; else it is read here.
        """
        slot = self._slot
        if not slot or not self._lock.acquire(blocking=False):
            return None
        try:
            leased = slot.pop() if slot else None
        finally:
            self._lock.release()
        if leased is None:
            return None
        if (os.getpid() if pid is None else pid) != self._pid:
            _inherited.append(leased)  # a forked child's: see _inherited
            return None
        if leased.pool is not self._engine.pool:
            leased.discard()  # the engine was disposed of: never reuse it
            return None
        leased.parking = self
        return leased

    def park(self, leased: RawLease, pid: int | None = None) -> bool:
        """Keep ``leased`` for the next read; False when it must go to the pool.

        ``pid`` as in :meth:`take`.
        """
        if (
            self._closed
            or (os.getpid() if pid is None else pid) != self._pid
            or leased.pool is not self._engine.pool
            or not leased.idle()
        ):
            return False
        if not self._lock.acquire(blocking=False):
            return False
        try:
            if self._slot or self._closed:
                return False
            leased.parking = None  # no cycle: the parking can be collected
            self._slot.append(leased)
            return True
        finally:
            self._lock.release()

    def close(self) -> None:
        """Give the parked connection back to the pool; park nothing afterwards."""
        with self._lock:  # emptied under the lock: a read taking it meanwhile
            self._closed = True  # finds it held (and takes the pool's)
            parked = self._slot[:]
            self._slot.clear()
        _drain(parked, self._pid, self._engine)


_inherited: Final[list[RawLease]] = []
"""Parked leases a forked child found (its parent's connections): kept referenced
and never touched, because collecting a checked-out connection makes the pool
reset it -- a ROLLBACK on the parent's link."""


def _drain(slot: list[RawLease], pid: int, engine: Any) -> None:
    """Give the parked leases back (close them if their pool was replaced)."""
    while slot:
        leased = slot.pop()
        if os.getpid() != pid:
            _inherited.append(leased)
            continue
        with contextlib.suppress(Exception):
            if leased.pool is engine.pool:
                leased.give_back()
            else:
                leased.discard()


def lease(
    store: Any, parking: Parking | None = None, pid: int | None = None
) -> RawLease | None:
    """A raw connection for one SELECT on ``store``; None where it must not be used.

    The connection parked in ``parking`` when there is one to take, else one
    checked out of the engine's pool (parked there on release when it may be).

    SQLite runs the SELECT outside a transaction (its driver connection is in
    autocommit mode); PostgreSQL's psycopg connection is switched to autocommit
    for the statement (a local setting: no round trip) and back before it
    returns to the pool. Other dialects: None. ``pid`` as in
    :meth:`Parking.take`.
    """
    engine = store.engine
    dispatch = engine.dispatch
    if dispatch.before_cursor_execute or dispatch.after_cursor_execute:
        return None
    if parking is not None:
        parked = parking.take(pid)
        if parked is not None:
            return parked
    dialect = engine.dialect
    sqlite = dialect.name == "sqlite"
    if not sqlite and dialect.name != "postgresql":
        return None
    pool = engine.pool
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
    return RawLease(fairy, cursor, dialect, autocommit_was, parking, pool)
