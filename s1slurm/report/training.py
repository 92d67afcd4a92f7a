"""The training runs behind a report's models: what a report links (steps, last loss, curves plot)."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from s1slurm.report.collect import RunInfo


def training_runs(runs: Sequence[RunInfo], out_dir: Path) -> list[dict[str, Any]]:
    """The training runs that made the evaluated models: a model folder with a ``train_summary.json``
    beside it (what ``s1slurm submit train`` and the pipeline's train step write), with its steps,
    last loss and training-curves plot (``link``: relative to ``out_dir``, for the report's pages)."""
    out: list[dict[str, Any]] = []
    for model in dict.fromkeys(r.model for r in runs if r.model):
        folder = Path(model).parent
        summary_path = folder / "train_summary.json"
        if not summary_path.is_file():
            continue
        try:
            summary = json.loads(summary_path.read_text())
        except (OSError, ValueError):
            continue
        curve = summary.get("loss_curve") or []
        plot = summary.get("curves_plot")
        plot_path = Path(plot) if isinstance(plot, str) and Path(plot).is_file() else None
        out.append(
            {
                "model": model,
                "folder": str(folder),
                "steps": summary.get("steps"),
                "last_loss": curve[-1].get("loss") if curve else None,
                "curves_plot": str(plot_path) if plot_path else None,
                "link": quote(os.path.relpath(plot_path, out_dir)) if plot_path else None,
            }
        )
    return out
