"""T1 and T4: deterministic two-writer interleavings on every SQL backend.

Writer A is paused by the engine's ``test_hook`` (after it loaded the request, or
just before it commits) while writer B runs in another thread. On PostgreSQL and
MariaDB, B commits while A waits, and A's compare-and-set then fails. On SQLite, B
cannot even begin while A holds ``BEGIN IMMEDIATE``: A commits first and B finds the
version moved. Either way exactly one wins and the loser leaves no audit entry.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

import releaseflow as rf
from releaseflow.exceptions import (
    ConflictError,
    InvalidTransitionError,
    NotPermittedError,
    ReleaseBlockedError,
)
from tests.conftest import STAFF, Clock, new_inquiry, to_approved
from tests.sql.conftest import StoreFactory

PAUSE_LIMIT = 10.0


class Pause:
    """A test hook that stops its writer at ``point`` until released."""

    def __init__(self, point: str) -> None:
        self.point = point
        self.reached = threading.Event()
        self.go = threading.Event()

    def __call__(self, point: str) -> None:
        if point == self.point and not self.reached.is_set():
            self.reached.set()
            assert self.go.wait(PAUSE_LIMIT), "the test never released the writer"


class Outcome:
    """What a writer thread returned or raised."""

    def __init__(self) -> None:
        self.value: Any = None
        self.error: BaseException | None = None
        self.done = threading.Event()


def in_thread(call: Callable[[], Any]) -> tuple[threading.Thread, Outcome]:
    outcome = Outcome()

    def run() -> None:
        try:
            outcome.value = call()
        except BaseException as exc:  # the test inspects it
            outcome.error = exc
        finally:
            outcome.done.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def staff(flow: rf.ReleaseFlow) -> None:
    flow.directory.bootstrap("admin", unit="agency")
    for actor, role in STAFF.items():
        if role != "administrator":
            flow.directory.grant(actor, role, unit="agency", by="admin")


def flows(
    open_store: StoreFactory, pause: Pause
) -> tuple[rf.ReleaseFlow, rf.ReleaseFlow]:
    store = open_store(busy_timeout=15.0)
    clock = Clock()
    plain = rf.ReleaseFlow(store, clock=clock)
    staff(plain)
    return rf.ReleaseFlow(store, clock=clock, test_hook=pause), plain


def race(
    first: Callable[[], Any], second: Callable[[], Any], pause: Pause
) -> tuple[Outcome, Outcome]:
    """Run ``first`` until it pauses, run ``second``, then let ``first`` go on."""
    thread_a, a = in_thread(first)
    assert pause.reached.wait(PAUSE_LIMIT)
    thread_b, b = in_thread(second)
    b.done.wait(1.0)  # B either finishes (PG, MariaDB) or blocks on A (SQLite)
    pause.go.set()
    thread_a.join(PAUSE_LIMIT)
    thread_b.join(PAUSE_LIMIT)
    assert a.done.is_set()
    assert b.done.is_set()
    return a, b


def entries_of(flow: rf.ReleaseFlow, request: rf.Request) -> list[Any]:
    return flow.audit.history(request.id)


def test_two_writers_exactly_one_wins_and_the_loser_leaves_nothing(
    open_store: StoreFactory,
) -> None:
    pause = Pause("after_load")
    paused, plain = flows(open_store, pause)
    request = new_inquiry(plain)
    v = request.version
    a, b = race(
        lambda: paused.fire(
            request.id, "triage", actor="spoke.tran", expected_version=v
        ),
        lambda: plain.fire(request.id, "triage", actor="coord.bui", expected_version=v),
        pause,
    )
    winners = [o for o in (a, b) if o.error is None]
    losers = [o for o in (a, b) if o.error is not None]
    assert len(winners) == 1
    assert len(losers) == 1
    assert isinstance(losers[0].error, ConflictError)
    history = entries_of(plain, request)
    assert [e.request_version for e in history] == [1, 2]
    assert plain.get(request.id).version == 2
    assert plain.audit.verify().ok


def test_aba_is_caught_by_the_version_not_the_state(open_store: StoreFactory) -> None:
    pause = Pause("after_load")
    paused, plain = flows(open_store, pause)
    request = new_inquiry(plain)
    request = plain.fire(request.id, "triage", actor="spoke.tran")
    request = plain.fire(request.id, "submit", actor="comms.nguyen")
    assert request.state == "in_review"

    def there_and_back() -> rf.Request:
        plain.fire(request.id, "return_for_revision", actor="review.dang", reason="x")
        return plain.fire(request.id, "submit", actor="comms.nguyen")

    a, b = race(
        lambda: paused.fire(request.id, "approve_review", actor="review.le"),
        there_and_back,
        pause,
    )
    final = plain.get(request.id)
    assert b.error is None
    history = entries_of(plain, request)
    if a.error is not None:  # B went first (PostgreSQL, MariaDB): A must not approve
        assert isinstance(a.error, ConflictError)
        assert a.error.expected_version == request.version
        assert final.state == "in_review"
        assert final.version == request.version + 2
        assert not final.valid_approvals()
        assert all(e.trigger != "approve_review" for e in history)
    else:  # SQLite serialised B behind A: A approved first, then B went round
        assert history[request.version].trigger == "approve_review"
        assert final.version == request.version + 3
    assert plain.audit.verify().ok


def _approved(plain: rf.ReleaseFlow) -> rf.Request:
    return to_approved(plain, new_inquiry(plain))


@pytest.mark.parametrize("release_first", [True, False])
def test_release_vs_revoke_approval(
    open_store: StoreFactory, release_first: bool
) -> None:
    pause = Pause("after_load")
    paused, plain = flows(open_store, pause)
    request = _approved(plain)

    def release(flow: rf.ReleaseFlow) -> Callable[[], Any]:
        return lambda: flow.fire(
            request.id, "release", actor="spoke.tran", form="written_answer"
        )

    def revoke(flow: rf.ReleaseFlow) -> Callable[[], Any]:
        return lambda: flow.revoke_approval(
            request.id, actor="head.pham", stage="spokesperson", reason="hold"
        )

    if release_first:  # the release is paused; the revocation tries to commit
        a, b = race(release(paused), revoke(plain), pause)
    else:  # the revocation is paused; the release tries to commit
        a, b = race(revoke(paused), release(plain), pause)
    _check_never_released_on_stale_grounds(plain, request, a, b)


@pytest.mark.parametrize("release_first", [True, False])
def test_release_vs_edit(open_store: StoreFactory, release_first: bool) -> None:
    pause = Pause("after_load")
    paused, plain = flows(open_store, pause)
    request = _approved(plain)

    def release(flow: rf.ReleaseFlow) -> Callable[[], Any]:
        return lambda: flow.fire(
            request.id, "release", actor="spoke.tran", form="written_answer"
        )

    def reopen(flow: rf.ReleaseFlow) -> Callable[[], Any]:
        return lambda: flow.fire(
            request.id, "return_for_revision", actor="head.pham", reason="edit"
        )

    def reopen_and_edit() -> Any:
        reopen(plain)()
        return plain.edit(request.id, actor="comms.nguyen", body="Bản sửa.")

    if release_first:
        a, b = race(release(paused), reopen_and_edit, pause)
    else:
        a, b = race(reopen(paused), release(plain), pause)
    _check_never_released_on_stale_grounds(plain, request, a, b)


def _check_never_released_on_stale_grounds(
    plain: rf.ReleaseFlow, request: rf.Request, a: Outcome, b: Outcome
) -> None:
    """One side lost with a typed error; a release follows its approval directly."""
    losers = [o for o in (a, b) if o.error is not None]
    assert len(losers) == 1, (a.error, b.error)
    # the paused side loses on the version (PostgreSQL, MariaDB); on SQLite the
    # other side runs afterwards and finds the state moved on
    assert isinstance(
        losers[0].error, ConflictError | InvalidTransitionError | ReleaseBlockedError
    )
    final = plain.get(request.id)
    history = entries_of(plain, request)
    assert [e.request_version for e in history] == list(range(1, final.version + 1))
    released = [i for i, e in enumerate(history) if e.trigger == "release"]
    if final.state == "released":
        assert final.release is not None
        assert final.release.content_hash == final.content_hash
        assert len(final.valid_approvals("spokesperson")) == 1
        (at,) = released
        assert history[at - 1].trigger == "approve_release"
        assert history[at - 1].request_version == request.version
    else:
        assert not released
    assert plain.audit.verify().ok


def test_approve_vs_role_revocation_revocation_first(open_store: StoreFactory) -> None:
    pause = Pause("after_load")
    paused, plain = flows(open_store, pause)
    request = new_inquiry(plain)
    request = plain.fire(request.id, "triage", actor="spoke.tran")
    request = plain.fire(request.id, "submit", actor="comms.nguyen")
    a, b = race(
        lambda: paused.fire(request.id, "approve_review", actor="review.le"),
        lambda: plain.directory.revoke(
            "review.le", "reviewer", unit="agency", by="admin"
        ),
        pause,
    )
    final = plain.get(request.id)
    if b.value is True and b.done.is_set() and a.error is not None:
        # the revocation committed while the approval was paused: refused on the
        # grants current inside its own transaction
        assert isinstance(a.error, NotPermittedError)
        assert final.state == "in_review"
        assert not final.approvals
    else:  # SQLite: the revocation waited for the approval to commit
        assert a.error is None
        assert b.error is None
        assert final.state == "awaiting_spokesperson"
    assert plain.audit.verify().ok


def test_approve_vs_role_revocation_approval_first(open_store: StoreFactory) -> None:
    """The approval holds the directory share lock: the revocation must wait."""
    pause = Pause("before_commit")
    paused, plain = flows(open_store, pause)
    request = new_inquiry(plain)
    request = plain.fire(request.id, "triage", actor="spoke.tran")
    request = plain.fire(request.id, "submit", actor="comms.nguyen")
    thread_a, a = in_thread(
        lambda: paused.fire(request.id, "approve_review", actor="review.le")
    )
    assert pause.reached.wait(PAUSE_LIMIT)
    thread_b, b = in_thread(
        lambda: plain.directory.revoke(
            "review.le", "reviewer", unit="agency", by="admin"
        )
    )
    assert not b.done.wait(0.5), "the revocation did not wait for the approval"
    pause.go.set()
    thread_a.join(PAUSE_LIMIT)
    thread_b.join(PAUSE_LIMIT)
    assert a.error is None
    assert b.error is None
    assert b.value is True
    assert plain.get(request.id).state == "awaiting_spokesperson"
    assert not plain.directory.grants("review.le")
    assert plain.audit.verify().ok
