"""Every error releaseflow raises.

Every failure reaches the caller as a :class:`ReleaseflowError` subclass; driver and
standard-library exceptions are wrapped with ``raise ... from exc``. A failed call
changes nothing: no state change, no audit entry.

The tree::

    ReleaseflowError
    ├── ValidationError            (also ValueError)  bad input; .field, .rule
    │   └── CalendarError                            dates outside the calendar's range, bad counts
    ├── DefinitionError                              a workflow definition is malformed; .path
    ├── NotFoundError              (also LookupError)
    │   ├── RequestNotFoundError                     .request_id
    │   └── DefinitionNotFoundError                  .name, .version
    ├── WorkflowError
    │   ├── InvalidTransitionError                   trigger not allowed now; .state, .trigger
    │   │   └── UnknownTriggerError                  the definition has no such trigger
    │   └── MissingPayloadError                      a required payload field is absent; .field
    ├── PolicyError                                  the actor may not do this; .actor, .trigger
    │   ├── NotPermittedError                        no role / authorisation for it
    │   ├── SeparationOfDutiesError                  author approving own content, reviewer = approver
    │   ├── StaleApprovalError                       approval bound to an older content hash
    │   └── ReleaseBlockedError                      the release gate is shut; .reasons
    ├── ConflictError                                version moved on; .expected_version, .actual_version
    │   └── IdempotencyKeyReuseError                 same key, different command
    ├── IntegrityError                               stored state disagrees with the audit log
    └── StorageError                                 backend failure
        ├── StorageBusyError                         lock / busy timeout: retry the whole call
        ├── StorageUnavailableError                  the database cannot be reached
        ├── StorageFullError                         disk or quota full
        ├── CommitOutcomeUnknownError                connection lost during COMMIT
        ├── UnsafeConfigurationError                 refused at start-up
        └── SchemaOutdatedError                      migrations are pending
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = [
    "CalendarError",
    "CommitOutcomeUnknownError",
    "ConflictError",
    "DefinitionError",
    "DefinitionNotFoundError",
    "IdempotencyKeyReuseError",
    "IntegrityError",
    "InvalidTransitionError",
    "MissingPayloadError",
    "NotFoundError",
    "NotPermittedError",
    "PolicyError",
    "ReleaseBlockedError",
    "ReleaseflowError",
    "RequestNotFoundError",
    "SchemaOutdatedError",
    "SeparationOfDutiesError",
    "StaleApprovalError",
    "StorageBusyError",
    "StorageError",
    "StorageFullError",
    "StorageUnavailableError",
    "UnknownTriggerError",
    "UnsafeConfigurationError",
    "ValidationError",
    "WorkflowError",
]


class ReleaseflowError(Exception):
    """Base class of every error releaseflow raises."""

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = dict(details)

    def __str__(self) -> str:
        return self.message


class ValidationError(ReleaseflowError, ValueError):
    """Input broke a rule; ``field`` names the offending field, ``rule`` the rule."""

    def __init__(
        self, message: str, *, field: str | None = None, rule: str = ""
    ) -> None:
        super().__init__(message, field=field, rule=rule)
        self.field = field
        self.rule = rule


class CalendarError(ValidationError):
    """A date or count the working-day calendar cannot handle."""


class DefinitionError(ReleaseflowError):
    """A workflow definition is malformed; ``path`` points at the bad part."""

    def __init__(self, message: str, *, path: str = "") -> None:
        super().__init__(message, path=path)
        self.path = path


class NotFoundError(ReleaseflowError, LookupError):
    """Something asked for by id does not exist."""


class RequestNotFoundError(NotFoundError):
    """No request has this id."""

    def __init__(self, request_id: object) -> None:
        super().__init__(f"request {request_id} not found", request_id=str(request_id))
        self.request_id = str(request_id)


class DefinitionNotFoundError(NotFoundError):
    """No workflow definition is registered under this name (and version)."""

    def __init__(self, name: str, version: int | None = None) -> None:
        where = f"{name}@{version}" if version is not None else name
        super().__init__(f"workflow definition {where} not registered", name=name)
        self.name = name
        self.version = version


class WorkflowError(ReleaseflowError):
    """The workflow does not allow this."""


class InvalidTransitionError(WorkflowError):
    """The trigger is not allowed from the request's current state."""

    def __init__(self, state: str, trigger: str, message: str | None = None) -> None:
        super().__init__(
            message or f"trigger {trigger!r} is not allowed in state {state!r}",
            state=state,
            trigger=trigger,
        )
        self.state = state
        self.trigger = trigger


class UnknownTriggerError(InvalidTransitionError):
    """The request's workflow definition has no trigger of this name."""

    def __init__(self, state: str, trigger: str) -> None:
        super().__init__(
            state, trigger, f"trigger {trigger!r} is not defined by this workflow"
        )


class MissingPayloadError(WorkflowError):
    """A payload field the transition requires is missing or empty."""

    def __init__(self, trigger: str, field: str) -> None:
        super().__init__(
            f"trigger {trigger!r} requires payload field {field!r}",
            trigger=trigger,
            field=field,
        )
        self.trigger = trigger
        self.field = field


class PolicyError(ReleaseflowError):
    """The actor may not do this; ``reason`` says why."""

    def __init__(self, message: str, *, actor: str = "", trigger: str = "") -> None:
        super().__init__(message, actor=actor, trigger=trigger)
        self.actor = actor
        self.trigger = trigger
        self.reason = message


class NotPermittedError(PolicyError):
    """The actor holds no role or authorisation that allows this."""


class SeparationOfDutiesError(PolicyError):
    """The same person would hold two duties that must stay apart."""


class StaleApprovalError(PolicyError):
    """An approval was given for content that has since changed."""


class ReleaseBlockedError(PolicyError):
    """The release gate is shut; ``reasons`` lists every unmet condition."""

    def __init__(
        self, reasons: Sequence[str], *, actor: str = "", trigger: str = ""
    ) -> None:
        super().__init__(
            "release blocked: " + "; ".join(reasons), actor=actor, trigger=trigger
        )
        self.reasons = tuple(reasons)


class ConflictError(ReleaseflowError):
    """The request changed since it was read (optimistic concurrency)."""

    def __init__(
        self,
        message: str,
        *,
        request_id: str = "",
        expected_version: int | None = None,
        actual_version: int | None = None,
    ) -> None:
        super().__init__(
            message,
            request_id=request_id,
            expected_version=expected_version,
            actual_version=actual_version,
        )
        self.request_id = request_id
        self.expected_version = expected_version
        self.actual_version = actual_version


class IdempotencyKeyReuseError(ConflictError):
    """An idempotency key was reused for a different command."""


class IntegrityError(ReleaseflowError):
    """Stored data disagrees with the audit log; the engine refuses to go on."""


class StorageError(ReleaseflowError):
    """The storage backend failed; nothing was changed unless stated otherwise."""


class StorageBusyError(StorageError):
    """A lock or busy timeout expired; retrying the whole call may succeed."""


class StorageUnavailableError(StorageError):
    """The database could not be reached; nothing was changed."""


class StorageFullError(StorageError):
    """The database ran out of space; nothing was changed."""


class CommitOutcomeUnknownError(StorageError):
    """The connection was lost during COMMIT: the change may or may not be stored.

    Retry with the same idempotency key to learn the outcome.
    """


class UnsafeConfigurationError(StorageError):
    """The database is configured in a way that could lose or corrupt records."""


class SchemaOutdatedError(StorageError):
    """The database schema is older than this release; run the migrations."""
