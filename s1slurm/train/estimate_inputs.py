"""The planner's inputs for one spec: the model's shape (config.json or the built-in table) and the
number of training examples. ``planner`` holds the formulas; this module only finds the numbers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from s1slurm.config.cluster import Profile
from s1slurm.core.dataload import looks_local
from s1slurm.models import hub
from s1slurm.models.resolve import is_hub_id
from s1slurm.train import cost_estimate as P
from s1slurm.train.job_plan import TrainPlan


def model_shape(model: str, *, offline: str | None) -> tuple[P.ModelShape | None, str]:
    """The shape of ``model`` and where it came from: a local ``config.json``, the hub's, or the
    built-in table when the hub cannot be reached (``offline`` says why)."""

    if not is_hub_id(model):
        config = Path(model).expanduser() / "config.json"
        if not config.is_file():
            return None, f"no config.json in {model}"
        return P.ModelShape.from_config(json.loads(config.read_text())), str(config)
    if offline is None:
        try:
            return P.ModelShape.from_config(hub.read_config(model)), f"the hub's config.json of {model}"
        except Exception as e:  # gated, unknown or unreachable: the table may still know it
            offline = f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"
    shape = P.known_shape(model)
    if shape is None:
        return (
            None,
            f"{model}'s config.json could not be read ({offline}) and the built-in table does not know it",
        )
    return shape, f"the built-in table ({model}; hub not read: {offline})"


def count_examples(spec: Any) -> tuple[int | None, str]:
    """Training examples: planner.examples, data.limit, a local file's records, or a known dataset."""

    if spec.planner.examples:
        return spec.planner.examples, "planner.examples"
    n, source = None, ""
    if looks_local(spec.data.source) and Path(spec.data.source).is_file():
        path = Path(spec.data.source)
        try:
            if path.suffix == ".jsonl":
                with open(path, encoding="utf-8") as f:
                    n = sum(1 for line in f if line.strip())
            elif path.suffix == ".parquet":
                import pyarrow.parquet as pq

                n = pq.ParquetFile(path).metadata.num_rows
            else:
                data = json.loads(path.read_text(encoding="utf-8"))
                n = len(data) if isinstance(data, list) else None
            source = str(path)
        except (OSError, ValueError, ImportError):
            n = None
    else:
        n = P.KNOWN_DATASET_SIZES.get(spec.data.source.lower())
        source = f"{spec.data.source} (known size)"
    if n is not None and spec.data.limit:
        return min(n, spec.data.limit), f"{source}, data.limit"
    if n is None and spec.data.limit:
        return spec.data.limit, "data.limit"
    return n, source


def estimate_for(
    spec: Any, profile: Profile, plan: TrainPlan, *, offline: str | None, file: str | None = None
) -> tuple[P.Estimate | None, str | None]:
    """The estimate of ``spec`` on its plan's layout, and a note when the model's shape is unknown."""
    shape, source = model_shape(spec.model, offline=offline)
    if shape is None:
        return None, f"no training plan: {source}"
    layout = P.Layout(
        nodes=plan.layout.nodes,
        gpus_per_node=plan.layout.gpus_per_node,
        world_size=plan.layout.world_size,
        sequence_parallel=plan.layout.sequence_parallel,
        micro_batch=spec.recipe.micro_batch_size,
        accumulation=plan.accumulation,
    )
    zero = plan.template.get("zero_optimization", {})
    live = zero.get("stage3_max_live_parameters", 1e9)
    examples, examples_source = count_examples(spec)
    est = P.estimate(
        spec,
        shape,
        layout,
        model=spec.model,
        source=source,
        max_live_parameters=float(live) if isinstance(live, (int, float)) else 1e9,
        examples=examples,
        examples_source=examples_source,
    )
    return est, None
