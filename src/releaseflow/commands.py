"""Command shapes validated at the edge of the service layer (private)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from .models import JsonObject, Requester, UnitPath
from .text import ShortText, Text
from .vocabulary import Channel, Classification, RefusalGround, ReleaseForm, RequestKind

__all__ = [
    "ClassifyCommand",
    "CreateCommand",
    "EditCommand",
    "RefusalPayload",
    "ReleasePayload",
]


class _Command(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CreateCommand(_Command):
    """Arguments of ``ReleaseFlow.create``."""

    kind: RequestKind
    title: ShortText
    body: Text
    unit: UnitPath
    channel: Channel
    requester: Requester | None
    metadata: JsonObject


class EditCommand(_Command):
    """Arguments of ``ReleaseFlow.edit``."""

    title: ShortText | None
    body: Text | None
    reason: ShortText | None


class ClassifyCommand(_Command):
    """Arguments of ``ReleaseFlow.classify``."""

    classification: Classification
    grounds: tuple[RefusalGround, ...]
    reason: ShortText


class ReleasePayload(_Command):
    """The payload a release transition needs."""

    form: ReleaseForm


class RefusalPayload(_Command):
    """The payload a refusal transition needs."""

    ground: RefusalGround
    reasons: ShortText
