"""Training curves: loss, learning rate and gradient norm against the optimizer step, drawn into
the run folder (``training_curves.png``) from the rank-0 step log, and the Trainer's own reporting
integrations (TensorBoard, wandb in offline mode) that a spec's ``report_to`` asks for.

s1 trained with wandb (train/sft.py); its users compare loss curves (s1 issue #108). The PNG needs
no service and is always written; TensorBoard and wandb are opt-in and need their packages.
"""

from __future__ import annotations

import importlib.util
import io
import itertools
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from s1slurm.core.atomic import atomic_write_bytes
from s1slurm.core.errors import ConfigError
from s1slurm.train.paths import TrainPaths

REPORTERS = ("tensorboard", "wandb")  # the values report_to accepts, by their package name
_PANELS = (("loss", "training loss"), ("learning_rate", "learning rate"), ("grad_norm", "gradient norm"))


def reporting(report_to: Sequence[str], paths: TrainPaths) -> list[str] | str:
    """``report_to`` for TrainingArguments ("none" for an empty list). TensorBoard writes its event
    files into the run folder (``paths.tensorboard_dir``); wandb runs offline (WANDB_MODE=offline
    unless set) with its files in the run folder, to be uploaded later with ``wandb sync``.

    Raises ConfigError (exit 2) naming the missing package when one is not installed on this node.
    """
    if not report_to:
        return "none"
    missing = [name for name in report_to if importlib.util.find_spec(name) is None]
    if missing:
        raise ConfigError(
            f"report_to names {', '.join(missing)}, not installed where training runs",
            field="report_to",
            expected=f"pip install {' '.join(missing)}, or leave it out",
        )
    if "tensorboard" in report_to:
        # the Trainer's default is under output_dir, the checkpoint staging area that is cleaned
        os.environ["TENSORBOARD_LOGGING_DIR"] = str(paths.tensorboard_dir)
    if "wandb" in report_to:
        os.environ.setdefault("WANDB_MODE", "offline")  # compute nodes often have no internet
        os.environ.setdefault("WANDB_DIR", str(paths.root))
    return list(report_to)


def render_curves(rows: Sequence[dict[str, Any]], title: str) -> bytes:
    """PNG of loss, learning rate and gradient norm per step (one panel each; a dotted line where
    an attempt resumed). ``rows``: the step log's rows (step, loss, learning_rate, grad_norm, attempt)."""
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    with matplotlib.rc_context({"font.size": 9}):
        fig = Figure(figsize=(7.5, 7.0), layout="constrained")
        FigureCanvasAgg(fig)
        axes = fig.subplots(len(_PANELS), 1, sharex=True, squeeze=False).ravel()
        resumes = [b["step"] for a, b in itertools.pairwise(rows) if a.get("attempt") != b.get("attempt")]
        for ax, (key, label) in zip(axes, _PANELS):
            points = [(r["step"], r[key]) for r in rows if isinstance(r.get(key), (int, float))]
            if points:
                ax.plot(
                    [p[0] for p in points],
                    [p[1] for p in points],
                    marker="o" if len(points) < 40 else None,
                    markersize=3,
                    linewidth=1.2,
                )
            else:
                ax.text(0.5, 0.5, f"no {label} logged", ha="center", va="center", transform=ax.transAxes)
            for step in resumes:
                ax.axvline(step, color="#888888", linestyle=":", linewidth=1)
            ax.set_ylabel(label)
            ax.grid(True, alpha=0.3)
        axes[-1].set_xlabel("optimizer step" + (" (dotted: resumed)" if resumes else ""))
        fig.suptitle(title)
        out = io.BytesIO()
        fig.savefig(out, format="png", dpi=100, metadata={"Software": None})
    return out.getvalue()


def write_curves(paths: TrainPaths, rows: Sequence[dict[str, Any]], model: str) -> Path:
    """Draw the curves of ``rows`` into ``paths.curves_plot`` (atomically) and return its path."""
    last = rows[-1] if rows else {}
    loss = f", last loss {last['loss']:.4g}" if isinstance(last.get("loss"), (int, float)) else ""
    title = f"{Path(model).name or model}: {len(rows)} logged steps{loss}"
    atomic_write_bytes(paths.curves_plot, render_curves(rows, title))
    return paths.curves_plot
