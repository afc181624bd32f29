"""releaseflow: approval workflows, legal deadlines and a tamper-evident audit log.

Everything an agency releases -- an answer to a journalist, a press release, a crisis
statement, a correction, a citizen's information request -- goes draft -> review ->
spokesperson approval -> release -> report, with the right people signing off and
every step sealed on a hash-chained audit log.

>>> import releaseflow as rf
>>> flow = rf.ReleaseFlow.open("memory://")
>>> flow.directory.bootstrap("admin", unit="agency").role
<Role.ADMINISTRATOR: 'administrator'>
"""

from __future__ import annotations

from . import exceptions, signals
from .audit import AuditService
from .chain import BadEntry, VerifyReport
from .definitions import Action, StateSpec, TransitionSpec, WorkflowDefinition
from .directory import DirectoryService
from .exceptions import ReleaseflowError
from .models import (
    Anchor,
    Approval,
    AuditEntry,
    Authorisation,
    ChainHead,
    Grant,
    Refusal,
    Release,
    Request,
    Requester,
    RequestQuery,
    TriggerOption,
)
from .ports import Store, UnitOfWork
from .service import ReleaseFlow, RoleProvider
from .vocabulary import (
    AuditEvent,
    Channel,
    Classification,
    RefusalFamily,
    RefusalGround,
    ReleaseForm,
    RequesterType,
    RequestKind,
    Role,
)
from .workflow import mermaid

__all__ = [
    "Action",
    "Anchor",
    "Approval",
    "AuditEntry",
    "AuditEvent",
    "AuditService",
    "Authorisation",
    "BadEntry",
    "ChainHead",
    "Channel",
    "Classification",
    "DirectoryService",
    "Grant",
    "Refusal",
    "RefusalFamily",
    "RefusalGround",
    "Release",
    "ReleaseFlow",
    "ReleaseForm",
    "ReleaseflowError",
    "Request",
    "RequestKind",
    "RequestQuery",
    "Requester",
    "RequesterType",
    "Role",
    "RoleProvider",
    "StateSpec",
    "Store",
    "TransitionSpec",
    "TriggerOption",
    "UnitOfWork",
    "VerifyReport",
    "WorkflowDefinition",
    "exceptions",
    "mermaid",
    "signals",
]
