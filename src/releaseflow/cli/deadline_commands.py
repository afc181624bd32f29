"""``releaseflow deadlines``: the deadline sweep and one request's deadlines."""

from __future__ import annotations

from typing import Final

import click

from ..canonical import format_timestamp
from .app import CliState, cli, pass_state
from .render import emit

_COLUMNS: Final = ("kind", "request_id", "rule_id", "state", "due_at")


@cli.group()
def deadlines() -> None:
    """Sweep deadlines and explain them."""


@deadlines.command("sweep")
@pass_state
def sweep(state: CliState) -> None:
    """Record and signal every due-soon and missed deadline not noticed before.

    Safe to run from several processes at once (cron, systemd timers, workers):
    each notice is recorded exactly once.
    """
    report = state.flow().sweep_deadlines()
    rows = [
        {
            "kind": n.kind,
            "request_id": str(n.request_id),
            "rule_id": n.deadline.rule_id,
            "state": str(n.deadline.state),
            "due_at": format_timestamp(n.deadline.due_at),
        }
        for n in report.notices
    ]
    emit(state.fmt, _COLUMNS, rows, title=f"{report.examined} requests examined")


@deadlines.command("explain")
@click.argument("request_id")
@pass_state
def explain(state: CliState, request_id: str) -> None:
    """Each deadline of REQUEST_ID with its state now and how it was computed."""
    flow = state.flow()
    rows = []
    for view in flow.deadlines(request_id):
        rows.append(
            {
                "rule_id": view.rule_id,
                "state": str(view.state),
                "due_at": format_timestamp(view.due_at),
                "legal_source": view.legal_source,
                "explanation": "\n".join(view.explanation),
            }
        )
    columns = ("rule_id", "state", "due_at", "legal_source", "explanation")
    emit(state.fmt, columns, rows, title=f"Deadlines of {request_id}")
