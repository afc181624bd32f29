"""Driver errors to releaseflow errors: each failure maps to exactly one type.

=====================================  =====================================
Database condition                      releaseflow error
=====================================  =====================================
PG 40001 serialization failure,         :class:`ConflictError` (another
MariaDB 1020 record changed,            transaction changed what this one
unique/foreign-key violations           read or wrote: reload and decide)
PG 40P01 deadlock, 55P03 lock timeout,  :class:`StorageBusyError` (retry the
MariaDB 1213 deadlock, 1205 lock wait,  whole call)
SQLite BUSY / LOCKED
PG 57P01-57P03, class 08, MariaDB       :class:`StorageUnavailableError`
2002/2003/2006/2013/2055, lost links    (nothing was changed)
PG 53100, MariaDB 1021/1114, SQLite     :class:`StorageFullError`
FULL
SQLite IOERR, CORRUPT and the rest      :class:`StorageError`
=====================================  =====================================

A connection-class error raised while **committing** becomes
:class:`CommitOutcomeUnknownError`: the server may have committed before the link
broke, so only a retry with the same idempotency key can tell. So does a failed
fsync of SQLite's WAL during COMMIT (the frames are written and a later recovery
may find them). After any SQLite I/O or corruption error :func:`must_discard` says
the connection is never used again: its state is undefined.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from types import TracebackType
from typing import Any, Final

from sqlalchemy import exc as sa_exc

from ...exceptions import (
    CommitOutcomeUnknownError,
    ConflictError,
    ReleaseflowError,
    StorageBusyError,
    StorageError,
    StorageFullError,
    StorageUnavailableError,
)

__all__ = ["classify", "is_driver_error", "link_lost", "must_discard", "translate"]

_PG_CONFLICT: Final = {"40001"}
_PG_BUSY: Final = {"40P01", "55P03", "57014"}
_PG_GONE: Final = {"57P01", "57P02", "57P03", "53300"}
_PG_FULL: Final = {"53100"}

_MY_CONFLICT: Final = {1020, 1062, 1451, 1452}
_MY_BUSY: Final = {1205, 1213}
_MY_GONE: Final = {2002, 2003, 2006, 2013, 2055, 1927, 1053}
_MY_FULL: Final = {1021, 1114}


def _sqlite_kind(orig: BaseException) -> type[StorageError] | None:
    name = str(getattr(orig, "sqlite_errorname", ""))
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
        return StorageBusyError
    if name == "SQLITE_FULL":
        return StorageFullError
    if name.startswith("SQLITE_CANTOPEN"):
        return StorageUnavailableError
    return None


def _sqlite_unreliable(orig: BaseException | None) -> bool:
    """A SQLite I/O or corruption error: the connection's state is undefined."""
    name = str(getattr(orig, "sqlite_errorname", ""))
    return name.startswith(("SQLITE_IOERR", "SQLITE_CORRUPT"))


def _sqlite_sync_failed(orig: BaseException | None) -> bool:
    """A failed (or unspecified) SQLite I/O step that may leave a COMMIT durable.

    A failed *write* of the WAL leaves the commit frame absent or with a bad
    checksum (not committed); a failed *fsync* leaves whole frames that a later
    recovery may find, so the outcome is unknown.
    """
    name = str(getattr(orig, "sqlite_errorname", ""))
    return name in {"SQLITE_IOERR", "SQLITE_IOERR_FSYNC", "SQLITE_IOERR_DIR_FSYNC"}


def must_discard(exc: BaseException | None) -> bool:
    """Whether the connection that raised ``exc`` must not be used again.

    ``exc`` may be the driver's error, SQLAlchemy's wrapper or a releaseflow
    error raised from either (its ``__cause__`` chain is followed).
    """
    seen = 0
    while exc is not None and seen < 5:
        if _sqlite_unreliable(exc) or _sqlite_unreliable(getattr(exc, "orig", None)):
            return True
        exc, seen = exc.__cause__, seen + 1
    return False


def link_lost(dialect: Any, exc: Exception, dbapi_connection: Any) -> bool:
    """Whether ``dialect`` judges the raw driver error ``exc`` a lost link.

    False when the dialect cannot tell. A connection that raised an error for
    which this or :func:`must_discard` holds is invalidated, never reused.
    """
    try:
        return bool(dialect.is_disconnect(exc, dbapi_connection, None))
    except Exception:  # a dialect that cannot tell: not gone
        return False


def _pg_kind(orig: BaseException) -> type[ReleaseflowError] | None:
    code = getattr(orig, "sqlstate", None)
    if code is None:
        return None
    if code in _PG_CONFLICT or code.startswith("23"):
        return ConflictError
    if code in _PG_BUSY:
        return StorageBusyError
    if code in _PG_GONE or code.startswith("08"):
        return StorageUnavailableError
    if code in _PG_FULL:
        return StorageFullError
    return None


def _mysql_kind(orig: BaseException) -> type[ReleaseflowError] | None:
    args = getattr(orig, "args", ())
    code = args[0] if args and isinstance(args[0], int) else None
    if code is None:
        return None
    if code in _MY_CONFLICT:
        return ConflictError
    if code in _MY_BUSY:
        return StorageBusyError
    if code in _MY_GONE:
        return StorageUnavailableError
    if code in _MY_FULL:
        return StorageFullError
    return None


def _driver_kind(orig: BaseException) -> type[ReleaseflowError] | None:
    module = type(orig).__module__
    if module.startswith("sqlite3"):
        return _sqlite_kind(orig)
    if module.startswith("psycopg"):
        return _pg_kind(orig)
    if module.startswith("pymysql"):
        return _mysql_kind(orig)
    return None


def is_driver_error(exc: BaseException) -> bool:
    """Whether ``exc`` is a DB-API error raised by a supported driver itself."""
    module = type(exc).__module__
    return module.startswith(("sqlite3", "psycopg", "pymysql")) and any(
        c.__name__ == "Error" and c.__module__.startswith(module.split(".")[0])
        for c in type(exc).__mro__
    )


def _driver_fallback(orig: BaseException) -> type[ReleaseflowError]:
    """The kind of a raw driver error no code matched, by its DB-API class."""
    names = {c.__name__ for c in type(orig).__mro__}
    if "IntegrityError" in names:
        return ConflictError
    if "OperationalError" in names:
        return StorageUnavailableError if _looks_gone(orig) else StorageError
    if "InterfaceError" in names and _looks_gone(orig):
        return StorageUnavailableError
    return StorageError


def classify(
    exc: BaseException, *, committing: bool = False, disconnected: bool = False
) -> ReleaseflowError:
    """Return the one releaseflow error that stands for ``exc``.

    ``exc`` is a SQLAlchemy error, or a DB-API error the driver raised itself
    (statements run on the raw cursor); ``disconnected`` says the dialect judged a
    raw error to mean a lost link.
    """
    kind: type[ReleaseflowError] | None = None
    orig = getattr(exc, "orig", None)
    if isinstance(exc, sa_exc.DBAPIError) and orig is not None:
        kind = _driver_kind(orig)
        if kind is None and exc.connection_invalidated:
            kind = StorageUnavailableError
        if kind is None and isinstance(exc, sa_exc.IntegrityError):
            kind = ConflictError
        if kind is None and isinstance(exc, sa_exc.OperationalError):
            kind = StorageUnavailableError if _looks_gone(orig) else StorageError
    elif isinstance(exc, (sa_exc.DisconnectionError, sa_exc.TimeoutError)):
        kind = StorageUnavailableError
    elif not isinstance(exc, sa_exc.SQLAlchemyError):
        orig = exc
        kind = _driver_kind(exc)
        if kind is None and disconnected:
            kind = StorageUnavailableError
        if kind is None:
            kind = _driver_fallback(exc)
    if kind is None:
        kind = StorageError
    io_failed = _sqlite_sync_failed(orig)
    if committing and (kind is StorageUnavailableError or io_failed):
        kind = CommitOutcomeUnknownError
    detail = str(orig if orig is not None else exc).strip().splitlines()
    message = detail[0] if detail else type(exc).__name__
    if kind is CommitOutcomeUnknownError:
        cause = "I/O error" if io_failed else "connection lost"
        message = f"{cause} during COMMIT, outcome unknown: {message}"
    return kind(message)


def _looks_gone(orig: BaseException) -> bool:
    text = str(orig).lower()
    return any(
        marker in text
        for marker in (
            "server closed the connection",
            "connection refused",
            "terminating connection",
            "could not connect",
            "connection is closed",
            "consuming input failed",
            "lost connection",
            "gone away",
        )
    )


class _Translate:
    """The context manager :func:`translate` returns (stateless, shared).

    A plain class: a ``contextlib`` generator context manager costs a generator
    and two frames per use, paid on every statement of the write path.
    """

    __slots__ = ("_committing",)

    def __init__(self, committing: bool) -> None:
        self._committing = committing

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
        committing = self._committing
        if isinstance(exc, sa_exc.SQLAlchemyError):
            raise classify(exc, committing=committing) from exc
        if isinstance(exc, (OSError, UnicodeError)):
            error: StorageError = (
                CommitOutcomeUnknownError(f"outcome unknown: {exc}")
                if committing and isinstance(exc, OSError)
                else StorageError(f"{type(exc).__name__}: {exc}")
            )
            raise error from exc
        # a driver's own error (statements on its cursor)
        if not is_driver_error(exc):
            return
        raise classify(exc, committing=committing) from exc


_TRANSLATE: Final = _Translate(False)
_TRANSLATE_COMMITTING: Final = _Translate(True)


def translate(*, committing: bool = False) -> AbstractContextManager[None]:
    """Re-raise any SQLAlchemy or driver error as one releaseflow error.

    ``with translate():`` -- with ``committing=True`` a lost link or an OS error
    becomes :class:`CommitOutcomeUnknownError`. Releaseflow errors and anything
    that is not an ``Exception`` pass unchanged.
    """
    return _TRANSLATE_COMMITTING if committing else _TRANSLATE
