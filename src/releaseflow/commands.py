"""Command shapes validated at the edge of the service layer (private)."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict

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


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


#: A title: short text that is not blank.
Title = Annotated[ShortText, AfterValidator(_not_blank)]


class _Command(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CreateCommand(_Command):
    """Arguments of ``ReleaseFlow.create``."""

    kind: RequestKind
    title: Title
    body: Text
    unit: UnitPath
    channel: Channel
    requester: Requester | None
    metadata: JsonObject


class EditCommand(_Command):
    """Arguments of ``ReleaseFlow.edit``."""

    title: Title | None
    body: Text | None
    reason: ShortText | None


class ClassifyCommand(_Command):
    """Arguments of ``ReleaseFlow.classify``."""

    classification: Classification
    grounds: tuple[RefusalGround, ...]
    reason: Annotated[ShortText, AfterValidator(_not_blank)]


class ReleasePayload(_Command):
    """The payload a release transition needs."""

    form: ReleaseForm


class RefusalPayload(_Command):
    """The payload a refusal transition needs."""

    ground: RefusalGround
    reasons: ShortText
