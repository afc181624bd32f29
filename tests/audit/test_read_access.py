"""Audited reads: refused without an auditor-level grant, and every refusal recorded.

A read or export made with ``by=`` needs the auditor or head role in a unit that
reaches what is asked. Each refused attempt raises ``NotPermittedError`` *and*
leaves a ``read_refused`` entry in the chain (who, what they held, what they asked),
while the entries and their answers stay untouched otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import releaseflow as rf
from releaseflow.exceptions import NotPermittedError, ValidationError

READ_OPS: dict[str, Callable[..., Any]] = {
    "query": lambda flow, **kw: flow.audit.query(**kw),
    "export": lambda flow, **kw: flow.audit.export_jsonl(**kw),
    "csv": lambda flow, **kw: flow.audit.export_csv(**kw),
}


@pytest.fixture(name="units")
def _units(flow: rf.ReleaseFlow) -> rf.ReleaseFlow:
    """Two unit trees; an auditor of one, a head of the other, and bystanders."""
    flow.directory.bootstrap("admin", unit="agency")
    flow.directory.grant("auditor.ly", "auditor", unit="agency/north", by="admin")
    flow.directory.grant("head.pham", "head", unit="agency/south", by="admin")
    flow.directory.grant("review.le", "reviewer", unit="agency", by="admin")
    flow.directory.grant("comms.nguyen", "comms_officer", unit="agency", by="admin")
    return flow


def refusals(flow: rf.ReleaseFlow) -> list[rf.AuditEntry]:
    return [e for e in flow.audit.entries() if e.event is rf.AuditEvent.READ_REFUSED]


def attempt(flow: rf.ReleaseFlow, op: str, **kw: Any) -> None:
    """The read is refused when it is asked for (exports: before any line)."""
    with pytest.raises(NotPermittedError):
        READ_OPS[op](flow, **kw)


@pytest.mark.parametrize("op", sorted(READ_OPS))
@pytest.mark.parametrize(
    ("who", "held"),
    [
        ("review.le", ("reviewer",)),  # a role, but the wrong one
        ("comms.nguyen", ("comms_officer",)),
        ("admin", ("administrator",)),  # grants roles, may not read the log
        ("nobody", ()),  # holds nothing at all
    ],
)
def test_wrong_role_is_refused_and_recorded(
    units: rf.ReleaseFlow, op: str, who: str, held: tuple[str, ...]
) -> None:
    before = list(units.audit.entries())
    attempt(units, op, by=who, actor="review.le")
    after = list(units.audit.entries())
    # exactly one new entry: the refusal; nothing else changed
    assert after[: len(before)] == before
    assert len(after) == len(before) + 1
    entry = after[-1]
    assert entry.event is rf.AuditEvent.READ_REFUSED
    assert entry.actor == who
    assert entry.roles == held
    assert entry.trigger == f"audit_{'query' if op == 'query' else 'export'}"
    assert entry.payload["operation"] == ("query" if op == "query" else "export")
    assert entry.payload["query"]["actor"] == "review.le"
    assert "auditor or head" in entry.payload["reason"]
    assert units.audit.verify().ok


@pytest.mark.parametrize("op", sorted(READ_OPS))
def test_role_in_another_unit_is_refused_for_that_unit(
    units: rf.ReleaseFlow, op: str
) -> None:
    """An auditor of agency/north may not read agency/south (nor a sibling)."""
    for unit in ("agency/south", "agency/south/lab", "agency/northern"):
        attempt(units, op, by="auditor.ly", unit=unit)
        entry = refusals(units)[-1]
        assert entry.actor == "auditor.ly"
        assert entry.unit == unit
        assert entry.roles == ("auditor",)
        assert entry.payload["query"]["unit"] == unit
    assert len(refusals(units)) == 3
    # the same reader is allowed inside (and above, scoped to) their own unit
    assert units.audit.query(by="auditor.ly", unit="agency/north/x").entries == []
    seen = units.audit.query(by="auditor.ly", unit="agency", limit=1000).entries
    assert all(e.unit is None or e.unit.startswith("agency/north") for e in seen)
    assert len(refusals(units)) == 3
    # without subunits, a parent unit holds nothing the grant reaches
    attempt(units, op, by="auditor.ly", unit="agency", include_subunits=False)
    assert len(refusals(units)) == 4


def test_scoped_results_never_leak_another_units_entries(units: rf.ReleaseFlow) -> None:
    units.directory.grant("comms.x", "comms_officer", unit="agency/south", by="admin")
    seen = units.audit.query(by="auditor.ly", limit=1000).entries
    assert all(e.unit is None or e.unit.startswith("agency/north") for e in seen)
    assert not any(e.unit == "agency/south" for e in seen)
    # the south grant exists and the head of south can see it
    south = units.audit.query(by="head.pham", unit="agency/south", limit=1000)
    assert any(e.unit == "agency/south" for e in south.entries)


@pytest.mark.parametrize("op", sorted(READ_OPS))
def test_revoked_role_is_refused_and_recorded(units: rf.ReleaseFlow, op: str) -> None:
    assert units.audit.query(by="head.pham", limit=1).entries
    assert units.directory.revoke("head.pham", "head", unit="agency/south", by="admin")
    attempt(units, op, by="head.pham")
    entry = refusals(units)[-1]
    assert entry.actor == "head.pham"
    assert entry.roles == ()  # holds nothing any more
    # re-granting a different, non-reader role does not bring reading back
    units.directory.grant("head.pham", "reviewer", unit="agency/south", by="admin")
    attempt(units, op, by="head.pham")
    assert refusals(units)[-1].roles == ("reviewer",)
    assert units.audit.verify().ok


def test_refusals_are_queryable_and_explainable_as_entries(
    units: rf.ReleaseFlow,
) -> None:
    attempt(units, "query", by="review.le")
    page = units.audit.query(event="read_refused", actor="review.le")
    assert [e.actor for e in page.entries] == ["review.le"]
    # a successful read is a ``read`` entry, never a ``read_refused`` one
    units.audit.query(by="auditor.ly", limit=1)
    reads = units.audit.query(event="read", actor="auditor.ly").entries
    assert len(reads) == 1
    assert units.audit.query(event="read_refused", actor="auditor.ly").entries == []


def test_bad_reader_ids_are_validation_errors_and_record_nothing(
    units: rf.ReleaseFlow,
) -> None:
    before = len(list(units.audit.entries()))
    for bad in ("", "a\x00b", "x" * 10_000):
        with pytest.raises(ValidationError):
            units.audit.query(by=bad)
    assert len(list(units.audit.entries())) == before


class _Provider:
    def __init__(self, roles: dict[tuple[str, str], set[str]]) -> None:
        self.roles = roles

    def roles_for(self, actor: str, unit: str) -> set[str]:
        return self.roles.get((actor, unit), set())


def test_host_role_provider_refusals_are_recorded(store: Any, clock: Any) -> None:
    provider = _Provider(
        {("aud.x", "agency/a"): {"auditor"}, ("rev.y", "agency/a"): {"reviewer"}}
    )
    flow = rf.ReleaseFlow(store, clock=clock, role_provider=provider)
    assert flow.audit.query(by="aud.x", unit="agency/a").entries == []
    for who, unit in (("aud.x", "agency/b"), ("rev.y", "agency/a"), ("aud.x", None)):
        with pytest.raises(NotPermittedError):
            flow.audit.query(by=who, unit=unit)
        entry = refusals(flow)[-1]
        assert (entry.actor, entry.unit) == (who, unit)
    assert [e.roles for e in refusals(flow)] == [(), ("reviewer",), ()]
