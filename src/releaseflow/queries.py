"""Audit-log queries: the filter model, keyset cursors and the reference matcher.

A query is an :class:`AuditQuery` (filters from an allow-list, one ordering) plus a
page size and an opaque cursor. Pages are **keyset** pages: each page starts strictly
after the sort key of the previous page's last entry, never at an offset, so an
entry that existed when the first page was read appears exactly once however many
entries are appended between pages.

Orderings (both total, so no two entries tie):

* ``"time"``: by ``(at, ledger, seq)``;
* ``"sequence"``: by ``(ledger, seq)``, the order the chain is verified in.

Text filters match **literally and exactly** (no wildcards); a backend that
implements them with ``LIKE`` escapes ``%`` and ``_``. :func:`matches` is the
reference semantics every backend must agree with; :func:`select_page` applies it to
any stream of entries with memory bounded by the page size; :func:`sql_query` is the
SQL implementation (bound parameters only).
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import heapq
import json
import operator
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, Final, Literal
from uuid import UUID

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict

from .canonical import canonical_bytes, format_timestamp
from .exceptions import ValidationError
from .models import AuditEntry, UnitPath, parse
from .text import canonical_actor_id, clean_text
from .vocabulary import AuditEvent, RefusalGround, RequestKind

if TYPE_CHECKING:
    import sqlalchemy as sa

__all__ = [
    "AUDIT_FILTERS",
    "MAX_LIMIT",
    "AuditCursor",
    "AuditPage",
    "AuditQuery",
    "decode_cursor",
    "encode_cursor",
    "like_literal",
    "make_query",
    "matches",
    "select_page",
    "sort_key",
    "sql_query",
    "sql_statement",
    "validate_limit",
]

#: The largest page a query returns.
MAX_LIMIT: Final = 1000
#: The longest text filter value accepted.
MAX_FILTER_TEXT: Final = 200
_MAX_CURSOR: Final = 512
_CURSOR_RE: Final = re.compile(r"^[A-Za-z0-9_-]+\.[0-9a-f]{16}$")
_MAX_SEQ: Final = 2**63 - 1
_MAX_LEDGER: Final = 2**31 - 1

Order = Literal["time", "sequence"]


def _filter_text(value: str) -> str:
    text = clean_text(value, field="filter", max_length=MAX_FILTER_TEXT)
    if not text:
        raise ValueError("must not be empty")
    return text


def _actor(value: str) -> str:
    text = _filter_text(value)
    try:
        return canonical_actor_id(text)
    except ValidationError:
        return text  # not a valid id: matched literally, so it matches nothing


#: A text filter: NFC, no control characters, 1-200 characters, matched exactly.
FilterText = Annotated[str, AfterValidator(_filter_text)]
#: An actor filter: canonicalised like stored actor ids when it is a valid id.
ActorFilter = Annotated[str, AfterValidator(_actor)]


class AuditQuery(BaseModel):
    """Which audit entries to return, and in which order.

    Every filter is optional; given filters combine with AND. ``unit`` matches the
    unit and (with ``include_subunits``) every unit below it. ``since`` is
    inclusive and ``until`` exclusive; both must be timezone-aware. ``role``
    matches an entry whose ``roles`` contain it; ``ground`` matches a refusal
    under that ground or a classification citing it.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    request_id: UUID | None = None
    kind: RequestKind | None = None
    actor: ActorFilter | None = None
    role: FilterText | None = None
    trigger: FilterText | None = None
    event: AuditEvent | None = None
    from_state: FilterText | None = None
    to_state: FilterText | None = None
    ground: RefusalGround | None = None
    unit: UnitPath | None = None
    include_subunits: bool = True
    since: AwareDatetime | None = None
    until: AwareDatetime | None = None
    order: Order = "time"
    scope: tuple[UnitPath, ...] | None = None
    """Set by the service for an actor's read access, never by callers: only
    entries under one of these units (or with no unit) are returned."""

    def fingerprint(self) -> str:
        """A short digest of the query (binds a cursor to the query it came from)."""
        # keyed by the JSON text of the query (what model_dump(mode="json") holds,
        # faithfully encoded): every page and cursor of one query digests it.
        # The serializer's own to_json is model_dump_json() without its Python
        # wrapper (the same bytes: pinned by tests)
        return _fingerprint(self.__pydantic_serializer__.to_json(self).decode())


@functools.lru_cache(maxsize=1024)
def _fingerprint(dumped: str) -> str:
    """:meth:`AuditQuery.fingerprint` of a query whose JSON text is ``dumped``."""
    plain = json.loads(dumped)
    return hashlib.sha256(canonical_bytes(plain)).hexdigest()[:16]


#: The filters callers may pass (``scope`` is set by the service only).
AUDIT_FILTERS: Final = tuple(
    name for name in AuditQuery.model_fields if name != "scope"
)
_FILTER_NAMES: Final = frozenset(AUDIT_FILTERS)


class AuditPage(BaseModel):
    """One page of query results and the cursor of the next page (None at the end)."""

    model_config = ConfigDict(frozen=True)

    entries: list[AuditEntry]
    next_cursor: str | None = None


_new: Final = object.__new__
_set: Final = object.__setattr__


def page_of_entries(entries: list[AuditEntry], next_cursor: str | None) -> AuditPage:
    """``AuditPage(entries=entries, next_cursor=next_cursor)`` without validation.

    Only for a fresh list whose items are ``AuditEntry`` instances already (a
    backend's ``exact_entries``): validation would keep each instance as it is
    and copy the list, so the page is the same (pinned by tests) -- fields,
    fields set, no extra and no private values.
    """
    page = _new(AuditPage)
    _set(page, "__dict__", {"entries": entries, "next_cursor": next_cursor})
    _set(page, "__pydantic_fields_set__", {"entries", "next_cursor"})
    _set(page, "__pydantic_extra__", None)
    _set(page, "__pydantic_private__", None)
    return page


@dataclass(frozen=True, order=True)
class AuditCursor:
    """A position in one ordering: the sort key of the last entry already returned."""

    at: datetime | None
    ledger: int
    seq: int

    def key(self, order: Order) -> tuple[Any, ...]:
        """The sort key this cursor stands for under ``order``."""
        if order == "time":
            return (self.at, self.ledger, self.seq)
        return (self.ledger, self.seq)


def make_query(filters: dict[str, Any]) -> AuditQuery:
    """Validate keyword filters into an :class:`AuditQuery`.

    Raises:
        ValidationError: naming an unknown filter, or the first bad value.
    """
    unknown = sorted(filters.keys() - _FILTER_NAMES)
    if unknown:
        raise ValidationError(
            f"unknown audit filter {unknown[0]!r}; allowed: {', '.join(AUDIT_FILTERS)}",
            field=unknown[0],
            rule="unknown_filter",
        )
    query = parse(AuditQuery, {k: v for k, v in filters.items() if v is not None})
    if query.since and query.until and query.since >= query.until:
        raise ValidationError(
            "since must be before until", field="since", rule="time_range"
        )
    return query


def validate_limit(limit: object) -> int:
    """Return ``limit`` if it is an int in 1..:data:`MAX_LIMIT`.

    Raises:
        ValidationError: for anything else (negative, zero, huge, not an int).
    """
    if type(limit) is not int or not 1 <= limit <= MAX_LIMIT:
        raise ValidationError(
            f"limit must be an integer from 1 to {MAX_LIMIT}",
            field="limit",
            rule="limit",
        )
    return limit


# -- reference semantics ------------------------------------------------------


def _under(unit: str | None, root: str, subunits: bool = True) -> bool:
    if unit is None:
        return False
    return unit == root or (subunits and unit.startswith(root + "/"))


def _cites_ground(entry: AuditEntry, ground: str) -> bool:
    if entry.payload.get("ground") == ground:
        return True
    grounds = entry.payload.get("grounds")
    return (
        entry.event is AuditEvent.CLASSIFIED
        and isinstance(grounds, list)
        and ground in grounds
    )


def matches(entry: AuditEntry, query: AuditQuery) -> bool:
    """Whether ``entry`` passes every filter of ``query`` (the reference semantics)."""
    q = query
    checks = (
        q.request_id is None or entry.request_id == q.request_id,
        q.kind is None or entry.request_kind is q.kind,
        q.actor is None or entry.actor == q.actor,
        q.role is None or q.role in entry.roles,
        q.trigger is None or entry.trigger == q.trigger,
        q.event is None or entry.event is q.event,
        q.from_state is None or entry.from_state == q.from_state,
        q.to_state is None or entry.to_state == q.to_state,
        q.unit is None or _under(entry.unit, q.unit, q.include_subunits),
        q.since is None or entry.at >= q.since,
        q.until is None or entry.at < q.until,
    )
    if not all(checks):
        return False
    if q.ground is not None and not _cites_ground(entry, q.ground.value):
        return False
    if q.scope is not None and entry.unit is not None:
        return any(_under(entry.unit, root) for root in q.scope)
    return True


def sort_key(entry: AuditEntry, order: Order) -> tuple[Any, ...]:
    """The entry's key under ``order`` (comparable with :meth:`AuditCursor.key`)."""
    if order == "time":
        return (entry.at, entry.ledger, entry.seq)
    return (entry.ledger, entry.seq)


def select_page(
    entries: Iterable[AuditEntry],
    query: AuditQuery,
    *,
    after: AuditCursor | None,
    limit: int,
) -> list[AuditEntry]:
    """The first ``limit`` matching entries after ``after`` (memory ~ ``limit``)."""
    start = after.key(query.order) if after is not None else None
    candidates = (
        e
        for e in entries
        if matches(e, query) and (start is None or sort_key(e, query.order) > start)
    )
    return heapq.nsmallest(limit, candidates, key=lambda e: sort_key(e, query.order))


# -- cursors ------------------------------------------------------------------


_cursor_json: Final = json.JSONEncoder(sort_keys=True, separators=(",", ":")).encode
"""``json.dumps(body, sort_keys=True, separators=(",", ":"))`` without building an
encoder per call (``dumps`` makes one for any non-default argument)."""


def encode_cursor(entry: AuditEntry, query: AuditQuery) -> str:
    """An opaque cursor pointing just after ``entry`` in ``query``'s ordering."""
    raw = _cursor_body(entry, query).encode()
    text = _urlsafe_b64(raw).decode().rstrip("=")
    return f"{text}.{hashlib.sha256(raw).hexdigest()[:16]}"


_URLSAFE: Final = bytes.maketrans(b"+/", b"-_")


def _urlsafe_b64(raw: bytes) -> bytes:
    """``base64.urlsafe_b64encode(raw)`` without its two Python wrappers.

    The standard alphabet's text with ``+/`` made ``-_`` (pinned by tests).
    """
    return binascii.b2a_base64(raw, newline=False).translate(_URLSAFE)


def _cursor_body(entry: AuditEntry, query: AuditQuery) -> str:
    """The cursor's JSON: ``_cursor_json`` of its body, written out directly.

    The same text (pinned by tests): the keys in sorted order, the ledger and
    seq ints, the ordering and the fingerprint (plain ASCII words and hex) and
    the canonical timestamp (ASCII digits and marks) need no escaping.
    """
    ledger, seq = entry.ledger, entry.seq
    order = query.order
    if type(ledger) is not int or type(seq) is not int or order not in _ORDERS:
        return _cursor_json(
            {
                "v": 1,
                "o": order,
                "q": query.fingerprint(),
                "l": ledger,
                "s": seq,
                "t": format_timestamp(entry.at) if order == "time" else None,
            }
        )
    stamp = f'"{_cursor_stamp(entry.at)}"' if order == "time" else "null"
    return (
        f'{{"l":{ledger},"o":"{order}","q":"{query.fingerprint()}",'
        f'"s":{seq},"t":{stamp},"v":1}}'
    )


_ORDERS: Final = ("time", "sequence")


def _cursor_stamp(at: datetime) -> str:
    """``format_timestamp(at)``, cheaper for a time already in UTC (pinned by tests).

    The naive time's ISO form (``isoformat()`` without arguments, which leaves
    out a zero fraction): ``replace()`` and ``isoformat``'s arguments cost more.
    """
    if at.tzinfo is not UTC:
        return format_timestamp(at)
    text = _combine(at, at.time()).isoformat()
    return (text if len(text) == 26 else text + ".000000") + "Z"


_combine: Final = datetime.combine


def _bad_cursor(why: str) -> ValidationError:
    return ValidationError(f"cursor is not valid: {why}", field="cursor", rule="cursor")


def _int_in(value: object, low: int, high: int) -> int:
    if type(value) is not int or not low <= value <= high:
        raise _bad_cursor("position out of range")
    return value


def decode_cursor(token: object, query: AuditQuery) -> AuditCursor:
    """Read a cursor made by :func:`encode_cursor` for the same query.

    Raises:
        ValidationError: when the cursor is malformed, altered, or belongs to a
            different query or ordering.
    """
    if not isinstance(token, str) or len(token) > _MAX_CURSOR:
        raise _bad_cursor("not a cursor string")
    if not _CURSOR_RE.match(token):
        raise _bad_cursor("malformed")
    text, check = token.split(".")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        body = json.loads(raw)
    except (binascii.Error, ValueError, RecursionError) as exc:
        raise _bad_cursor("malformed") from exc
    if hashlib.sha256(raw).hexdigest()[:16] != check:
        raise _bad_cursor("checksum does not match (altered?)")
    if not isinstance(body, dict) or set(body) != {"v", "o", "q", "l", "s", "t"}:
        raise _bad_cursor("malformed")
    if body["v"] != 1:
        raise _bad_cursor("unknown version")
    if body["o"] != query.order or body["q"] != query.fingerprint():
        raise _bad_cursor("it belongs to a different query or ordering")
    ledger = _int_in(body["l"], 0, _MAX_LEDGER)
    seq = _int_in(body["s"], 0, _MAX_SEQ)
    at: datetime | None = None
    if query.order == "time":
        stamp = body["t"]
        if not isinstance(stamp, str) or not stamp.endswith("Z") or len(stamp) > 40:
            raise _bad_cursor("bad time")
        try:
            at = datetime.fromisoformat(stamp[:-1]).replace(tzinfo=UTC)
        except ValueError as exc:
            raise _bad_cursor("bad time") from exc
    return AuditCursor(at=at, ledger=ledger, seq=seq)


# -- SQL ----------------------------------------------------------------------
#
# The statement depends only on the query's *shape* (which filters are set, how
# many scope units, the ordering, whether there is a cursor); every value is a
# bound parameter. Statements are built once per (dialect, table, shape) and
# cached, so SQLAlchemy compiles each shape once and no filter value can ever
# reach the SQL text. LIKE patterns are escaped here, with ``/`` as the escape
# character, exactly as ``contains(..., autoescape=True)`` would escape them.

_LIKE_ESCAPE: Final = "/"


def like_literal(text: str) -> str:
    """``text`` with LIKE's wildcards (and the escape character) escaped."""
    return text.replace("/", "//").replace("%", "/%").replace("_", "/_")


def _payload_field(dialect: str, column: Any, name: str) -> Any:
    import sqlalchemy as sa
    from sqlalchemy.dialects import postgresql

    if dialect == "postgresql":
        return sa.cast(column, postgresql.JSONB)[name].astext
    return sa.type_coerce(column, sa.JSON)[name].as_string()


def _unit_clause(column: Any, key: str, subunits: bool = True) -> Any:
    import sqlalchemy as sa

    same = column == sa.bindparam(f"{key}_eq")
    if not subunits:
        return same
    return sa.or_(same, column.like(sa.bindparam(f"{key}_like"), escape=_LIKE_ESCAPE))


def _unit_params(key: str, root: str) -> dict[str, str]:
    return {f"{key}_eq": root, f"{key}_like": like_literal(root + "/") + "%"}


def _keyset(c: Any, order: Order) -> Any:
    import sqlalchemy as sa

    ledger: Any = sa.bindparam("after_ledger")
    seq: Any = sa.bindparam("after_seq")
    tail = sa.or_(c.ledger > ledger, sa.and_(c.ledger == ledger, c.seq > seq))
    # The redundant lower bound on the leading sort column lets the planner seek
    # the index instead of scanning it from the start (SQLite does not derive a
    # range from the OR): without it every later page costs O(rows before it).
    if order == "sequence":
        return sa.and_(c.ledger >= ledger, tail)
    at: Any = sa.bindparam("after_at")
    return sa.and_(c.at >= at, sa.or_(c.at > at, sa.and_(c.at == at, tail)))


_EQUAL: Final = (
    ("request_id", "request_id"),
    ("request_kind", "kind"),
    ("actor", "actor"),
    ("trigger", "trigger"),
    ("event", "event"),
    ("from_state", "from_state"),
    ("to_state", "to_state"),
)


def _values(q: AuditQuery) -> dict[str, Any]:
    """The query's filter values as bind parameters (text where stored as text)."""
    plain: dict[str, Any] = {
        "request_id": None if q.request_id is None else str(q.request_id),
        "kind": None if q.kind is None else q.kind.value,
        "actor": q.actor,
        "trigger": q.trigger,
        "event": None if q.event is None else q.event.value,
        "from_state": q.from_state,
        "to_state": q.to_state,
    }
    params = {f"f_{k}": v for k, v in plain.items() if v is not None}
    if q.role is not None:
        element = json.dumps(q.role, ensure_ascii=False)
        params["f_role"] = "%" + like_literal(element) + "%"
    if q.ground is not None:
        params["f_ground"] = q.ground.value
        params["f_ground_like"] = "%" + like_literal(json.dumps(q.ground.value)) + "%"
    if q.unit is not None:
        params.update(_unit_params("f_unit", q.unit))
    for i, root in enumerate(q.scope or ()):
        params.update(_unit_params(f"f_scope{i}", root))
    if q.since is not None:
        params["f_since"] = q.since
    if q.until is not None:
        params["f_until"] = q.until
    return params


_Shape = tuple[Any, ...]


def _shape(q: AuditQuery, has_after: bool) -> _Shape:
    return (
        tuple(name for name, key in _EQUAL if getattr(q, key) is not None),
        q.role is not None,
        q.ground is not None,
        None if q.unit is None else q.include_subunits,
        None if q.scope is None else len(q.scope),
        q.since is not None,
        q.until is not None,
        q.order,
        has_after,
    )


@functools.lru_cache(maxsize=512)
def _statement(dialect: str, audit: sa.Table, shape: _Shape) -> sa.Select[Any]:
    import sqlalchemy as sa

    equal, role, ground, unit, scope, since, until, order, has_after = shape
    c = audit.c
    keys = dict(_EQUAL)
    clauses = [c[name] == sa.bindparam(f"f_{keys[name]}") for name in equal]
    if role:
        clauses.append(c.roles.like(sa.bindparam("f_role"), escape=_LIKE_ESCAPE))
    if ground:
        clauses.append(
            sa.or_(
                _payload_field(dialect, c.payload, "ground")
                == sa.bindparam("f_ground"),
                sa.and_(
                    c.event == AuditEvent.CLASSIFIED.value,
                    c.payload.like(sa.bindparam("f_ground_like"), escape=_LIKE_ESCAPE),
                ),
            )
        )
    if unit is not None:
        clauses.append(_unit_clause(c.unit, "f_unit", unit))
    if scope is not None:
        clauses.append(
            sa.or_(
                c.unit.is_(None),
                *(_unit_clause(c.unit, f"f_scope{i}") for i in range(scope)),
            )
        )
    if since:
        clauses.append(c.at >= sa.bindparam("f_since"))
    if until:
        clauses.append(c.at < sa.bindparam("f_until"))
    if has_after:
        clauses.append(_keyset(c, order))
    sort = [c.ledger, c.seq] if order == "sequence" else [c.at, c.ledger, c.seq]
    limit = sa.bindparam("limit", type_=sa.Integer())
    return sa.select(audit).where(*clauses).order_by(*sort).limit(limit)


_SHAPE_FIELDS: Final = (
    *(key for _, key in _EQUAL),
    "role",
    "ground",
    "unit",
    "scope",
    "since",
    "until",
)
_shape_values: Final = operator.itemgetter(*_SHAPE_FIELDS)
_NONES: Final = (None,) * len(_SHAPE_FIELDS)
_is_not: Final = operator.is_not
_SIMPLE: Final = {
    "request_id": str,
    "kind": operator.attrgetter("value"),
    "actor": None,
    "trigger": None,
    "event": operator.attrgetter("value"),
    "from_state": None,
    "to_state": None,
    "since": None,
    "until": None,
}
"""The filters whose bind parameter is ``f_<name>``: the value itself or, for
these, its text (what :func:`_values` binds)."""


@functools.lru_cache(maxsize=512)
def _plan(
    dialect: str,
    audit: sa.Table,
    present: tuple[bool, ...],
    subunits: bool,
    scope: int | None,
    order: Order,
    has_after: bool,
) -> tuple[sa.Select[Any], tuple[tuple[str, str, Any], ...] | None]:
    """The statement of a query shape and how to read its parameters.

    ``present`` says which of :data:`_SHAPE_FIELDS` are set. Keyed by the shape
    only (never a value), so the cache is bounded by the number of shapes. The
    reading is None when a set filter needs :func:`_values` (role, ground, unit,
    scope); else ``(parameter, field, conversion)`` for each set filter, giving
    the same parameters as :func:`_values` (pinned by tests).
    """
    d = dict(zip(_SHAPE_FIELDS, present, strict=True))
    names = [name for name, key in _EQUAL if d[key]]
    shape = (
        tuple(names),
        d["role"],
        d["ground"],
        subunits if d["unit"] else None,
        scope,
        d["since"],
        d["until"],
        order,
        has_after,
    )
    stmt = _statement(dialect, audit, shape)
    if any(d[key] for key in _SHAPE_FIELDS if key not in _SIMPLE):
        return stmt, None
    simple = tuple((f"f_{key}", key, conv) for key, conv in _SIMPLE.items() if d[key])
    return stmt, simple


def sql_statement(
    dialect: str,
    audit: sa.Table,
    query: AuditQuery,
    *,
    after: AuditCursor | None,
    limit: int,
) -> tuple[sa.Select[Any], dict[str, Any]]:
    """The SELECT for ``query`` on the audit table and its parameters.

    The statement is cached per query shape and holds no filter value: every value
    is in the returned parameters (bound when executed).
    """
    d = query.__dict__
    present = tuple(map(_is_not, _shape_values(d), _NONES))
    plan = _plan(
        dialect,
        audit,
        present,
        d["include_subunits"],
        None if d["scope"] is None else len(d["scope"]),
        d["order"],
        after is not None,
    )
    stmt, simple = plan
    if simple is None:  # role, ground, unit or scope: the general builder
        params = _values(query)
    else:
        params = {
            name: (d[key] if conv is None else conv(d[key]))
            for name, key, conv in simple
        }
    params["limit"] = limit
    if after is not None:
        params.update(after_ledger=after.ledger, after_seq=after.seq)
        if query.order == "time":
            params["after_at"] = after.at
    return stmt, params


@functools.lru_cache(maxsize=1024)
def _roles(text: str) -> Any:
    """Stored roles text read as a tuple (immutable, so safe to share)."""
    value = json.loads(text)
    return tuple(value) if isinstance(value, list) else value


def row_entries(keys: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[AuditEntry]:
    """Rows of the audit table (columns ``keys``) read as validated entries.

    The column names are looked up once and repeated role lists parsed once.
    """
    validate = AuditEntry.model_validate
    out = []
    for row in rows:
        m = dict(zip(keys, row, strict=True))
        roles = m["roles"]
        m["roles"] = _roles(roles) if type(roles) is str else tuple(json.loads(roles))
        m["payload"] = json.loads(m["payload"])
        out.append(validate(m))
    return out


def sql_query(
    connection: sa.Connection,
    audit: sa.Table,
    query: AuditQuery,
    *,
    after: AuditCursor | None,
    limit: int,
) -> list[AuditEntry]:
    """Run ``query`` against the SQL audit table (every value a bound parameter).

    ``audit`` is the backend's audit-entries table (``Tables.audit``). The caller
    wraps driver errors. Indexes that serve it: the primary key ``(ledger, seq)``,
    ``(request_id, request_version)``, ``(at, ledger, seq)`` and
    ``(actor, at, ledger, seq)``. ``SqlAudit.query`` runs the same statement
    (:func:`sql_statement`) on the driver's cursor.
    """
    stmt, params = sql_statement(
        connection.dialect.name, audit, query, after=after, limit=limit
    )
    result = connection.execute(stmt, params)
    return row_entries(list(result.keys()), result)
