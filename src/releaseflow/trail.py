"""A stored request against its own audit trail (T21: fail closed on divergence).

The audit log is the record; the stored request is what the engine decides on.
:func:`trail_problem` names the first way they disagree -- state, version, content
hash or classification, as a replay of the request's entries rebuilds them -- and
is shared by ``verify()`` (which reports it) and the engine's write path (which
refuses to decide on a request that disagrees, with ``IntegrityError``).
"""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID

from .chain import Replay, ReplayedRequest
from .exceptions import RequestNotFoundError
from .models import AuditEntry, Request
from .ports import UnitOfWork

__all__ = ["request_entries", "request_trail_problem", "trail_problem"]


def request_entries(uow: UnitOfWork, request_id: UUID) -> list[AuditEntry] | None:
    """Every entry of one request, oldest first; None if there is no such request.

    The backend's one-query ``history`` where it has one, else the port's
    ``entries`` filtered by request.
    """
    fetch = getattr(uow.audit, "history", None)
    if fetch is not None:
        found: list[AuditEntry] | None = fetch(request_id)
        return found
    try:
        uow.requests.get(request_id)
    except RequestNotFoundError:
        return None
    return list(uow.audit.entries(request_id=request_id))


def trail_problem(
    replayed: ReplayedRequest | None,
    *,
    state: str,
    version: int,
    content_hash: str,
    classification: str,
) -> str | None:
    """How the stored values disagree with the replayed ones, or None if they agree."""
    if replayed is None:
        return "stored request has no audit entries"
    if replayed.problem:
        return replayed.problem
    if (replayed.state, replayed.version) != (state, version):
        return (
            f"stored state {state!r} v{version} disagrees with the audit replay"
            f" {replayed.state!r} v{replayed.version}"
        )
    if replayed.content_hash != content_hash:
        return (
            f"stored content hash {content_hash[:12]}… disagrees with the audit"
            f" replay {(replayed.content_hash or '')[:12]}…"
        )
    if replayed.classification != classification:
        return (
            f"stored classification {classification!r} disagrees"
            f" with the audit replay {replayed.classification!r}"
        )
    return None


def request_trail_problem(
    request: Request, entries: Iterable[AuditEntry]
) -> str | None:
    """:func:`trail_problem` of ``request`` against its entries (oldest first)."""
    replay = Replay()
    for entry in entries:
        replay.feed(entry)
    return trail_problem(
        replay.replayed(request.id),
        state=request.state,
        version=request.version,
        content_hash=request.content_hash,
        classification=request.classification.value,
    )
