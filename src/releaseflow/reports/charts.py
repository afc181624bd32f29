"""PNG charts of a report (matplotlib, Agg backend; DejaVu Sans covers Vietnamese)."""

from __future__ import annotations

import io
from collections.abc import Callable

from .model import Report

__all__ = ["deadlines_png", "outcomes_png"]

Gettext = Callable[[str], str]
_OUTCOMES = ("released", "refused", "withdrawn", "pending")
_COLOURS = ("#2e7d32", "#c62828", "#757575", "#f9a825")


def _figure() -> tuple[object, object]:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.5, 4.2), dpi=110)
    return fig, fig.add_subplot(1, 1, 1)


def _integer_ticks(axis: object) -> None:
    from matplotlib.axis import Axis
    from matplotlib.ticker import MaxNLocator

    assert isinstance(axis, Axis)
    axis.set_major_locator(MaxNLocator(integer=True))


def _png(fig: object) -> bytes:
    from matplotlib.figure import Figure

    assert isinstance(fig, Figure)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def outcomes_png(report: Report, _: Gettext) -> bytes:
    """Stacked horizontal bars: outcome of the requests of each kind."""
    fig, ax = _figure()
    from matplotlib.axes import Axes

    assert isinstance(ax, Axes)
    kinds = list(report.by_kind)
    left = [0] * len(kinds)
    for outcome, colour in zip(_OUTCOMES, _COLOURS, strict=True):
        values = [getattr(report.by_kind[k], outcome).value for k in kinds]
        ax.barh(
            [_(k) for k in kinds], values, left=left, color=colour, label=_(outcome)
        )
        left = [a + b for a, b in zip(left, values, strict=True)]
    ax.invert_yaxis()
    _integer_ticks(ax.xaxis)
    ax.set_title(_("By request kind"))
    ax.legend(fontsize=8, loc="lower right")
    ax.tick_params(axis="y", labelsize=8)
    return _png(fig)


def deadlines_png(report: Report, _: Gettext) -> bytes:
    """Grouped bars: deadlines met, missed and open per rule."""
    fig, ax = _figure()
    from matplotlib.axes import Axes

    assert isinstance(ax, Axes)
    rules = list(report.deadlines)
    width = 0.27
    for i, (metric, colour) in enumerate(
        zip(("met", "missed", "open"), ("#2e7d32", "#c62828", "#f9a825"), strict=True)
    ):
        values = [getattr(report.deadlines[r], metric).value for r in rules]
        xs = [x + (i - 1) * width for x in range(len(rules))]
        ax.bar(xs, values, width=width, color=colour, label=_(metric))
    ax.set_xticks(range(len(rules)), [r.split(".", 1)[-1] for r in rules], rotation=20)
    ax.tick_params(axis="x", labelsize=7)
    _integer_ticks(ax.yaxis)
    ax.set_title(_("Deadlines"))
    ax.legend(fontsize=8)
    return _png(fig)
