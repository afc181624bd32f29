"""The annual communication plan and the media network (seed letter points 4-6).

* :class:`CommsPlan` -- one plan per organisation unit and year, with
  items (:class:`PlanItem`) across the policy lifecycle (planning, drafting, finalising,
  issuing, implementing). A comms officer drafts it and submits it; the head approves
  it (never the person who submitted it). Requests link to plan items, and
  :meth:`PlanService.progress` says which items are done, late or not started, and
  which released requests were not planned.
* :class:`PressContact` -- press agencies and journalists (with press card numbers);
  :class:`CommissionedTask` -- communication work commissioned from a press agency
  (*đặt hàng*) against a plan item, with budget and outcome.

Every change is stored with a compare-and-set on the record's version and writes an
audit entry on its own stream (``planning`` or ``media``), sealed by the same helper
the directory uses. Deny by default: only the roles named on each method may call it.
Available as ``flow.plans`` and ``flow.media``.

Modules: :mod:`.models` (the records and their enums), :mod:`.plans`
(:class:`PlanService`), :mod:`.draft_comments` (comments on policy drafts),
:mod:`.progress` (:func:`compute_progress`), :mod:`.media` (:class:`MediaService`),
:mod:`.contacts` (requests naming a press contact), :mod:`.streams` (the audit
streams), :mod:`.access` (role checks) and :mod:`.records` (shared parsing and
versioning helpers).
"""

from __future__ import annotations

from .contacts import check_requester_contact
from .draft_comments import stage_of_state
from .media import MediaService
from .models import (
    CommissionedTask,
    CommsPlan,
    ContactKind,
    ItemProgress,
    ItemStatus,
    PlanItem,
    PlanProgress,
    PlanStage,
    PlanState,
    PressContact,
    TaskState,
)
from .plans import PlanService
from .progress import compute_progress
from .records import _uuid as _uuid  # imported by releaseflow.reports.plans
from .streams import MEDIA_STREAM, PLANNING_STREAM

__all__ = [
    "MEDIA_STREAM",
    "PLANNING_STREAM",
    "CommissionedTask",
    "CommsPlan",
    "ContactKind",
    "ItemProgress",
    "ItemStatus",
    "MediaService",
    "PlanItem",
    "PlanProgress",
    "PlanService",
    "PlanStage",
    "PlanState",
    "PressContact",
    "TaskState",
    "check_requester_contact",
    "compute_progress",
    "stage_of_state",
]
