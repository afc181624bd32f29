"""The command group, shared state, error handling and the non-audit commands."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Final

import click

from .. import exceptions as errors
from ..canonical import format_timestamp
from ..service import ReleaseFlow
from .render import FORMATS, emit

__all__ = [
    "EXIT_FAILED",
    "EXIT_INPUT",
    "EXIT_OTHER",
    "EXIT_STORAGE",
    "CliState",
    "cli",
    "main",
]

EXIT_FAILED: Final = 1
EXIT_INPUT: Final = 3
EXIT_STORAGE: Final = 4
EXIT_OTHER: Final = 5
DEFAULT_DB: Final = "sqlite:///releaseflow.db"

FlowFactory = Callable[[str], ReleaseFlow]


def _open(url: str) -> ReleaseFlow:
    return ReleaseFlow.open(url)


@dataclass
class CliState:
    """What every command gets: the database URL, output format and flow factory."""

    db: str = DEFAULT_DB
    fmt: str = "table"
    factory: FlowFactory = _open
    _flow: ReleaseFlow | None = field(default=None, repr=False)

    def flow(self) -> ReleaseFlow:
        """The flow on ``db`` (opened once per invocation)."""
        if self._flow is None:
            self._flow = self.factory(self.db)
        return self._flow

    def close(self) -> None:
        """Close the flow if one was opened."""
        if self._flow is not None:
            self._flow.close()
            self._flow = None


def exit_code(exc: errors.ReleaseflowError) -> int:
    """The documented exit code for a releaseflow error."""
    if isinstance(exc, errors.StorageError):
        return EXIT_STORAGE
    if isinstance(
        exc,
        errors.ValidationError
        | errors.PolicyError
        | errors.NotFoundError
        | errors.WorkflowError,
    ):
        return EXIT_INPUT
    return EXIT_OTHER


class _Group(click.Group):
    """Turns releaseflow errors into a one-line message and a documented code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except errors.ReleaseflowError as exc:
            click.echo(f"error: {type(exc).__name__}: {exc}", err=True)
            ctx.exit(exit_code(exc))
        finally:
            state = ctx.find_object(CliState)
            if state is not None:
                state.close()


@click.group(cls=_Group)
@click.option(
    "--db",
    envvar="RELEASEFLOW_DB",
    default=None,
    help=f"Database URL (default {DEFAULT_DB}; env RELEASEFLOW_DB).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="table",
    show_default=True,
    help="Output format.",
)
@click.version_option(package_name="releaseflow")
@click.pass_context
def cli(ctx: click.Context, db: str | None, fmt: str) -> None:
    """Approval workflows and a tamper-evident audit log, from the shell."""
    state = ctx.ensure_object(CliState)
    if db is not None:
        state.db = db
    state.fmt = fmt


_pass_state = click.make_pass_decorator(CliState, ensure=True)


def _set_format(ctx: click.Context, _: click.Parameter, value: str | None) -> None:
    if value is not None:
        ctx.ensure_object(CliState).fmt = value


def _set_db(ctx: click.Context, _: click.Parameter, value: str | None) -> None:
    if value is not None:
        ctx.ensure_object(CliState).db = value


def pass_state(func: Callable[..., Any]) -> Callable[..., Any]:
    """Pass the :class:`CliState`; also accept ``--db``/``--format`` after the command."""
    func = _pass_state(func)
    func = click.option(
        "--format",
        type=click.Choice(FORMATS),
        default=None,
        expose_value=False,
        callback=_set_format,
        is_eager=True,
        help="Output format (same as the global option).",
    )(func)
    return click.option(
        "--db",
        default=None,
        expose_value=False,
        callback=_set_db,
        is_eager=True,
        help="Database URL (same as the global option).",
    )(func)


@cli.command()
@click.option(
    "--today",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="Last day of the seeded quarter (default: today).",
)
@pass_state
def demo(state: CliState, today: Any) -> None:
    """Seed an empty database with a realistic quarter of activity."""
    from ..demo import seed

    day: date = today.date() if today is not None else date.today()
    summary = seed(state.flow(), day)
    rows = [{"kind": k, "requests": n} for k, n in sorted(summary.by_kind.items())]
    emit(state.fmt, ["kind", "requests"], rows, title="Seeded requests")
    click.echo(
        f"seeded {summary.requests} requests up to {day.isoformat()};"
        f" missed deadline: {summary.missed_deadline}",
        err=True,
    )


@cli.group()
def db() -> None:
    """Database maintenance."""


@db.command()
@pass_state
def upgrade(state: CliState) -> None:
    """Run pending schema migrations on --db."""
    try:
        from ..storage.sql import upgrade as run_upgrade
    except ImportError as exc:  # pragma: no cover - the SQL backend ships with us
        raise click.ClickException("the SQL backend is not available") from exc
    revision = run_upgrade(state.db)
    click.echo(f"database at revision {revision}")


def _sql_store(state: CliState) -> Any:
    from ..storage.sql import SqlStore

    store = state.flow().store
    if not isinstance(store, SqlStore):
        raise errors.ValidationError(
            "this command needs a SQL database (--db)", field="db", rule="sql_store"
        )
    return store


@db.command()
@click.argument("target", type=click.Path(dir_okay=False))
@pass_state
def backup(state: CliState, target: str) -> None:
    """Copy the live SQLite database to TARGET (a new file), consistently.

    Prints the ledger heads' anchor digest of the copy: keep it with the backup.
    """
    from ..storage.sql import backup as run_backup

    result = run_backup(_sql_store(state), target)
    click.echo(f"backup {result.path}: {result.pages} pages, anchor {result.digest}")


@db.command("protect-audit")
@click.option(
    "--remove", is_flag=True, help="Remove the triggers (supervised repair only)."
)
@pass_state
def protect_audit(state: CliState, remove: bool) -> None:
    """Make audit rows append-only in the database itself (triggers)."""
    from ..storage.sql import audit_protected, unprotect_audit
    from ..storage.sql import protect_audit as install

    store = _sql_store(state)
    (unprotect_audit if remove else install)(store)
    status = "protected" if audit_protected(store) else "not protected"
    click.echo(f"audit entries: {status}")


@cli.group()
def requests() -> None:
    """List and show requests."""


_REQUEST_COLUMNS: Final = (
    "id",
    "kind",
    "state",
    "version",
    "unit",
    "title",
    "created_at",
    "next_due_at",
)


def _request_row(request: Any) -> dict[str, Any]:
    plain: dict[str, Any] = request.model_dump(mode="json")
    due = request.next_due_at
    plain["next_due_at"] = format_timestamp(due) if due is not None else None
    return plain


@requests.command("list")
@click.option("--kind", default=None, help="Request kind.")
@click.option("--state", "state_name", default=None, help="Workflow state.")
@click.option("--unit", default=None, help="Unit (and its sub-units).")
@click.option("--overdue", is_flag=True, help="Only requests with a missed deadline.")
@click.option("--limit", type=int, default=100, show_default=True)
@pass_state
def list_requests(
    state: CliState,
    kind: str | None,
    state_name: str | None,
    unit: str | None,
    overdue: bool,
    limit: int,
) -> None:
    """Requests, newest first."""
    filters: dict[str, Any] = {
        "kind": kind,
        "state": state_name,
        "unit": unit,
        "limit": limit,
    }
    found = state.flow().find(
        overdue=overdue, **{k: v for k, v in filters.items() if v is not None}
    )
    emit(
        state.fmt, _REQUEST_COLUMNS, [_request_row(r) for r in found], title="Requests"
    )


@requests.command("show")
@click.argument("request_id")
@pass_state
def show_request(state: CliState, request_id: str) -> None:
    """One request, its approvals and its deadlines."""
    flow = state.flow()
    request = flow.get(request_id)
    if state.fmt == "json":
        plain = request.model_dump(mode="json")
        plain["deadline_views"] = [
            {
                "rule_id": d.rule_id,
                "state": str(d.state),
                "due_at": d.due_at.isoformat(),
            }
            for d in flow.deadlines(request.id)
        ]
        emit("json", [], [plain])
        return
    fields: tuple[str, ...] = ("id", "kind", "definition", "state", "version")
    fields += ("unit", "title", "classification", "created_by", "created_at")
    fields += ("content_hash",)
    plain = request.model_dump(mode="json")
    rows = [{"field": name, "value": plain[name]} for name in fields]
    for approval in request.approvals:
        status = "revoked" if approval.revoked else "valid"
        rows.append(
            {
                "field": f"approval {approval.stage}",
                "value": f"{approval.actor} at {approval.at.isoformat()} ({status})",
            }
        )
    if request.refusal is not None:
        rows.append(
            {
                "field": "refusal",
                "value": f"{request.refusal.ground.value}: {request.refusal.reasons}",
            }
        )
    if request.release is not None:
        rows.append({"field": "release", "value": request.release.form.value})
    for view in flow.deadlines(request.id):
        rows.append(
            {
                "field": f"deadline {view.rule_id}",
                "value": f"{view.state} due {view.due_at.isoformat()}",
            }
        )
    emit(state.fmt, ["field", "value"], rows, title=f"Request {request.id}")


@cli.command()
@click.argument("kind")
def diagram(kind: str) -> None:
    """Print the Mermaid state diagram of KIND's default workflow."""
    from ..defaults import default_definitions
    from ..workflow import mermaid

    for definition in sorted(default_definitions(), key=lambda d: -d.version):
        if definition.name == kind or (
            definition.kind is not None and definition.kind.value == kind
        ):
            click.echo(mermaid(definition))
            return
    raise errors.ValidationError(f"no shipped workflow for {kind!r}", field="kind")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``releaseflow`` script; returns the exit code."""
    try:
        code = cli.main(args=argv, prog_name="releaseflow", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 1
    return code if isinstance(code, int) else 0
