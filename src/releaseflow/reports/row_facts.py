"""Report facts of one request: flat values derived from the request document alone.

:func:`request_facts` is a pure function of a :class:`~releaseflow.models.Request`.
The SQL backend stores its result as extra columns of the request's row, written in
the same statement (and so the same transaction and audit append) as the document,
so the columns can never disagree with the document or the log. Reports read these
columns instead of the documents and the audit rows (see ``sql_source``); the
in-memory store derives the same values on the fly.

A request's document describes it as of its last change (``updated_at``); for a
report whose cut-off is later than that, the facts are the request's standing at the
cut-off. Requests changed at or after the cut-off are replayed from the audit log.

Deadlines are encoded in one text column, one line per deadline that still counts
(cancelled ones are left out): ``rule_id<TAB>state`` where ``state`` is ``met``,
``missed`` (settled late), ``open`` (paused: it cannot fall due) or the due time in
integer microseconds since the epoch (running: missed once the cut-off passes it).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

from ..models import DeadlineStatus, Request, Requester

__all__ = [
    "FACT_COLUMNS",
    "IN_SCOPE_KEY",
    "PRESS_TYPES",
    "deadline_states",
    "encode_deadlines",
    "press_keys",
    "request_fact_values",
    "request_facts",
]

PRESS_TYPES: Final = ("journalist", "press_agency")
IN_SCOPE_KEY: Final = "decision_407_in_scope"
#: Kinds whose title a report lists (one row per request).
TITLED: Final = ("incident_statement",)
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)

#: The columns :func:`request_facts` fills, in the requests table.
FACT_COLUMNS: Final = (
    "fact_channel",
    "fact_released_at",
    "fact_release_form",
    "fact_refused_at",
    "fact_ground",
    "fact_deadlines",
    "fact_org",
    "fact_journalist",
    "fact_in_scope",
    "fact_title",
    "fact_seconds",
)


def _micros(t: datetime) -> int:
    delta = t - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def micros(t: datetime) -> int:
    """``t`` as integer microseconds since the Unix epoch (exact)."""
    return _micros(t)


def encode_deadlines(request: Request) -> str | None:
    """The request's deadlines in the one-column form (None when none counts)."""
    lines = []
    for d in request.deadlines:
        if d.status is DeadlineStatus.CANCELLED:
            continue
        if d.status is DeadlineStatus.MET and d.met_at is not None:
            state = "met" if d.met_at < d.due_at else "missed"
        elif d.status is DeadlineStatus.PAUSED:
            state = "open"
        else:
            state = str(_micros(d.due_at))
        lines.append(f"{d.rule_id}\t{state}")
    return "\n".join(lines) if lines else None


def deadline_states(encoded: str | None, cutoff_micros: int) -> dict[str, str]:
    """Decode :func:`encode_deadlines` into each rule's standing at the cut-off."""
    if not encoded:
        return {}
    out: dict[str, str] = {}
    for line in encoded.split("\n"):
        rule, _, state = line.partition("\t")
        if state[0].isdigit():
            state = "missed" if int(state) <= cutoff_micros else "open"
        out[rule] = state
    return out


def press_keys(requester: Any) -> tuple[str | None, str | None]:
    """(press organisation, journalist) a request was served to, or None each.

    ``requester`` is a :class:`~releaseflow.models.Requester` or its plain dict. A
    journalist is keyed by name and press card; a requester linked to a stored press
    contact (``contact_id``, when present) is keyed by that contact.
    """
    if requester is None:
        return None, None
    if type(requester) is Requester:  # every write: its fields, without lookups
        return _press_keys(
            requester.type._value_,
            requester.name,
            requester.organisation,
            requester.contact_id,
            requester.press_card,
        )
    get = requester.get if isinstance(requester, dict) else _attr(requester)
    kind = get("type")
    kind = getattr(kind, "value", kind)
    if kind not in PRESS_TYPES:
        return None, None
    return _press_keys(
        kind, get("name"), get("organisation"), get("contact_id"), get("press_card")
    )


def _press_keys(
    kind: Any, name: Any, organisation: Any, contact: Any, card: Any
) -> tuple[str | None, str | None]:
    """:func:`press_keys` of a requester's values."""
    if kind not in PRESS_TYPES:
        return None, None
    org = organisation or (name if kind == "press_agency" else None)
    org_key = str(org) if org else None
    if kind != "journalist":
        if contact and org_key:
            org_key = f"{org_key} [contact {contact}]"
        return org_key, None
    if contact:
        return org_key, f"{name} [contact {contact}]"
    return org_key, (f"{name} ({card})" if card else str(name))


def _attr(obj: Any) -> Any:
    def get(name: str) -> Any:
        return getattr(obj, name, None)

    return get


def request_facts(request: Request) -> dict[str, Any]:
    """The report-fact columns of ``request`` (keys: :data:`FACT_COLUMNS`)."""
    return dict(zip(FACT_COLUMNS, request_fact_values(request), strict=True))


def request_fact_values(request: Request) -> tuple[Any, ...]:
    """The values of :func:`request_facts`, in :data:`FACT_COLUMNS` order."""
    release, refusal = request.release, request.refusal
    org, journalist = press_keys(request.requester)
    return (
        request.channel._value_,  # fact_channel (_value_: no enum property call)
        release.at if release is not None else None,  # fact_released_at
        release.form.value if release is not None else None,  # fact_release_form
        refusal.at if refusal is not None else None,  # fact_refused_at
        refusal.ground.value if refusal is not None else None,  # fact_ground
        encode_deadlines(request),  # fact_deadlines
        org,  # fact_org
        journalist,  # fact_journalist
        bool(request.metadata.get(IN_SCOPE_KEY, True)),  # fact_in_scope
        request.title if request.kind._value_ in TITLED else None,  # fact_title
        (  # fact_seconds
            int((release.at - request.received_at).total_seconds())
            if release is not None
            else None
        ),
    )
