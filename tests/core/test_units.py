"""Unit tests of workflow compilation, models and pure policy functions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pydantic
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import releaseflow as rf
from releaseflow import policy
from releaseflow.defaults import default_definitions
from releaseflow.definitions import Action, WorkflowDefinition
from releaseflow.exceptions import (
    DefinitionError,
    InvalidTransitionError,
    NotPermittedError,
    ReleaseBlockedError,
    SeparationOfDutiesError,
    UnknownTriggerError,
    ValidationError,
)
from releaseflow.models import Approval, Authorisation, Grant, Request, content_hash_of
from releaseflow.vocabulary import Role
from releaseflow.workflow import CompiledWorkflow, DefinitionRegistry

T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
PRESS = next(d for d in default_definitions() if d.name == "press_inquiry")

# -- workflow -----------------------------------------------------------------------


def test_definitions_compile_once_per_version(monkeypatch: pytest.MonkeyPatch) -> None:
    """Registering and resolving many times builds one Machine per definition version."""
    import releaseflow.workflow as wf

    built: list[str] = []
    real = wf.Machine

    def counting(*args: object, **kwargs: object) -> object:
        built.append("x")
        return real(*args, **kwargs)

    monkeypatch.setattr(wf, "Machine", counting)
    registry = DefinitionRegistry([PRESS])
    registry.register(PRESS)
    compiled = registry.get("press_inquiry", 1)
    for _ in range(50):
        compiled.resolve("received", "triage")
    assert registry.get("press_inquiry") is compiled
    assert len(built) == 1


def test_flows_share_the_compiled_definitions() -> None:
    """Shipped definitions are loaded once per process (cached)."""
    assert default_definitions() is default_definitions()


def test_machine_error_becomes_invalid_transition() -> None:
    """A trigger not allowed from the state is InvalidTransitionError (not MachineError)."""
    compiled = CompiledWorkflow(PRESS)
    with pytest.raises(InvalidTransitionError) as caught:
        compiled.resolve("received", "release")
    assert type(caught.value) is InvalidTransitionError
    assert isinstance(caught.value.__cause__, Exception)
    with pytest.raises(UnknownTriggerError):
        compiled.resolve("received", "no_such_trigger")
    spec, dest = compiled.resolve("approved", "release")
    assert (spec.action, dest) == (Action.RELEASE, "released")


def test_resolve_agrees_with_the_data_everywhere() -> None:
    """For every shipped (state, trigger), the machine and the data agree.

    Twice: the second pass answers allowed pairs from what the machine said the
    first time, and must still refuse every pair the machine refuses.
    """
    for definition in default_definitions():
        compiled = CompiledWorkflow(definition)
        for _ in range(2):
            for state in definition.states:
                for trigger in definition.triggers:
                    spec = definition.transition(state.name, trigger)
                    if spec is None:
                        with pytest.raises(InvalidTransitionError):
                            compiled.resolve(state.name, trigger)
                    else:
                        assert compiled.resolve(state.name, trigger) == (
                            spec,
                            spec.dest,
                        )


def test_machine_is_asked_once_per_allowed_pair() -> None:
    """An allowed (state, trigger) goes through the machine once; refusals every time."""
    compiled = CompiledWorkflow(PRESS)
    asked: list[str] = []
    for name, event in compiled._machine.events.items():
        real = event.trigger

        def counting(model: object, _real: object = real, _name: str = name) -> object:
            asked.append(_name)
            return _real(model)  # type: ignore[operator]

        event.trigger = counting  # type: ignore[method-assign,assignment]
    for _ in range(3):
        assert compiled.resolve("received", "triage")[1] == "drafting"
        with pytest.raises(InvalidTransitionError):
            compiled.resolve("received", "release")
    assert asked == ["triage", "release", "release", "release"]


def test_registering_other_content_under_same_version_is_refused() -> None:
    """name@version is immutable: different content needs a new version."""
    registry = DefinitionRegistry([PRESS])
    changed = PRESS.model_copy(update={"description": "changed"})
    with pytest.raises(DefinitionError):
        registry.register(changed)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d.update(initial="nowhere"),
        lambda d: d["transitions"].append(
            {"trigger": "x", "source": "closed", "dest": "received", "roles": ["head"]}
        ),
        lambda d: d["transitions"].append(
            {"trigger": "x", "source": "received", "dest": "ghost", "roles": ["head"]}
        ),
        lambda d: d["transitions"].append(
            {"trigger": "x", "source": "received", "dest": "drafting", "roles": []}
        ),
        lambda d: d["transitions"].append(
            {"trigger": "x", "source": "received", "dest": "drafting", "roles": ["god"]}
        ),
        lambda d: d["transitions"].append(
            {
                "trigger": "y",
                "source": "received",
                "dest": "drafting",
                "action": "approve",
                "roles": ["head"],
            }
        ),
        lambda d: d.update(release_requires=["legal"]),
        lambda d: d.update(unknown_field=1),
        lambda d: d["states"].append({"name": "island"}),
    ],
)
def test_malformed_definitions_are_refused(mutate: object) -> None:
    """Bad initial, exits from final states, unknown states/roles, unreachable states..."""
    data = PRESS.to_dict()
    data["transitions"] = list(data["transitions"])
    data["states"] = list(data["states"])
    mutate(data)  # type: ignore[operator]
    with pytest.raises(DefinitionError):
        WorkflowDefinition.from_dict(data)


def test_definition_round_trips_through_dict_json_and_yaml() -> None:
    """to_dict -> from_dict/from_json/from_yaml gives an equal definition."""
    import json

    import yaml

    data = PRESS.to_dict()
    assert WorkflowDefinition.from_dict(data) == PRESS
    assert WorkflowDefinition.from_json(json.dumps(data)) == PRESS
    assert WorkflowDefinition.from_yaml(yaml.safe_dump(data)) == PRESS
    for bad in ("[1, 2]", "{", "a: [" * 5000):
        with pytest.raises(DefinitionError):
            WorkflowDefinition.from_yaml(bad)


# -- models -------------------------------------------------------------------------


def _request(**kw: object) -> Request:
    fields: dict[str, object] = {
        "id": uuid4(),
        "kind": "press_inquiry",
        "definition": "press_inquiry",
        "definition_version": 1,
        "state": "approved",
        "version": 5,
        "unit": "agency/ttyt",
        "title": "T",
        "body": "B",
        "channel": "electronic",
        "content_hash": content_hash_of("T", "B"),
        "created_by": "comms.nguyen",
        "contributors": ("comms.nguyen",),
        "received_at": T0,
        "created_at": T0,
        "updated_at": T0,
    }
    fields.update(kw)
    return Request.model_validate(fields)


def test_models_are_frozen_and_refuse_unknown_fields() -> None:
    """Requests cannot be mutated and reject extra fields."""
    request = _request()
    with pytest.raises(pydantic.ValidationError, match="frozen"):
        request.state = "released"  # type: ignore[misc]
    with pytest.raises(pydantic.ValidationError, match="evil"):
        _request(evil=True)


def test_model_ids_and_text_are_canonicalised() -> None:
    """Actor fields are canonical ids; unit paths are lower-cased and trimmed."""
    request = _request(
        created_by="COMMS.Nguyen", contributors=("COMMS.Nguyen",), unit="/Agency/TTYT/"
    )
    assert request.created_by == "comms.nguyen"
    assert request.unit == "agency/ttyt"


def test_valid_approvals_need_current_hash_and_no_revocation() -> None:
    """Stale and revoked approvals are excluded; stage filter works."""
    good = content_hash_of("T", "B")
    request = _request(
        approvals=(
            Approval(
                stage="review",
                actor="a",
                roles=(Role.REVIEWER,),
                content_hash=good,
                at=T0,
            ),
            Approval(
                stage="review",
                actor="b",
                roles=(Role.REVIEWER,),
                content_hash="0" * 64,
                at=T0,
            ),
            Approval(
                stage="spokesperson",
                actor="c",
                roles=(Role.HEAD,),
                content_hash=good,
                at=T0,
                revoked=True,
            ),
        )
    )
    assert [a.actor for a in request.valid_approvals()] == ["a"]
    assert request.valid_approvals("spokesperson") == ()


def test_content_hash_separates_title_and_body() -> None:
    """Moving text between title and body changes the content hash."""
    assert content_hash_of("ab", "c") != content_hash_of("a", "bc")


def test_grant_covers_sub_units_only() -> None:
    """Agency covers agency/x but not agency2 or the parent."""
    grant = Grant(
        actor="x", role=Role.HEAD, unit="agency", granted_by="x", granted_at=T0
    )
    assert grant.covers("agency")
    assert grant.covers("agency/ttyt")
    assert not grant.covers("agency2")
    assert not Grant(
        actor="x", role=Role.HEAD, unit="agency/ttyt", granted_by="x", granted_at=T0
    ).covers("agency")


def test_authorisation_window_is_half_open() -> None:
    """Active from valid_from (inclusive) until valid_until (exclusive), one request."""
    rid = uuid4()
    auth = Authorisation(
        id=uuid4(),
        actor="s",
        request_id=rid,
        reference="r",
        published_at="p",
        valid_from=T0,
        valid_until=T0 + timedelta(hours=1),
        granted_by="h",
        granted_at=T0,
    )
    assert auth.active(rid, T0)
    assert not auth.active(rid, T0 - timedelta(microseconds=1))
    assert not auth.active(rid, T0 + timedelta(hours=1))
    assert not auth.active(uuid4(), T0)


def test_parse_turns_pydantic_errors_into_validation_errors() -> None:
    """models.parse names the bad field in a releaseflow ValidationError."""
    with pytest.raises(ValidationError) as caught:
        rf.models.parse(rf.RequestQuery, {"limit": 0})
    assert caught.value.field == "limit"


# -- policy (pure) ----------------------------------------------------------------------


def _ctx(
    actor: str, *roles: Role, auths: tuple[Authorisation, ...] = ()
) -> policy.PolicyContext:
    return policy.PolicyContext(
        actor=actor, roles=frozenset(roles), authorisations=auths, now=T0
    )


def test_effective_roles_strip_speaker_without_authorisation() -> None:
    """authorised_speaker counts only with an active authorisation of this actor."""
    request = _request()
    assert (
        policy.effective_roles(_ctx("s", Role.AUTHORISED_SPEAKER), request)
        == frozenset()
    )
    auth = Authorisation(
        id=uuid4(),
        actor="s",
        request_id=request.id,
        reference="r",
        published_at="p",
        valid_from=T0,
        valid_until=T0 + timedelta(1),
        granted_by="h",
        granted_at=T0,
    )
    assert Role.AUTHORISED_SPEAKER in policy.effective_roles(
        _ctx("s", auths=(auth,)), request
    )
    other = auth.model_copy(update={"actor": "someone.else"})
    assert policy.effective_roles(_ctx("s", auths=(other,)), request) == frozenset()


def test_release_evaluation_lists_every_unmet_condition() -> None:
    """Release evaluation lists every unmet condition.

    raise_first picks NotPermitted; ReleaseBlocked carries every reason.
    """
    request = _request(
        classification="restricted", restriction_grounds=("criminal_case_pending",)
    )
    spec = PRESS.transition("approved", "release")
    assert spec is not None
    denials = policy.evaluate(PRESS, spec, _ctx("x", Role.REVIEWER), request)
    kinds = [d.error for d in denials]
    assert NotPermittedError in kinds
    assert ReleaseBlockedError in kinds
    with pytest.raises(NotPermittedError):
        policy.raise_first(denials, actor="x", trigger="release")
    blocked = [d for d in denials if d.error is ReleaseBlockedError]
    with pytest.raises(ReleaseBlockedError) as caught:
        policy.raise_first(blocked, actor="x", trigger="release")
    assert len(caught.value.reasons) == len(blocked) == 3
    policy.raise_first([], actor="x", trigger="release")  # no denial: no error


def test_host_guard_named_by_definition_denies() -> None:
    """A ``host:`` guard returning a reason denies; an unregistered one fails closed."""
    request = _request(state="received")
    spec = PRESS.transition("received", "triage")
    assert spec is not None
    guarded = spec.model_copy(update={"guards": ("host:office_hours",)})
    ctx = policy.PolicyContext(
        actor="s",
        roles=frozenset({Role.HEAD}),
        authorisations=(),
        now=T0,
        host_guards={"office_hours": lambda r, c: "closed on Sunday"},
    )
    denials = policy.evaluate(PRESS, guarded, ctx, request)
    assert [d.error for d in denials] == [NotPermittedError]
    assert "office_hours" in denials[0].message
    bare = policy.PolicyContext(
        actor="s", roles=frozenset({Role.HEAD}), authorisations=(), now=T0
    )
    assert [d.error for d in policy.evaluate(PRESS, guarded, bare, request)] == [
        NotPermittedError
    ]
    assert policy.evaluate(PRESS, spec, bare, request) == []


def test_author_approval_is_sod_even_with_every_role() -> None:
    """A contributor holding all roles is still refused approval (SoD)."""
    request = _request(state="in_review", contributors=("boss",))
    spec = PRESS.transition("in_review", "approve_review")
    assert spec is not None
    denials = policy.evaluate(PRESS, spec, _ctx("boss", *Role), request)
    assert [d.error for d in denials] == [SeparationOfDutiesError]


@given(
    st.frozensets(st.sampled_from(list(Role))),
    st.sampled_from(PRESS.transitions),
)
@settings(max_examples=300, derandomize=True)
def test_policy_is_deny_by_default(roles: frozenset[Role], spec: object) -> None:
    """Whenever evaluate allows, the actor holds one of the transition's roles."""
    from releaseflow.definitions import TransitionSpec

    assert isinstance(spec, TransitionSpec)
    request = _request(state=spec.source[0])
    denials = policy.evaluate(PRESS, spec, _ctx("someone", *roles), request)
    if not denials:
        assert (roles - {Role.AUTHORISED_SPEAKER}) & set(spec.roles)
