"""Fast reads of the SQL audit table: raw driver cursors and cheap entry building.

The audit read paths (verify, history, query pages, exports) are dominated by
per-row overhead, not by the database: a SQLAlchemy ``Row`` per row and a validated
pydantic model per entry. This module keeps the SQL in SQLAlchemy (statements are
built and compiled by it, once per table and shape, every value a bound
parameter) and runs the compiled text on the driver's own cursor, then builds
entries with :func:`entries_from_rows`.
"""

from __future__ import annotations

import functools
import json
import marshal
import re
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from itertools import chain, repeat
from typing import TYPE_CHECKING, Any, Final, cast
from uuid import UUID

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy.dialects import sqlite

from ...chain import RAW_FIELDS, ledger_for
from ...models import AuditEntry
from ...vocabulary import AuditEvent, RequestKind
from .errors import translate
from .types import UtcDateTime

if TYPE_CHECKING:
    from sqlalchemy.sql.compiler import SQLCompiler

    from .store import SqlUnitOfWork

__all__ = [
    "entries_from_rows",
    "iter_raw_rows",
    "raw_statement",
    "request_states",
    "run_entries",
]

_FETCH: Final = 5000
"""Rows per round trip of PostgreSQL's server-side cursor (``itersize``)."""
_SQLITE_FETCH: Final = 100
"""Rows per ``fetchmany`` on SQLite (no round trips). The scan then reads each
batch while it is still in the CPU caches: on the 1M-entry benchmark a worker's
fetch and scan took about 17 % less CPU than with batches of 5000 (100 and 200
alike, 500 in between, 1000 like 5000)."""
_EVENT_OF: Final = {e.value: e for e in AuditEvent}
_KIND_OF: Final = {k.value: k for k in RequestKind}
_FIELDS: Final = frozenset(AuditEntry.model_fields)


@functools.lru_cache(maxsize=256)
def _literal_sql(
    stmt: sa.ClauseElement, dialect: sa.Dialect, schema: str | None
) -> str:
    """SQL text of a statement whose only values are the ledger bounds (ints)."""
    options: dict[str, Any] = {}
    if schema is not None:
        options = {
            "schema_translate_map": {None: schema},
            "render_schema_translate": True,
        }
    compiled = stmt.compile(
        dialect=dialect, compile_kwargs={"literal_binds": True}, **options
    )
    return str(compiled)


@functools.lru_cache(maxsize=64)
def raw_statement(
    table: sa.Table, is_sqlite: bool, ledgers: tuple[int, int] | None = None
) -> sa.Select[Any]:
    """The SELECT of :data:`~releaseflow.chain.RAW_FIELDS` in (ledger, seq) order.

    With ``ledgers=(lo, hi)``, of those ledgers only (small ints, rendered inline).
    """
    at_type: Any = sa.String() if is_sqlite else sa.DateTime()
    columns = [
        sa.type_coerce(table.c.at, at_type).label("at")
        if name == "at"
        else table.c[name]
        for name in RAW_FIELDS
    ]
    stmt = sa.select(*columns).order_by(table.c.ledger, table.c.seq)
    if ledgers is not None:
        lo, hi = (int(x) for x in ledgers)
        stmt = stmt.where(
            table.c.ledger >= sa.literal(lo, sa.Integer()),
            table.c.ledger <= sa.literal(hi, sa.Integer()),
        )
    return stmt


def iter_raw_rows(
    connection: sa.Connection,
    table: sa.Table,
    schema: str | None,
    ledgers: tuple[int, int] | None = None,
) -> Iterator[Sequence[Any]] | None:
    """Every audit row, straight from the driver; None where there is no raw path.

    Columns in :data:`~releaseflow.chain.RAW_FIELDS` order, rows in (ledger, seq)
    order, fetched in batches.

    Runs on the unit of work's own DBAPI connection, so inside its transaction (the
    same snapshot). SQLite uses a plain cursor (it steps rows lazily); PostgreSQL a
    server-side (named) cursor, so memory stays bounded on both.
    """
    dialect = connection.dialect
    if dialect.name not in ("sqlite", "postgresql"):
        return None
    is_sqlite = dialect.name == "sqlite"
    stmt = raw_statement(table, is_sqlite, ledgers)
    sql = _literal_sql(stmt, dialect, schema)
    with translate():
        driver = connection.connection.driver_connection
    return _stream(driver, sql, named=not is_sqlite)


def _stream(driver: Any, sql: str, *, named: bool) -> Iterator[Sequence[Any]]:
    # rows straight out of the fetched batches: no generator frame per row
    return chain.from_iterable(_batches(driver, sql, named=named))


def _batches(driver: Any, sql: str, *, named: bool) -> Iterator[list[Sequence[Any]]]:
    with translate():
        cursor = (
            driver.cursor(name="releaseflow_audit_raw") if named else (driver.cursor())
        )
    try:
        with translate():
            if named:
                cursor.itersize = _FETCH
            cursor.execute(sql)
        size = _FETCH if named else _SQLITE_FETCH
        while True:
            with translate():
                rows = cursor.fetchmany(size)
            if not rows:
                return
            yield rows
    finally:
        with translate():
            cursor.close()


# -- entries without validation ------------------------------------------------

_ORDER: Final = tuple(AuditEntry.model_fields)
_UUID_TEXT: Final = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
)
_SQLITE_AT: Final = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}"
)
"""The form of SQLite's ``at`` text that is read without validation (documents
:func:`_sqlite_at`, which accepts exactly these; pinned by tests)."""
_AT_MARKS: Final = "-- ::."
"""``at[4:20:3]`` of SQLite's ``at`` text: the separators at 4, 7, 10, 13, 16, 19."""
_AT_MARKED: Final = slice(4, 20, 3)
"""The slice of :data:`_AT_MARKS` (made once: ``at[4:20:3]`` builds it per use)."""
_INTS: Final = ("ledger", "seq", "canon_version")
_TEXTS: Final = ("actor", "prev_hash", "hash", "hash_alg")
_OPTIONAL_TEXTS: Final = ("unit", "from_state", "to_state", "trigger", "content_hash")
_set = object.__setattr__
# What BaseModel.model_construct sets on an instance, without its per-field loop
# (which costs as much as validating): checked against model_validate in tests.
_DIRECT = (
    not AuditEntry.__pydantic_root_model__
    and AuditEntry.__pydantic_post_init__ is None
    and not AuditEntry.__private_attributes__
)


def _construct(values: dict[str, Any]) -> AuditEntry:
    if not _DIRECT:  # pragma: no cover - a pydantic or model change
        return AuditEntry.model_construct(**values)
    entry = AuditEntry.__new__(AuditEntry)
    _set(entry, "__dict__", values)
    _set(entry, "__pydantic_fields_set__", set(_ORDER))
    _set(entry, "__pydantic_extra__", None)
    _set(entry, "__pydantic_private__", None)
    return entry


@functools.lru_cache(maxsize=1024)
def _roles(text: str) -> tuple[str, ...] | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if type(value) is not list or any(type(r) is not str for r in value):
        return None
    return tuple(value)


_FLAT: Final = (str, int, bool, type(None))
_payloads: dict[str, dict[str, Any]] = {}
_packed: dict[str, bytes] = {}
_CACHE_MAX: Final = 4096
_unpack: Final = marshal.loads


def _payload(text: str) -> Any:
    """``json.loads(text)``, from a cache for small objects.

    Every entry owns its payload: a flat object (immutable values) is copied out
    of the cache; a nested one is cached in ``marshal`` form (which holds exactly
    JSON's types, in order) and rebuilt from it, a quarter of ``json.loads``'s
    cost.
    """
    found = _payloads.get(text)
    if found is not None:
        return dict(found)
    packed = _packed.get(text)
    if packed is not None:
        return _unpack(packed)
    value = json.loads(text)
    if type(value) is dict and len(text) <= 512:
        if len(_payloads) + len(_packed) >= _CACHE_MAX:
            _payloads.clear()
            _packed.clear()
        if all(type(v) in _FLAT for v in value.values()):
            _payloads[text] = dict(value)
        else:
            _packed[text] = marshal.dumps(value)
    return value


@functools.lru_cache(maxsize=4096)
def _uuid(text: str) -> UUID | None:
    """A request id's UUID (immutable, so shared); None unless canonical text."""
    if _UUID_TEXT.fullmatch(text) is None:
        return None
    return UUID(text)


def _sqlite_at(text: str) -> datetime | None:
    """SQLite's ``at`` text as an aware UTC datetime; None unless :data:`_SQLITE_AT`.

    Checks the length, the separators and ASCII instead of the regex (a third of
    its cost): ``fromisoformat`` itself rejects every other character where a
    digit belongs, so exactly the regex's strings parse (pinned by tests, which
    compare with the regex). :func:`_shells` inlines the same checks.
    """
    if len(text) != 26 or text[4:20:3] != _AT_MARKS or not text.isascii():
        return None
    try:  # parsing "+00:00" gives UTC itself, faster than .replace(tzinfo=)
        return _fromiso(text + "+00:00")
    except ValueError:
        return None


def _time(value: Any, at_processor: Any) -> datetime | None:
    """``at`` as the validating path would see it, or None when unusual."""
    kind = type(value)
    if kind is str:  # SQLite text from the raw driver
        return _sqlite_at(value)
    if kind is not datetime:
        return None
    stamp: datetime = value
    if stamp.tzinfo is None:  # the driver's naive UTC
        return _combine(stamp, stamp.time(), UTC)  # stamp.replace(tzinfo=UTC)
    if stamp.tzinfo is UTC and at_processor is None:  # already through UtcDateTime
        return stamp
    return None


def entries_from_rows(
    keys: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    at_processor: Any = None,
) -> list[AuditEntry]:
    """Audit rows (columns named ``keys``) read as entries.

    Rows read from our own audit table are built without validation when every
    value already has the exact type validation would give it (then validation
    would return the very same values). That is safe for this table: its rows are
    written only by ``SqlAudit.append`` from validated entries, and their content
    is vouched for by the hash chain (``flow.audit.verify``), not by the model.
    Any row that does not read plainly -- an unknown event, an odd time, text
    where a number belongs, roles that are not a list of text, a payload that is
    not an object -- is validated exactly as before, so it reads (or fails) the
    same. ``at_processor`` is the column type's result processor, applied to
    ``at`` on that validating path when rows come from the raw driver.
    """
    loads = json.loads
    validate = AuditEntry.model_validate
    ordered = keys is _ORDER or tuple(keys) == _ORDER
    if ordered and _DIRECT:
        rows = rows if isinstance(rows, list) else list(rows)
        shells, plain = _shells(rows, at_processor)
        if plain:
            return _finish_all(shells)  # type: ignore[arg-type]  # no None in it
        quick = [None if e is None else _finish(e) for e in shells]
    else:
        quick = []
    out: list[AuditEntry] = []
    append = out.append
    for index, row in enumerate(rows):
        if quick:
            entry = quick[index]
            if entry is not None:
                append(entry)
                continue
        m = dict(zip(keys, row, strict=True))
        if not ordered:
            m = {k: m[k] for k in _ORDER}
        try:
            plain = _plain(m, at_processor)
        except (ValueError, TypeError, RecursionError):
            plain = False
        if plain:
            append(_construct(m))
            continue
        m = dict(zip(keys, row, strict=True))
        if at_processor is not None:
            m["at"] = at_processor(m["at"])
        roles = loads(m["roles"])  # as queries.row_entries reads it
        m["roles"] = tuple(roles) if isinstance(roles, list) else roles
        m["payload"] = loads(m["payload"])
        append(validate(m))
    return out


_FIELDS_SET: Final[set[str]] = set(_ORDER)  # copied: each entry owns its set
_fromiso: Final = datetime.fromisoformat
_combine: Final = datetime.combine
"""``combine(stamp, stamp.time(), tz)`` is ``stamp.replace(tzinfo=tz)`` for a naive
datetime (time's fold kept), a seventh of its cost (no keyword parsing)."""


# Column types of a plain row in model field order: exact types (a bool is not
# an int), None where the column may be NULL; ``at`` is checked per row.
_NONE: Final = type(None)
_SHAPE: Final[tuple[tuple[type, ...], ...]] = (
    (int,),  # ledger
    (int,),  # seq
    (str,),  # event
    (str, _NONE),  # request_id
    (int, _NONE),  # request_version
    (str, _NONE),  # request_kind
    (str, _NONE),  # unit
    (str, _NONE),  # from_state
    (str, _NONE),  # to_state
    (str, _NONE),  # trigger
    (str,),  # actor
    (str,),  # roles (JSON text)
    (str, datetime),  # at
    (str,),  # payload (JSON text)
    (str, _NONE),  # content_hash
    (str,),  # prev_hash
    (str,),  # hash
    (int,),  # canon_version
    (str,),  # hash_alg
)
_SHAPES: dict[tuple[type, ...], bool] = {}


def _learn_shape(shape: tuple[type, ...]) -> bool:
    """Whether a row of these column types may be read plainly (remembered)."""
    fits = len(shape) == len(_SHAPE) and all(
        t in allowed for t, allowed in zip(shape, _SHAPE, strict=True)
    )
    if len(_SHAPES) < 1024:  # at most 2**8 * 2 plain shapes; bounded regardless
        _SHAPES[shape] = fits
    return fits


def _quick(row: Sequence[Any], at_processor: Any) -> AuditEntry | None:
    """:func:`_plain` and :func:`_construct` of one row in model field order.

    None when the row is unusual or is not 19 columns long (the caller takes the
    general path); see :func:`_quick_rows`.
    """
    return _quick_rows((row,), at_processor)[0]


_uuids: dict[str | None, UUID | None] = {None: None}
"""Request ids read before: canonical UUID text to its (immutable) UUID, and
None to None; filled by :func:`_slow_values`, emptied when it grows too big."""
_role_tuples: dict[str, tuple[str, ...]] = {}
"""Roles texts read before that are lists of text: text to tuple (immutable)."""
_KIND_OR_NONE: Final[dict[str | None, RequestKind | None]] = {
    None: None,
    **{k.value: k for k in RequestKind},
}
"""A request kind's text to the kind, and None (no kind) to None."""


def _quick_rows(
    rows: Iterable[Sequence[Any]], at_processor: Any
) -> list[AuditEntry | None]:
    """:func:`_plain` and :func:`_construct` of each row.

    None in place of a row that is unusual or is not 19 columns long. The
    entries are made after the loop, each step over all of them at once (C
    loops: no Python call per entry and step).
    """
    shells, plain = _shells(rows, at_processor)
    if not plain:
        return [None if e is None else _finish(e) for e in shells]
    return _finish_all(shells)  # type: ignore[arg-type, return-value]  # no None


def _finish_all(shells: list[AuditEntry]) -> list[AuditEntry]:
    """:func:`_finish` of each, a step at a time over all of them (C loops)."""
    count = len(shells)
    # each setter returns None: any() runs the map to its end, in C
    any(map(_set_fields, shells, map(_copy_set, repeat(_FIELDS_SET, count))))
    any(map(_set_extra, shells, repeat(None, count)))
    any(map(_set_private, shells, repeat(None, count)))
    return shells


def _finish(shell: AuditEntry) -> AuditEntry:
    """The entry of a shell of :func:`_shells`.

    What ``model_construct`` sets besides the fields (checked against
    ``model_validate`` in tests).
    """
    _set_fields(shell, _FIELDS_SET.copy())
    _set_extra(shell, None)
    _set_private(shell, None)
    return shell


def _shells(
    rows: Iterable[Sequence[Any]], at_processor: Any, fill: bool = True
) -> tuple[list[AuditEntry | None], bool]:
    """The entry shell of each row (None: unusual), and whether none was.

    A shell is a new ``AuditEntry`` whose ``__dict__`` holds the row's
    validated values, in field order, and nothing else yet: :func:`_finish`
    makes it an entry (it never leaves this module unfinished). Its ``__dict__``
    is the one Python makes on first use (``vars()``), filled key by key: the
    same plain dict, but Python may share its keys with the class's other
    instances (a third smaller than a dict of its own: cheaper to make).

    A row is plain when its columns have the exact types of :data:`_SHAPE`:
    those kept as they are checked inline, one ``type()`` each; the event,
    kind, request id, roles and payload by looking them up in dicts of values
    seen before (text keys; a subscript in a ``try``: no call per value), which
    :func:`_slow_values` fills from every row one of them misses, checking the
    row's whole shape first (with ``fill`` False such a row is None).
    """
    event_of = _EVENT_OF
    kind_of = _KIND_OR_NONE
    uuids = _uuids
    roles_of = _role_tuples
    payloads = _payloads
    marks = _AT_MARKS
    marked = _AT_MARKED
    utc = "+00:00"
    fromiso = _fromiso
    combine = _combine
    utc_zone = UTC
    slow = _slow_values
    new = _new
    entry_type = AuditEntry
    dict_of = _dict_of
    plain = True
    out: list[AuditEntry | None] = []
    append = out.append
    text = str
    number = int
    stamp_type = datetime
    for row in rows:
        try:
            (
                ledger,
                seq,
                event,
                rid,
                version,
                kind,
                unit,
                from_state,
                to_state,
                trigger,
                actor,
                roles_text,
                at,
                payload_text,
                content_hash,
                prev_hash,
                hash_,
                canon_version,
                hash_alg,
            ) = row
        except ValueError:  # not 19 columns
            append(None)
            plain = False
            continue
        # the exact types of the columns kept as they are (_SHAPE): one check
        # each, inline (the looked-up columns below are checked by the lookups,
        # ``at`` and the payload by their own branches)
        if not (
            type(ledger) is number
            and type(seq) is number
            and type(actor) is text
            and type(prev_hash) is text
            and type(hash_) is text
            and type(canon_version) is number
            and type(hash_alg) is text
            and (version is None or type(version) is number)
            and (unit is None or type(unit) is text)
            and (from_state is None or type(from_state) is text)
            and (to_state is None or type(to_state) is text)
            and (trigger is None or type(trigger) is text)
            and (content_hash is None or type(content_hash) is text)
        ):
            append(None)
            plain = False
            continue
        try:
            event = event_of[event]
            kind = kind_of[kind]
            rid = uuids[rid]
            roles = roles_of[roles_text]
            payload = payloads.get(payload_text)  # a hit: the text is text
        except (KeyError, TypeError):  # a value not seen before, or unusual
            found = slow(row, at_processor) if fill else None
            if found is None:
                plain = False
            append(found)
            continue
        kind_of_at = type(at)
        if kind_of_at is text:  # SQLite text from the raw driver: _sqlite_at inlined
            if len(at) != 26 or at[marked] != marks or not at.isascii():
                append(None)
                plain = False
                continue
            try:  # parsing "+00:00" gives UTC itself, faster than .replace(tzinfo=)
                at = fromiso(at + utc)
            except ValueError:
                append(None)
                plain = False
                continue
        elif kind_of_at is not stamp_type:
            append(None)
            plain = False
            continue
        elif at.tzinfo is None:  # the driver's naive UTC
            # at.replace(tzinfo=UTC) (fold and all), without its argument parsing
            at = combine(at, at.time(), utc_zone)
        else:
            at = _time(at, at_processor)
            if at is None:
                append(None)
                plain = False
                continue
        if payload is not None:
            payload = payload.copy()  # each entry owns its dict
        elif type(payload_text) is not text:
            append(None)
            plain = False
            continue
        else:
            try:
                payload = _payload(payload_text)
            except (ValueError, TypeError, RecursionError):
                payload = None
            if type(payload) is not dict:
                append(None)
                plain = False
                continue
        entry = new(entry_type)
        values = dict_of(entry)  # made empty on first use, filled in field order
        values["ledger"] = ledger
        values["seq"] = seq
        values["event"] = event
        values["request_id"] = rid
        values["request_version"] = version
        values["request_kind"] = kind
        values["unit"] = unit
        values["from_state"] = from_state
        values["to_state"] = to_state
        values["trigger"] = trigger
        values["actor"] = actor
        values["roles"] = roles
        values["at"] = at
        values["payload"] = payload
        values["content_hash"] = content_hash
        values["prev_hash"] = prev_hash
        values["hash"] = hash_
        values["canon_version"] = canon_version
        values["hash_alg"] = hash_alg
        append(entry)
    return out, plain


def _slow_values(row: Sequence[Any], at_processor: Any) -> AuditEntry | None:
    """:func:`_shells` of one row, filling its value dicts.

    None unless the row's column types are plain (:data:`_SHAPE`). The event,
    kind, request id and roles are each looked up with a check (the
    request id's UUID and the roles' tuple remembered when they read plainly);
    None when one of them is unusual.
    """
    shape = tuple(map(type, row))
    fits = _SHAPES.get(shape)
    if fits is None:
        fits = _learn_shape(shape)
    if not fits:
        return None
    event = _EVENT_OF.get(row[2])
    kind = row[5]
    if event is None or (kind is not None and kind not in _KIND_OF):
        return None
    rid = row[3]
    if rid is not None and rid not in _uuids:
        found = _uuid(rid)
        if found is None:
            return None
        if len(_uuids) >= _CACHE_MAX:
            _uuids.clear()
        _uuids[rid] = found
    _uuids[None] = None
    roles_text = row[11]
    if roles_text not in _role_tuples:
        try:
            roles = _roles(roles_text)
        except RecursionError:  # deeply nested JSON: validation decides
            return None
        if roles is None:
            return None
        if len(_role_tuples) >= _CACHE_MAX:
            _role_tuples.clear()
        _role_tuples[roles_text] = roles
    shells, plain = _shells((row,), at_processor, fill=False)
    return shells[0] if plain else None


# BaseModel's own slots, set through their descriptors (what object.__setattr__
# finds by name, without the lookup): checked against model_validate in tests
_new: Final = object.__new__
_dict_of: Final = BaseModel.__dict__["__dict__"].__get__
_set_fields: Final = BaseModel.__dict__["__pydantic_fields_set__"].__set__
_set_extra: Final = BaseModel.__dict__["__pydantic_extra__"].__set__
_set_private: Final = BaseModel.__dict__["__pydantic_private__"].__set__
_copy_set: Final = set.copy


def _plain(m: dict[str, Any], at_processor: Any) -> bool:
    """Turn ``m`` into the validated values in place; False when it is unusual."""
    event = _EVENT_OF.get(m["event"])
    kind = m["request_kind"]
    if kind is not None:
        kind = _KIND_OF.get(kind)
        if kind is None:
            return False
    at = _time(m["at"], at_processor)
    roles_text, payload_text, rid = m["roles"], m["payload"], m["request_id"]
    if (
        event is None
        or at is None
        or type(roles_text) is not str
        or type(payload_text) is not str
    ):
        return False
    roles = _roles(roles_text)
    payload = _payload(payload_text)
    if roles is None or type(payload) is not dict:
        return False
    if rid is not None:
        if type(rid) is not str:
            return False
        rid = _uuid(rid)
        if rid is None:
            return False
    for name in _INTS:
        if type(m[name]) is not int:
            return False
    version = m["request_version"]
    if version is not None and type(version) is not int:
        return False
    for name in _TEXTS:
        if type(m[name]) is not str:
            return False
    for name in _OPTIONAL_TEXTS:
        value = m[name]
        if value is not None and type(value) is not str:
            return False
    m["event"] = event
    m["request_kind"] = kind
    m["at"] = at
    m["roles"] = roles
    m["payload"] = payload
    m["request_id"] = rid
    return True


# -- statements run on the driver's cursor --------------------------------------


class _Prepared:
    """A statement compiled for the driver's cursor, and how to read its rows."""

    __slots__ = ("at_processor", "fixed", "keys", "names", "processors", "sql")

    def __init__(
        self,
        sql: str,
        names: tuple[str, ...] | None,
        processors: dict[str, Any],
        fixed: dict[str, Any],
        at_processor: Any,
    ) -> None:
        self.sql = sql
        self.names = names
        self.processors = processors
        self.fixed = fixed
        self.at_processor = at_processor
        self.keys: tuple[str, ...] | None = None
        """The column names, once a run has read them from the cursor."""

    def args(self, params: dict[str, Any]) -> Any:
        """The driver's parameters: values processed as SQLAlchemy would."""
        values = params.copy()
        for name, process in self.processors.items():
            value = values.get(name)
            if value is not None:
                values[name] = process(value)
        values.update(self.fixed)
        names = self.names
        return values if names is None else tuple(map(values.__getitem__, names))


@functools.lru_cache(maxsize=256)
def _prepared(
    stmt: sa.ClauseElement, table: sa.Table, dialect: sa.Dialect, schema: str | None
) -> _Prepared | None:
    options: dict[str, Any] = {}
    if schema is not None:
        options = {
            "schema_translate_map": {None: schema},
            "render_schema_translate": True,
        }
    compiled = cast("SQLCompiler", stmt.compile(dialect=dialect, **options))
    # the bind processors SQLAlchemy would apply (UtcDateTime, SQLite's datetime
    # text); without them the raw path is not taken
    processors = getattr(compiled, "_bind_processors", None)
    if not isinstance(processors, dict) or (
        compiled.positiontup is None
        and (dialect.paramstyle not in ("pyformat", "named"))
    ):
        return None
    names = compiled.positiontup
    # values SQLAlchemy fills in itself (e.g. SQLite's OFFSET beside a LIMIT)
    fixed = {
        name: bind.value
        for name, bind in compiled.binds.items()
        if not bind.required and bind.callable is None
    }
    fixed = {k: processors[k](v) if k in processors else v for k, v in fixed.items()}
    processors = {
        name: _utc_text
        if _is_sqlite_utc(compiled.binds[name].type, dialect)
        else process
        for name, process in processors.items()
    }
    return _Prepared(
        str(compiled),
        None if names is None else tuple(names),
        processors,
        fixed,
        _at_processor(table, dialect),
    )


_SQLITE_DATETIME_FORMAT: Final = (
    "%(year)04d-%(month)02d-%(day)02d %(hour)02d:%(minute)02d:%(second)02d"
    ".%(microsecond)06d"
)
"""SQLAlchemy's default storage format of SQLite datetimes (what
:func:`_utc_text` writes)."""


def _is_sqlite_utc(kind: Any, dialect: sa.Dialect) -> bool:
    """Whether a bind of type ``kind`` may use :func:`_utc_text` on ``dialect``.

    A :class:`~.types.UtcDateTime` on SQLite whose datetime is stored in the
    default format (the tables' own type; anything else keeps SQLAlchemy's
    processor).
    """
    if type(kind) is not UtcDateTime or dialect.name != "sqlite":
        return False
    impl = kind.load_dialect_impl(dialect)
    return (
        type(impl) is sqlite.DATETIME
        and getattr(impl, "_storage_format", None) == _SQLITE_DATETIME_FORMAT
    )


def _utc_text(value: datetime) -> str:
    """SQLAlchemy's bind processing of an aware datetime for a SQLite UtcDateTime.

    ``UtcDateTime.process_bind_param`` (refuse naive, convert to naive UTC) and
    then SQLite's ``DATETIME`` text in its default format, which for a datetime
    is its ISO form with a space and six fraction digits (pinned by tests
    against SQLAlchemy's own processor), without building the format's dict.
    """
    utc_given = value.tzinfo is UTC and type(value) is datetime
    if utc_given:
        known = _utc_texts.get(value)
        if known is not None:
            return known
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("naive datetime given to a UTC column")
    utc = value.astimezone(UTC)
    # str() of the naive datetime is its ISO form with a space; it leaves out a
    # zero fraction (replace() and isoformat()'s arguments cost more than this)
    text = str(_combine(utc, utc.time()))
    if len(text) != 26:
        text += ".000000"
    if utc_given:
        if len(_utc_texts) >= _CACHE_MAX:
            _utc_texts.clear()
        _utc_texts[value] = text
    return text


_utc_texts: dict[datetime, str] = {}
""":func:`_utc_text` of datetimes in ``UTC`` itself (exactly ``datetime``), by
value: two such datetimes are equal exactly when their fields are (``fold``
aside, which UTC ignores), so equal ones have the same text. A query's bounds
are converted for every page of it; emptied when it grows too big."""


def run_entries(
    uow: SqlUnitOfWork,
    table: sa.Table,
    stmt: sa.Select[Any],
    params: dict[str, Any],
) -> list[AuditEntry]:
    """Run a SELECT of whole audit rows in ``uow`` and read them as entries.

    On SQLite and PostgreSQL the statement is compiled once per shape (every value
    a bound parameter, the store's schema rendered in) and its SQL text run,
    values processed as SQLAlchemy would: on the DB-API cursor through the unit
    of work's ``fast_select`` (which answers None when cursor-execute listeners
    must see the statement), else with ``exec_driver_sql``. Elsewhere it runs
    through SQLAlchemy in full. The fast path never asks the unit of work for a
    SQLAlchemy ``Connection`` (a ``read_once`` unit of work may hold only a DB-API
    connection). The caller wraps driver errors (``translate``).
    """
    store = uow.store
    dialect = store.engine.dialect
    prepared = (
        _prepared(stmt, table, dialect, store.schema)
        if dialect.name in ("sqlite", "postgresql")
        else None
    )
    if prepared is None:
        result = uow.connection.execute(stmt, params)
        return entries_from_rows(list(result.keys()), result.all())
    args = prepared.args(params)
    found = uow.fast_select(prepared.sql, args, names=prepared.keys)
    if found is not None:
        keys, rows = found
        if prepared.keys is None:
            # the text fixes them: every statement here selects the audit table's
            # columns by name (reading the cursor's description costs an object
            # per column on psycopg)
            prepared.keys = _ORDER if tuple(keys) == _ORDER else tuple(keys)
        return entries_from_rows(keys, rows, at_processor=prepared.at_processor)
    # exec_driver_sql: no compilation or result processing, but still SQLAlchemy's
    # execution (its events fire, e.g. before_cursor_execute; errors are wrapped)
    result = uow.connection.exec_driver_sql(prepared.sql, args)
    return entries_from_rows(
        list(result.keys()), result.fetchall(), at_processor=prepared.at_processor
    )


@functools.lru_cache(maxsize=64)
def _at_processor(table: sa.Table, dialect: sa.Dialect) -> Any:
    """The result processor of ``table.c.at`` on ``dialect`` (None: values as-is)."""
    return table.c.at.type.dialect_impl(dialect).result_processor(dialect, None)


# -- request states of some ledgers (parallel verify) ---------------------------


def request_states(
    connection: sa.Connection,
    requests: sa.Table,
    ledgers: tuple[int, int],
    ledger_count: int,
    read: Any,
    schema: str | None = None,
) -> Iterator[tuple[Any, str, int, str, str]]:
    """``read(doc)`` of every request whose ledger is in ``lo..hi``, in id order.

    Ids are read first (small), and only the documents of the wanted requests are
    fetched (bounded batches), all inside the caller's transaction. On SQLite the
    statements run on the driver's own cursor and the documents are fetched as
    their UTF-8 bytes (``read`` parses JSON bytes as it parses text; bytes that
    are not UTF-8 fail to parse there, as the text fails to decode here).
    """
    lo, hi = ledgers
    if connection.dialect.name == "sqlite":
        yield from _sqlite_request_states(
            connection, requests, ledgers, ledger_count, read, schema
        )
        return
    ids = connection.execute(sa.select(requests.c.id).order_by(requests.c.id))
    wanted = [rid for (rid,) in ids if lo <= ledger_for(str(rid), ledger_count) <= hi]
    stmt = sa.select(requests.c.id, requests.c.doc).where(
        requests.c.id.in_(sa.bindparam("ids", expanding=True))
    )
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        docs = dict(connection.execute(stmt, {"ids": chunk}).all())
        for rid in chunk:
            yield read(docs[rid])


_DOC_BATCH: Final = 500


@functools.lru_cache(maxsize=16)
def _doc_statement(
    requests: sa.Table, dialect: sa.Dialect, schema: str | None, count: int
) -> str:
    """SQLite: ``SELECT id, CAST(doc AS BLOB)`` of ``count`` ids (``?`` each)."""
    stmt = sa.select(
        requests.c.id, sa.cast(requests.c.doc, sa.LargeBinary()).label("doc")
    ).where(requests.c.id.in_([sa.bindparam(f"id{i}") for i in range(count)]))
    options: dict[str, Any] = {}
    if schema is not None:
        options = {
            "schema_translate_map": {None: schema},
            "render_schema_translate": True,
        }
    compiled = stmt.compile(dialect=dialect, **options)
    assert compiled.positiontup == [f"id{i}" for i in range(count)]
    return str(compiled)


def _sqlite_request_states(
    connection: sa.Connection,
    requests: sa.Table,
    ledgers: tuple[int, int],
    ledger_count: int,
    read: Any,
    schema: str | None,
) -> Iterator[tuple[Any, str, int, str, str]]:
    """:func:`request_states` on SQLite's own cursor (same rows, same order)."""
    lo, hi = ledgers
    dialect = connection.dialect
    ids_sql = _literal_sql(
        sa.select(requests.c.id).order_by(requests.c.id), dialect, schema
    )
    ledger_of = ledger_for.__wrapped__  # one call per id: the cache would only churn
    with translate():
        driver: Any = connection.connection.driver_connection
        cursor = driver.cursor()
    try:
        with translate():
            cursor.execute(ids_sql)
            wanted = [  # streamed: only the wanted ids are kept
                rid
                for (rid,) in cursor
                if lo
                <= ledger_of(rid if type(rid) is str else str(rid), ledger_count)
                <= hi
            ]
        for start in range(0, len(wanted), _DOC_BATCH):
            chunk = wanted[start : start + _DOC_BATCH]
            with translate():
                cursor.execute(
                    _doc_statement(requests, dialect, schema, len(chunk)), chunk
                )
                docs = dict(cursor.fetchall())
            for rid in chunk:
                yield read(docs[rid])
    finally:
        with translate():
            cursor.close()
