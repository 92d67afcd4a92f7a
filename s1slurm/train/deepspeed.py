"""The DeepSpeed ZeRO-3 configuration: read the template, check it, fill in the recipe's values."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from s1slurm.core.errors import ConfigError

# The package ships its default templates (a wheel installed anywhere has them); the repository's
# top-level templates/ holds the same files for users to read, copy and edit.
SHIPPED = Path(__file__).resolve().parent / "templates"


def resolve_template(path: Path) -> Path:
    """The template file ``path`` names: the path itself (from the current directory when relative),
    else, for ``templates/...``, the copy the package ships; ConfigError when it is neither."""
    path = Path(path)
    candidates = [path]
    if not path.is_absolute() and path.parts[:1] == ("templates",):
        candidates.append(SHIPPED.joinpath(*path.parts[1:]))
    for candidate in candidates:
        if candidate.is_file():
            return candidate.resolve()
    shipped = ", ".join(f"templates/{p.relative_to(SHIPPED)}" for p in sorted(SHIPPED.rglob("*.json")))
    raise ConfigError(
        f"DeepSpeed template {str(path)!r} not found (the package ships {shipped})",
        field="deepspeed",
        expected="a JSON file such as templates/deepspeed/zero3.json",
    )


def load_template(path: Path) -> dict[str, Any]:
    """Read and check a ZeRO-3 template (stage 3, consolidated 16-bit weights on save)."""
    file = resolve_template(path)
    try:
        config = json.loads(file.read_text())
    except (OSError, ValueError) as e:
        raise ConfigError(f"invalid JSON: {e}", file=str(file), field="deepspeed") from None
    zero = config.get("zero_optimization") if isinstance(config, dict) else None
    if not isinstance(zero, dict) or zero.get("stage") != 3:
        raise ConfigError(
            "not a ZeRO stage 3 config", file=str(file), field="zero_optimization.stage", expected="3"
        )
    if zero.get("stage3_gather_16bit_weights_on_model_save") is not True:
        raise ConfigError(
            "the final model could not be saved as one folder",
            file=str(file),
            field="zero_optimization.stage3_gather_16bit_weights_on_model_save",
            expected="true",
        )
    for key in ("optimizer", "scheduler"):
        if key in config:
            raise ConfigError(
                f"'{key}' is set by the recipe (AdamW, warmup + cosine), not the template",
                file=str(file),
                field=key,
                expected="no such block",
            )
    if "fp16" in config and config["fp16"].get("enabled") not in (False, "auto"):
        raise ConfigError(
            "the s1 recipe trains in bf16 (or fp32), not fp16",
            file=str(file),
            field="fp16.enabled",
            expected="false",
        )
    return config


def render(
    template: dict[str, Any],
    *,
    micro_batch: int,
    accumulation: int,
    world_size: int,
    precision: str,
    max_grad_norm: float,
    sequence_parallel: int = 1,
    offload_optimizer: bool = False,
    offload_parameters: bool = False,
) -> dict[str, Any]:
    """The config one run uses: batch sizes, clipping, precision and offload written out, the rest as given.

    ``train_batch_size`` counts data-parallel ranks (world size / sequence-parallel size), as
    accelerate's Ulysses integration does. Values that depend on the model's hidden size (bucket
    sizes) stay ``auto`` for transformers.
    """
    config = copy.deepcopy(template)
    config["train_micro_batch_size_per_gpu"] = micro_batch
    config["gradient_accumulation_steps"] = accumulation
    config["train_batch_size"] = micro_batch * accumulation * (world_size // sequence_parallel)
    zero = config.setdefault("zero_optimization", {})
    # pin_memory: page-locked host buffers, so the transfers overlap compute (DeepSpeed's advice).
    for key, wanted in (("offload_optimizer", offload_optimizer), ("offload_param", offload_parameters)):
        if wanted:
            zero[key] = {"device": "cpu", "pin_memory": True}
        elif key in zero and zero[key].get("device") not in (None, "none"):
            raise ConfigError(
                f"the template offloads {key} but the spec does not ask for it",
                field=f"zero_optimization.{key}",
                expected=f"no {key} block (set memory.{'offload_optimizer' if key == 'offload_optimizer' else 'offload_parameters'}: true in the spec)",
            )
    config["gradient_clipping"] = max_grad_norm
    config["bf16"] = {**config.get("bf16", {}), "enabled": precision == "bf16"}
    config.pop("fp16", None)
    return config
