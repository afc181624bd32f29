"""The service layer: :class:`ReleaseFlow`, where one public call is one unit of work.

Each write call: validate the command at the edge; open a unit of work; load the
request; resolve the trigger on the definition's shared machine; evaluate the policy
against the grants current **inside** the transaction; compare-and-set the request on
its version; seal and append the audit entry; commit; then send signals. A failure at
any step raises a :class:`~releaseflow.exceptions.ReleaseflowError` and leaves nothing
behind.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any, Final, Protocol
from uuid import UUID, uuid4

from pydantic import BaseModel

from . import policy, signals
from .calendar import VietnamCalendar, WorkingCalendar
from .canonical import canonical_bytes, sha256_hex
from .chain import ledger_for
from .commands import CreateCommand, EditCommand, RefusalPayload, ReleasePayload
from .deadlines import RuleSet, default_rule_set
from .defaults import default_definitions
from .definitions import Action, TransitionSpec, WorkflowDefinition
from .exceptions import (
    ConflictError,
    IdempotencyKeyReuseError,
    IntegrityError,
    InvalidTransitionError,
    MissingPayloadError,
    NotPermittedError,
    StorageError,
    ValidationError,
)
from .models import (
    MAX_JSON_BYTES,
    Approval,
    AuditEntry,
    IdempotencyRecord,
    Refusal,
    Release,
    Request,
    Requester,
    RequestQuery,
    TriggerOption,
    content_hash_of,
    parse,
)
from .models import updated as model_updated
from .ports import DirectoryMoved, Store, UnitOfWork
from .scheduling import CalendarChange, SweepReport
from .text import MAX_SHORT, canonical_actor_id, clean_json, clean_text
from .tracking import DeadlinePlanner, DeadlineView
from .trail import request_entries, request_trail_problem
from .vocabulary import (
    REFUSAL_GROUNDS_BY_FAMILY,
    AuditEvent,
    Channel,
    RefusalGround,
    RequestKind,
    Role,
)
from .workflow import CompiledWorkflow, DefinitionRegistry

__all__ = ["ReleaseFlow", "RoleProvider"]

_CLOCK_SKEW: Final = timedelta(minutes=5)
_MAX_KEY: Final = 200

Clock = Callable[[], datetime]
TestHook = Callable[[str], None]


class RoleProvider(Protocol):
    """A host's own source of roles, called inside the unit of work."""

    def roles_for(self, actor: str, unit: str) -> Iterable[Role]:
        """The roles ``actor`` holds for requests of ``unit``."""
        ...


def _utcnow() -> datetime:
    return datetime.now(UTC)


@lru_cache(maxsize=256)
def _role_names(roles: frozenset[Role]) -> tuple[str, ...]:
    """An entry's ``roles``: the role values, sorted (the same few sets recur)."""
    return tuple(sorted(r.value for r in roles))


def _aware(value: datetime, field: str) -> datetime:
    if not isinstance(value, datetime):
        raise ValidationError(f"{field} must be a datetime", field=field, rule="type")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValidationError(
            f"{field} must be timezone-aware", field=field, rule="aware_datetime"
        )
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:
        raise ValidationError(
            f"{field} is out of range in UTC", field=field, rule="datetime_range"
        ) from exc


def _deadline_changes(before: Request, after: Request) -> dict[str, Any]:
    """The deadlines a change touched, for the audit payload."""
    if before.deadlines == after.deadlines:
        return {}
    return {
        "deadlines": [
            {"rule_id": d.rule_id, "status": d.status.value, "due_at": d.due_at}
            for d in after.deadlines
        ]
    }


def _key(key: str | None) -> str | None:
    if key is None:
        return None
    cleaned = clean_text(key, field="idempotency_key", max_length=_MAX_KEY)
    if not cleaned.strip():
        raise ValidationError(
            "idempotency_key must not be blank", field="idempotency_key", rule="empty"
        )
    return cleaned


@lru_cache(maxsize=4096)
def _parsed_uuid(text: str) -> UUID:
    """``UUID(text)``; hosts pass the same ids as text again and again."""
    return UUID(text)


def _payload(payload: Mapping[str, Any]) -> dict[str, Any]:
    if not payload:
        return {}  # encodes to "{}": nothing to clean or measure
    cleaned: dict[str, Any] = {}
    for name, value in payload.items():
        # nested strings too: a NUL or bidi control inside a list must not reach
        # the audit log (PostgreSQL refuses NUL; SQLite would store it)
        cleaned[name] = clean_json(value, field=name, max_length=MAX_SHORT * 5)
    try:
        size = len(canonical_bytes(cleaned))
    except RecursionError as exc:
        raise ValidationError("payload is nested too deeply", field="payload") from exc
    if size > MAX_JSON_BYTES:
        raise ValidationError(
            f"payload encodes to more than {MAX_JSON_BYTES} bytes",
            field="payload",
            rule="max_bytes",
        )
    return cleaned


class ReleaseFlow:
    """The engine a host service embeds.

    Args:
        store: a storage backend (``releaseflow.storage.memory.InMemoryStore`` or
            ``releaseflow.storage.sql.SqlStore``); see also :meth:`open`.
        definitions: workflow definitions to register besides the shipped ones.
        clock: returns the current aware time (injected for tests).
        role_provider: the host's own source of roles; by default the roles stored
            through :attr:`directory`.
        test_hook: called with a point name (``after_load``, ``before_commit``,
            ``after_commit``) inside each write; for deterministic concurrency tests.
        guards: host guards by name; a definition lists one as ``host:<name>``.
            Each gets ``(request, policy_context)`` and returns None to allow or
            the reason it denies. A guard a definition names but nobody
            registered denies (fail closed).
        calendar: the working-day calendar (default: Vietnam, shipped overrides
            plus those stored at run time).
        deadline_rules: the deadline rule set (default: ``default_rule_set()``).
        due_soon: how close a due time must be to count as "due soon".
    """

    _joined_from: ReleaseFlow | None = None
    """The flow a :meth:`joined` flow was made from (its signals' sender)."""

    def __init__(
        self,
        store: Store,
        *,
        definitions: Iterable[WorkflowDefinition] = (),
        clock: Clock = _utcnow,
        role_provider: RoleProvider | None = None,
        test_hook: TestHook | None = None,
        guards: Mapping[str, policy.Guard] | None = None,
        calendar: WorkingCalendar | None = None,
        deadline_rules: RuleSet | None = None,
        due_soon: timedelta = timedelta(days=1),
    ) -> None:
        from .audit import AuditService
        from .directory import DirectoryService
        from .planning import MediaService, PlanService

        self._store = store
        self._clock = clock
        self._role_provider = role_provider
        self._hook = test_hook
        self._guards: Mapping[str, policy.Guard] = dict(guards or {})
        self._base_calendar: WorkingCalendar = calendar or VietnamCalendar()
        self.calendar: WorkingCalendar = self._base_calendar
        self.deadline_rules: RuleSet = deadline_rules or default_rule_set()
        self._planner = DeadlinePlanner(
            self.calendar, self.deadline_rules, due_soon=due_soon
        )
        self._load_stored_overrides()
        self.definitions = DefinitionRegistry(default_definitions())
        for definition in definitions:
            self.definitions.register(definition)
        self.directory = DirectoryService(self)
        self.audit = AuditService(self)
        self.plans = PlanService(self)
        self.media = MediaService(self)

    # -- construction -------------------------------------------------------

    @classmethod
    def open(cls, target: Any = "memory://", **options: Any) -> ReleaseFlow:
        """Open a flow on ``target``: ``"memory://"``, a database URL or an Engine.

        Database URLs (``sqlite:///agency.db``, ``postgresql+psycopg://...``,
        ``mysql+pymysql://...``) and SQLAlchemy engines go to
        ``releaseflow.storage.sql``. Options not meant for the store are passed to
        :class:`ReleaseFlow`.
        """
        flow_keys = {
            "definitions",
            "guards",
            "clock",
            "role_provider",
            "test_hook",
            "calendar",
            "deadline_rules",
            "due_soon",
        }
        flow_options = {k: v for k, v in options.items() if k in flow_keys}
        store_options = {k: v for k, v in options.items() if k not in flow_keys}
        store: Store
        if target == "memory://":
            module = importlib.import_module("releaseflow.storage.memory")
            store = module.InMemoryStore(**store_options)
        else:
            module = importlib.import_module("releaseflow.storage.sql")
            store = module.SqlStore.open(target, **store_options)
        return cls(store, **flow_options)

    @property
    def store(self) -> Store:
        """The storage backend."""
        return self._store

    def close(self) -> None:
        """Release the store's connections."""
        self._store.close()

    def joined(self, host: Any) -> ReleaseFlow:
        """This flow, working inside a host's open SQLAlchemy transaction.

        ``host`` is a ``Connection`` or ORM ``Session`` on the store's database
        (SQL stores only). Each call of the returned flow runs in a SAVEPOINT of
        the host's transaction: the host's ``commit()`` makes its own writes and
        releaseflow's durable together, its ``rollback()`` undoes both; a refused
        call rolls back only its savepoint. Signals are sent (with this flow as
        sender) after the host commits, never on rollback. Definitions, calendar,
        clock, guards and role provider are shared with this flow. See
        ``docs/how-to/host-transaction.md``.

        Raises:
            StorageError: the store cannot join a host transaction.
            ValidationError: ``host`` is neither a Connection nor a Session.
        """
        import copy

        from .audit import AuditService
        from .directory import DirectoryService
        from .exceptions import StorageError
        from .planning import MediaService, PlanService

        join = getattr(self._store, "joined", None)
        if join is None:
            raise StorageError(
                "only a SQL store can join a host transaction"
                f" ({type(self._store).__name__} cannot)"
            )
        flow = copy.copy(self)
        flow._store = join(host)
        flow._joined_from = self._joined_from or self
        flow.directory = DirectoryService(flow)
        flow.audit = AuditService(flow)
        flow.plans = PlanService(flow)
        flow.media = MediaService(flow)
        return flow

    def now(self) -> datetime:
        """The engine's current time (aware, UTC)."""
        if self._clock is _utcnow:  # aware and in UTC already: _aware returns it
            return datetime.now(UTC)
        return _aware(self._clock(), "clock")

    # -- reads --------------------------------------------------------------

    def get(self, request_id: UUID | str) -> Request:
        """Return one request (raises ``RequestNotFoundError``)."""
        rid = self._request_id(request_id)
        with self._store.unit_of_work(write=False) as uow:
            return uow.requests.get(rid)

    def find(
        self,
        query: RequestQuery | None = None,
        *,
        overdue: bool = False,
        **filters: Any,
    ) -> list[Request]:
        """Requests matching ``query`` (or the same filters as keyword arguments).

        ``overdue=True`` keeps only requests with a running deadline already past
        (the same as ``due_before=flow.now()``).
        """
        if query is None:
            if overdue:
                filters["due_before"] = self.now()
            query = parse(RequestQuery, filters)
        with self._store.unit_of_work(write=False) as uow:
            return uow.requests.find(query)

    def deadlines(self, request_id: UUID | str) -> list[DeadlineView]:
        """The request's deadlines: due time, state now, and how each was computed."""
        request = self.get(request_id)
        now = self.now()
        return [self._planner.view(d, now) for d in request.deadlines]

    def sweep_deadlines(self) -> SweepReport:
        """Send ``deadline_due_soon`` / ``deadline_missed`` once per deadline.

        Safe to run from several processes at once: each notice is recorded with
        an insert-if-absent in the same transaction that decides to send it.
        """
        from .scheduling import sweep_deadlines

        return sweep_deadlines(self, self._planner)

    def add_calendar_override(
        self,
        *,
        day: date,
        kind: str,
        name: str,
        legal_source: str,
        actor: str,
        note: str = "",
        verified: bool = True,
    ) -> CalendarChange:
        """Add a working-day announcement at run time (administrators only).

        ``kind`` is ``extra_day_off``, ``makeup_workday`` or ``not_a_holiday``;
        ``legal_source`` names the announcement. The override is stored and
        audited, and every open deadline is recomputed under the new calendar in
        the same transaction (each moved request gets its own audit entry).
        """
        from .scheduling import add_calendar_override

        return add_calendar_override(
            self,
            day=day,
            kind=kind,
            name=name,
            legal_source=legal_source,
            actor=actor,
            note=note,
            verified=verified,
        )

    def reload_calendar(self) -> str:
        """Re-read stored overrides (after another process added one); new version."""
        self._load_stored_overrides()
        return self.calendar.version

    def _load_stored_overrides(self) -> None:
        extend = getattr(self._base_calendar, "with_overrides", None)
        if extend is None:
            return
        with self._store.unit_of_work(write=False) as uow:
            stored = uow.calendar.overrides()
        if stored:
            from .calendar import CalendarOverride, OverrideKind

            self._use_calendar(
                extend(
                    [
                        CalendarOverride(
                            day=o.day,
                            kind=OverrideKind(o.kind),
                            name=o.name,
                            legal_source=o.legal_source,
                            note=o.note,
                            verified=o.verified,
                        )
                        for o in stored
                    ]
                )
            )

    def _use_calendar(self, calendar: WorkingCalendar) -> None:
        self.calendar = calendar
        self._planner = DeadlinePlanner(
            calendar, self.deadline_rules, due_soon=self._planner.due_soon
        )

    def available_triggers(
        self, request_id: UUID | str, actor: str
    ) -> list[TriggerOption]:
        """What ``actor`` may do to the request now, and why not the rest."""
        rid = self._request_id(request_id)
        who = canonical_actor_id(actor)
        with self._store.unit_of_work(write=False) as uow:
            request = uow.requests.get(rid)
            compiled = self._compiled(request)
            ctx = self._context(uow, who, request)
            return [
                self._option(compiled, request, ctx, trigger)
                for trigger in sorted(compiled.definition.triggers)
            ]

    def _option(
        self,
        compiled: CompiledWorkflow,
        request: Request,
        ctx: policy.PolicyContext,
        trigger: str,
    ) -> TriggerOption:
        spec = compiled.definition.transition(request.state, trigger)
        if spec is None:
            dests = sorted(
                {
                    t.dest
                    for t in compiled.definition.transitions
                    if t.trigger == trigger
                }
            )
            return TriggerOption(
                trigger=trigger,
                dest=dests[0] if dests else "",
                allowed=False,
                reasons=(f"not allowed in state {request.state!r}",),
            )
        denials = policy.evaluate(compiled.definition, spec, ctx, request)
        return TriggerOption(
            trigger=trigger,
            dest=spec.dest,
            allowed=not denials,
            reasons=policy.describe(denials),
        )

    # -- writes -------------------------------------------------------------

    def create(
        self,
        kind: RequestKind | str,
        *,
        title: str,
        body: str,
        actor: str,
        unit: str,
        channel: Channel | str = Channel.INTERNAL,
        requester: Requester | Mapping[str, Any] | None = None,
        received_at: datetime | None = None,
        definition: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> Request:
        """Create a request in its definition's initial state.

        ``definition`` is ``"name"`` or ``"name@version"``; by default the newest
        definition registered for ``kind``. A ``requester`` with a ``contact_id``
        must be that stored press contact, active and of the unit or one above
        (``flow.media.requester_for`` builds it); it is checked in the same
        transaction and the created entry records the contact id.
        """
        now = self.now()
        who = canonical_actor_id(actor)
        key = _key(idempotency_key)
        received = _aware(received_at, "received_at") if received_at else now
        if received > now + _CLOCK_SKEW:
            raise ValidationError(
                "received_at is in the future", field="received_at", rule="future"
            )
        fields = {
            "kind": kind,
            "title": title,
            "body": body,
            "unit": unit,
            "channel": channel,
            "requester": requester,
            "metadata": dict(metadata or {}),
        }
        draft = parse(CreateCommand, fields)
        compiled = self._definition_for(draft.kind, definition)
        spec = compiled.definition
        request = Request(
            id=uuid4(),
            kind=draft.kind,
            definition=spec.name,
            definition_version=spec.version,
            state=spec.initial,
            version=1,
            unit=draft.unit,
            title=draft.title,
            body=draft.body,
            channel=draft.channel,
            requester=draft.requester,
            content_hash=content_hash_of(draft.title, draft.body),
            created_by=who,
            contributors=(who,),
            received_at=received,
            created_at=now,
            updated_at=now,
            metadata=draft.metadata,
        )
        request = request.model_copy(update={"deadlines": self._planner.plan(request)})
        fingerprint = (
            self._fingerprint(
                "create", None, who, {**fields, "received_at": received_at}, definition
            )
            if key is not None
            else ""
        )
        with self._store.unit_of_work() as uow:
            replay = self._replayed(uow, key, who, fingerprint)
            if replay is not None:
                return replay
            # the created entry carries the same instant as created_at: a report's
            # cut-off can never fall between the row and its log entry
            ctx = self._context(uow, who, request, now=now)
            if not set(spec.create_roles) & policy.effective_roles(ctx, request):
                need = ", ".join(r.value for r in spec.create_roles)
                raise NotPermittedError(
                    f"creating a {spec.name} request needs one of the roles: {need}",
                    actor=who,
                    trigger="create",
                )
            from .planning import check_requester_contact

            contact = check_requester_contact(uow, request)
            uow.requests.add(request)
            entry = self._append(
                uow,
                request,
                event=AuditEvent.CREATED,
                actor=who,
                ctx=ctx,
                from_state=None,
                trigger="create",
                payload={
                    "definition": spec.key,
                    "channel": request.channel.value,
                    "received_at": request.received_at,
                    **({"contact_id": str(contact.id)} if contact else {}),
                },
            )
            self._remember(uow, key, who, fingerprint, request, entry)
            self._commit(uow)
        self._notify("request_created", request=request, entry=entry)
        return request

    def edit(
        self,
        request_id: UUID | str,
        *,
        actor: str,
        title: str | None = None,
        body: str | None = None,
        reason: str | None = None,
        expected_version: int | None = None,
        idempotency_key: str | None = None,
    ) -> Request:
        """Change the title and/or body; every approval of the old content goes stale."""
        rid = self._request_id(request_id)
        who = canonical_actor_id(actor)
        key = _key(idempotency_key)
        changes = parse(EditCommand, {"title": title, "body": body, "reason": reason})
        fingerprint = (
            self._fingerprint("edit", rid, who, changes.model_dump(), expected_version)
            if key is not None
            else ""
        )
        with self._store.unit_of_work() as uow:
            replay = self._replayed(uow, key, who, fingerprint)
            if replay is not None:
                return replay
            request = self._load(uow, rid, expected_version)
            compiled = self._compiled(request)
            ctx = self._context(uow, who, request)
            self._check_edit(compiled.definition, ctx, request)
            new_title = changes.title if changes.title is not None else request.title
            new_body = changes.body if changes.body is not None else request.body
            digest = content_hash_of(new_title, new_body)
            contributors = tuple(sorted({*request.contributors, who}))
            updated = self._bump(
                request,
                title=new_title,
                body=new_body,
                content_hash=digest,
                contributors=contributors,
            )
            entry = self._write(
                uow,
                request,
                updated,
                event=AuditEvent.EDITED,
                actor=who,
                ctx=ctx,
                trigger="edit",
                payload={
                    "reason": changes.reason,
                    "previous_content_hash": request.content_hash,
                },
            )
            self._remember(uow, key, who, fingerprint, updated, entry)
            self._commit(uow)
        self._notify(
            "request_transitioned", request=updated, entry=entry, trigger="edit"
        )
        return updated

    def _check_edit(
        self,
        definition: WorkflowDefinition,
        ctx: policy.PolicyContext,
        request: Request,
    ) -> None:
        if request.state not in definition.editable_states:
            raise InvalidTransitionError(
                request.state,
                "edit",
                f"content cannot be edited in state {request.state!r}",
            )
        if not set(definition.editor_roles) & policy.effective_roles(ctx, request):
            need = ", ".join(r.value for r in definition.editor_roles)
            raise NotPermittedError(
                f"editing needs one of the roles: {need}",
                actor=ctx.actor,
                trigger="edit",
            )

    def fire(
        self,
        request_id: UUID | str,
        trigger: str,
        *,
        actor: str,
        expected_version: int | None = None,
        idempotency_key: str | None = None,
        **payload: Any,
    ) -> Request:
        """Apply ``trigger`` to the request as ``actor``; return the new request.

        Payload fields the transition requires (``reason``, ``ground``,
        ``reasons``, ``form``...) are keyword arguments. With ``expected_version``
        the call fails with ``ConflictError`` unless the request is still at that
        version. A repeated ``idempotency_key`` applies once and returns the result
        of the first call.
        """
        rid = self._request_id(request_id)
        who = canonical_actor_id(actor)
        key = _key(idempotency_key)
        name = clean_text(trigger, field="trigger", max_length=64)
        data = _payload(payload)
        fingerprint = (
            self._fingerprint(
                "fire", rid, who, {"trigger": name, **data}, expected_version
            )
            if key is not None
            else ""
        )
        with self._store.unit_of_work() as uow:
            replay = self._replayed(uow, key, who, fingerprint)
            if replay is not None:
                return replay
            request, guessed = self._load_known(uow, rid, expected_version)
            # the store may guess the directory version (one read fewer); a stale
            # guess is found before anything is written, and decided again
            args = (uow, request, guessed, name, who, data, expected_version)
            try:
                spec, updated, entry = self._fire_once(*args, guess=True)
            except DirectoryMoved:
                spec, updated, entry = self._fire_once(*args, guess=False)
            self._remember(uow, key, who, fingerprint, updated, entry)
            self._commit(uow)
        self._after_fire(spec, updated, entry)
        return updated

    def _fire_once(
        self,
        uow: UnitOfWork,
        request: Request,
        guessed: bool,
        name: str,
        who: str,
        data: dict[str, Any],
        expected_version: int | None,
        *,
        guess: bool,
    ) -> tuple[TransitionSpec, Request, AuditEntry]:
        """Decide and write one transition (:meth:`fire`, in its unit of work).

        ``guess``: the directory version may be the store's guess (see
        ``ports.DirectoryMoved``); a refusal is then given only once the guess is
        confirmed, and a stale one raises ``DirectoryMoved`` before any write.
        """
        try:
            compiled = self._compiled(request)
            spec, dest = compiled.resolve(request.state, name)
            ctx = self._context(uow, who, request, guess=guess)
            policy.raise_first(
                policy.evaluate(compiled.definition, spec, ctx, request),
                actor=who,
                trigger=name,
            )
            updated, event = self._apply(
                compiled.definition, spec, dest, request, ctx, data
            )
            deadlines = self._planner.on_transition(
                compiled.definition, spec, request, updated, data, ctx.now
            )
        except DirectoryMoved:
            raise
        except Exception as exc:
            directory = uow.directory
            # the guessing protocol's confirm only: a store without
            # lock_guessing never guessed (its confirm, if any, is its own)
            confirm = (
                getattr(directory, "confirm", None)
                if guess and hasattr(directory, "lock_guessing")
                else None
            )
            if confirm is not None and not isinstance(exc, StorageError):
                # decided on a guessed directory: refused only if it was current
                confirm()
            if guessed and not isinstance(exc, (ConflictError, StorageError)):
                # refused on the remembered request: if the stored one has
                # moved on, the answer is the conflict, as an unguessed load
                self._load(uow, rid=request.id, expected=expected_version, hook=False)
            raise
        if deadlines != updated.deadlines:
            updated = model_updated(updated, {"deadlines": deadlines})
        entry = self._write(
            uow,
            request,
            updated,
            event=event,
            actor=who,
            ctx=ctx,
            trigger=name,
            payload={**data, **_deadline_changes(request, updated)},
        )
        return spec, updated, entry

    def _apply(
        self,
        definition: WorkflowDefinition,
        spec: TransitionSpec,
        dest: str,
        request: Request,
        ctx: policy.PolicyContext,
        data: Mapping[str, Any],
    ) -> tuple[Request, AuditEvent]:
        for field in spec.requires:
            value = data.get(field)
            if value is None or (isinstance(value, str) and not value.strip()):
                raise MissingPayloadError(spec.trigger, field)
        changes: dict[str, Any] = {"state": dest}
        event = AuditEvent.TRANSITIONED
        if spec.action is Action.APPROVE:
            event = AuditEvent.APPROVED
            changes = self._approve(definition, spec, dest, request, ctx)
        elif spec.action is Action.RELEASE:
            changes["release"] = self._release_record(data, request, ctx)
        elif spec.action is Action.REFUSE:
            changes["refusal"] = self._refusal_record(definition, data, ctx)
        elif spec.action is Action.REVISE:
            changes["approvals"] = tuple(
                a
                if a.revoked
                else a.model_copy(
                    update={
                        "revoked": True,
                        "revoked_by": ctx.actor,
                        "revoked_reason": str(data.get("reason", spec.trigger))[
                            :MAX_SHORT
                        ],
                    }
                )
                for a in request.approvals
            )
        return self._bump(request, **changes), event

    def _approve(
        self,
        definition: WorkflowDefinition,
        spec: TransitionSpec,
        dest: str,
        request: Request,
        ctx: policy.PolicyContext,
    ) -> dict[str, Any]:
        assert spec.stage is not None  # checked by the definition
        approval = Approval(
            stage=spec.stage,
            actor=ctx.actor,
            roles=tuple(sorted(policy.effective_roles(ctx, request) & set(spec.roles))),
            content_hash=request.content_hash,
            at=ctx.now,
        )
        approvals = (*request.approvals, approval)
        have = 1 + len(request.valid_approvals(spec.stage))
        reached = have >= policy.stage_quorum(definition, spec.stage)
        return {"approvals": approvals, "state": dest if reached else request.state}

    def _release_record(
        self, data: Mapping[str, Any], request: Request, ctx: policy.PolicyContext
    ) -> Release:
        form = parse(ReleasePayload, {"form": data.get("form")}).form
        auth = ctx.authorised_for(request)
        via_auth = auth is not None and not (ctx.roles & policy.SPEAKER_ROLES)
        return Release(
            form=form,
            by=ctx.actor,
            at=ctx.now,
            content_hash=request.content_hash,
            authorisation_id=auth.id if via_auth and auth else None,
        )

    def _refusal_record(
        self,
        definition: WorkflowDefinition,
        data: Mapping[str, Any],
        ctx: policy.PolicyContext,
    ) -> Refusal:
        parsed = parse(
            RefusalPayload,
            {"ground": data.get("ground"), "reasons": data.get("reasons")},
        )
        allowed = REFUSAL_GROUNDS_BY_FAMILY[definition.refusal_family]
        if parsed.ground not in allowed:
            raise ValidationError(
                f"ground {parsed.ground.value!r} is not a"
                f" {definition.refusal_family.value} refusal ground",
                field="ground",
                rule="refusal_family",
            )
        return Refusal(
            ground=parsed.ground, reasons=parsed.reasons, by=ctx.actor, at=ctx.now
        )

    def _after_fire(
        self, spec: TransitionSpec, request: Request, entry: AuditEntry
    ) -> None:
        self._notify(
            "request_transitioned", request=request, entry=entry, trigger=spec.trigger
        )
        if spec.action is Action.APPROVE:
            self._notify(
                "request_approved", request=request, entry=entry, stage=spec.stage
            )
        elif spec.action is Action.RELEASE:
            self._notify("request_released", request=request, entry=entry)
        elif spec.action is Action.REFUSE:
            self._notify("request_refused", request=request, entry=entry)

    # -- decisions outside the state graph ------------------------------------

    def classify(
        self,
        request_id: UUID | str,
        classification: str,
        *,
        actor: str,
        reason: str,
        grounds: Iterable[RefusalGround | str] = (),
        expected_version: int | None = None,
    ) -> Request:
        """Set the classification (the release gate reads it).

        Restricting needs one of the definition's ``classifier_roles``; lifting a
        restriction back to public needs the head (LATI Art. 7(3) public-interest
        override, or consent recorded in ``reason``).
        """
        from .decisions import classify_request

        return classify_request(
            self,
            self._request_id(request_id),
            classification,
            actor=actor,
            reason=reason,
            grounds=grounds,
            expected_version=expected_version,
        )

    def revoke_approval(
        self,
        request_id: UUID | str,
        *,
        actor: str,
        stage: str,
        reason: str,
        expected_version: int | None = None,
    ) -> Request:
        """Revoke a valid approval of ``stage``; the release gate then needs a new one.

        The approver may revoke their own; the head or spokesperson any.
        """
        from .decisions import revoke_approval

        return revoke_approval(
            self,
            self._request_id(request_id),
            actor=actor,
            stage=stage,
            reason=reason,
            expected_version=expected_version,
        )

    # -- shared machinery (used by decisions, directory and audit modules) ----

    def _request_id(self, value: UUID | str) -> UUID:
        if isinstance(value, UUID):
            return value
        try:
            if type(value) is str:
                return _parsed_uuid(value)
            return UUID(str(value))
        except ValueError as exc:
            raise ValidationError(
                "request_id is not a UUID", field="request_id", rule="uuid"
            ) from exc

    def _definition_for(self, kind: RequestKind, name: str | None) -> CompiledWorkflow:
        if name is None:
            return self.definitions.default_for(kind)
        base, _, version = name.partition("@")
        if version and not version.isdigit():
            raise ValidationError(
                "definition must be 'name' or 'name@version'", field="definition"
            )
        return self.definitions.get(base, int(version) if version else None)

    def _compiled(self, request: Request) -> CompiledWorkflow:
        return self.definitions.get(request.definition, request.definition_version)

    def _load(
        self, uow: UnitOfWork, rid: UUID, expected: int | None, *, hook: bool = True
    ) -> Request:
        """The stored request, checked against its audit trail, at ``expected``.

        Every decision path loads through here (or takes a request the store
        remembers committing, which the compare-and-set confirms): a stored row
        that disagrees with its audit trail -- changed outside the engine -- is
        refused with ``IntegrityError`` before any decision is made on it.
        """
        request = uow.requests.get(rid)
        if hook:
            self._call_hook("after_load")
        if expected is not None and request.version != expected:
            raise ConflictError(
                f"request {rid} is at version {request.version}, not {expected}",
                request_id=str(rid),
                expected_version=expected,
                actual_version=request.version,
            )
        self._check_trail(uow, request)
        return request

    @staticmethod
    def _check_trail(uow: UnitOfWork, request: Request) -> None:
        """Refuse a request whose stored state its audit entries do not rebuild."""
        entries = request_entries(uow, request.id)
        # READ COMMITTED: this read may already see a concurrent writer's newer
        # entries; those are the compare-and-set's business (ConflictError), so
        # the trail is replayed up to the version that was loaded
        loaded = request.version
        problem = request_trail_problem(
            request,
            (
                e
                for e in entries or ()
                if e.request_version is None or e.request_version <= loaded
            ),
        )
        if problem is not None:
            raise IntegrityError(
                f"request {request.id} disagrees with its audit trail ({problem});"
                " nothing is decided on it until it is repaired (see verify())",
                request_id=str(request.id),
                problem=problem,
            )

    def _load_known(
        self, uow: UnitOfWork, rid: UUID, expected: int | None
    ) -> tuple[Request, bool]:
        """The request as the store remembers committing it at ``expected``.

        True with it: a guess the compare-and-set confirms. Else :meth:`_load`.
        """
        if expected is not None:
            known = uow.requests.known(rid, expected)
            if known is not None:
                self._call_hook("after_load")
                return known, True
        return self._load(uow, rid, expected), False

    def _context(
        self,
        uow: UnitOfWork,
        actor: str,
        request: Request,
        *,
        now: datetime | None = None,
        guess: bool = False,
    ) -> policy.PolicyContext:
        """Who ``actor`` is for ``request`` now (``now``: an instant already read).

        ``guess``: the store's ``lock_guessing`` where it has one (see
        ``ports.DirectoryMoved``).
        """
        directory = uow.directory
        guessing = getattr(directory, "lock_guessing", None) if guess else None
        if guessing is not None:
            guessing()
        else:
            directory.lock()
        if self._role_provider is not None:
            roles = self._provided_roles(actor, request.unit)
        else:
            roles = frozenset(
                g.role
                for g in uow.directory.grants(actor=actor)
                if g.covers(request.unit)
            )
        auths = tuple(uow.directory.authorisations(actor=actor, request_id=request.id))
        return policy.PolicyContext(
            actor=actor,
            roles=roles,
            authorisations=auths,
            now=self.now() if now is None else now,
            host_guards=self._guards,
        )

    def _provided_roles(self, actor: str, unit: str) -> frozenset[Role]:
        assert self._role_provider is not None
        try:
            return frozenset(
                Role(r) for r in self._role_provider.roles_for(actor, unit)
            )
        except Exception as exc:  # fail closed: a broken provider grants nothing
            raise NotPermittedError(
                f"the host role provider failed: {exc!r}", actor=actor
            ) from exc

    def _bump(self, request: Request, **changes: Any) -> Request:
        changes.update(version=request.version + 1, updated_at=self.now())
        return model_updated(request, changes)

    def _write(
        self,
        uow: UnitOfWork,
        before: Request,
        after: Request,
        *,
        event: AuditEvent,
        actor: str,
        ctx: policy.PolicyContext,
        trigger: str,
        payload: Mapping[str, Any],
    ) -> AuditEntry:
        uow.requests.update(after, expected_version=before.version)
        return self._append(
            uow,
            after,
            event=event,
            actor=actor,
            ctx=ctx,
            from_state=before.state,
            trigger=trigger,
            payload=payload,
        )

    def _append(
        self,
        uow: UnitOfWork,
        request: Request,
        *,
        event: AuditEvent,
        actor: str,
        ctx: policy.PolicyContext,
        from_state: str | None,
        trigger: str,
        payload: Mapping[str, Any],
    ) -> AuditEntry:
        roles = policy.effective_roles(ctx, request)
        return uow.audit.append_next(
            ledger_for(str(request.id), uow.audit.ledger_count),
            {
                "event": event,
                "request_id": request.id,
                "request_version": request.version,
                "request_kind": request.kind,
                "unit": request.unit,
                "from_state": from_state,
                "to_state": request.state,
                "trigger": trigger,
                "actor": actor,
                "roles": _role_names(roles),
                "at": ctx.now,
                "payload": {
                    **payload,
                    "definition": f"{request.definition}@{request.definition_version}",
                },
                "content_hash": request.content_hash,
            },
        )

    def _fingerprint(
        self, op: str, rid: UUID | None, actor: str, data: Mapping[str, Any], extra: Any
    ) -> str:
        body = {
            "op": op,
            "request": str(rid),
            "actor": actor,
            "data": {k: v for k, v in data.items() if v is not None},
            "extra": str(extra),
        }
        try:
            return sha256_hex(canonical_bytes(body))
        except ValidationError:
            return sha256_hex(repr(body).encode())

    def _replayed(
        self, uow: UnitOfWork, key: str | None, actor: str, fingerprint: str
    ) -> Request | None:
        if key is None:
            return None
        record = uow.idempotency.get(key)
        if record is None:
            return None
        if record.actor != actor or record.fingerprint != fingerprint:
            raise IdempotencyKeyReuseError(
                f"idempotency key {key!r} was used for a different command",
                request_id=str(record.request_id),
            )
        return record.result

    def _remember(
        self,
        uow: UnitOfWork,
        key: str | None,
        actor: str,
        fingerprint: str,
        request: Request,
        entry: AuditEntry,
    ) -> None:
        if key is None:
            return
        uow.idempotency.put(
            IdempotencyRecord(
                key=key,
                actor=actor,
                fingerprint=fingerprint,
                request_id=request.id,
                request_version=request.version,
                entry_hash=entry.hash,
                result=request,
            )
        )

    def _commit(self, uow: UnitOfWork) -> None:
        self._call_hook("before_commit")
        uow.commit()
        self._call_hook("after_commit")

    def _call_hook(self, point: str) -> None:
        if self._hook is not None:
            self._hook(point)

    def _notify(self, name: str, **payload: Any) -> None:
        later = getattr(self._store, "after_host_commit", None)
        if later is not None:
            # joined to a host's transaction: send once the host commits (dropped
            # on rollback), as the flow it was joined from
            sender = self._joined_from or self
            frozen = {
                k: v.model_copy(deep=True) if isinstance(v, BaseModel) else v
                for k, v in payload.items()
            }
            later(lambda: sender._notify_now(name, **frozen))
            return
        self._notify_now(name, **payload)

    def _notify_now(self, name: str, **payload: Any) -> None:
        signal = getattr(signals, name)
        if signal.receivers and not signal.is_muted:
            # receivers get their own deep copies: a receiver that mutates a nested
            # dict (``entry.payload``, ``request.metadata``) must not reach stored
            # data. Copies are made only when someone listens.
            frozen = {
                k: v.model_copy(deep=True) if isinstance(v, BaseModel) else v
                for k, v in payload.items()
            }
            signals.send_isolated(signal, self, **frozen)
        entry = payload.get("entry")
        written = signals.audit_entry_written
        # one audit_entry_written per entry: approved/released/refused follow a
        # request_transitioned for the same entry, which already sent it
        if (
            entry is not None
            and name in ("request_created", "request_transitioned")
            and written.receivers
            and not written.is_muted
        ):
            signals.send_isolated(written, self, entry=entry.model_copy(deep=True))
