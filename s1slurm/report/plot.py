"""scaling.png / scaling.svg: accuracy against average thinking tokens, one panel per benchmark.

Uses matplotlib's object API (``Figure`` with the Agg canvas), never pyplot: no display, no global
state, nothing done at import time.
"""

from __future__ import annotations

import contextlib
import io
import math
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from s1slurm.report.types import ReportResult

MAX_LABELS = 10  # points labelled per line at most
_MIN_GAP = 0.07  # labels closer than this (fraction of the axes, in x and in y) are left out


def short_labels(labels: list[str]) -> list[str]:
    """Setting labels without the parts every setting of the line shares (``max=16384``...)."""
    parts = [label.split(",") for label in labels]
    common = set(parts[0]).intersection(*parts[1:]) if len(parts) > 1 else set()
    out = []
    for label, ps in zip(labels, parts):
        kept = [p for p in ps if p not in common]
        out.append(",".join(kept) if kept else label)
    return out


def _candidates(n: int) -> list[int]:
    """Indices worth labelling on a line of n points: all, or evenly spaced ones."""
    if n <= MAX_LABELS:
        return list(range(n))
    step = (n - 1) / (MAX_LABELS - 1)
    return sorted({round(i * step) for i in range(MAX_LABELS)})


def _axis_x(x: float) -> float:
    """Where x lies along the symlog axis, roughly: log2 above one token, linear below."""
    return math.log2(x) if x > 1 else x - 1


class _Placer:
    """Greedy label placement: a point gets a label when no labelled point is too close."""

    def __init__(self, xs: list[float], ys: list[float]) -> None:
        lx = [_axis_x(x) for x in xs]
        self.x0, self.xr = min(lx), (max(lx) - min(lx)) or 1.0
        self.y0, self.yr = min(ys), (max(ys) - min(ys)) or 1.0
        self.taken: list[tuple[float, float]] = []

    def free(self, x: float, y: float) -> bool:
        p = ((_axis_x(x) - self.x0) / self.xr, (y - self.y0) / self.yr)
        if any(abs(p[0] - q[0]) < _MIN_GAP and abs(p[1] - q[1]) < _MIN_GAP for q in self.taken):
            return False
        self.taken.append(p)
        return True


def render_plots(result: ReportResult) -> tuple[bytes, bytes]:
    """(PNG bytes, SVG bytes) of the scaling plot."""
    benches = result.benchmarks
    with _panels(len(benches), salt="s1slurm-report", row_height=4.3) as (fig, axes):
        for ax, bench in zip(axes, benches):
            _panel(ax, result, bench)
        title = "Accuracy against average thinking tokens\n(error bars: 95% bootstrap interval)"
        if result.partial:
            fig.suptitle("PARTIAL DATA (see the report's data problems): " + title, color="#b00020")
        else:
            fig.suptitle(title)
        return _save(fig)


@contextlib.contextmanager
def _panels(n: int, *, salt: str, row_height: float) -> Iterator[tuple[Any, Any]]:
    """A figure with one panel per benchmark (at most three a row), reproducible SVG ids, and a
    "no records" panel when there is none; yields (figure, the first ``n`` axes)."""
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    ncols = max(1, min(3, n))
    nrows = max(1, math.ceil(n / ncols))
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": salt, "font.size": 9}):
        fig = Figure(figsize=(max(5.6 * ncols, 8.0), row_height * nrows + 0.5), layout="constrained")
        FigureCanvasAgg(fig)
        axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
        for ax in axes[n:]:
            ax.set_visible(False)
        if not n:
            axes[0].set_visible(True)
            axes[0].text(0.5, 0.5, "no records", ha="center", va="center", transform=axes[0].transAxes)
            axes[0].set_axis_off()
        yield fig, axes[:n]


def _save(fig: Any) -> tuple[bytes, bytes]:
    """(PNG bytes, SVG bytes); call it inside :func:`_panels` so that its SVG settings apply."""
    png, svg = io.BytesIO(), io.BytesIO()
    fig.savefig(png, format="png", dpi=110, metadata={"Software": None})
    # the layout is in inches and points, the same for both files: computed once (it is half a plot's time)
    fig.set_layout_engine("none")
    fig.savefig(svg, format="svg", metadata={"Date": None})
    return png.getvalue(), svg.getvalue()


def _panel(ax, result: ReportResult, bench: str) -> None:
    methods = [c for c in result.methods if c.benchmark == bench]
    by_setting = {m.setting: m for m in result.settings if m.benchmark == bench}
    # every setting is a point, also those that thought 0 tokens on average (a cap of 0, a model that
    # closes its thinking at once): the axis is log2 above one token and linear below it
    lines = [[by_setting[s] for s in c.settings] for c in methods]
    every = [m for pts in lines for m in pts]
    placer = _Placer([m.avg_thinking_tokens for m in every], [m.accuracy for m in every]) if every else None
    for c, pts in zip(methods, lines):
        if not pts:
            continue
        x = [m.avg_thinking_tokens for m in pts]
        y = [m.accuracy for m in pts]
        err = [[max(m.accuracy - m.ci_low, 0) for m in pts], [max(m.ci_high - m.accuracy, 0) for m in pts]]
        line = ax.errorbar(
            x,
            y,
            yerr=err,
            marker="o",
            markersize=4,
            capsize=3,
            linewidth=1.4,
            elinewidth=0.8,
            label=f"{bench} · {c.method}",
        )
        color = line[0].get_color()
        names = short_labels([m.setting for m in pts])
        for i in _candidates(len(pts)):
            if placer is not None and placer.free(x[i], y[i]):
                ax.annotate(
                    names[i], (x[i], y[i]), textcoords="offset points", xytext=(4, 5), fontsize=7, color=color
                )
    hit = result.reference.for_benchmark(bench) if result.reference else None
    if hit:
        name = result.reference.name  # type: ignore[union-attr]
        ax.axhline(
            hit[1],
            color="#555555",
            linestyle="--",
            linewidth=1,
            label=f"{name} with budget forcing ({hit[1]:.1f})",
        )
        ax.axhline(
            hit[2], color="#555555", linestyle=":", linewidth=1, label=f"{name} without ({hit[2]:.1f})"
        )
    ax.set_xscale("symlog", base=2, linthresh=1.0, linscale=0.5)
    _plain_ticks(ax.xaxis)
    if any(m.avg_thinking_tokens < 1 for m in every):  # points at 0 off the frame's edges
        ax.set_xlim(-0.5, max(2.0, 1.2 * max(m.avg_thinking_tokens for m in every)))
    ax.set_xlabel("average thinking tokens (log2 scale above 1)")
    ax.set_ylabel("accuracy (%)")
    ax.set_title(bench)
    lo, hi = ax.get_ylim()
    lo = max(lo, -1.0)
    ax.set_ylim(lo, min(max(hi, lo + 10.0), 101.0))
    ax.grid(True, which="both", alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7, loc="best")


def _plain_ticks(axis: Any) -> None:
    """Tick labels as plain numbers (32, 64) rather than 2^5, 2^6: readable, and not typeset by
    mathtext (which took a third of a plot's time)."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    axis.set_major_formatter(FuncFormatter(lambda value, _pos: f"{value:g}"))
    axis.set_minor_formatter(NullFormatter())


def render_k_curves(result: ReportResult) -> tuple[bytes, bytes]:
    """(PNG bytes, SVG bytes): pass@k (solid) and maj@k (dashed) against k, one panel per
    benchmark, one line pair per method at its best-performing setting."""
    benches = result.benchmarks
    with _panels(len(benches), salt="s1slurm-report-k", row_height=4.0) as (fig, axes):
        for ax, bench in zip(axes, benches):
            by_setting = {m.setting: m for m in result.settings if m.benchmark == bench}
            for c in (c for c in result.methods if c.benchmark == bench):
                m = by_setting[c.performance_setting]
                if not m.ks:
                    continue
                line = ax.plot(
                    m.ks,
                    m.pass_at_k,
                    marker="o",
                    markersize=3,
                    linewidth=1.3,
                    label=f"{c.method} pass@k ({m.setting})",
                )
                ax.plot(
                    m.ks,
                    m.maj_at_k,
                    marker="s",
                    markersize=3,
                    linewidth=1.1,
                    linestyle="--",
                    color=line[0].get_color(),
                    label=f"{c.method} maj@k",
                )
            ax.set_xscale("log", base=2)
            _plain_ticks(ax.xaxis)
            ax.set_xlabel("k (samples, log2 scale)")
            ax.set_ylabel("percent of questions")
            ax.set_title(bench)
            ax.set_ylim(-1.0, 101.0)
            ax.grid(True, which="both", alpha=0.3)
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize=6, loc="best")
        title = "pass@k (solid) and maj@k (dashed) over k, each method at its best setting"
        fig.suptitle(
            ("PARTIAL DATA: " if result.partial else "") + title,
            color="#b00020" if result.partial else "black",
        )
        return _save(fig)
