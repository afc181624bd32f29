"""A report as a workflow item: a ``report_request`` whose body is the report.

:func:`submit_report` puts the canonical JSON of a report into a ``report_request``
(a new one, or an existing one still being drafted). From then on the ordinary
workflow applies: drafted -> approved by the head -> submitted (release form
``report_submitted``). Every audit entry carries the content hash of title and body,
so once submitted the report is frozen: the workflow allows no edit in ``submitted``
or ``closed``, and :func:`verify_submitted` re-computes the hash of the stored body
and compares it with the audit entry of the submission.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from uuid import UUID

from ..exceptions import IntegrityError, ValidationError
from ..models import Request, content_hash_of
from ..text import MAX_BODY
from ..vocabulary import Channel, RequestKind
from .model import Report
from .render_json import from_json, to_json

if TYPE_CHECKING:
    from ..service import ReleaseFlow

__all__ = ["submit_report", "verify_submitted"]


def submit_report(
    flow: ReleaseFlow,
    report: Report,
    *,
    actor: str,
    title: str,
    unit: str | None = None,
    request_id: UUID | str | None = None,
) -> Request:
    """Store ``report`` as the body of a ``report_request``; return the request.

    Args:
        flow: the engine.
        report: the report to freeze.
        actor: who drafts it (comms officer, coordinating officer or head).
        title: the request title, e.g. "Báo cáo quý III/2026".
        unit: the reporting unit (default: the report's unit).
        request_id: attach to this existing ``report_request`` (e.g. the superior
            body's request, logged on arrival) instead of creating one.

    Raises:
        ValidationError: the report is too large for a request body, no unit is
            known, or ``request_id`` is not a report request.
    """
    body = to_json(report)
    if len(body) > MAX_BODY:
        raise ValidationError(
            f"the report's JSON is {len(body)} characters; a request body holds"
            f" {MAX_BODY}: narrow the unit, kinds or period",
            field="report",
            rule="max_length",
        )
    if request_id is not None:
        existing = flow.get(request_id)
        if existing.kind is not RequestKind.REPORT_REQUEST:
            raise ValidationError(
                "request_id must name a report_request", field="request_id", rule="kind"
            )
        return flow.edit(existing.id, actor=actor, title=title, body=body)
    where = unit or report.meta.unit
    if where is None:
        raise ValidationError("unit is required for an all-units report", field="unit")
    return flow.create(
        RequestKind.REPORT_REQUEST,
        title=title,
        body=body,
        actor=actor,
        unit=where,
        channel=Channel.INTERNAL,
        metadata={"report_period": report.meta.period},
    )


def verify_submitted(flow: ReleaseFlow, request_id: UUID | str) -> Report:
    """Return the frozen report of a submitted report request, after checking it.

    Re-computes the content hash of the stored title and body and compares it with
    the content hash on the audit entry that submitted it.

    Raises:
        ValidationError: the request was never submitted.
        IntegrityError: the stored body no longer matches the audit log.
    """
    request = flow.get(request_id)
    submissions = [e for e in flow.audit.history(request.id) if "form" in e.payload]
    if not submissions:
        raise ValidationError(
            "the report request was never submitted", field="request_id", rule="state"
        )
    stored = content_hash_of(request.title, request.body)
    if stored != submissions[-1].content_hash:
        raise IntegrityError(
            f"report request {request.id}: stored body hash {stored} differs from"
            f" the submission entry's {submissions[-1].content_hash}"
        )
    return from_json(request.body)
