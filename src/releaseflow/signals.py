"""Signals a host can connect to (blinker), sent **after** the change is committed.

Every signal's sender is the :class:`~releaseflow.ReleaseFlow` instance; payloads are
frozen models, never storage rows. Each receiver runs in isolation: one that raises is
logged (logger ``releaseflow.signals``) and neither undoes the committed change nor
stops the other receivers.

The durable audit record never depends on a receiver: the engine writes it inside the
transaction. blinker holds receivers weakly by default, so connect a function defined
inside another function with ``weak=False``.

Example::

    from releaseflow import signals

    def on_released(sender, *, request, entry):
        notify_press_office(request.title)

    signals.request_released.connect(on_released)
"""

from __future__ import annotations

import logging
from typing import Any

from blinker import NamedSignal, Namespace

from .models import AuditEntry

__all__ = [
    "audit_entry_written",
    "deadline_due_soon",
    "deadline_missed",
    "log_audit_entry",
    "request_approved",
    "request_created",
    "request_refused",
    "request_released",
    "request_transitioned",
    "send_isolated",
]

_signals = Namespace()
_log = logging.getLogger("releaseflow.signals")
_audit_log = logging.getLogger("releaseflow.audit")

request_created: NamedSignal = _signals.signal(
    "request-created",
    doc="A request was created. Keyword args: ``request`` (Request), ``entry`` (AuditEntry).",
)
request_transitioned: NamedSignal = _signals.signal(
    "request-transitioned",
    doc="Any trigger was applied. Keyword args: ``request`` (the new Request),"
    " ``entry`` (AuditEntry), ``trigger`` (str).",
)
request_approved: NamedSignal = _signals.signal(
    "request-approved",
    doc="An approval was recorded. Keyword args: ``request``, ``entry``, ``stage`` (str).",
)
request_released: NamedSignal = _signals.signal(
    "request-released",
    doc="A request was released. Keyword args: ``request``, ``entry``.",
)
request_refused: NamedSignal = _signals.signal(
    "request-refused",
    doc="A request was refused with a legal ground. Keyword args: ``request``, ``entry``.",
)
audit_entry_written: NamedSignal = _signals.signal(
    "audit-entry-written",
    doc="Every committed audit entry. Keyword arg: ``entry`` (AuditEntry).",
)
deadline_due_soon: NamedSignal = _signals.signal(
    "deadline-due-soon",
    doc="Reserved for the deadline sweep: a deadline is close. Keyword arg: ``deadline``.",
)
deadline_missed: NamedSignal = _signals.signal(
    "deadline-missed",
    doc="Reserved for the deadline sweep: a deadline passed. Keyword arg: ``deadline``.",
)


def send_isolated(
    signal: NamedSignal, sender: Any, **payload: Any
) -> list[BaseException]:
    """Call every receiver of ``signal``; a failing receiver is logged and skipped.

    Returns the exceptions raised by receivers (empty when all succeeded).
    """
    if signal.is_muted or not signal.receivers:
        return []
    failures: list[BaseException] = []
    for receiver in list(signal.receivers_for(sender)):
        try:
            receiver(sender, **payload)
        except Exception as exc:
            failures.append(exc)
            _log.exception(
                "receiver %r of signal %r failed; the change stays committed",
                receiver,
                signal.name,
            )
    return failures


def log_audit_entry(sender: Any, *, entry: AuditEntry, **_: Any) -> None:
    """A ready receiver: write each audit entry as one structured ``logging`` record.

    Connect it to :data:`audit_entry_written` (``weak=False`` is not needed: it is a
    module-level function). The record goes to logger ``releaseflow.audit`` at INFO,
    with the entry's fields under ``extra={"audit": {...}}``.
    """
    data = entry.model_dump(mode="json")
    _audit_log.info(
        "audit %s ledger=%d seq=%d actor=%s request=%s %s->%s",
        data["event"],
        entry.ledger,
        entry.seq,
        entry.actor,
        data["request_id"],
        entry.from_state,
        entry.to_state,
        extra={"audit": data},
    )
