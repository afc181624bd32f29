"""``releaseflow report``: a period's report in JSON, CSV, Markdown, XLSX or DOCX."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Final

import click

from .app import CliState, _set_db, cli

__all__ = ["REPORT_FORMATS", "report"]

REPORT_FORMATS: Final = ("json", "csv", "md", "xlsx", "docx")
_BINARY: Final = ("xlsx", "docx")


def _guess(output: Path | None, fmt: str | None) -> str:
    if fmt is not None:
        return fmt
    suffix = output.suffix.lstrip(".").lower() if output else ""
    return suffix if suffix in REPORT_FORMATS else "json"


def _write_text(text: str, output: Path | None) -> None:
    if output is None:
        click.echo(text, nl=not text.endswith("\n"))
    else:
        output.write_text(text, encoding="utf-8", newline="")


@cli.command("report")
@click.option(
    "--period", required=True, help="2026, 2026-07, 2026-Q3 or FIRST..LAST (dates)."
)
@click.option("--unit", default=None, help="Unit (with its sub-units); all if omitted.")
@click.option("--kind", "kinds", multiple=True, help="Request kind (repeatable).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(REPORT_FORMATS),
    default=None,
    help="Report format (default: from the -o suffix, else json).",
)
@click.option(
    "--lang", type=click.Choice(["vi", "en"]), default="vi", show_default=True
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write to this file (required for xlsx and docx).",
)
@click.option(
    "--db",
    default=None,
    expose_value=False,
    callback=_set_db,
    is_eager=True,
    help="Database URL (same as the global option).",
)
@click.option(
    "--ids/--no-ids",
    default=True,
    help="Embed each figure's request ids (default); --no-ids writes counts only"
    " (list a figure's requests with releaseflow.reports.drilldown).",
)
@click.pass_context
def report(
    ctx: click.Context,
    period: str,
    unit: str | None,
    kinds: tuple[str, ...],
    fmt: str | None,
    lang: str,
    output: Path | None,
    ids: bool,
) -> None:
    """Compute the report of UNIT over PERIOD and write it as FORMAT."""
    from datetime import date

    from .. import reports

    state = ctx.ensure_object(CliState)
    spec: Any = period
    if ".." in period:
        first, last = period.split("..", 1)
        try:
            spec = (date.fromisoformat(first), date.fromisoformat(last))
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--period") from exc
    chosen = _guess(output, fmt)
    if chosen in _BINARY and output is None:
        raise click.UsageError(f"--format {chosen} needs -o FILE")
    built = reports.build(state.flow(), spec, unit=unit, kinds=kinds or None, ids=ids)
    if chosen == "json":
        _write_text(reports.to_json(built, indent=2) + "\n", output)
    elif chosen == "csv":
        _write_text(reports.to_csv(built, bom=output is not None), output)
    elif chosen == "md":
        _write_text(reports.to_markdown(built, lang=lang), output)
    elif chosen == "xlsx":
        from ..reports.render_xlsx import write_xlsx

        write_xlsx(built, output or sys.stdout.buffer, lang=lang)
    else:
        from ..reports.render_docx import write_docx

        write_docx(built, output or sys.stdout.buffer, lang=lang)
    click.echo(
        f"report {built.meta.period}: {built.totals.received.value} requests,"
        f" anchor {built.meta.anchor_digest[:16]}",
        err=True,
    )
