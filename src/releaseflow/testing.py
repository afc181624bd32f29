"""Public test helpers: signal capture and the backend contract suite.

``capture_signals()`` records every releaseflow signal sent inside a ``with`` block::

    with capture_signals() as sent:
        flow.fire(request.id, "triage", actor="spoke.tran")
    assert sent.names() == ["request-transitioned", "audit-entry-written"]

``StoreContract`` is the test suite every storage backend must pass, including
third-party ones. Subclass it in a pytest module and provide a ``store`` fixture that
yields a fresh, empty store::

    import pytest
    from releaseflow.testing import StoreContract

    class TestMyStore(StoreContract):
        @pytest.fixture
        def store(self):
            store = MyStore(...)
            yield store
            store.close()

This module needs ``pytest`` (a test dependency, not a runtime one).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from blinker import NamedSignal

from . import signals
from .chain import GENESIS_HASH, entry_hash, seal
from .exceptions import (
    ConflictError,
    NotFoundError,
    ReleaseflowError,
    RequestNotFoundError,
)
from .models import (
    AuditEntry,
    Authorisation,
    ChainHead,
    Grant,
    IdempotencyRecord,
    Request,
    RequestQuery,
    content_hash_of,
)
from .planning import ContactKind, PressContact
from .ports import Store, UnitOfWork
from .vocabulary import AuditEvent, Channel, RequestKind, Role

__all__ = ["CapturedSignal", "SignalLog", "StoreContract", "capture_signals"]


@dataclass(frozen=True)
class CapturedSignal:
    """One signal as a receiver saw it."""

    name: str
    sender: Any
    kwargs: dict[str, Any]


@dataclass
class SignalLog:
    """Every signal captured by :func:`capture_signals`, in sending order."""

    sent: list[CapturedSignal] = field(default_factory=list)

    def names(self) -> list[str]:
        """The signal names, in sending order."""
        return [s.name for s in self.sent]

    def of(self, name: str) -> list[CapturedSignal]:
        """The captured sends of one signal."""
        return [s for s in self.sent if s.name == name]

    def __len__(self) -> int:
        return len(self.sent)

    def __iter__(self) -> Iterator[CapturedSignal]:
        return iter(self.sent)


def _all_signals() -> list[NamedSignal]:
    found: list[NamedSignal] = []
    for name in signals.__all__:
        value = getattr(signals, name)
        if isinstance(value, NamedSignal):
            found.append(value)
    return found


@contextmanager
def capture_signals() -> Iterator[SignalLog]:
    """Record ``(signal name, sender, kwargs)`` of every releaseflow signal sent.

    Receivers are connected strongly on entry and disconnected on exit.
    """
    log = SignalLog()
    connected: list[tuple[NamedSignal, Any]] = []

    def make(signal: NamedSignal) -> Any:
        def receiver(sender: Any, **kwargs: Any) -> None:
            log.sent.append(CapturedSignal(signal.name, sender, dict(kwargs)))

        return receiver

    for signal in _all_signals():
        receiver = make(signal)
        signal.connect(receiver, weak=False)
        connected.append((signal, receiver))
    try:
        yield log
    finally:
        for signal, receiver in connected:
            signal.disconnect(receiver)


# -- the backend contract ----------------------------------------------------------

_T0 = datetime(2026, 3, 2, 2, 0, 0, 123456, tzinfo=UTC)


def _request(
    *, state: str = "received", version: int = 1, unit: str = "agency/ttyt", **kw: Any
) -> Request:
    title = kw.pop("title", "Câu hỏi 😀 𝄞")
    body = kw.pop("body", "Bản nháp\ntrả lời.")
    created = kw.pop("created_at", _T0)
    fields: dict[str, Any] = {
        "id": uuid4(),
        "kind": RequestKind.PRESS_INQUIRY,
        "definition": "press_inquiry",
        "definition_version": 1,
        "state": state,
        "version": version,
        "unit": unit,
        "title": title,
        "body": body,
        "channel": Channel.ELECTRONIC,
        "content_hash": content_hash_of(title, body),
        "created_by": "comms.nguyen",
        "contributors": ("comms.nguyen",),
        "received_at": created,
        "created_at": created,
        "updated_at": created,
        "metadata": {"n": 2**70, "nested": {"list": [1, "x", None, True]}},
    }
    fields.update(kw)
    return Request(**fields)


def _draft(request: Request | None = None, **kw: Any) -> dict[str, Any]:
    draft: dict[str, Any] = {
        "event": AuditEvent.CREATED if request else AuditEvent.ROLE_GRANTED,
        "request_id": request.id if request else None,
        "request_version": request.version if request else None,
        "request_kind": request.kind if request else None,
        "unit": request.unit if request else "agency",
        "from_state": None,
        "to_state": request.state if request else None,
        "trigger": "create",
        "actor": "comms.nguyen",
        "roles": ("comms_officer",),
        "at": _T0,
        "payload": {"note": "ghi chú 😀", "big": 10**30},
        "content_hash": request.content_hash if request else None,
    }
    draft.update(kw)
    return draft


def _entry(head: ChainHead, request: Request | None = None, **kw: Any) -> AuditEntry:
    return seal(_draft(request, **kw), head)


def _ledger_of(store: Store, request: Request) -> int:
    from .chain import ledger_for

    return ledger_for(str(request.id), store.ledger_count)


def _grant(actor: str = "review.le", role: Role = Role.REVIEWER) -> Grant:
    return Grant(
        actor=actor, role=role, unit="agency", granted_by="admin", granted_at=_T0
    )


def _authorisation(actor: str, request_id: UUID) -> Authorisation:
    return Authorisation(
        id=uuid4(),
        actor=actor,
        request_id=request_id,
        reference="QĐ 12/2026",
        published_at="https://portal.example/speakers",
        valid_from=_T0,
        valid_until=_T0 + timedelta(days=3),
        granted_by="head.pham",
        granted_at=_T0,
    )


def _contact(name: str = "Báo Nhân Dân 😀", unit: str = "agency") -> PressContact:
    return PressContact(
        id=uuid4(),
        unit=unit,
        kind=ContactKind.PRESS_AGENCY,
        name=name,
        email="toasoan@nhandan.example",
        version=1,
        created_by="comms.nguyen",
        created_at=_T0,
        updated_at=_T0,
    )


class StoreContract:
    """Contract tests every backend passes; subclass and provide a ``store`` fixture."""

    # -- requests --------------------------------------------------------------

    def test_added_request_round_trips_exactly(self, store: Store) -> None:
        """A committed request reads back equal, including non-BMP text and big ints."""
        request = _request()
        with store.unit_of_work() as uow:
            uow.requests.add(request)
            uow.commit()
        with store.unit_of_work(write=False) as uow:
            assert uow.requests.get(request.id) == request

    def test_get_unknown_request_raises_not_found(self, store: Store) -> None:
        """Reading a missing id raises RequestNotFoundError."""
        with (
            store.unit_of_work(write=False) as uow,
            pytest.raises(RequestNotFoundError),
        ):
            uow.requests.get(uuid4())

    def test_add_duplicate_id_conflicts(self, store: Store) -> None:
        """Adding a second request with a stored id raises ConflictError."""
        request = _request()
        with store.unit_of_work() as uow:
            uow.requests.add(request)
            uow.commit()
        with pytest.raises(ConflictError), store.unit_of_work() as uow:  # noqa: PT012 - append or commit may refuse
            uow.requests.add(request.model_copy(update={"title": "other"}))
            uow.commit()
        with store.unit_of_work(write=False) as uow:
            assert uow.requests.get(request.id) == request

    def test_update_is_compare_and_set_on_version(self, store: Store) -> None:
        """Update succeeds only from the expected version; a stale one conflicts."""
        request = _request()
        with store.unit_of_work() as uow:
            uow.requests.add(request)
            uow.commit()
        v2 = request.model_copy(update={"version": 2, "state": "drafting"})
        with store.unit_of_work() as uow:
            uow.requests.update(v2, expected_version=1)
            uow.commit()
        stale = request.model_copy(update={"version": 2, "state": "refused"})
        with pytest.raises(ConflictError), store.unit_of_work() as uow:  # noqa: PT012 - append or commit may refuse
            uow.requests.update(stale, expected_version=1)
            uow.commit()
        with store.unit_of_work(write=False) as uow:
            assert uow.requests.get(request.id) == v2

    def test_update_refuses_version_that_does_not_advance_by_one(
        self, store: Store
    ) -> None:
        """The new version must be expected_version + 1."""
        request = _request()
        with store.unit_of_work() as uow:
            uow.requests.add(request)
            uow.commit()
        jump = request.model_copy(update={"version": 5})
        with pytest.raises(ConflictError), store.unit_of_work() as uow:  # noqa: PT012 - append or commit may refuse
            uow.requests.update(jump, expected_version=1)
            uow.commit()
        with store.unit_of_work(write=False) as uow:
            assert uow.requests.get(request.id).version == 1

    def test_update_unknown_request_is_typed_error(self, store: Store) -> None:
        """Updating a request that does not exist raises a releaseflow error."""
        with pytest.raises(ReleaseflowError), store.unit_of_work() as uow:  # noqa: PT012 - append or commit may refuse
            uow.requests.update(_request(version=2), expected_version=1)
            uow.commit()

    def test_unit_of_work_reads_its_own_writes(self, store: Store) -> None:
        """Inside one unit of work, a staged request is visible to get and find."""
        request = _request()
        with store.unit_of_work() as uow:
            uow.requests.add(request)
            assert uow.requests.get(request.id) == request
            assert request.id in {r.id for r in uow.requests.find(RequestQuery())}

    def test_known_is_a_committed_version_or_none(self, store: Store) -> None:
        """known() returns the request at exactly that committed version, or None.

        It may remember nothing (None is always allowed), but it never returns a
        request at another version, of another id, or a write that was rolled back.
        """
        request = _request()
        with store.unit_of_work() as uow:
            uow.requests.add(request)
            uow.rollback()
        with store.unit_of_work(write=False) as uow:
            assert uow.requests.known(request.id, 1) is None
        with store.unit_of_work() as uow:
            uow.requests.add(request)
            uow.commit()
        v2 = request.model_copy(update={"version": 2, "state": "drafting"})
        with store.unit_of_work() as uow:
            assert uow.requests.known(request.id, 1) in (None, request)
            uow.requests.update(v2, expected_version=1)
            uow.commit()
        v3 = v2.model_copy(update={"version": 3, "state": "refused"})
        with store.unit_of_work() as uow:
            uow.requests.update(v3, expected_version=2)
            uow.rollback()
        with store.unit_of_work(write=False) as uow:
            assert uow.requests.known(request.id, 1) in (None, request)
            assert uow.requests.known(request.id, 2) in (None, v2)
            assert uow.requests.known(request.id, 3) is None
            assert uow.requests.known(request.id, 0) is None
            assert uow.requests.known(uuid4(), 1) is None
            assert uow.requests.get(request.id) == v2

    def test_find_filters_orders_and_limits(self, store: Store) -> None:
        """Find filters by state and unit (with sub-units), newest first, limited."""
        a = _request(state="received", unit="agency", created_at=_T0)
        b = _request(
            state="drafting", unit="agency/ttyt", created_at=_T0 + timedelta(1)
        )
        c = _request(state="drafting", unit="other", created_at=_T0 + timedelta(2))
        with store.unit_of_work() as uow:
            for r in (a, b, c):
                uow.requests.add(r)
            uow.commit()
        with store.unit_of_work(write=False) as uow:
            found = uow.requests.find(RequestQuery(state="drafting"))
            assert [r.id for r in found] == [c.id, b.id]
            found = uow.requests.find(RequestQuery(unit="agency"))
            assert [r.id for r in found] == [b.id, a.id]
            found = uow.requests.find(
                RequestQuery(unit="agency", include_subunits=False)
            )
            assert [r.id for r in found] == [a.id]
            assert len(uow.requests.find(RequestQuery(limit=1))) == 1
            assert [r.id for r in uow.requests.iter_all()] == sorted([a.id, b.id, c.id])

    # -- units of work -----------------------------------------------------------

    def test_uncommitted_unit_of_work_leaves_nothing(self, store: Store) -> None:
        """Every kind of write is discarded when the unit of work is not committed."""
        request = _request()
        with store.unit_of_work() as uow:
            uow.requests.add(request)
            head = uow.audit.lock_head(_ledger_of(store, request))
            entry = _entry(head, request)
            uow.audit.append(entry)
            uow.directory.add_grant(_grant())
            uow.directory.put_authorisation(_authorisation("speaker.mai", request.id))
            uow.directory.bump()
            uow.idempotency.put(_idem("k1", request, entry))
        self._assert_empty(store, request)

    def test_exception_inside_unit_of_work_rolls_back(self, store: Store) -> None:
        """An exception raised inside ``with`` discards the staged writes."""
        request = _request()

        class BoomError(Exception):
            pass

        with pytest.raises(BoomError), store.unit_of_work() as uow:  # noqa: PT012 - append or commit may refuse
            uow.requests.add(request)
            uow.directory.add_grant(_grant())
            raise BoomError
        self._assert_empty(store, request)

    def test_explicit_rollback_discards(self, store: Store) -> None:
        """rollback() drops what was staged; a later commit stores nothing of it."""
        request = _request()
        with store.unit_of_work() as uow:
            uow.requests.add(request)
            uow.rollback()
            uow.commit()
        self._assert_empty(store, request)

    def _assert_empty(self, store: Store, request: Request) -> None:
        with store.unit_of_work(write=False) as uow:
            with pytest.raises(RequestNotFoundError):
                uow.requests.get(request.id)
            assert list(uow.audit.entries()) == []
            assert all(h.seq == 0 for h in uow.audit.heads())
            assert uow.directory.grants() == []
            assert uow.directory.authorisations() == []
            assert uow.directory.lock() == 0
            assert uow.idempotency.get("k1") is None

    def test_read_only_unit_refuses_writes(self, store: Store) -> None:
        """Every write in a read-only unit of work raises a releaseflow error."""
        request = _request()
        writes: list[Callable[[UnitOfWork], object]] = [
            lambda uow: uow.requests.add(request),
            lambda uow: uow.directory.add_grant(_grant()),
            lambda uow: uow.directory.bump(),
            lambda uow: uow.audit.lock_head(0),
            lambda uow: uow.audit.append_next(0, _draft()),
            lambda uow: uow.media.link_request(_contact(), request.id, _T0),
        ]
        for write in writes:
            with (  # noqa: PT012 - the write or the commit may refuse
                pytest.raises(ReleaseflowError),
                store.unit_of_work(write=False) as uow,
            ):
                write(uow)
                uow.commit()
        self._assert_empty(store, request)

    # -- audit -------------------------------------------------------------------

    def test_heads_of_empty_ledgers(self, store: Store) -> None:
        """A new store has ledger_count heads, each at seq 0 with the genesis hash."""
        with store.unit_of_work(write=False) as uow:
            heads = uow.audit.heads()
            assert uow.audit.ledger_count == store.ledger_count >= 1
        assert sorted(h.ledger for h in heads) == list(range(store.ledger_count))
        assert all(h.seq == 0 and h.hash == GENESIS_HASH for h in heads)

    def test_append_continues_the_chain(self, store: Store) -> None:
        """lock_head returns the last entry; appends chain on it across commits."""
        request = _request()
        ledger = _ledger_of(store, request)
        with store.unit_of_work() as uow:
            head = uow.audit.lock_head(ledger)
            assert (head.seq, head.hash) == (0, GENESIS_HASH)
            first = _entry(head, request)
            uow.audit.append(first)
            second = _entry(
                ChainHead(ledger=ledger, seq=1, hash=first.hash), request, trigger="x"
            )
            uow.audit.append(second)
            uow.commit()
        with store.unit_of_work() as uow:
            head = uow.audit.lock_head(ledger)
            assert (head.seq, head.hash) == (2, second.hash)
            third = _entry(head, request, trigger="y")
            uow.audit.append(third)
            uow.commit()
        with store.unit_of_work(write=False) as uow:
            stored = list(uow.audit.entries(ledger=ledger))
            heads = {h.ledger: h for h in uow.audit.heads()}
        assert stored == [first, second, third]
        assert [e.prev_hash for e in stored] == [GENESIS_HASH, first.hash, second.hash]
        assert all(entry_hash(e.model_dump()) == e.hash for e in stored)
        assert (heads[ledger].seq, heads[ledger].hash) == (3, third.hash)

    def test_append_of_wrong_seq_is_refused(self, store: Store) -> None:
        """An entry that skips or repeats a seq is refused; the chain stays intact."""
        request = _request()
        ledger = _ledger_of(store, request)
        with store.unit_of_work() as uow:
            first = _entry(uow.audit.lock_head(ledger), request)
            uow.audit.append(first)
            uow.commit()
        bad_heads = [
            ChainHead(ledger=ledger, seq=5, hash=first.hash),  # gap
            ChainHead(ledger=ledger, seq=0, hash=GENESIS_HASH),  # repeat of seq 1
        ]
        for bad in bad_heads:
            with pytest.raises(ConflictError), store.unit_of_work() as uow:  # noqa: PT012 - append or commit may refuse
                uow.audit.lock_head(ledger)
                uow.audit.append(_entry(bad, request, trigger="forged"))
                uow.commit()
        with store.unit_of_work(write=False) as uow:
            assert list(uow.audit.entries(ledger=ledger)) == [first]

    def test_append_that_forks_the_chain_is_refused(self, store: Store) -> None:
        """An entry with the right seq but a wrong prev_hash is refused (no fork)."""
        request = _request()
        ledger = _ledger_of(store, request)
        with store.unit_of_work() as uow:
            first = _entry(uow.audit.lock_head(ledger), request)
            uow.audit.append(first)
            uow.commit()
        fork = ChainHead(ledger=ledger, seq=1, hash="f" * 64)
        with pytest.raises(ConflictError), store.unit_of_work() as uow:  # noqa: PT012 - append or commit may refuse
            uow.audit.lock_head(ledger)
            uow.audit.append(_entry(fork, request, trigger="forged"))
            uow.commit()
        with store.unit_of_work(write=False) as uow:
            assert list(uow.audit.entries(ledger=ledger)) == [first]

    def test_append_next_seals_after_the_head(self, store: Store) -> None:
        """append_next equals lock_head, seal and append: it chains and is stored."""
        request = _request()
        ledger = _ledger_of(store, request)
        with store.unit_of_work() as uow:
            first = uow.audit.append_next(ledger, _draft(request))
            assert first == seal(
                _draft(request), ChainHead(ledger=ledger, seq=0, hash=GENESIS_HASH)
            )
            second = uow.audit.append_next(ledger, _draft(request, trigger="x"))
            uow.commit()
        assert (second.seq, second.prev_hash) == (2, first.hash)
        with store.unit_of_work() as uow:
            third = uow.audit.append_next(ledger, _draft(request, trigger="y"))
            head = uow.audit.lock_head(ledger)
            assert (head.seq, head.hash) == (3, third.hash)
            fourth = _entry(head, request, trigger="z")
            uow.audit.append(fourth)
            fifth = uow.audit.append_next(ledger, _draft(request, trigger="w"))
            uow.commit()
        with store.unit_of_work(write=False) as uow:
            stored = list(uow.audit.entries(ledger=ledger))
            heads = {h.ledger: h for h in uow.audit.heads()}
        assert stored == [first, second, third, fourth, fifth]
        assert [e.seq for e in stored] == [1, 2, 3, 4, 5]
        assert [e.prev_hash for e in stored] == [
            GENESIS_HASH,
            *(e.hash for e in stored[:-1]),
        ]
        assert all(entry_hash(e.model_dump()) == e.hash for e in stored)
        assert (heads[ledger].seq, heads[ledger].hash) == (5, fifth.hash)

    def test_append_next_after_a_rollback_chains_on_the_committed_head(
        self, store: Store
    ) -> None:
        """A rolled-back append_next leaves no trace, not even a remembered head."""
        request = _request()
        ledger = _ledger_of(store, request)
        with store.unit_of_work() as uow:
            first = uow.audit.append_next(ledger, _draft(request))
            uow.commit()
        with store.unit_of_work() as uow:
            uow.audit.append_next(ledger, _draft(request, trigger="dropped"))
            uow.audit.append_next(ledger, _draft(request, trigger="dropped"))
            uow.rollback()
        with store.unit_of_work() as uow:
            assert uow.audit.lock_head(ledger) == ChainHead(
                ledger=ledger, seq=1, hash=first.hash
            )
            uow.rollback()
        with store.unit_of_work() as uow:
            second = uow.audit.append_next(ledger, _draft(request, trigger="kept"))
            uow.commit()
        assert (second.seq, second.prev_hash) == (2, first.hash)
        with store.unit_of_work(write=False) as uow:
            assert list(uow.audit.entries(ledger=ledger)) == [first, second]

    def test_append_next_after_a_direct_append_chains_on_it(self, store: Store) -> None:
        """append_next follows the head however it was reached (append or commit)."""
        request = _request()
        ledger = _ledger_of(store, request)
        with store.unit_of_work() as uow:
            first = uow.audit.append_next(ledger, _draft(request))
            uow.commit()
        with store.unit_of_work() as uow:
            head = uow.audit.lock_head(ledger)
            second = _entry(head, request, trigger="direct")
            uow.audit.append(second)
            uow.commit()
        with store.unit_of_work() as uow:
            third = uow.audit.append_next(ledger, _draft(request, trigger="next"))
            uow.commit()
        assert (third.seq, third.prev_hash) == (3, second.hash)
        with store.unit_of_work(write=False) as uow:
            assert list(uow.audit.entries(ledger=ledger)) == [first, second, third]

    def test_entries_are_ordered_and_filtered(self, store: Store) -> None:
        """entries() is in (ledger, seq) order and filters by ledger and request."""
        requests = [_request() for _ in range(6)]
        with store.unit_of_work() as uow:
            for request in requests:
                for step in range(2):
                    head = uow.audit.lock_head(_ledger_of(store, request))
                    uow.audit.append(_entry(head, request, trigger=f"t{step}"))
            directory = _entry(uow.audit.lock_head(0))
            uow.audit.append(directory)
            uow.commit()
        with store.unit_of_work(write=False) as uow:
            everything = list(uow.audit.entries())
            assert len(everything) == 13
            keys = [(e.ledger, e.seq) for e in everything]
            assert keys == sorted(keys)
            assert len(set(keys)) == len(keys)
            target = requests[3]
            mine = list(uow.audit.entries(request_id=target.id))
            assert [e.trigger for e in mine] == ["t0", "t1"]
            assert all(e.request_id == target.id for e in mine)
            ledger = _ledger_of(store, target)
            assert [e for e in everything if e.ledger == ledger] == list(
                uow.audit.entries(ledger=ledger)
            )

    # -- directory ---------------------------------------------------------------

    def test_grants_add_and_remove_are_idempotent(self, store: Store) -> None:
        """An identical grant is kept once; removing twice reports True then False."""
        grant = _grant()
        other = _grant("review.dang")
        with store.unit_of_work() as uow:
            uow.directory.add_grant(grant)
            uow.directory.add_grant(grant)
            uow.directory.add_grant(other)
            uow.commit()
        with store.unit_of_work() as uow:
            uow.directory.add_grant(grant)
            uow.commit()
        with store.unit_of_work(write=False) as uow:
            assert uow.directory.grants(actor="review.le") == [grant]
            assert len(uow.directory.grants()) == 2
        with store.unit_of_work() as uow:
            assert uow.directory.remove_grant("review.le", "reviewer", "agency")
            uow.commit()
        with store.unit_of_work() as uow:
            assert not uow.directory.remove_grant("review.le", "reviewer", "agency")
            uow.commit()
        with store.unit_of_work(write=False) as uow:
            assert uow.directory.grants() == [other]

    def test_authorisations_put_replace_and_filter(self, store: Store) -> None:
        """Authorisations filter by actor and request; put with the same id replaces."""
        r1, r2 = uuid4(), uuid4()
        a = _authorisation("speaker.mai", r1)
        b = _authorisation("speaker.mai", r2)
        c = _authorisation("deputy.ngo", r1)
        with store.unit_of_work() as uow:
            for auth in (a, b, c):
                uow.directory.put_authorisation(auth)
            uow.commit()
        ended = a.model_copy(update={"revoked_at": _T0 + timedelta(hours=1)})
        with store.unit_of_work() as uow:
            uow.directory.put_authorisation(ended)
            uow.commit()
        with store.unit_of_work(write=False) as uow:
            assert {x.id for x in uow.directory.authorisations()} == {a.id, b.id, c.id}
            mine = uow.directory.authorisations(actor="speaker.mai")
            assert {x.id for x in mine} == {a.id, b.id}
            on_r1 = uow.directory.authorisations(request_id=r1)
            assert {x.id for x in on_r1} == {a.id, c.id}
            both = uow.directory.authorisations(actor="speaker.mai", request_id=r1)
            assert both == [ended]

    def test_directory_lock_and_bump(self, store: Store) -> None:
        """The directory version starts at 0 and advances by one per committed bump."""
        with store.unit_of_work() as uow:
            assert uow.directory.lock() == 0
            assert uow.directory.bump() == 1
            assert uow.directory.lock() == 1
            uow.commit()
        with store.unit_of_work() as uow:
            assert uow.directory.lock() == 1
            assert uow.directory.bump() == 2
        with store.unit_of_work(write=False) as uow:
            assert uow.directory.lock() == 1

    # -- media: requests naming a press contact ------------------------------------

    def test_link_request_indexes_requests_by_time_then_id(self, store: Store) -> None:
        """request_ids lists a contact's linked requests by (created at, request id).

        Links are per contact, read back in the unit of work that wrote them, and
        kept across commits.
        """
        contact, other = _contact(), _contact("Báo Tuổi Trẻ")
        early = sorted(
            (_request(created_at=_T0) for _ in range(3)), key=lambda r: str(r.id)
        )
        late = _request(created_at=_T0 + timedelta(hours=1))
        elsewhere = _request()
        with store.unit_of_work() as uow:
            uow.media.add_contact(contact)
            uow.media.add_contact(other)
            uow.commit()
        with store.unit_of_work() as uow:
            for request in (late, *reversed(early), elsewhere):
                uow.requests.add(request)
            uow.media.link_request(contact, late.id, late.created_at)
            uow.media.link_request(contact, early[2].id, early[2].created_at)
            uow.media.link_request(other, elsewhere.id, elsewhere.created_at)
            assert uow.media.request_ids(contact.id) == [early[2].id, late.id]
            uow.commit()
        with store.unit_of_work() as uow:
            for request in (early[1], early[0]):
                uow.media.link_request(contact, request.id, request.created_at)
            uow.commit()
        with store.unit_of_work(write=False) as uow:
            assert uow.media.request_ids(contact.id) == [
                *(r.id for r in early),
                late.id,
            ]
            assert uow.media.request_ids(other.id) == [elsewhere.id]
            assert uow.media.contact(contact.id) == contact

    def test_link_request_needs_the_contact_at_its_version(self, store: Store) -> None:
        """A stale contact conflicts, a missing one is not found; nothing is linked."""
        contact, missing = _contact(), _contact("Không lưu")
        request = _request()
        with store.unit_of_work() as uow:
            uow.media.add_contact(contact)
            uow.requests.add(request)
            uow.commit()
        edited = contact.model_copy(
            update={"version": 2, "active": False, "updated_at": _T0 + timedelta(1)}
        )
        with store.unit_of_work() as uow:
            uow.media.update_contact(edited, expected_version=1)
            uow.commit()
        with pytest.raises(ConflictError), store.unit_of_work() as uow:  # noqa: PT012 - the link or the commit may refuse
            uow.media.link_request(contact, request.id, request.created_at)
            uow.commit()
        with pytest.raises(NotFoundError), store.unit_of_work() as uow:  # noqa: PT012 - the link or the commit may refuse
            uow.media.link_request(missing, request.id, request.created_at)
            uow.commit()
        with store.unit_of_work(write=False) as uow:
            assert uow.media.request_ids(contact.id) == []
            assert uow.media.request_ids(missing.id) == []
        with store.unit_of_work() as uow:
            uow.media.link_request(edited, request.id, request.created_at)
            uow.commit()
        with store.unit_of_work(write=False) as uow:
            assert uow.media.request_ids(contact.id) == [request.id]

    def test_uncommitted_link_leaves_nothing(self, store: Store) -> None:
        """A link in a unit of work that is not committed is discarded."""
        contact = _contact()
        request = _request()
        with store.unit_of_work() as uow:
            uow.media.add_contact(contact)
            uow.commit()
        with store.unit_of_work() as uow:
            uow.requests.add(request)
            uow.media.link_request(contact, request.id, request.created_at)
        with store.unit_of_work() as uow:
            uow.requests.add(request)
            uow.media.link_request(contact, request.id, request.created_at)
            uow.rollback()
        with store.unit_of_work(write=False) as uow:
            assert uow.media.request_ids(contact.id) == []

    # -- idempotency -------------------------------------------------------------

    def test_idempotency_put_get_and_duplicate(self, store: Store) -> None:
        """A record reads back equal; a second put of the key conflicts."""
        request = _request()
        with store.unit_of_work() as uow:
            uow.requests.add(request)
            entry = _entry(uow.audit.lock_head(_ledger_of(store, request)), request)
            uow.audit.append(entry)
            record = _idem("key-ü-😀", request, entry)
            uow.idempotency.put(record)
            uow.commit()
        with store.unit_of_work(write=False) as uow:
            assert uow.idempotency.get("key-ü-😀") == record
            assert uow.idempotency.get("KEY-Ü-😀") is None
            assert uow.idempotency.get("missing") is None
        with pytest.raises(ConflictError), store.unit_of_work() as uow:  # noqa: PT012 - append or commit may refuse
            uow.idempotency.put(record.model_copy(update={"fingerprint": "b" * 64}))
            uow.commit()
        with store.unit_of_work(write=False) as uow:
            assert uow.idempotency.get("key-ü-😀") == record


def _idem(key: str, request: Request, entry: AuditEntry) -> IdempotencyRecord:
    return IdempotencyRecord(
        key=key,
        actor="comms.nguyen",
        fingerprint=hashlib.sha256(key.encode()).hexdigest(),
        request_id=request.id,
        request_version=request.version,
        entry_hash=entry.hash,
        result=request,
    )
