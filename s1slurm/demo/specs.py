"""The demo's sizes and the job specs it writes (train, eval, pipeline), as plain dicts.

The specs are ordinary ``jobs/*.yaml`` files written into the demo folder, so that every step can
be rerun or edited by hand (``s1slurm submit train --config <demo>/specs/train.yaml``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from s1slurm.core.atomic import atomic_write_text


@dataclass(frozen=True)
class DemoSize:
    """How big one demo run is. ``full`` is the default; ``quick`` is what CI runs."""

    name: str
    eval_size: int                 # evaluation questions (balanced over the three rings)
    epochs: float
    learning_rate: float
    budgets: tuple[int, ...]       # thinking-token caps of the budget-forcing sweep
    global_batch_size: int = 8
    micro_batch_size: int = 4      # x 2 processes = 8: no gradient accumulation


# Measured on the project's 2-core machine (benchmarks/demo.py): the rings are learned after ~300
# optimizer steps at batch 8; a trace line is 3 tokens, so 27 tokens hold the longest (9-hop) walk.
SIZES: dict[str, DemoSize] = {
    "full": DemoSize("full", eval_size=60, epochs=8, learning_rate=5e-3, budgets=(0, 4, 8, 16, 32)),
    "quick": DemoSize("quick", eval_size=30, epochs=5, learning_rate=6e-3, budgets=(0, 8, 32)),
}


def train_spec(size: DemoSize, model: Path, data: Path) -> dict[str, Any]:
    """SFT of the tiny model on the demo data: the s1 recipe's shape (ZeRO-3, cosine, AdamW
    0.9/0.95, warmup 5%), a learning rate for a model trained from scratch, fp32 on the CPU."""
    return {
        "stage": "train",
        "name": f"demo-train-{size.name}",
        "model": str(model),
        "data": {"source": str(data), "fields": {"question": "question", "trace": "solution", "answer": "answer"}},
        "recipe": {
            "epochs": size.epochs,
            "global_batch_size": size.global_batch_size,
            "micro_batch_size": size.micro_batch_size,
            "learning_rate": size.learning_rate,
            "block_size": 128,
            # fp32: this CPU runs bf16 matmuls on a slow fallback; no gradient checkpointing for a tiny model.
            "precision": "fp32",
            "gradient_checkpointing": False,
        },
        "checkpoint": {"every_steps": 100000, "keep_last": 1},   # only the final one
        "launch": {"processes_per_node": 2},                     # two ranks: ZeRO-3 really shards
    }


def eval_spec(size: DemoSize, model: Path, eval_data: Path, engine: str) -> dict[str, Any]:
    """The budget-forcing sweep (method ``max``: each budget a cap) on the demo's evaluation set."""
    spec: dict[str, Any] = {
        "stage": "eval",
        "name": f"demo-eval-{size.name}",
        "model": str(model),
        "engine": engine,
        "dtype": "float32",
        "max_model_len": 256,
        "benchmarks": [{"name": "jsonl", "label": "rings", "path": str(eval_data), "kind": "math",
                        "prompt_template": "{question}",
                        "fields": {"id": "id", "question": "question", "answer": "answer"}}],
        "sweep": {"max_thinking_tokens": list(size.budgets)},
        "max_answer_tokens": 8,
        "shards": 1,
    }
    if engine == "vllm":
        spec["engine_args"] = {"enforce_eager": True}  # no torch.compile warm-up on a CPU
        spec["gpu_memory_utilization"] = 0.05          # a 0.4M-parameter model needs little KV cache
    return spec


def pipeline_spec(size: DemoSize, steps: list[dict[str, Any]]) -> dict[str, Any]:
    return {"stage": "pipeline", "name": f"demo-{size.name}", "steps": steps}


def write_spec(path: Path, spec: dict[str, Any], comment: str) -> Path:
    """Save a spec as YAML with a comment line saying where it came from."""
    atomic_write_text(path, f"# {comment}\n" + yaml.safe_dump(spec, sort_keys=False, allow_unicode=True))
    return path
