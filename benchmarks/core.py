"""Core engine benchmarks: transitions/second and the cost of compiling a definition.

Each figure is printed beside a baseline measured in the same run:

* transitions through ``ReleaseFlow.fire`` on the in-memory store, against the bare
  ``transitions`` machine step the engine wraps (what the state machine alone costs)
  and against a plain-Python loop doing the same bookkeeping (dict update + SHA-256
  of a JSON entry), so the ratio shows what validation, policy and sealing cost;
* compiling a definition, against a bare ``transitions.Machine`` of the same graph.

Run: ``make bench`` or ``.venv/bin/python benchmarks/core.py``.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime

from transitions import Machine

import releaseflow as rf
from releaseflow.defaults import default_definitions
from releaseflow.definitions import WorkflowDefinition
from releaseflow.storage.memory import InMemoryStore
from releaseflow.workflow import CompiledWorkflow

CYCLE = ("triage", "submit", "return_for_revision", "submit")


def timed(fn: Callable[[], int]) -> tuple[int, float]:
    start = time.perf_counter()
    count = fn()
    return count, time.perf_counter() - start


def engine_loop(n_requests: int, rounds: int) -> int:
    flow = rf.ReleaseFlow(InMemoryStore())
    flow.directory.bootstrap("admin", unit="agency")
    flow.directory.grant("spoke", "spokesperson", unit="agency", by="admin")
    flow.directory.grant("comms", "comms_officer", unit="agency", by="admin")
    ids = [
        flow.create(
            "press_inquiry", title="t", body="b", actor="comms", unit="agency"
        ).id
        for _ in range(n_requests)
    ]
    for rid in ids:
        flow.fire(rid, "triage", actor="spoke")
    count = 0
    for _ in range(rounds):
        for rid in ids:
            flow.fire(rid, "submit", actor="comms")
            flow.fire(rid, "return_for_revision", actor="spoke", reason="again")
            count += 2
    return count


def plain_loop(n_requests: int, rounds: int) -> int:
    rows = {i: {"state": "drafting", "version": 1} for i in range(n_requests)}
    prev = "0" * 64
    count = 0
    for _ in range(rounds):
        for i, row in rows.items():
            for dest in ("in_review", "drafting"):
                row["state"], row["version"] = dest, row["version"] + 1
                entry = {
                    "id": i,
                    "to": dest,
                    "v": row["version"],
                    "prev": prev,
                    "at": datetime.now(UTC).isoformat(),
                }
                prev = hashlib.sha256(
                    json.dumps(entry, sort_keys=True).encode()
                ).hexdigest()
                count += 1
    return count


class _Cursor:
    __slots__ = ("state",)

    def __init__(self, state: str) -> None:
        self.state = state


def bare_machine(d: WorkflowDefinition) -> Machine:
    """A bare ``transitions`` machine of ``d``'s graph (no model, no callbacks)."""
    return Machine(
        model=None,
        states=[s.name for s in d.states],
        transitions=[
            {"trigger": t.trigger, "source": list(t.source), "dest": t.dest}
            for t in d.transitions
        ],
        initial=d.initial,
        auto_transitions=False,
    )


def machine_loop(n_requests: int, rounds: int) -> int:
    """The bare ``transitions`` step: trigger the event on a state-only model.

    (Not ``CompiledWorkflow.resolve``, which asks the machine once per allowed
    pair and then answers from memory.)
    """
    d = next(d for d in default_definitions() if d.name == "press_inquiry")
    machine = bare_machine(d)
    submit, back = machine.events["submit"], machine.events["return_for_revision"]
    count = 0
    for _ in range(rounds * n_requests):
        submit.trigger(_Cursor("drafting"))
        back.trigger(_Cursor("in_review"))
        count += 2
    return count


def compile_costs(repeat: int) -> tuple[float, float]:
    definitions = default_definitions()
    start = time.perf_counter()
    for _ in range(repeat):
        for definition in definitions:
            CompiledWorkflow(definition)
    ours = (time.perf_counter() - start) / (repeat * len(definitions))
    start = time.perf_counter()
    for _ in range(repeat):
        for d in definitions:
            bare_machine(d)
    bare = (time.perf_counter() - start) / (repeat * len(definitions))
    return ours, bare


def main() -> None:
    n, rounds = 200, 10
    done, secs = timed(lambda: engine_loop(n, rounds))
    plain_done, plain_secs = timed(lambda: plain_loop(n, rounds))
    machine_done, machine_secs = timed(lambda: machine_loop(n, rounds))
    engine_rate = done / secs
    plain_rate = plain_done / plain_secs
    machine_rate = machine_done / machine_secs
    print("Transitions through ReleaseFlow.fire (in-memory store)")
    print(f"  releaseflow          {engine_rate:>10,.0f} /s")
    print(
        f"  bare machine step    {machine_rate:>10,.0f} /s   ratio {engine_rate / machine_rate:.3f}"
    )
    print(
        f"  plain dict+sha loop  {plain_rate:>10,.0f} /s   ratio {engine_rate / plain_rate:.3f}"
    )
    ours, bare = compile_costs(20)
    print("Compiling one definition (once per definition version)")
    print(f"  CompiledWorkflow     {ours * 1e6:>10,.0f} us")
    print(f"  bare Machine         {bare * 1e6:>10,.0f} us   ratio {ours / bare:.2f}")


if __name__ == "__main__":
    main()
