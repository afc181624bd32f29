"""Hostile and wrong input: every failure is typed and changes nothing (T30, T34, T36).

"Changes nothing" is checked by comparing the stored request (state, version, every
field) and the total audit entry count before and after the call.
"""

# ruff: noqa: RUF001, RUF003 - look-alike characters are the point

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from uuid import uuid4

import pytest

import releaseflow as rf
from releaseflow.exceptions import (
    ConflictError,
    IdempotencyKeyReuseError,
    InvalidTransitionError,
    MissingPayloadError,
    NotPermittedError,
    ReleaseflowError,
    RequestNotFoundError,
    SeparationOfDutiesError,
    UnknownTriggerError,
    ValidationError,
)
from tests.conftest import new_inquiry, to_approved
from tests.core.conftest import audit_count, unchanged

FORM = {"form": "written_answer"}


# -- step skipping (T30) -----------------------------------------------------------


@pytest.mark.parametrize(
    ("steps", "trigger", "payload"),
    [
        ([], "release", FORM),
        (["triage"], "release", FORM),
        (["triage", "submit"], "release", FORM),
        (["triage", "submit"], "approve_release", {}),
        (["triage"], "approve_review", {}),
        ([], "report", {}),
        (["triage"], "report", {}),
        (["triage"], "retract", {"reason": "x"}),
        (["triage"], "correct", {"reason": "x"}),
    ],
)
def test_steps_cannot_be_skipped(
    staffed: rf.ReleaseFlow, steps: list[str], trigger: str, payload: dict[str, Any]
) -> None:
    """Release from drafting, report before release...: InvalidTransitionError, no change."""
    flow = staffed
    request = new_inquiry(flow)
    actors = {"triage": "spoke.tran", "submit": "comms.nguyen"}
    for step in steps:
        request = flow.fire(request.id, step, actor=actors[step])
    with unchanged(flow, request.id), pytest.raises(InvalidTransitionError) as caught:
        flow.fire(request.id, trigger, actor="head.pham", **payload)
    assert type(caught.value) is InvalidTransitionError
    assert (caught.value.state, caught.value.trigger) == (request.state, trigger)


def test_closed_request_accepts_nothing(staffed: rf.ReleaseFlow) -> None:
    """After report the request is final: every trigger, edit and classify is refused."""
    flow = staffed
    request = to_approved(flow, new_inquiry(flow))
    flow.fire(request.id, "release", actor="spoke.tran", **FORM)
    request = flow.fire(request.id, "report", actor="spoke.tran")
    assert request.state == "closed"
    definition = flow.definitions.get("press_inquiry").definition
    for trigger in sorted(definition.triggers):
        with unchanged(flow, request.id), pytest.raises(InvalidTransitionError):
            flow.fire(request.id, trigger, actor="head.pham", reason="x", **FORM)
    with unchanged(flow, request.id), pytest.raises(InvalidTransitionError):
        flow.edit(request.id, actor="comms.nguyen", body="x")
    with unchanged(flow, request.id), pytest.raises(InvalidTransitionError):
        flow.classify(request.id, "consent_required", actor="head.pham", reason="x")


# -- fire: the typed error for each kind of bad call ---------------------------------


def _case(flow: rf.ReleaseFlow) -> rf.Request:
    return flow.fire(new_inquiry(flow).id, "triage", actor="spoke.tran")


@pytest.mark.parametrize(
    ("trigger", "actor", "payload", "error"),
    [
        ("publish", "spoke.tran", {}, UnknownTriggerError),
        ("Submit", "comms.nguyen", {}, UnknownTriggerError),
        ("", "comms.nguyen", {}, UnknownTriggerError),
        ("submit\x00", "comms.nguyen", {}, ValidationError),
        ("x" * 65, "comms.nguyen", {}, ValidationError),
        ("approve_review", "review.le", {}, InvalidTransitionError),  # wrong state
        ("submit", "review.le", {}, NotPermittedError),  # missing role
        ("submit", "nobody", {}, NotPermittedError),  # no role at all
        ("submit", "auditor.ly", {}, NotPermittedError),
        ("submit", "admin", {}, NotPermittedError),
        ("submit", "comms nguyen", {}, ValidationError),  # bad actor id
        ("submit", "", {}, ValidationError),
        ("submit", "comms.nguyen", {"note": "a\x00b"}, ValidationError),
        ("submit", "comms.nguyen", {"note": "\u202etxt"}, ValidationError),
        ("submit", "comms.nguyen", {"note": "x" * 10_001}, ValidationError),
        ("submit", "comms.nguyen", {"note": ["ok", "\x00"]}, ValidationError),
        ("submit", "comms.nguyen", {"note": {"k": "\ud800"}}, ValidationError),
        ("submit", "comms.nguyen", {"note": 1.5}, ValidationError),
        ("submit", "comms.nguyen", {"note": float("nan")}, ValidationError),
        ("submit", "comms.nguyen", {"note": 10**5000}, ValidationError),
        ("submit", "comms.nguyen", {"note": {1, 2}}, ValidationError),
        ("submit", "comms.nguyen", {"note": b"bytes"}, ValidationError),
        ("submit", "comms.nguyen", {"when": datetime(2026, 1, 1)}, ValidationError),
        ("refuse", "spoke.tran", {"reasons": "x"}, MissingPayloadError),
        (
            "refuse",
            "spoke.tran",
            {"ground": "criminal_case_pending"},
            MissingPayloadError,
        ),
        (
            "refuse",
            "spoke.tran",
            {"ground": "criminal_case_pending", "reasons": "   "},
            MissingPayloadError,
        ),
        (
            "refuse",
            "spoke.tran",
            {"ground": "nonsense", "reasons": "x"},
            ValidationError,
        ),
        (
            "refuse",
            "spoke.tran",
            {"ground": "d_provided_twice", "reasons": "x"},  # an LATI ground
            ValidationError,
        ),
        ("withdraw", "spoke.tran", {}, MissingPayloadError),
        ("withdraw", "spoke.tran", {"reason": None}, MissingPayloadError),
    ],
)
def test_bad_fire_is_typed_and_changes_nothing(
    staffed: rf.ReleaseFlow,
    trigger: str,
    actor: str,
    payload: dict[str, Any],
    error: type[ReleaseflowError],
) -> None:
    """Each malformed or forbidden fire raises its own typed error and changes nothing."""
    flow = staffed
    request = _case(flow)
    with unchanged(flow, request.id), pytest.raises(error):
        flow.fire(request.id, trigger, actor=actor, **payload)


def test_deep_payload_is_a_validation_error(staffed: rf.ReleaseFlow) -> None:
    """A payload nested 100,000 deep is a ValidationError, never RecursionError."""
    flow = staffed
    request = _case(flow)
    deep: list[Any] = []
    for _ in range(100_000):
        deep = [deep]
    with unchanged(flow, request.id), pytest.raises(ValidationError):
        flow.fire(request.id, "submit", actor="comms.nguyen", note=deep)


@pytest.mark.parametrize("form", ["leaflet", "", None, 3])
def test_release_with_bad_form_changes_nothing(
    staffed: rf.ReleaseFlow, form: Any
) -> None:
    """An unknown or missing release form is refused and the request stays approved."""
    flow = staffed
    request = to_approved(flow, new_inquiry(flow))
    with (
        unchanged(flow, request.id),
        pytest.raises((ValidationError, MissingPayloadError)),
    ):
        flow.fire(request.id, "release", actor="spoke.tran", form=form)


def test_unknown_request_and_bad_ids(staffed: rf.ReleaseFlow) -> None:
    """A missing id is RequestNotFound; a non-UUID id is a ValidationError."""
    flow = staffed
    with unchanged(flow), pytest.raises(RequestNotFoundError):
        flow.fire(uuid4(), "triage", actor="spoke.tran")
    for bad in ("not-a-uuid", "", "'; DROP TABLE requests; --"):
        with unchanged(flow), pytest.raises(ValidationError):
            flow.fire(bad, "triage", actor="spoke.tran")


def test_stale_expected_version_conflicts(staffed: rf.ReleaseFlow) -> None:
    """A transition with an old expected_version raises ConflictError with both versions."""
    flow = staffed
    request = new_inquiry(flow)
    moved = flow.fire(request.id, "triage", actor="spoke.tran", expected_version=1)
    assert moved.version == 2
    with unchanged(flow, request.id), pytest.raises(ConflictError) as caught:
        flow.fire(request.id, "submit", actor="comms.nguyen", expected_version=1)
    assert (caught.value.expected_version, caught.value.actual_version) == (1, 2)
    for future in (3, 0, -1):
        with unchanged(flow, request.id), pytest.raises(ConflictError):
            flow.fire(
                request.id, "submit", actor="comms.nguyen", expected_version=future
            )


def test_aba_state_does_not_fool_the_version_check(staffed: rf.ReleaseFlow) -> None:
    """Drafting -> in_review -> drafting: same state, old version still conflicts."""
    flow = staffed
    request = _case(flow)
    seen = request.version
    flow.fire(request.id, "submit", actor="comms.nguyen")
    back = flow.fire(
        request.id, "return_for_revision", actor="review.le", reason="Sửa lại."
    )
    assert back.state == request.state
    with unchanged(flow, request.id), pytest.raises(ConflictError):
        flow.fire(request.id, "submit", actor="comms.nguyen", expected_version=seen)


def test_self_approval_via_fire_changes_nothing(staffed: rf.ReleaseFlow) -> None:
    """Self-approval is a SeparationOfDutiesError with no entry written."""
    flow = staffed
    flow.directory.grant("comms.nguyen", "reviewer", unit="agency", by="admin")
    request = flow.fire(_case(flow).id, "submit", actor="comms.nguyen")
    with unchanged(flow, request.id), pytest.raises(SeparationOfDutiesError):
        flow.fire(request.id, "approve_review", actor="comms.nguyen")


# -- create and edit ---------------------------------------------------------------


@pytest.mark.parametrize(
    "override",
    [
        {"kind": "press_release_of_doom"},
        {"title": "x" * 2001},
        {"title": "Tiêu đề\x00"},
        {"title": "\u202eTiêu đề"},
        {"body": "x" * 100_001},
        {"body": "a\x1b[31mred"},
        {"body": 42},
        {"unit": "../etc"},
        {"unit": "agency name"},
        {"unit": "agency//x"},
        {"channel": "carrier_pigeon"},
        {"requester": {"type": "alien", "name": "x"}},
        {"requester": {"type": "journalist", "name": "x", "extra": 1}},
        {"metadata": {"x": 1.5}},
        {"metadata": {"x": ["\x00"]}},
        {"metadata": {"x": 10**5000}},
        {"received_at": datetime(2026, 1, 1)},
        {"received_at": datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=5)))},
        {"received_at": datetime(2099, 1, 1, tzinfo=UTC)},  # future
        {"actor": "аdmin"},  # Cyrillic а
        {"definition": "press_inquiry@x"},
        {"definition": "no_such_definition"},
        {"idempotency_key": "   "},
        {"idempotency_key": "k" * 201},
    ],
)
def test_bad_create_is_typed_and_writes_nothing(
    staffed: rf.ReleaseFlow, override: dict[str, Any]
) -> None:
    """Oversize/control text, naive times, unknown kinds...: typed error, no request."""
    flow = staffed
    before = audit_count(flow)
    with pytest.raises(ReleaseflowError):
        new_inquiry(flow, **override) if "kind" not in override else flow.create(
            override["kind"],
            title="t",
            body="b",
            actor="comms.nguyen",
            unit="agency",
        )
    assert audit_count(flow) == before
    assert flow.find() == []


def test_create_needs_a_create_role(staffed: rf.ReleaseFlow) -> None:
    """A reviewer cannot create a press inquiry."""
    flow = staffed
    with unchanged(flow), pytest.raises(NotPermittedError):
        new_inquiry(flow, actor="review.le")
    assert flow.find() == []


def test_create_at_exact_length_limits_succeeds(staffed: rf.ReleaseFlow) -> None:
    """Title of 2,000 and body of 100,000 characters (non-BMP) are accepted intact."""
    flow = staffed
    request = new_inquiry(flow, title="😀" * 2000, body="𝄞" * 100_000)
    stored = flow.get(request.id)
    assert (len(stored.title), len(stored.body)) == (2000, 100_000)
    assert flow.audit.verify().ok


def test_nfd_input_is_stored_as_nfc(staffed: rf.ReleaseFlow) -> None:
    """NFD title/body are normalised at the edge; the content hash equals the NFC one."""
    import unicodedata

    flow = staffed
    nfd = unicodedata.normalize("NFD", "Thông cáo Đà Nẵng")
    a = new_inquiry(flow, title=nfd, body=nfd)
    b = new_inquiry(flow, title="Thông cáo Đà Nẵng", body="Thông cáo Đà Nẵng")
    assert a.title == "Thông cáo Đà Nẵng"
    assert a.content_hash == b.content_hash


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"body": "x\x00"}, ValidationError),
        ({"title": "x" * 2001}, ValidationError),
        ({"body": "ok", "reason": "\u202e"}, ValidationError),
        ({"body": "ok", "actor": "review.le"}, NotPermittedError),
        ({"body": "ok", "expected_version": 1}, ConflictError),
    ],
)
def test_bad_edit_changes_nothing(
    staffed: rf.ReleaseFlow, kwargs: dict[str, Any], error: type[Exception]
) -> None:
    """Edits with control chars, oversize text, no editor role or stale version fail cleanly."""
    flow = staffed
    request = _case(flow)
    kwargs = {"actor": "comms.nguyen", **kwargs}
    with unchanged(flow, request.id), pytest.raises(error):
        flow.edit(request.id, **kwargs)


# -- idempotency --------------------------------------------------------------------


def test_same_key_twice_applies_once(staffed: rf.ReleaseFlow) -> None:
    """A retried fire with the same key returns the first result and writes nothing."""
    flow = staffed
    request = _case(flow)
    first = flow.fire(request.id, "submit", actor="comms.nguyen", idempotency_key="k-1")
    before = audit_count(flow)
    again = flow.fire(request.id, "submit", actor="comms.nguyen", idempotency_key="k-1")
    assert again == first
    assert audit_count(flow) == before
    assert flow.get(request.id).version == first.version


def test_same_key_for_create_applies_once(staffed: rf.ReleaseFlow) -> None:
    """Create with a repeated key returns the same request; only one exists."""
    flow = staffed
    a = new_inquiry(flow, idempotency_key="create-1")
    b = new_inquiry(flow, idempotency_key="create-1")
    assert a == b
    assert [r.id for r in flow.find()] == [a.id]


def test_same_key_for_edit_applies_once(staffed: rf.ReleaseFlow) -> None:
    """Edit with a repeated key returns the first result; version moves once."""
    flow = staffed
    request = _case(flow)
    a = flow.edit(request.id, actor="comms.nguyen", body="Mới.", idempotency_key="e")
    b = flow.edit(request.id, actor="comms.nguyen", body="Mới.", idempotency_key="e")
    assert a == b
    assert flow.get(request.id).version == request.version + 1


@pytest.mark.parametrize(
    "change",
    [
        {"trigger": "withdraw", "reason": "khác"},
        {"actor": "spoke.tran"},
        {"reason": "lý do khác"},
        {"request": "other"},
    ],
)
def test_same_key_different_command_is_refused(
    staffed: rf.ReleaseFlow, change: dict[str, Any]
) -> None:
    """Reusing a key for another trigger, actor, payload or request: KeyReuse, no change."""
    flow = staffed
    request = _case(flow)
    other = _case(flow)
    call: dict[str, Any] = {
        "trigger": "withdraw",
        "actor": "coord.bui",
        "reason": "Không còn cần.",
    }
    first = flow.fire(request.id, idempotency_key="shared", **call)
    call.update(change)
    target = other.id if call.pop("request", None) else request.id
    with unchanged(flow, target), pytest.raises(IdempotencyKeyReuseError):
        flow.fire(target, idempotency_key="shared", **call)
    assert flow.get(request.id) == first


def test_failed_call_does_not_consume_its_key(staffed: rf.ReleaseFlow) -> None:
    """A call that fails leaves its key unused: the corrected retry applies."""
    flow = staffed
    request = _case(flow)
    with pytest.raises(MissingPayloadError):
        flow.fire(request.id, "withdraw", actor="coord.bui", idempotency_key="w")
    done = flow.fire(
        request.id, "withdraw", actor="coord.bui", idempotency_key="w", reason="x"
    )
    assert done.state == "withdrawn"
    assert flow.get(request.id) == done
