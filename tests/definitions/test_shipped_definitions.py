"""Every shipped workflow definition: valid, compiled, complete, round-trips, documented."""

from __future__ import annotations

import importlib.util
import json
from collections import deque
from pathlib import Path
from types import ModuleType

import pytest
import yaml

import releaseflow as rf
from releaseflow.defaults import default_definitions
from releaseflow.definitions import Action, WorkflowDefinition
from releaseflow.workflow import CompiledWorkflow, DefinitionRegistry

ROOT = Path(__file__).resolve().parents[2]
DEFINITIONS = {d.name: d for d in default_definitions()}
NAMES = sorted(DEFINITIONS)


def _gen_docs() -> ModuleType:
    path = ROOT / "tools" / "gen_workflow_docs.py"
    spec = importlib.util.spec_from_file_location("gen_workflow_docs", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_one_shipped_definition_per_request_kind() -> None:
    """Every RequestKind has exactly one shipped definition, named after it."""
    kinds = [d.kind for d in default_definitions()]
    assert sorted(k.value for k in kinds if k) == sorted(
        k.value for k in rf.RequestKind
    )
    for definition in default_definitions():
        assert definition.kind is not None
        assert definition.name == definition.kind.value
        assert definition.version == 1


@pytest.mark.parametrize("name", NAMES)
def test_validates_and_compiles(name: str) -> None:
    """The YAML validates and compiles into a shared machine."""
    definition = DEFINITIONS[name]
    compiled = CompiledWorkflow(definition)
    assert compiled.key == f"{name}@1"
    for state in definition.states:
        assert set(compiled.triggers_from(state.name)) == {
            t.trigger for t in definition.transitions_from(state.name)
        }
    assert DefinitionRegistry([definition]).default_for(definition.kind).definition == (
        definition
    )


@pytest.mark.parametrize("name", NAMES)
def test_has_every_required_step_kind(name: str) -> None:
    """Withdraw, revise, refuse, release, post-release correction, report -> closed."""
    d = DEFINITIONS[name]
    by_trigger = {t.trigger: t for t in d.transitions}
    finals = {s.name for s in d.states if s.final}

    withdraw = by_trigger["withdraw"]
    assert "reason" in withdraw.requires
    assert d.initial in withdraw.source

    revisions = [t for t in d.transitions if t.action is Action.REVISE]
    assert revisions
    assert all("reason" in t.requires for t in revisions)
    assert by_trigger["return_for_revision"].action is Action.REVISE

    refusals = [t for t in d.transitions if t.action is Action.REFUSE]
    assert [t.trigger for t in refusals] == ["refuse"]
    assert {"ground", "reasons"} <= set(refusals[0].requires)

    releases = [t for t in d.transitions if t.action is Action.RELEASE]
    assert [t.trigger for t in releases] == ["release"]
    assert "form" in releases[0].requires
    released = releases[0].dest

    after_release = d.transitions_from(released)
    correction = [t for t in after_release if t.action is Action.REVISE]
    retraction = [t for t in after_release if t.trigger == "retract"]
    assert correction or retraction
    assert all("reason" in t.requires for t in correction + retraction)

    assert d.state("closed").final
    assert finals == {"closed"}
    report = by_trigger["report"]
    assert report.dest == "closed"
    outcomes = {refusals[0].dest, withdraw.dest} | {t.dest for t in retraction}
    assert outcomes <= set(report.source)
    # After a release the request is reported without another release or revision
    # (directly, or after tracking steps such as the press publishing a correction).
    seen, queue = {released}, deque([released])
    while queue:
        for t in d.transitions_from(queue.popleft()):
            if t.action is Action.MOVE and t.dest not in seen:
                seen.add(t.dest)
                queue.append(t.dest)
    assert "closed" in seen


@pytest.mark.parametrize("name", NAMES)
def test_every_state_has_an_exit_and_can_reach_closed(name: str) -> None:
    """No dead ends: every non-final state leaves, and every state can be closed."""
    d = DEFINITIONS[name]
    for state in d.states:
        assert bool(d.transitions_from(state.name)) is not state.final, state.name
    reaches = {"closed"}
    queue = deque(["closed"])
    while queue:
        target = queue.popleft()
        for t in d.transitions:
            if t.dest == target:
                for src in t.source:
                    if src not in reaches:
                        reaches.add(src)
                        queue.append(src)
    assert reaches == {s.name for s in d.states}


@pytest.mark.parametrize("name", NAMES)
def test_speaker_powers_match_the_engine(name: str) -> None:
    """Release and final sign-off roles are speakers; review and sign-off differ.

    The engine gives release powers only to the head, the spokesperson or an
    authorised speaker, so listing anyone else would only produce denials.
    """
    d = DEFINITIONS[name]
    speakers = {rf.Role.HEAD, rf.Role.SPOKESPERSON, rf.Role.AUTHORISED_SPEAKER}
    for t in d.transitions:
        if t.action is Action.RELEASE:
            assert set(t.roles) <= speakers, t.trigger
        if t.action is Action.APPROVE and t.stage in ("spokesperson", "head"):
            assert set(t.roles) <= speakers, t.trigger
    assert d.release_requires[-1] in ("spokesperson", "head")
    assert len(set(d.release_requires)) == len(d.release_requires)


@pytest.mark.parametrize("name", NAMES)
def test_waiting_states_are_the_requesters(name: str) -> None:
    """Only the LATI request pauses its clock, in its three waiting states."""
    d = DEFINITIONS[name]
    waiting = {s.name for s in d.states if s.waits_on_requester}
    if name == "citizen_info_request":
        assert waiting == {
            "awaiting_consent",
            "awaiting_payment",
            "awaiting_clarification",
        }
    else:
        assert waiting == set()


@pytest.mark.parametrize("name", NAMES)
def test_round_trips_through_dict_json_and_yaml(name: str) -> None:
    """from_dict / from_json / from_yaml of to_dict() give the same definition."""
    d = DEFINITIONS[name]
    data = d.to_dict()
    assert WorkflowDefinition.from_dict(data) == d
    assert WorkflowDefinition.from_json(json.dumps(data, ensure_ascii=False)) == d
    assert WorkflowDefinition.from_yaml(yaml.safe_dump(data, allow_unicode=True)) == d
    assert WorkflowDefinition.from_dict(data).to_dict() == data


@pytest.mark.parametrize("name", NAMES)
def test_shipped_file_loads_from_disk(name: str, tmp_path: Path) -> None:
    """from_file reads the shipped YAML and a JSON copy of it alike."""
    source = ROOT / "src" / "releaseflow" / "workflows" / f"{name}.yaml"
    assert WorkflowDefinition.from_file(source) == DEFINITIONS[name]
    copy = tmp_path / f"{name}.json"
    copy.write_text(json.dumps(DEFINITIONS[name].to_dict()), encoding="utf-8")
    assert WorkflowDefinition.from_file(copy) == DEFINITIONS[name]


@pytest.mark.parametrize("name", NAMES)
def test_mermaid_diagram_has_every_edge(name: str) -> None:
    """The diagram comes from the definition: a titled state diagram with every edge."""
    d = DEFINITIONS[name]
    text = rf.mermaid(d)
    assert text.startswith(f"---\ntitle: {d.key}\n---\nstateDiagram-v2\n")
    edges: dict[tuple[str, str], set[str]] = {}
    for line in text.splitlines():
        if " --> " in line and ": " in line:
            ends, _, triggers = line.strip().partition(": ")
            src, _, dest = ends.partition(" --> ")
            edges[(src, dest)] = set(triggers.split(" | "))
    want: dict[tuple[str, str], set[str]] = {}
    for t in d.transitions:
        for src in t.source:
            want.setdefault((src, t.dest), set()).add(t.trigger)
    assert edges == want
    assert f"[*] --> {d.initial}" in text


def test_reference_doc_is_generated_and_current() -> None:
    """docs/reference/workflows.md equals the generator's output (never stale)."""
    generator = _gen_docs()
    committed = (ROOT / "docs" / "reference" / "workflows.md").read_text("utf-8")
    assert committed == generator.render(), "run: python tools/gen_workflow_docs.py"
    for d in default_definitions():
        assert f"## `{d.name}` (version {d.version})" in committed
        assert rf.mermaid(d).strip("\n") in committed
    assert generator.main(["--check"]) == 0


def test_generator_check_reports_a_stale_page(tmp_path: Path) -> None:
    """--check exits 1 when the page differs, and writing fixes it."""
    generator = _gen_docs()
    page = tmp_path / "workflows.md"
    page.write_text("stale\n", encoding="utf-8")
    assert generator.main(["--check", "--output", str(page)]) == 1
    assert generator.main(["--output", str(page)]) == 0
    assert generator.main(["--check", "--output", str(page)]) == 0


def test_shipped_definitions_load_as_safe_load_reads_them() -> None:
    """The start-up loader (libyaml's) gives what ``from_yaml`` gives, file by file."""
    from importlib import resources

    folder = resources.files("releaseflow").joinpath("workflows")
    texts = sorted(
        (e.name, e.read_text("utf-8"))
        for e in folder.iterdir()
        if e.name.endswith(".yaml")
    )
    assert [d.name for d in default_definitions()] == [
        WorkflowDefinition.from_yaml(text).name for _, text in texts
    ]
    for (name, text), loaded in zip(texts, default_definitions(), strict=True):
        assert yaml.load(text, Loader=yaml.CSafeLoader) == yaml.safe_load(text), name
        assert loaded == WorkflowDefinition.from_yaml(text), name
