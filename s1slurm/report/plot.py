"""scaling.png / scaling.svg: accuracy against average thinking tokens, one panel per benchmark.

Uses matplotlib's object API (``Figure`` with the Agg canvas), never pyplot: no display, no global
state, nothing done at import time.
"""

from __future__ import annotations

import io
import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from s1slurm.report.build import ReportResult

MAX_LABELS = 10  # points labelled per line; longer lines get evenly spaced labels


def _label_indices(n: int) -> list[int]:
    if n <= MAX_LABELS + 2:
        return list(range(n))
    step = (n - 1) / (MAX_LABELS - 1)
    return sorted({round(i * step) for i in range(MAX_LABELS)})


def render_plots(result: "ReportResult") -> tuple[bytes, bytes]:
    """(PNG bytes, SVG bytes) of the scaling plot."""
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    benches = result.benchmarks
    ncols = max(1, min(3, len(benches)))
    nrows = max(1, math.ceil(len(benches) / ncols))
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "s1slurm-report",
                                "font.size": 9}):
        fig = Figure(figsize=(5.6 * ncols, 4.3 * nrows + 0.4), layout="constrained")
        FigureCanvasAgg(fig)
        axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
        for ax in axes[len(benches):]:
            ax.set_visible(False)
        if not benches:
            axes[0].set_visible(True)
            axes[0].text(0.5, 0.5, "no records", ha="center", va="center", transform=axes[0].transAxes)
            axes[0].set_axis_off()
        for ax, bench in zip(axes, benches):
            _panel(ax, result, bench)
        title = "Accuracy against average thinking tokens (error bars: 95% bootstrap interval)"
        if result.partial:
            fig.suptitle("PARTIAL DATA (see the report's data problems)\n" + title, color="#b00020")
        else:
            fig.suptitle(title)
        png, svg = io.BytesIO(), io.BytesIO()
        fig.savefig(png, format="png", dpi=110, metadata={"Software": None})
        fig.savefig(svg, format="svg", metadata={"Date": None})
    return png.getvalue(), svg.getvalue()


def _panel(ax, result: "ReportResult", bench: str) -> None:
    methods = [c for c in result.methods if c.benchmark == bench]
    by_setting = {m.setting: m for m in result.settings if m.benchmark == bench}
    for c in methods:
        pts = [by_setting[s] for s in c.settings if by_setting[s].avg_thinking_tokens > 0]
        if not pts:
            continue
        x = [m.avg_thinking_tokens for m in pts]
        y = [m.accuracy for m in pts]
        err = [[max(m.accuracy - m.ci_low, 0) for m in pts], [max(m.ci_high - m.accuracy, 0) for m in pts]]
        line = ax.errorbar(x, y, yerr=err, marker="o", markersize=4, capsize=3, linewidth=1.4,
                           label=f"{bench} · {c.method}")
        color = line[0].get_color()
        for i in _label_indices(len(pts)):
            ax.annotate(pts[i].setting, (x[i], y[i]), textcoords="offset points", xytext=(4, 5),
                        fontsize=7, color=color)
    hit = result.reference.for_benchmark(bench) if result.reference else None
    if hit:
        name = result.reference.name  # type: ignore[union-attr]
        ax.axhline(hit[1], color="#555555", linestyle="--", linewidth=1,
                   label=f"{name} with budget forcing ({hit[1]:.1f})")
        ax.axhline(hit[2], color="#555555", linestyle=":", linewidth=1,
                   label=f"{name} without ({hit[2]:.1f})")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("average thinking tokens (log2 scale)")
    ax.set_ylabel("accuracy (%)")
    ax.set_title(bench)
    lo, hi = ax.get_ylim()
    lo = max(lo, -1.0)
    ax.set_ylim(lo, min(max(hi, lo + 10.0), 101.0))
    ax.grid(True, which="both", alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7, loc="best")
