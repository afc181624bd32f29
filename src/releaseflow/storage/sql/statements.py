"""Hot-path statements, built once per store with bind parameters.

Building a Core statement costs far more than executing a cached one; every unit of
work reuses these objects, so SQLAlchemy only looks up the compiled form.

The statements of a transition are also compiled once per store into
:class:`DriverSql` -- the dialect's SQL text (schema names rendered), its parameter
order and the bind processors of its columns -- so a unit of work can run them on
the DB-API cursor without SQLAlchemy's per-call machinery
(:meth:`~.store.SqlUnitOfWork.fast_row`).
"""

from __future__ import annotations

import copy
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

from ...reports.row_facts import FACT_COLUMNS
from .schema import Tables
from .types import UtcDateTime

__all__ = [
    "IDENTITY_FIELDS",
    "REQUEST_COLUMNS",
    "DriverSql",
    "DriverStatements",
    "Statements",
    "build_driver_statements",
    "build_statements",
]

REQUEST_COLUMNS = (
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
    *FACT_COLUMNS,
)
"""A request row's columns besides ``id``, in the compare-and-set's order."""

#: Request columns a transition normally leaves as they are (stored straight from
#: the model's fields). SQLite rewrites the entry of every index whose column is in
#: an UPDATE's SET list, changed or not, so the compare-and-set leaves them out
#: when the request's stored version shows the same values.
IDENTITY_FIELDS = (
    "kind",
    "definition",
    "definition_version",
    "unit",
    "created_by",
    "created_at",
    "received_at",
)


@dataclass(frozen=True)
class Statements:
    """Prepared statements of one store."""

    request_doc: Any
    request_version: Any
    request_insert: Any
    request_cas: Any
    request_cas_locking: Any
    request_cas_slim: Any
    request_cas_slim_locking: Any
    request_cas_dir: Any
    """The compare-and-set, also only while the directory is at ``b_dir``."""
    request_cas_slim_dir: Any
    request_cas_dir_shared: Any
    """:attr:`request_cas_dir` that also share-locks the directory row (row locks)."""
    request_cas_slim_dir_shared: Any
    request_cas_dir_locking: Any
    """:attr:`request_cas_dir_shared` returning the locked ledger head (PostgreSQL)."""
    request_cas_slim_dir_locking: Any
    request_blind: Any
    head_select: Any
    head_select_locked: Any
    head_advance: Any
    audit_insert: Any
    audit_append: Any
    directory_version: Any
    directory_version_shared: Any
    grants_of_actor: Any
    auths_of_actor_request: Any
    idempotency_get: Any


def build_statements(t: Tables) -> Statements:
    """Build every hot-path statement for ``t``."""
    r, h, d, g, a = t.requests, t.heads, t.directory, t.grants, t.authorisations
    values: dict[str, Any] = {n: sa.bindparam(f"v_{n}") for n in REQUEST_COLUMNS}
    head_select = sa.select(h.c.seq, h.c.hash).where(
        h.c.ledger == sa.bindparam("ledger")
    )
    directory = sa.select(d.c.version).where(d.c.id == 1)
    head_advance = (
        sa.update(h)
        .where(
            h.c.ledger == sa.bindparam("b_ledger"),
            h.c.seq == sa.bindparam("b_seq"),
            h.c.hash == sa.bindparam("b_hash"),
        )
        .values(seq=sa.bindparam("v_seq"), hash=sa.bindparam("v_hash"))
    )
    cas_where = (
        r.c.id == sa.bindparam("b_id"),
        r.c.version == sa.bindparam("b_expected"),
    )
    request_cas = sa.update(r).where(*cas_where).values(values)
    slim = {k: v for k, v in values.items() if k not in IDENTITY_FIELDS}
    request_cas_slim = sa.update(r).where(*cas_where).values(slim)
    # the directory version as SqlDirectory.lock reads it (a missing row or NULL is
    # 0), with literal constants: every parameter of the statement is the caller's
    one: Any = sa.literal_column("1")
    zero: Any = sa.literal_column("0")
    version_now = sa.select(d.c.version).where(d.c.id == one).scalar_subquery()
    dir_at = sa.func.coalesce(version_now, zero) == sa.bindparam("b_dir")
    # with row locks: the directory row at ``b_dir``, share-locked until commit as
    # SqlDirectory.lock would (READ COMMITTED: a writer holding the row makes the
    # lock wait, and the row it committed is checked again: a new version matches
    # nothing). An uncorrelated EXISTS is an InitPlan run before the request row
    # is scanned, so the locks come in the order of the plain path: directory,
    # then request.
    dir_held = sa.exists(
        sa.select(one)
        .where(d.c.id == one, d.c.version == sa.bindparam("b_dir"))
        .with_for_update(read=True)
    )
    request_cas_dir_shared = request_cas.where(dir_held)
    request_cas_slim_dir_shared = request_cas_slim.where(dir_held)
    return Statements(
        request_doc=sa.select(r.c.doc).where(r.c.id == sa.bindparam("id")),
        request_version=sa.select(r.c.version).where(r.c.id == sa.bindparam("id")),
        request_insert=sa.insert(r),
        request_cas=request_cas,
        request_cas_locking=_cas_locking_head(t, request_cas),
        request_cas_slim=request_cas_slim,
        request_cas_slim_locking=_cas_locking_head(t, request_cas_slim),
        request_cas_dir=request_cas.where(dir_at),
        request_cas_slim_dir=request_cas_slim.where(dir_at),
        request_cas_dir_shared=request_cas_dir_shared,
        request_cas_slim_dir_shared=request_cas_slim_dir_shared,
        request_cas_dir_locking=_cas_locking_head(t, request_cas_dir_shared),
        request_cas_slim_dir_locking=_cas_locking_head(t, request_cas_slim_dir_shared),
        request_blind=sa.update(r).where(r.c.id == sa.bindparam("b_id")).values(values),
        head_select=head_select,
        head_select_locked=head_select.with_for_update(),
        head_advance=head_advance,
        audit_insert=sa.insert(t.audit),
        audit_append=_audit_append(t, head_advance),
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


def _cas_locking_head(t: Tables, request_cas: Any) -> Any:
    """The request compare-and-set, returning its ledger head locked (PostgreSQL).

    ``WITH moved AS (UPDATE requests … RETURNING id) SELECT seq, hash FROM heads
    WHERE ledger = :ledger AND EXISTS (SELECT FROM moved) FOR UPDATE OF heads``:
    the head row, locked, when the CAS matched; no row when it did not. One round
    trip for a transition whose cached head is likely stale (several writers on
    its ledger). The head is locked only after the request row (its qualification
    reads the UPDATE's result), the order of the two-statement path, so two
    writers of one request still meet at the request row, not in a deadlock.
    """
    r, h = t.requests, t.heads
    moved = request_cas.returning(r.c.id).cte("rf_moved")
    return (
        sa.select(h.c.seq, h.c.hash)
        .where(h.c.ledger == sa.bindparam("ledger"), sa.exists(sa.select(moved.c.id)))
        .with_for_update(of=h)
        .add_cte(moved)
    )


def _audit_append(t: Tables, head_advance: Any) -> Any:
    """Head compare-and-set and audit INSERT as one statement (PostgreSQL).

    ``WITH adv AS (UPDATE heads … WHERE seq = :b_seq AND hash = :b_hash RETURNING
    ledger) INSERT INTO audit (…) SELECT :ledger, … FROM adv``: the row is inserted
    only if the head row moved, so the statement's row count (1 or 0) is the
    compare-and-set's, in one round trip instead of two. The selected binds carry
    the column types (psycopg renders ``::TYPE`` casts without a length, so a
    too-long value still fails on assignment, as in a plain INSERT).
    """
    advanced = head_advance.returning(t.heads.c.ledger).cte("rf_advanced")
    columns = list(t.audit.c)
    rows = sa.select(
        *[sa.bindparam(c.name, type_=c.type) for c in columns]
    ).select_from(advanced)
    return (
        sa.insert(t.audit)
        .from_select([c.name for c in columns], rows)
        .add_cte(advanced)
    )


@dataclass(frozen=True)
class DriverSql:
    """One statement compiled for a dialect, to run on the DB-API cursor."""

    text: str
    """The SQL as the driver receives it."""
    names: tuple[str, ...]
    """Parameter names, in placeholder order for positional paramstyles."""
    positional: bool
    """Whether the driver takes a sequence (``?``, ``%s``) or a mapping."""
    processors: Mapping[str, Callable[[Any], Any]]
    """Bind processors of the typed parameters (e.g. aware datetime → naive UTC)."""
    constants: Mapping[str, Any]
    """Values of the statement's literal binds (``id = 1``)."""
    literal: str | None = None
    """The SQL with its constants inlined, when it takes no other parameter: it can
    then travel in one simple query with a ``BEGIN`` (see
    :meth:`~.store.SqlUnitOfWork.fast_row`)."""
    _plan: tuple[tuple[str, bool, Any, Callable[[Any], Any] | None], ...] = field(
        default=(), init=False, repr=False, compare=False
    )
    _take: Callable[[Mapping[str, Any]], tuple[Any, ...]] | None = field(
        default=None, init=False, repr=False, compare=False
    )
    """Without literal binds: the parameters' values, in order, in one C call."""
    _convert: tuple[tuple[int, Callable[[Any], Any], bool], ...] = field(
        default=(), init=False, repr=False, compare=False
    )
    """(position, processor, whether it maps None to None) of the typed values."""

    def __post_init__(self) -> None:
        plan = tuple(
            (
                name,
                name in self.constants,
                self.constants.get(name),
                self.processors.get(name),
            )
            for name in self.names
        )
        object.__setattr__(self, "_plan", plan)
        if self.constants or not self.names:
            return
        take: Callable[[Mapping[str, Any]], tuple[Any, ...]]
        if len(self.names) == 1:
            only = self.names[0]

            def take(params: Mapping[str, Any]) -> tuple[Any, ...]:
                return (params[only],)

        else:
            take = operator.itemgetter(*self.names)
        convert = tuple(
            (i, proc, _keeps_none(proc))
            for i, name in enumerate(self.names)
            if (proc := self.processors.get(name)) is not None
        )
        object.__setattr__(self, "_take", take)
        object.__setattr__(self, "_convert", convert)

    def parameters(self, params: Mapping[str, Any]) -> Any:
        """The driver parameters for ``params`` (raises KeyError if one is missing)."""
        take = self._take
        values: Sequence[Any]
        if take is None:
            values = [
                (const if fixed else params[name])
                if proc is None
                else proc(const if fixed else params[name])
                for name, fixed, const, proc in self._plan
            ]
        else:
            values = take(params)
            if self._convert:
                values = list(values)
                for i, proc, keeps_none in self._convert:
                    value = values[i]
                    if value is not None or not keeps_none:
                        values[i] = proc(value)
        if self.positional:
            return tuple(values)
        return dict(zip(self.names, values, strict=True))


def _keeps_none(proc: Callable[[Any], Any]) -> bool:
    """Whether a bind processor turns None into None (then None skips the call)."""
    try:
        return proc(None) is None
    except Exception:  # refuses None: always call it
        return False


@dataclass(frozen=True)
class DriverStatements:
    """The statements of a transition, compiled for one store's dialect and schema."""

    request_doc: DriverSql
    request_cas: DriverSql
    request_cas_locking: DriverSql | None
    """PostgreSQL: the CAS returning the locked ledger head; else None."""
    request_cas_slim: DriverSql
    """The CAS without the :data:`IDENTITY_FIELDS` columns in its SET list."""
    request_cas_slim_locking: DriverSql | None
    request_cas_dir: DriverSql
    """The CAS that also matches only at the directory version ``b_dir``
    (PostgreSQL: and share-locks the directory row, as ``SqlDirectory.lock``)."""
    request_cas_slim_dir: DriverSql
    request_cas_dir_locking: DriverSql | None
    """PostgreSQL: :attr:`request_cas_dir` returning the locked ledger head."""
    request_cas_slim_dir_locking: DriverSql | None
    request_blind: DriverSql
    directory_version: DriverSql
    directory_version_shared: DriverSql
    head_select_locked: DriverSql
    head_advance: DriverSql
    audit_insert: DriverSql
    audit_append: DriverSql | None
    """PostgreSQL: head advance and audit INSERT in one statement; else None."""


_SQLITE_DATETIME = (
    "%(year)04d-%(month)02d-%(day)02d %(hour)02d:%(minute)02d:%(second)02d"
    ".%(microsecond)06d"
)
"""SQLAlchemy's default SQLite DATETIME storage format (with microseconds)."""
_PROBES = (
    datetime(2026, 3, 2, 9, 30, 0, 123456, tzinfo=UTC),
    datetime(5, 1, 1, tzinfo=UTC),
    datetime(2026, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=-7))),
    datetime(2026, 1, 1, 6, 0, 0, 1, tzinfo=timezone(timedelta(hours=7))),
)


def _sqlite_utc_text(value: datetime | None) -> str | None:
    """:class:`UtcDateTime`'s bind processing on SQLite, in one call.

    (``process_bind_param``, then SQLite's DATETIME text: same checks, same text.)
    """
    if value is None:
        return None
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("naive datetime given to a UTC column")
    v = value.astimezone(UTC)
    return "%04d-%02d-%02d %02d:%02d:%02d.%06d" % (  # noqa: UP031 - hot path
        v.year,
        v.month,
        v.day,
        v.hour,
        v.minute,
        v.second,
        v.microsecond,
    )


def _naive_utc(value: datetime | None) -> datetime | None:
    """:class:`UtcDateTime`'s bind processing where the driver takes a datetime.

    (``process_bind_param`` without SQLAlchemy's wrapper call: same checks, same
    naive UTC value.)
    """
    if value is None:
        return None
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("naive datetime given to a UTC column")
    return value.astimezone(UTC).replace(tzinfo=None)


def _same_processing(fast: Callable[[Any], Any], proc: Callable[[Any], Any]) -> bool:
    """Whether ``fast`` can stand in for the bind processor ``proc``.

    Same value and type for every probe and None; ``proc`` refuses a naive
    datetime, as ``fast`` does.
    """
    for p in (*_PROBES, None):
        mine, theirs = fast(p), proc(p)
        if type(mine) is not type(theirs) or mine != theirs:
            return False
        if isinstance(mine, datetime) and mine.tzinfo != theirs.tzinfo:
            return False
    try:
        proc(datetime(2026, 1, 1))  # a naive probe
    except ValueError:
        return True
    return False


def _fused(
    kind: Any, dialect: Dialect, proc: Callable[[Any], Any]
) -> Callable[[Any], Any]:
    """``proc``, or one function doing the same for an aware datetime.

    Only for :class:`UtcDateTime`, and only if the function gives what ``proc``
    gives for every probe: on SQLite (default storage format) the DATETIME text,
    elsewhere the naive UTC datetime the driver adapts itself.
    """
    if not isinstance(kind, UtcDateTime):
        return proc
    if dialect.name != "sqlite":
        return _naive_utc if _same_processing(_naive_utc, proc) else proc
    impl = kind.load_dialect_impl(dialect)
    if getattr(impl, "_storage_format", None) != _SQLITE_DATETIME:
        return proc
    if any(_sqlite_utc_text(p) != proc(p) for p in _PROBES) or proc(None) is not None:
        return proc
    return _sqlite_utc_text


def _driver_sql(stmt: Any, dialect: Dialect, schema: str | None) -> DriverSql:
    options: dict[str, Any] = {}
    if schema is not None:
        options = {
            "schema_translate_map": {None: schema},
            "render_schema_translate": True,
        }
    compiled: Any = stmt.compile(dialect=dialect, **options)
    if compiled.positional:
        names = tuple(compiled.positiontup)
    else:
        names = tuple(dict.fromkeys(compiled.binds))
    constants = {
        name: bind.effective_value
        for name, bind in compiled.binds.items()
        if not bind.required
    }
    processors = {
        name: _fused(compiled.binds[name].type, dialect, proc)
        for name, proc in compiled._bind_processors.items()
        if name in names
    }
    literal: str | None = None
    if all(name in constants for name in names):
        inlined: Any = stmt.compile(
            dialect=dialect, compile_kwargs={"literal_binds": True}, **options
        )
        literal = inlined.string
    return DriverSql(
        text=compiled.string,
        names=names,
        positional=bool(compiled.positional),
        processors=processors,
        constants=constants,
        literal=literal,
    )


def _positional(dialect: Dialect) -> Dialect:
    """``dialect``, compiling ``%s`` placeholders where it would use ``%(name)s``.

    psycopg takes either; with a sequence it skips reordering a mapping by the
    query's names on every execution, and :meth:`DriverSql.parameters` skips
    building the mapping. Same SQL otherwise (``%`` is doubled in both styles).
    """
    if dialect.paramstyle != "pyformat":
        return dialect
    positional = copy.copy(dialect)
    positional.paramstyle = "format"
    positional.positional = True
    return positional


def build_driver_statements(
    sql: Statements, dialect: Dialect, schema: str | None
) -> DriverStatements:
    """Compile the transition statements of ``sql`` for ``dialect`` and ``schema``."""
    pg = dialect.name == "postgresql"
    dialect = _positional(dialect)
    return DriverStatements(
        request_doc=_driver_sql(sql.request_doc, dialect, schema),
        request_cas=_driver_sql(sql.request_cas, dialect, schema),
        request_cas_locking=(
            _driver_sql(sql.request_cas_locking, dialect, schema)
            if dialect.name == "postgresql"
            else None
        ),
        request_cas_slim=_driver_sql(sql.request_cas_slim, dialect, schema),
        request_cas_slim_locking=(
            _driver_sql(sql.request_cas_slim_locking, dialect, schema)
            if dialect.name == "postgresql"
            else None
        ),
        request_cas_dir=_driver_sql(
            sql.request_cas_dir_shared if pg else sql.request_cas_dir, dialect, schema
        ),
        request_cas_slim_dir=_driver_sql(
            sql.request_cas_slim_dir_shared if pg else sql.request_cas_slim_dir,
            dialect,
            schema,
        ),
        request_cas_dir_locking=(
            _driver_sql(sql.request_cas_dir_locking, dialect, schema) if pg else None
        ),
        request_cas_slim_dir_locking=(
            _driver_sql(sql.request_cas_slim_dir_locking, dialect, schema)
            if pg
            else None
        ),
        request_blind=_driver_sql(sql.request_blind, dialect, schema),
        directory_version=_driver_sql(sql.directory_version, dialect, schema),
        directory_version_shared=_driver_sql(
            sql.directory_version_shared, dialect, schema
        ),
        head_select_locked=_driver_sql(sql.head_select_locked, dialect, schema),
        head_advance=_driver_sql(sql.head_advance, dialect, schema),
        audit_insert=_driver_sql(sql.audit_insert, dialect, schema),
        audit_append=(
            _driver_sql(sql.audit_append, dialect, schema)
            if dialect.name == "postgresql"
            else None
        ),
    )
