"""``releaseflow audit ...``: query, history, verify, anchor, export."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Final, TypeVar

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn

from ..exports import CSV_COLUMNS
from ..models import Anchor, AuditEntry, parse
from .app import EXIT_FAILED, CliState, cli, pass_state
from .render import emit, safe_text

__all__ = ["audit"]

F = TypeVar("F", bound=Callable[..., Any])

_TABLE_COLUMNS: Final = (
    "at",
    "ledger",
    "seq",
    "event",
    "request_id",
    "actor",
    "roles",
    "trigger",
    "from_state",
    "to_state",
)
_FILTERS: Final = (
    ("--request", "request_id", "Request id."),
    ("--kind", "kind", "Request kind."),
    ("--actor", "actor", "Who acted (exact id)."),
    ("--role", "role", "A role the actor used."),
    ("--trigger", "trigger", "Trigger name."),
    ("--event", "event", "Audit event (created, approved, transitioned, ...)."),
    ("--from-state", "from_state", "State before."),
    ("--to-state", "to_state", "State after."),
    ("--ground", "ground", "Refusal or restriction ground."),
    ("--unit", "unit", "Unit (with its sub-units)."),
    ("--since", "since", "From this time, inclusive (ISO 8601 with offset)."),
    ("--until", "until", "Up to this time, exclusive (ISO 8601 with offset)."),
)


def _filter_options(func: F) -> F:
    for flag, name, text in reversed(_FILTERS):
        func = click.option(flag, name, default=None, help=text)(func)
    func = click.option(
        "--order", type=click.Choice(["time", "sequence"]), default="time"
    )(func)
    func = click.option(
        "--as",
        "reader",
        default=None,
        help="Read as this actor (needs the auditor or head role; the read is audited).",
    )(func)
    return func


def _filters(options: dict[str, Any]) -> dict[str, Any]:
    names = {name for _, name, _ in _FILTERS} | {"order"}
    return {k: v for k, v in options.items() if k in names and v is not None}


def _rows(entries: list[AuditEntry]) -> list[dict[str, Any]]:
    return [e.model_dump(mode="json") for e in entries]


def _key(path: Path | None) -> bytes | None:
    if path is None:
        return None
    key = path.read_bytes().strip()
    if not key:
        raise click.BadParameter("the key file is empty", param_hint="--key-file")
    return key


_KEY_FILE = click.option(
    "--key-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="HMAC key kept outside the database.",
)


@cli.group()
def audit() -> None:
    """Query, explain, verify, anchor and export the audit log."""


@audit.command("query")
@_filter_options
@click.option("--limit", type=int, default=50, show_default=True)
@click.option("--cursor", default=None, help="The next_cursor of the previous page.")
@pass_state
def query_command(
    state: CliState,
    /,
    reader: str | None,
    limit: int,
    cursor: str | None,
    **options: Any,
) -> None:
    """One page of audit entries; the next page's cursor goes to stderr."""
    page = state.flow().audit.query(
        by=reader, limit=limit, cursor=cursor, **_filters(options)
    )
    if state.fmt == "json":
        body = {"entries": _rows(page.entries), "next_cursor": page.next_cursor}
        click.echo(json.dumps(body, ensure_ascii=False, indent=2))
        return
    columns = CSV_COLUMNS if state.fmt == "csv" else _TABLE_COLUMNS
    emit(state.fmt, columns, _rows(page.entries), title="Audit entries")
    if page.next_cursor:
        click.echo(f"next cursor: {page.next_cursor}", err=True)


@audit.command("history")
@click.argument("request_id")
@click.option("--explain", is_flag=True, help="Say it in words.")
@pass_state
def history_command(state: CliState, request_id: str, explain: bool) -> None:
    """Every entry of one request, oldest first."""
    flow = state.flow()
    if explain:
        lines = flow.audit.explain(request_id)
        if state.fmt == "json":
            click.echo(json.dumps(lines, ensure_ascii=False, indent=2))
        else:
            for line in lines:
                click.echo(safe_text(line))
        return
    columns = CSV_COLUMNS if state.fmt == "csv" else _TABLE_COLUMNS
    emit(state.fmt, columns, _rows(flow.audit.history(request_id)), title="History")


@audit.command("verify")
@click.option(
    "--anchor",
    "anchor_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="An anchor exported earlier (JSON from `audit anchor`).",
)
@_KEY_FILE
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=None,
    help="Processes to verify ledgers in (default: automatic; 1 = one process).",
)
@pass_state
def verify_command(
    state: CliState,
    anchor_file: Path | None,
    key_file: Path | None,
    workers: int | None,
) -> None:
    """Verify every ledger, the heads, replayed states and an optional anchor.

    Exits 1 naming the first bad entry (ledger, seq, request) on any failure.
    """
    anchor = None
    if anchor_file is not None:
        anchor = parse(Anchor, json.loads(anchor_file.read_text("utf-8")))
    console = Console(stderr=True)
    if console.is_terminal:
        # a plain line, not a spinner: a spinner is a thread, and verify() only
        # forks worker processes from a single-threaded caller
        console.print("verifying the audit chain...")
    report = state.flow().audit.verify(
        anchor=anchor, key=_key(key_file), workers=workers
    )
    summary = {
        "ok": report.ok,
        "entries_checked": report.entries_checked,
        "ledgers_checked": report.ledgers_checked,
        "anchor_checked": report.anchor_checked,
        "problems": [
            {
                "ledger": p.ledger,
                "seq": p.seq,
                "request_id": str(p.request_id) if p.request_id else None,
                "problem": p.problem,
            }
            for p in report.problems
        ],
    }
    if state.fmt == "json":
        click.echo(json.dumps(summary, indent=2))
    elif report.ok:
        click.echo(
            f"OK: {report.entries_checked} entries in {report.ledgers_checked}"
            " ledgers verified"
            + (" against the anchor" if report.anchor_checked else "")
        )
    first = report.first_bad
    if first is not None:
        click.echo(
            f"FAILED: first bad entry: ledger {first.ledger} seq {first.seq}"
            f" request {first.request_id or '-'}: {safe_text(first.problem)}",
            err=True,
        )
        raise click.exceptions.Exit(EXIT_FAILED)


@audit.command("anchor")
@_KEY_FILE
@click.option("--key-id", default=None, help="Name of the key (stored in the anchor).")
@pass_state
def anchor_command(state: CliState, key_file: Path | None, key_id: str | None) -> None:
    """Print the current heads as an anchor (JSON); keep it outside the database."""
    anchor = state.flow().audit.anchor(key=_key(key_file), key_id=key_id)
    click.echo(json.dumps(anchor.model_dump(mode="json"), indent=2))


@audit.command("export")
@_filter_options
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write here instead of standard output.",
)
@_KEY_FILE
@pass_state
def export_command(
    state: CliState,
    /,
    reader: str | None,
    output: Path | None,
    key_file: Path | None,
    **options: Any,
) -> None:
    """Export matching entries: JSON Lines, or CSV with --format csv.

    The export starts (JSON Lines) or ends (CSV) with the chain heads it was
    taken at; a progress bar goes to stderr.
    """
    audit_log = state.flow().audit
    export: Callable[..., Iterator[str]] = (
        audit_log.export_csv if state.fmt == "csv" else audit_log.export_jsonl
    )
    progress = Progress(
        SpinnerColumn(),
        TextColumn("exporting"),
        BarColumn(),
        TextColumn("{task.completed} entries"),
        console=Console(stderr=True),
        transient=True,
    )
    with progress:
        task = progress.add_task("export", total=None)
        lines = export(
            by=reader,
            key=_key(key_file),
            progress=lambda n: progress.update(task, completed=n),
            **_filters(options),
        )
        if output is None:
            for line in lines:
                sys.stdout.write(line)
            sys.stdout.flush()
        else:
            with output.open("w", encoding="utf-8", newline="") as handle:
                handle.writelines(lines)
    if output is not None:
        click.echo(f"exported to {output}", err=True)
