"""Model-based test: random command sequences against a plain-Python model (T26).

The model re-states the press_inquiry rules (roles per edge, Decree 09 speaker rule,
separation of duties, approvals bound to content, classification gate) without using
``releaseflow.policy``. After every step: model == engine for every request, the audit
chain verifies and replays to the stored state, and every release happened with valid
approvals from distinct non-author people on the released content.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)

import releaseflow as rf
from releaseflow.defaults import default_definitions
from releaseflow.definitions import Action
from releaseflow.exceptions import (
    ConflictError,
    InvalidTransitionError,
    NotPermittedError,
    ReleaseBlockedError,
    ReleaseflowError,
    SeparationOfDutiesError,
    StaleApprovalError,
    ValidationError,
)
from releaseflow.vocabulary import Role
from tests.conftest import STAFF, Clock, make_store
from tests.core.conftest import payload_for

DEFINITION = next(d for d in default_definitions() if d.name == "press_inquiry")
EDGES = {(s, t.trigger): t for t in DEFINITION.transitions for s in t.source}
TRIGGERS = sorted(DEFINITION.triggers)
SPEAKERS = {Role.HEAD, Role.SPOKESPERSON}
SPEAKER_STAGES = getattr(DEFINITION, "speaker_stages", ("spokesperson",))
ACTORS = sorted([*STAFF, "alice"])
FORWARD = {
    "received": "triage",
    "gathering": "information_received",
    "drafting": "submit",
    "in_review": "approve_review",
    "awaiting_spokesperson": "approve_release",
    "approved": "release",
}
GRANTABLE = [r for r in Role if r is not Role.ADMINISTRATOR]
PRIORITY = [
    NotPermittedError,
    SeparationOfDutiesError,
    StaleApprovalError,
    ReleaseBlockedError,
]

CI = settings(
    max_examples=60,
    stateful_step_count=30,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@dataclass
class Approval:
    stage: str
    actor: str
    content: int
    revoked: bool = False


@dataclass
class ModelRequest:
    state: str
    version: int
    content: int
    contributors: set[str]
    approvals: list[Approval] = field(default_factory=list)
    classification: str = "public"

    def valid(self, stage: str | None = None) -> list[Approval]:
        return [
            a
            for a in self.approvals
            if not a.revoked
            and a.content == self.content
            and (stage is None or a.stage == stage)
        ]


def _first(denials: list[type[ReleaseflowError]]) -> type[ReleaseflowError] | None:
    for error in PRIORITY:
        if error in denials:
            return error
    return None


class PressInquiryMachine(RuleBasedStateMachine):
    """Drives one ReleaseFlow and the model side by side."""

    requests = Bundle("requests")

    def __init__(self, backend: str) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp(prefix="rf-stateful-"))
        self.store = make_store(backend, self.tmp)
        self.flow = rf.ReleaseFlow(self.store, clock=Clock())
        self.grants: dict[str, set[Role]] = {a: set() for a in ACTORS}
        self.model: dict[Any, ModelRequest] = {}
        self.contents = 0

    def teardown(self) -> None:
        try:
            self.store.close()
        finally:  # every example makes one: leave none behind in the temp dir
            shutil.rmtree(self.tmp, ignore_errors=True)

    @initialize()
    def staff(self) -> None:
        self.flow.directory.bootstrap("admin", unit="agency")
        self.grants["admin"] = {Role.ADMINISTRATOR}
        for actor, role in STAFF.items():
            if role != "administrator":
                self.flow.directory.grant(actor, role, unit="agency", by="admin")
                self.grants[actor].add(Role(role))

    # -- helpers ----------------------------------------------------------------

    def roles(self, actor: str) -> set[Role]:
        return self.grants[actor] - {Role.AUTHORISED_SPEAKER}

    def expect(
        self, want: type[ReleaseflowError] | None, call: Any
    ) -> rf.Request | None:
        try:
            result = call()
        except ReleaseflowError as exc:
            assert want is not None, f"unexpected {exc!r}"  # noqa: PT017
            assert type(exc) is want, f"wanted {want.__name__}, got {exc!r}"  # noqa: PT017
            return None
        assert want is None, f"wanted {want.__name__}, call succeeded"
        return result  # type: ignore[no-any-return]

    # -- rules ------------------------------------------------------------------

    @rule(target=requests, actor=st.sampled_from(ACTORS))
    def create(self, actor: str) -> Any:
        allowed = bool(self.roles(actor) & set(DEFINITION.create_roles))
        self.contents += 1
        made = self.expect(
            None if allowed else NotPermittedError,
            lambda: self.flow.create(
                "press_inquiry",
                title="Câu hỏi",
                body=f"Nội dung {self.contents}",
                actor=actor,
                unit="agency/ttyt",
            ),
        )
        if made is None:
            return multiple()
        self.model[made.id] = ModelRequest(
            state=DEFINITION.initial,
            version=1,
            content=self.contents,
            contributors={actor},
        )
        return made.id

    @rule(rid=requests, actor=st.sampled_from(ACTORS))
    def edit(self, rid: Any, actor: str) -> None:
        m = self.model.get(rid)
        if m is None:
            return
        self.contents += 1
        want: type[ReleaseflowError] | None = None
        if m.state not in DEFINITION.editable_states:
            want = InvalidTransitionError
        elif not self.roles(actor) & set(DEFINITION.editor_roles):
            want = NotPermittedError
        done = self.expect(
            want,
            lambda: self.flow.edit(rid, actor=actor, body=f"Nội dung {self.contents}"),
        )
        if done is not None:
            m.version += 1
            m.content = self.contents
            m.contributors.add(actor)

    @rule(
        rid=requests, trigger=st.sampled_from(TRIGGERS), actor=st.sampled_from(ACTORS)
    )
    def fire(self, rid: Any, trigger: str, actor: str) -> None:
        m = self.model.get(rid)
        if m is None:
            return
        spec = EDGES.get((m.state, trigger))
        any_spec = next(t for t in DEFINITION.transitions if t.trigger == trigger)
        payload = payload_for(DEFINITION, any_spec)
        want = self._fire_outcome(m, spec, actor)
        done = self.expect(
            want, lambda: self.flow.fire(rid, trigger, actor=actor, **payload)
        )
        if done is None:
            return
        assert spec is not None
        m.version += 1
        if spec.action is Action.APPROVE:
            assert spec.stage is not None
            m.approvals.append(Approval(spec.stage, actor, m.content))
            if len(m.valid(spec.stage)) >= spec.quorum:
                m.state = spec.dest
        else:
            m.state = spec.dest
        if spec.action is Action.REVISE:
            for a in m.approvals:
                a.revoked = True
        if spec.action is Action.RELEASE:
            self._check_release(done)

    @rule(rid=requests, data=st.data())
    def advance(self, rid: Any, data: st.DataObject) -> None:
        """Fire a trigger of the current state by someone holding one of its roles.

        It may still be refused: separation of duties, speaker rule, the gate.
        """
        m = self.model.get(rid)
        if m is None:
            return
        specs = [t for t in DEFINITION.transitions if m.state in t.source]
        if not specs:
            return
        spec = data.draw(st.sampled_from(specs))
        holders = sorted(a for a in ACTORS if self.roles(a) & set(spec.roles))
        if not holders:
            return
        self.fire(rid, spec.trigger, data.draw(st.sampled_from(holders)))

    @rule(rid=requests, data=st.data())
    def forward(self, rid: Any, data: st.DataObject) -> None:
        """Take the next step towards release (so sequences reach the gate often)."""
        m = self.model.get(rid)
        for _ in range(data.draw(st.integers(1, 6))):
            if m is None or m.state not in FORWARD:
                return
            spec = EDGES[(m.state, FORWARD[m.state])]
            holders = sorted(a for a in ACTORS if self.roles(a) & set(spec.roles))
            if not holders:
                return
            self.fire(rid, spec.trigger, data.draw(st.sampled_from(holders)))

    def _fire_outcome(
        self, m: ModelRequest, spec: Any, actor: str
    ) -> type[ReleaseflowError] | None:
        if spec is None:
            return InvalidTransitionError
        roles = self.roles(actor)
        denials: list[type[ReleaseflowError]] = []
        if not roles & set(spec.roles):
            denials.append(NotPermittedError)
        if spec.action is Action.APPROVE:
            if actor in m.contributors or any(a.actor == actor for a in m.valid()):
                denials.append(SeparationOfDutiesError)
            if spec.stage in SPEAKER_STAGES and not roles & SPEAKERS:
                denials.append(NotPermittedError)
        if spec.action is Action.RELEASE:
            if not roles & SPEAKERS:
                denials.append(NotPermittedError)
            for stage in DEFINITION.release_requires:
                if m.valid(stage):
                    continue
                stale = [
                    a
                    for a in m.approvals
                    if a.stage == stage and not a.revoked and a.content != m.content
                ]
                denials.append(StaleApprovalError if stale else ReleaseBlockedError)
            if m.classification != "public":
                denials.append(ReleaseBlockedError)
        return _first(denials)

    def _check_release(self, released: rf.Request) -> None:
        assert released.release is not None
        assert released.release.content_hash == released.content_hash
        assert released.classification is rf.Classification.PUBLIC
        approvals = released.valid_approvals()
        assert {a.stage for a in approvals} >= set(DEFINITION.release_requires)
        assert all(a.content_hash == released.content_hash for a in approvals)
        people = [a.actor for a in approvals]
        assert len(people) == len(set(people))
        assert not set(people) & set(released.contributors)

    @rule(
        rid=requests,
        actor=st.sampled_from(ACTORS),
        level=st.sampled_from(["public", "consent_required", "restricted"]),
    )
    def classify(self, rid: Any, actor: str, level: str) -> None:
        m = self.model.get(rid)
        if m is None:
            return
        rank = {"public": 0, "consent_required": 1, "restricted": 2}
        roles = self.roles(actor)
        want: type[ReleaseflowError] | None = None
        if DEFINITION.state(m.state).final:
            want = InvalidTransitionError
        elif m.classification == "restricted" and rank[level] < 2:
            want = None if Role.HEAD in roles else NotPermittedError
        elif not roles & (set(DEFINITION.classifier_roles) | {Role.HEAD}):
            want = NotPermittedError
        grounds = ["criminal_case_pending"] if level == "restricted" else []
        done = self.expect(
            want,
            lambda: self.flow.classify(
                rid, level, actor=actor, reason="Lý do.", grounds=grounds
            ),
        )
        if done is not None:
            m.version += 1
            m.classification = level

    @rule(
        rid=requests,
        actor=st.sampled_from(ACTORS),
        stage=st.sampled_from(["review", "spokesperson"]),
    )
    def revoke_approval(self, rid: Any, actor: str, stage: str) -> None:
        m = self.model.get(rid)
        if m is None:
            return
        valid = m.valid(stage)
        own = [a for a in valid if a.actor == actor]
        released_states = {
            t.dest for t in DEFINITION.transitions if t.action is Action.RELEASE
        }
        want: type[ReleaseflowError] | None = None
        if DEFINITION.state(m.state).final or m.state in released_states:
            want = InvalidTransitionError
        elif not valid:
            want = ValidationError
        elif not own and not self.roles(actor) & SPEAKERS:
            want = NotPermittedError
        done = self.expect(
            want,
            lambda: self.flow.revoke_approval(
                rid, actor=actor, stage=stage, reason="Rút lại."
            ),
        )
        if done is not None:
            m.version += 1
            for a in own or valid:
                a.revoked = True

    @rule(actor=st.sampled_from(ACTORS), role=st.sampled_from(GRANTABLE))
    def grant_role(self, actor: str, role: Role) -> None:
        self.flow.directory.grant(actor, role, unit="agency", by="admin")
        self.grants[actor].add(role)

    @rule(actor=st.sampled_from(ACTORS), role=st.sampled_from(GRANTABLE))
    def revoke_role(self, actor: str, role: Role) -> None:
        removed = self.flow.directory.revoke(actor, role, unit="agency", by="admin")
        assert removed is (role in self.grants[actor])
        self.grants[actor].discard(role)

    @rule(rid=requests, trigger=st.sampled_from(TRIGGERS), back=st.integers(1, 3))
    def stale_transition(self, rid: Any, trigger: str, back: int) -> None:
        m = self.model.get(rid)
        if m is None:
            return
        self.expect(
            ConflictError,
            lambda: self.flow.fire(
                rid,
                trigger,
                actor="head.pham",
                expected_version=m.version - back,
                form="written_answer",
                reason="x",
            ),
        )

    # -- invariants ---------------------------------------------------------------

    @invariant()
    def model_matches_engine(self) -> None:
        for rid, m in self.model.items():
            stored = self.flow.get(rid)
            assert (stored.state, stored.version, stored.classification.value) == (
                m.state,
                m.version,
                m.classification,
            )
            assert len(stored.valid_approvals()) == len(m.valid())

    @invariant()
    def chain_verifies_and_replays(self) -> None:
        report = self.flow.audit.verify()
        assert report.ok, report.problems

    @invariant()
    def audit_history_is_complete(self) -> None:
        for rid, m in self.model.items():
            history = self.flow.audit.history(rid)
            assert [e.request_version for e in history] == list(range(1, m.version + 1))


def test_press_inquiry_model(backend: str) -> None:
    """Random command sequences keep model == engine and every invariant."""

    class Machine(PressInquiryMachine):
        def __init__(self) -> None:
            super().__init__(backend)

    # The model checks engine semantics; the SQL backends get a shorter walk (their
    # own concurrency and contract suites cover storage behaviour in depth).
    chosen = (
        CI
        if backend == "memory"
        else settings(CI, max_examples=15, stateful_step_count=20)
    )
    run_state_machine_as_test(Machine, settings=chosen)
