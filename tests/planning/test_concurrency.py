"""Two writers on one plan, contact or policy draft at once, on every SQL backend.

The technique of ``tests/sql/test_interleavings.py``: writer A is paused by the
engine's ``test_hook`` (after it loaded the record, or just before it commits) while
writer B runs in another thread. Exactly one of two conflicting writers wins; the
loser gets ``ConflictError`` (or, where SQLite serialised it behind the winner, the
error the winner's change causes) and leaves no audit entry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

import releaseflow as rf
from releaseflow.exceptions import ConflictError, ValidationError
from releaseflow.planning import MEDIA_STREAM, PLANNING_STREAM, CommsPlan, PlanState
from releaseflow.storage.sql import SqlStore
from tests.conftest import Clock
from tests.sql.conftest import SQL_BACKENDS
from tests.sql.test_interleavings import Outcome, Pause, race, staff
from tests.sql_support import open_sql_store

OFFICER = "comms.nguyen"


@pytest.fixture(name="open_flows", params=SQL_BACKENDS)
def _open_flows(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Callable[[Pause], tuple[rf.ReleaseFlow, rf.ReleaseFlow]]]:
    opened: list[SqlStore] = []

    def factory(pause: Pause) -> tuple[rf.ReleaseFlow, rf.ReleaseFlow]:
        store = open_sql_store(str(request.param), tmp_path, busy_timeout=15.0)
        opened.append(store)
        clock = Clock()
        plain = rf.ReleaseFlow(store, clock=clock)
        staff(plain)
        plain.directory.grant("head.hoang", "head", unit="agency", by="admin")
        return rf.ReleaseFlow(store, clock=clock, test_hook=pause), plain

    yield factory
    for store in reversed(opened):
        store.close()


Flows = Callable[[Pause], tuple[rf.ReleaseFlow, rf.ReleaseFlow]]


def _one_winner(a: Outcome, b: Outcome, *errors: type[Exception]) -> Outcome:
    winners = [o for o in (a, b) if o.error is None]
    losers = [o for o in (a, b) if o.error is not None]
    assert len(winners) == 1, (a.error, b.error)
    assert isinstance(losers[0].error, errors or (ConflictError,)), losers[0].error
    return winners[0]


def _stream(flow: rf.ReleaseFlow, stream: str, trigger: str) -> list[rf.AuditEntry]:
    return [
        e
        for e in flow.audit.entries()
        if e.request_id is None and e.trigger == trigger and _on(e, stream)
    ]


def _on(entry: rf.AuditEntry, stream: str) -> bool:
    return ("plan_id" in entry.payload) == (stream == PLANNING_STREAM)


def _submitted(flow: rf.ReleaseFlow) -> CommsPlan:
    plan = flow.plans.create(unit="agency", year=2026, title="Kế hoạch", actor=OFFICER)
    plan = flow.plans.add_item(
        plan.id,
        actor=OFFICER,
        topic="Dự thảo Luật Phòng bệnh",
        stage="drafting",
        channel="press_conference",
        responsible_unit="agency",
        planned_date=date(2026, 6, 1),
        budget_vnd=1_000,
    )
    return flow.plans.submit(plan.id, actor=OFFICER)


@pytest.mark.parametrize("expected", [True, False])
def test_two_heads_approve_one_plan_one_wins(open_flows: Flows, expected: bool) -> None:
    """Without expected_version the compare-and-set on the plan row alone decides."""
    pause = Pause("after_load")
    paused, plain = open_flows(pause)
    plan = _submitted(plain)
    version = {"expected_version": plan.version} if expected else {}
    a, b = race(
        lambda: paused.plans.approve(plan.id, actor="head.pham", **version),
        lambda: plain.plans.approve(plan.id, actor="head.hoang", **version),
        pause,
    )
    if expected or b.error is None:
        winner = _one_winner(a, b)
    else:  # SQLite serialised B behind A: B then found the plan approved
        winner = _one_winner(a, b, rf.exceptions.InvalidTransitionError)
        assert winner is a
    stored = plain.plans.get(plan.id)
    assert stored == winner.value
    assert stored.state is PlanState.APPROVED
    assert stored.version == plan.version + 1
    approvals = _stream(plain, PLANNING_STREAM, "approve_plan")
    assert [e.actor for e in approvals] == [stored.approved_by]
    assert plain.audit.verify().ok


def test_approve_races_reject_one_wins(open_flows: Flows) -> None:
    pause = Pause("before_commit")
    paused, plain = open_flows(pause)
    plan = _submitted(plain)
    a, b = race(
        lambda: paused.plans.approve(plan.id, actor="head.pham"),
        lambda: plain.plans.reject(plan.id, actor="head.hoang", reason="chưa đủ"),
        pause,
    )
    # A reached its commit first: on SQLite B waited and then found the plan
    # approved (InvalidTransitionError); elsewhere B's update waited on A's row lock
    # and found the version moved (ConflictError)
    winner = _one_winner(a, b, ConflictError, rf.exceptions.InvalidTransitionError)
    assert winner is a
    stored = plain.plans.get(plan.id)
    assert stored.state is PlanState.APPROVED
    assert _stream(plain, PLANNING_STREAM, "reject_plan") == []
    assert len(_stream(plain, PLANNING_STREAM, "approve_plan")) == 1
    assert plain.audit.verify().ok


@pytest.mark.parametrize("point", ["after_load", "before_commit"])
def test_two_item_edits_at_one_version_one_wins(open_flows: Flows, point: str) -> None:
    pause = Pause(point)
    paused, plain = open_flows(pause)
    plan = plain.plans.create(unit="agency", year=2026, title="KH", actor=OFFICER)
    plan = plain.plans.add_item(
        plan.id,
        actor=OFFICER,
        topic="Chủ đề",
        stage="planning",
        channel="portal_posting",
        responsible_unit="agency",
        planned_date=date(2026, 3, 1),
    )
    item = plan.items[0]

    def edit(flow: rf.ReleaseFlow, actor: str, budget: int) -> Callable[[], Any]:
        return lambda: flow.plans.edit_item(
            plan.id,
            item.id,
            actor=actor,
            expected_version=plan.version,
            budget_vnd=budget,
        )

    a, b = race(edit(paused, OFFICER, 111), edit(plain, "comms.vo", 222), pause)
    winner = _one_winner(a, b)
    stored = plain.plans.get(plan.id)
    assert stored == winner.value
    assert stored.version == plan.version + 1
    edits = _stream(plain, PLANNING_STREAM, "edit_item")
    assert len(edits) == 1
    assert edits[0].payload["changes"]["budget_vnd"] == stored.item(item.id).budget_vnd
    assert plain.audit.verify().ok


@pytest.mark.parametrize("expected", [True, False])
def test_two_contact_edits_one_wins(open_flows: Flows, expected: bool) -> None:
    pause = Pause("after_load")
    paused, plain = open_flows(pause)
    contact = plain.media.add_contact(
        unit="agency", kind="journalist", name="Hoàng Thị E", actor=OFFICER
    )
    version = {"expected_version": contact.version} if expected else {}
    a, b = race(
        lambda: paused.media.update_contact(
            contact.id, actor=OFFICER, phone="0905 000 111", **version
        ),
        lambda: plain.media.update_contact(
            contact.id, actor="admin", active=False, **version
        ),
        pause,
    )
    if expected or a.error is not None:
        winner = _one_winner(a, b)
    else:  # SQLite serialised B behind A: both apply, one after the other
        assert b.error is None
        winner = b
    stored = plain.media.contact(contact.id)
    assert stored == winner.value
    updates = _stream(plain, MEDIA_STREAM, "update_contact")
    assert [e.payload["contact_version"] for e in updates] == list(
        range(2, stored.version + 1)
    )
    assert [e.payload["contact"] for e in updates][-1] == stored.model_dump(
        mode="json", exclude={"created_at", "updated_at", "created_by"}
    )
    assert plain.audit.verify().ok


def _journalist_request(flow: rf.ReleaseFlow, requester: rf.Requester) -> rf.Request:
    return flow.create(
        rf.RequestKind.PRESS_INQUIRY,
        title="Câu hỏi",
        body="Trả lời",
        actor=OFFICER,
        unit="agency/ttyt",
        channel="electronic",
        requester=requester,
    )


def test_deactivation_committing_first_stops_a_create_naming_the_contact(
    open_flows: Flows,
) -> None:
    pause = Pause("before_commit")
    paused, plain = open_flows(pause)
    contact = plain.media.add_contact(
        unit="agency", kind="journalist", name="Hoàng Thị E", actor=OFFICER
    )
    requester = plain.media.requester_for(contact.id)
    a, b = race(
        lambda: paused.media.update_contact(contact.id, actor="admin", active=False),
        lambda: _journalist_request(plain, requester),
        pause,
    )
    assert a.error is None
    # PostgreSQL / MariaDB: B read the contact active, then its shared lock waited
    # for A and found the version moved. SQLite: B began after A committed.
    assert isinstance(b.error, ConflictError | ValidationError), b.error
    assert not plain.media.contact(contact.id).active
    assert plain.find() == []
    assert plain.media.requests(contact.id) == []
    assert all(e.request_id is None for e in plain.audit.entries())
    assert plain.audit.verify().ok


def test_create_committing_first_then_deactivation_both_apply(
    open_flows: Flows,
) -> None:
    pause = Pause("before_commit")
    paused, plain = open_flows(pause)
    contact = plain.media.add_contact(
        unit="agency", kind="journalist", name="Hoàng Thị E", actor=OFFICER
    )
    requester = plain.media.requester_for(contact.id)
    a, b = race(
        lambda: _journalist_request(paused, requester),
        lambda: plain.media.update_contact(contact.id, actor="admin", active=False),
        pause,
    )
    assert (a.error, b.error) == (None, None)
    assert [r.id for r in plain.media.requests(contact.id)] == [a.value.id]
    assert not plain.media.contact(contact.id).active
    assert plain.audit.verify().ok


def test_comment_races_a_transition_one_wins(open_flows: Flows) -> None:
    pause = Pause("after_load")
    paused, plain = open_flows(pause)
    req = plain.create(
        rf.RequestKind.POLICY_DRAFT_COMMS,
        title="Dự thảo",
        body="Nội dung",
        actor=OFFICER,
        unit="agency/ttyt",
    )
    a, b = race(
        lambda: paused.plans.comment_on_draft(
            req.id, text="Góp ý", actor="comms.vo", expected_version=req.version
        ),
        lambda: plain.fire(
            req.id, "skip", actor="head.pham", reason="x", expected_version=req.version
        ),
        pause,
    )
    winner = _one_winner(a, b)
    stored = plain.get(req.id)
    assert stored == winner.value
    assert [e.request_version for e in plain.audit.history(req.id)] == [1, 2]
    assert len(stored.draft_comments) == (1 if winner is a else 0)
    assert plain.audit.verify().ok
