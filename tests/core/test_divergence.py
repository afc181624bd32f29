"""T21 fail closed: a request that disagrees with its audit trail is never decided on.

An attacker (or a careless script) with write access to the database changes a
stored request outside the engine -- the state, the content, the classification --
without an audit entry. ``verify()`` reports it (``tests/core/test_tamper.py``); the
engine must also refuse every further change of that request with
``IntegrityError`` until it is repaired, and write nothing while refusing.
A store that remembers its own commits decides on what it committed, never on the
altered row, so these tests use a fresh store on the same data (what another
process, or the next start, sees).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

import releaseflow as rf
from releaseflow.exceptions import IntegrityError
from releaseflow.models import content_hash_of
from releaseflow.ports import Store
from releaseflow.storage.memory import InMemoryStore
from releaseflow.storage.sql import SqlStore
from tests.conftest import Clock, make_store, new_inquiry, staff, to_approved

Tamper = Callable[[rf.Request], None]


@pytest.fixture(name="setting")
def _setting(
    backend: str, tmp_path: Path, clock: Clock
) -> Iterator[tuple[rf.ReleaseFlow, Tamper, Callable[[], rf.ReleaseFlow]]]:
    """A staffed flow, a tamper function and a factory of fresh flows.

    The tamper function stores a request behind the engine's back; the factory
    makes a flow on a fresh store over the same data.
    """
    store = make_store(backend, tmp_path)
    flow = staff(rf.ReleaseFlow(store, clock=clock))
    fresh: list[Store] = []

    def tamper(forged: rf.Request) -> None:
        if isinstance(store, InMemoryStore):
            store._data.requests[forged.id] = forged
            return
        assert isinstance(store, SqlStore)
        t = store.tables.requests
        with store.engine.begin() as conn:
            done = conn.execute(
                sa.update(t)
                .where(t.c.id == str(forged.id))
                .values(state=forged.state, doc=forged.model_dump_json())
            )
            assert done.rowcount == 1

    def reopened() -> rf.ReleaseFlow:
        if isinstance(store, InMemoryStore):
            return flow  # it remembers nothing beside the stored rows
        assert isinstance(store, SqlStore)
        twin = SqlStore.open(
            store.engine, table_prefix=store.tables.prefix, migrate=False
        )
        fresh.append(twin)
        return rf.ReleaseFlow(twin, clock=clock)

    yield flow, tamper, reopened
    for twin in fresh:
        twin.close()
    store.close()


def _trail(flow: rf.ReleaseFlow) -> int:
    return sum(h.seq for h in flow.audit.heads())


def test_a_state_set_outside_the_engine_is_never_released(
    setting: tuple[rf.ReleaseFlow, Tamper, Callable[[], rf.ReleaseFlow]],
) -> None:
    flow, tamper, reopened = setting
    request = flow.fire(new_inquiry(flow).id, "triage", actor="spoke.tran")
    tamper(request.model_copy(update={"state": "approved"}))  # skip every review
    other = reopened()
    before = _trail(other)
    with pytest.raises(IntegrityError) as refused:
        other.fire(request.id, "release", actor="spoke.tran", form="written_answer")
    assert refused.value.details["request_id"] == str(request.id)
    assert "state" in str(refused.value)
    for call in (
        lambda: other.fire(request.id, "submit", actor="comms.nguyen"),
        lambda: other.fire(
            request.id,
            "submit",
            actor="comms.nguyen",
            expected_version=request.version,
        ),
        lambda: other.edit(request.id, actor="comms.nguyen", body="Khác."),
        lambda: other.classify(
            request.id,
            "restricted",
            actor="head.pham",
            reason="Mật.",
            grounds=["criminal_case_pending"],
        ),
        lambda: other.revoke_approval(
            request.id, stage="review", actor="head.pham", reason="Thu hồi."
        ),
    ):
        with pytest.raises(IntegrityError):
            call()
    assert _trail(other) == before  # refusing wrote nothing
    assert other.get(request.id).state == "approved"  # reads still show the row
    problems = other.audit.verify().problems
    assert [p.request_id for p in problems] == [request.id]


def test_content_changed_outside_the_engine_is_refused(
    setting: tuple[rf.ReleaseFlow, Tamper, Callable[[], rf.ReleaseFlow]],
) -> None:
    flow, tamper, reopened = setting
    request = to_approved(flow, new_inquiry(flow))
    body = "Nội dung giả."
    tamper(
        request.model_copy(
            update={"body": body, "content_hash": content_hash_of(request.title, body)}
        )
    )
    other = reopened()
    with pytest.raises(IntegrityError, match="content"):
        other.fire(request.id, "release", actor="spoke.tran", form="written_answer")


def test_a_repaired_request_moves_again(
    setting: tuple[rf.ReleaseFlow, Tamper, Callable[[], rf.ReleaseFlow]],
) -> None:
    flow, tamper, reopened = setting
    request = flow.fire(new_inquiry(flow).id, "triage", actor="spoke.tran")
    tamper(request.model_copy(update={"state": "approved"}))
    other = reopened()
    with pytest.raises(IntegrityError):
        other.fire(request.id, "submit", actor="comms.nguyen")
    tamper(request)  # the row restored from the audit trail
    moved = reopened().fire(request.id, "submit", actor="comms.nguyen")
    assert (moved.state, moved.version) == ("in_review", request.version + 1)
    assert flow.audit.verify().ok


def test_untouched_requests_are_not_slowed_into_errors(
    setting: tuple[rf.ReleaseFlow, Tamper, Callable[[], rf.ReleaseFlow]],
) -> None:
    """The check compares with the trail; every legal history passes it."""
    flow, _tamper, reopened = setting
    request = flow.fire(new_inquiry(flow).id, "triage", actor="spoke.tran")
    flow.classify(
        request.id,
        "restricted",
        actor="head.pham",
        reason="Mật.",
        grounds=["criminal_case_pending"],
    )
    other = reopened()
    edited = other.edit(
        request.id, actor="comms.nguyen", body="Bản mới.", reason="Sửa lỗi."
    )
    moved = reopened().fire(
        edited.id, "submit", actor="comms.nguyen", expected_version=edited.version
    )
    assert (moved.state, moved.version) == ("in_review", edited.version + 1)
    assert flow.audit.verify().ok
