"""Frozen pydantic models: requests, approvals, grants, audit entries, anchors.

These are the only shapes that cross the public API; storage rows stay private to
their backend. Every model is frozen and refuses unknown fields.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from enum import StrEnum
from functools import lru_cache
from typing import Annotated, Any, Final, TypeVar
from uuid import UUID

import pydantic
from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

from .canonical import canonical_bytes, sha256_hex, to_plain
from .exceptions import ValidationError
from .text import ActorId, ShortText, Text, clean_json
from .vocabulary import (
    AuditEvent,
    Channel,
    Classification,
    PolicyStage,
    RefusalGround,
    ReleaseForm,
    RequesterType,
    RequestKind,
    Role,
)

__all__ = [
    "Anchor",
    "Approval",
    "AuditEntry",
    "Authorisation",
    "ChainHead",
    "DeadlineExtension",
    "DeadlineStatus",
    "DraftComment",
    "Grant",
    "IdempotencyRecord",
    "JsonObject",
    "PauseSpan",
    "Refusal",
    "Release",
    "Request",
    "RequestQuery",
    "Requester",
    "StoredOverride",
    "TrackedDeadline",
    "TriggerOption",
    "UnitPath",
    "content_hash_of",
    "parse",
]

_UNIT_RE: Final = re.compile(
    r"^[a-z0-9][a-z0-9_.-]{0,63}(/[a-z0-9][a-z0-9_.-]{0,63}){0,15}$"
)
_HASH_RE: Final = re.compile(r"^[0-9a-f]{64}$")
MAX_JSON_BYTES: Final = 64_000

M = TypeVar("M", bound=BaseModel)


def _unit(value: str) -> str:
    value = value.strip("/").lower()
    if not _UNIT_RE.match(value):
        raise ValueError(
            "unit must be a path of lowercase segments [a-z0-9_.-] joined by '/'"
        )
    return value


def _hash(value: str) -> str:
    if not _HASH_RE.match(value):
        raise ValueError("must be 64 lowercase hex digits")
    return value


def _json_object(value: dict[str, Any]) -> dict[str, Any]:
    value = clean_json(value, field="metadata")
    encoded = canonical_bytes(value)
    if len(encoded) > MAX_JSON_BYTES:
        raise ValueError(f"must encode to at most {MAX_JSON_BYTES} bytes")
    plain: dict[str, Any] = to_plain(value)
    return plain


#: An organisation unit as a path, e.g. ``danang/soyte/ttyt-hoavang``.
UnitPath = Annotated[str, AfterValidator(_unit)]
#: A lowercase hex SHA-256 digest.
HashHex = Annotated[str, AfterValidator(_hash)]
#: A JSON object under the canonical rules (no floats), at most 64 kB encoded.
JsonObject = Annotated[dict[str, Any], AfterValidator(_json_object)]


def parse(model: type[M], data: Any, *, prefix: str = "") -> M:
    """Validate ``data`` as ``model``, turning pydantic errors into ours.

    Raises:
        ValidationError: naming the first bad field (dotted path).
    """
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(part) for part in first["loc"])
        field = f"{prefix}{loc}" if loc else prefix.rstrip(".") or model.__name__
        cause = first.get("ctx", {}).get("error")
        if isinstance(cause, ValidationError):
            raise ValidationError(
                f"{field}: {cause.message}", field=field, rule=cause.rule
            ) from exc
        raise ValidationError(
            f"{field}: {first['msg']}", field=field, rule=first["type"]
        ) from exc


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=False)


_new_object = object.__new__
_set_slot = object.__setattr__


def updated(model: M, changes: dict[str, Any]) -> M:
    """``model.model_copy(update=changes)``, without its generic copying steps.

    The same model: a shallow copy of the fields with ``changes`` applied (not
    validated, as with ``model_copy``), those names added to the fields set. For
    the models of this module (``extra="forbid"``, no private attributes) that is
    all ``model_copy`` does; any other model goes through ``model_copy`` itself.
    """
    if (
        model.__pydantic_extra__ is not None
        or getattr(model, "__pydantic_private__", None) is not None
    ):
        return model.model_copy(update=changes)
    copy = _new_object(type(model))
    _set_slot(copy, "__dict__", {**model.__dict__, **changes})
    _set_slot(
        copy, "__pydantic_fields_set__", model.__pydantic_fields_set__ | changes.keys()
    )
    _set_slot(copy, "__pydantic_extra__", None)
    _set_slot(copy, "__pydantic_private__", None)
    return copy


@lru_cache(maxsize=64)
def _field_names(model: type[BaseModel]) -> tuple[str, ...]:
    return tuple(model.model_fields)


def assembled(model: type[M], values: dict[str, Any]) -> M:
    """``model.model_validate(values)`` for values that are already what it yields.

    ``values`` must hold every field of ``model``, each of exactly the type
    validation returns for it (the caller checks; ``chain._seal_common`` does):
    the instance is then built without running the validators, with the same
    ``__dict__`` (in field order) and fields set.
    """
    names = _field_names(model)
    instance = _new_object(model)
    _set_slot(instance, "__dict__", {name: values[name] for name in names})
    _set_slot(instance, "__pydantic_fields_set__", set(names))
    _set_slot(instance, "__pydantic_extra__", None)
    _set_slot(instance, "__pydantic_private__", None)
    return instance


class Requester(_Frozen):
    """Who asked: a journalist, press agency, citizen or superior body."""

    type: RequesterType
    name: ShortText
    organisation: ShortText | None = None
    contact: ShortText | None = None
    press_card: ShortText | None = None
    """Press card number, for journalists."""
    contact_id: UUID | None = None
    """The stored press contact (``flow.media``) this requester is, if any. The
    engine checks it on create and that ``type``, ``name``, ``organisation`` and
    ``press_card`` equal the contact's details at that moment (a snapshot: the
    request keeps them even if the contact is later edited)."""


class Approval(_Frozen):
    """One person's sign-off at one stage, bound to one content hash."""

    stage: str
    actor: ActorId
    roles: tuple[Role, ...]
    content_hash: HashHex
    at: AwareDatetime
    revoked: bool = False
    revoked_by: ActorId | None = None
    revoked_reason: ShortText | None = None


class DraftComment(_Frozen):
    """The comms unit's comment on a policy draft at one lifecycle stage."""

    id: UUID
    stage: PolicyStage
    """The lifecycle stage the draft was at when the comment was made."""
    text: Text
    by: ActorId
    roles: tuple[Role, ...]
    """The roles that allowed the comment (``comms_officer``, ``spokesperson``)."""
    at: AwareDatetime
    content_hash: HashHex
    """The exact draft content commented on."""
    request_version: int = Field(ge=2)
    """The request version the comment created."""


class Refusal(_Frozen):
    """A refusal with its legal ground and written reasons (LATI Art. 28(2))."""

    ground: RefusalGround
    reasons: ShortText
    by: ActorId
    at: AwareDatetime


class Release(_Frozen):
    """What was released, in which form, by whom, of which content."""

    form: ReleaseForm
    by: ActorId
    at: AwareDatetime
    content_hash: HashHex
    authorisation_id: UUID | None = None


class DeadlineStatus(StrEnum):
    """Where a tracked deadline stands in the request's life."""

    RUNNING = "running"
    PAUSED = "paused"
    """Waiting on the requester (consent, payment, clarification)."""
    MET = "met"
    """The step was done (``met_at``); on time if ``met_at < due_at``."""
    CANCELLED = "cancelled"
    """No longer owed (withdrawn, closed, or re-planned after assessment)."""


class PauseSpan(_Frozen):
    """A stretch of time the legal clock stood still (``end`` None: still paused)."""

    start: AwareDatetime
    end: AwareDatetime | None = None
    reason: str = ""


class DeadlineExtension(_Frozen):
    """An extension granted under an extension rule, with its reason."""

    amount: int = Field(ge=1)
    unit: str
    reason: ShortText
    rule_id: str | None = None
    legal_source: str = ""


class TrackedDeadline(_Frozen):
    """A legal or agency deadline a request carries, with how it was computed."""

    rule_id: str
    step: str
    complexity: str
    amount: int
    unit: str
    legal_source: str
    flag: str
    received_at: AwareDatetime
    due_at: AwareDatetime
    """Exclusive: the step is on time if done strictly before this instant."""
    status: DeadlineStatus = DeadlineStatus.RUNNING
    pauses: tuple[PauseSpan, ...] = ()
    extension: DeadlineExtension | None = None
    met_at: AwareDatetime | None = None
    calendar_version: str
    explanation: tuple[str, ...] = ()


class Request(_Frozen):
    """One piece of information on its way out, and where it stands."""

    id: UUID
    kind: RequestKind
    definition: str
    definition_version: int
    state: str
    version: int = Field(ge=1)
    unit: UnitPath
    title: ShortText
    body: Text
    channel: Channel
    requester: Requester | None = None
    classification: Classification = Classification.PUBLIC
    restriction_grounds: tuple[RefusalGround, ...] = ()
    content_hash: HashHex
    created_by: ActorId
    contributors: tuple[ActorId, ...]
    """Everyone who wrote any version of the content (never an approver of it)."""
    approvals: tuple[Approval, ...] = ()
    refusal: Refusal | None = None
    release: Release | None = None
    received_at: AwareDatetime
    created_at: AwareDatetime
    updated_at: AwareDatetime
    metadata: JsonObject = Field(default_factory=dict)
    deadlines: tuple[TrackedDeadline, ...] = ()
    draft_comments: tuple[DraftComment, ...] = ()
    """The comms unit's comments on a policy draft, in the order they were made
    (see ``flow.plans.comment_on_draft``)."""

    @property
    def next_due_at(self) -> datetime | None:
        """The earliest due time among running deadlines (None when none runs)."""
        running = [
            d.due_at for d in self.deadlines if d.status is DeadlineStatus.RUNNING
        ]
        return min(running, default=None)

    def valid_approvals(self, stage: str | None = None) -> tuple[Approval, ...]:
        """Approvals on the current content, not revoked (optionally of one stage)."""
        return tuple(
            a
            for a in self.approvals
            if not a.revoked
            and a.content_hash == self.content_hash
            and (stage is None or a.stage == stage)
        )


def content_hash_of(title: str, body: str) -> str:
    """Return the content hash that approvals are bound to."""
    return sha256_hex(canonical_bytes({"body": body, "title": title}))


class Grant(_Frozen):
    """A role held by an actor within an organisation unit and its sub-units."""

    actor: ActorId
    role: Role
    unit: UnitPath
    granted_by: ActorId
    granted_at: AwareDatetime

    def covers(self, unit: str) -> bool:
        """Whether this grant applies to requests of ``unit``."""
        return unit == self.unit or unit.startswith(self.unit + "/")


class Authorisation(_Frozen):
    """A written, per-case, time-limited authorisation to speak (Decree 09 Art. 3)."""

    id: UUID
    actor: ActorId
    request_id: UUID
    reference: ShortText
    """Number and date of the written authorisation document."""
    published_at: ShortText
    """Where the authorised person's details are posted (portal URL or office)."""
    valid_from: AwareDatetime
    valid_until: AwareDatetime
    granted_by: ActorId
    granted_at: AwareDatetime
    revoked_at: AwareDatetime | None = None

    def active(self, request_id: UUID, at: datetime) -> bool:
        """Whether this authorisation covers ``request_id`` at time ``at``."""
        return (
            self.request_id == request_id
            and self.revoked_at is None
            and self.valid_from <= at < self.valid_until
        )


class ChainHead(_Frozen):
    """The newest entry of one audit ledger: its sequence number and hash."""

    ledger: int
    seq: int
    hash: str


class AuditEntry(_Frozen):
    """One sealed, hash-chained audit record."""

    ledger: int
    seq: int
    event: AuditEvent
    request_id: UUID | None
    request_version: int | None
    request_kind: RequestKind | None
    unit: str | None
    from_state: str | None
    to_state: str | None
    trigger: str | None
    actor: str
    roles: tuple[str, ...]
    at: AwareDatetime
    payload: dict[str, Any]
    content_hash: str | None
    prev_hash: str
    hash: str
    canon_version: int
    hash_alg: str


class Anchor(_Frozen):
    """An exported digest of every ledger head; keep it outside the database."""

    taken_at: AwareDatetime
    heads: tuple[ChainHead, ...]
    digest: str
    key_id: str | None = None
    mac: str | None = None
    """HMAC-SHA256 of ``digest`` under a key held outside the database."""


class IdempotencyRecord(_Frozen):
    """The remembered outcome of a command sent with an idempotency key."""

    key: str
    actor: str
    fingerprint: str
    request_id: UUID
    request_version: int
    entry_hash: str
    result: Request
    """The request as the first call returned it."""


class StoredOverride(_Frozen):
    """A calendar override added at run time, with who added it and when."""

    day: date
    kind: str
    """``extra_day_off``, ``makeup_workday`` or ``not_a_holiday``."""
    name: ShortText
    legal_source: ShortText
    note: ShortText = ""
    verified: bool = True
    added_by: ActorId
    added_at: AwareDatetime


class TriggerOption(_Frozen):
    """Whether an actor may fire a trigger now, and if not, why."""

    trigger: str
    dest: str
    allowed: bool
    reasons: tuple[str, ...] = ()


class RequestQuery(_Frozen):
    """Filters for :meth:`releaseflow.ReleaseFlow.find`."""

    kind: RequestKind | None = None
    state: str | None = None
    unit: UnitPath | None = None
    include_subunits: bool = True
    created_by: ActorId | None = None
    due_before: AwareDatetime | None = None
    """Only requests with a running deadline due strictly before this instant."""
    limit: int = Field(default=100, ge=1, le=1000)
