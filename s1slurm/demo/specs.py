"""The demo's sizes and the job specs it writes (curate, train, eval, pipeline), as plain dicts.

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
    eval_size: int  # evaluation questions (balanced over the three rings)
    planted: int  # of them copied into the pool, for decontamination to remove
    epochs: float
    learning_rate: float
    budgets: tuple[int, ...]  # thinking-token caps of the budget-forcing sweep
    global_batch_size: int = 8
    micro_batch_size: int = 4  # x 2 processes = 8: no gradient accumulation


# Measured on the project's 2-core machine (benchmarks/demo.py): the rings are learned after ~300
# optimizer steps at batch 8; a trace line is 3 tokens, so 27 tokens hold the longest (9-hop) walk.
# The smallest budget is 2 (one hop), not 0: the report plots thinking tokens on a log scale.
SIZES: dict[str, DemoSize] = {
    "full": DemoSize(
        "full", eval_size=60, planted=6, epochs=8, learning_rate=5e-3, budgets=(2, 4, 8, 16, 32)
    ),
    "quick": DemoSize("quick", eval_size=30, planted=3, epochs=5, learning_rate=6e-3, budgets=(2, 8, 32)),
}


def curate_spec(
    size: DemoSize, out: Path, pool: Path, eval_data: Path, base_model: Path, select_n: int
) -> dict[str, Any]:
    """Curation of the generated pool, every step for real on the demo's data: collect (exact
    duplicates out); decontamination against the demo's own evaluation set (s1's rule: word
    8-grams, and the whole text of shorter questions; then MinHash near-duplicates); traces from
    the pool's worked solutions (no teacher needed); attempts by the demo's untrained base model,
    graded (s1 drops what its base models solve); domains from the pool's own column; then s1's
    selection of ``select_n`` questions (difficulty, then domain-balanced, 2^-rank length-weighted)."""
    return {
        "stage": "curate",
        "name": f"demo-curate-{size.name}",
        "out": str(out),
        "steps": ["collect", "decontaminate", "traces", "attempts", "domains", "select"],
        "sources": [
            {
                "name": "rings",
                "path": str(pool),
                "cot_type": "math",
                "metadata": ["steps"],
                "fields": {
                    "id": "id",
                    "question": "question",
                    "solution": "solution",
                    "answer": "answer",
                    "domain": "domain",
                },
            }
        ],
        "decontaminate": {
            "ngram": 8,  # s1: data/collect_data.py decontaminate_train_data(ngram_size=8)
            "against": [_benchmark(eval_data)],
            "near_dup": {"threshold": 0.7, "num_perm": 128, "shingle": 3},
        },
        "traces": {"from_fields": {"thinking": "solution", "attempt": "answer"}},
        # A 0.4M-parameter model on the CPU: the eval stage's transformers engine, greedy requests batched
        # (batch_invariant false: 128 questions per generate call instead of one); an answer is one
        # letter (and the end of turn): 2 tokens.
        "attempts": {
            "models": [str(base_model)],
            "engine": "transformers",
            "dtype": "float32",
            "max_model_len": 256,
            "max_tokens": 2,
            "batch_size": 128,
            "batch_invariant": False,
        },
        "domains": {"use_source": True},
        "select": {"n": select_n, "strategy": "s1", "seed": 0, "tokenizer": str(base_model)},
    }


def _benchmark(eval_data: Path) -> dict[str, Any]:
    """The held-out set as an evaluation-stage benchmark (bare question as the prompt)."""
    return {
        "name": "jsonl",
        "label": "rings",
        "path": str(eval_data),
        "kind": "math",
        "prompt_template": "{question}",
        "fields": {"id": "id", "question": "question", "answer": "answer"},
    }


def train_spec(size: DemoSize, model: Path, data: Path) -> dict[str, Any]:
    """SFT of the tiny model on the demo data: the s1 recipe's shape (ZeRO-3, cosine, AdamW
    0.9/0.95, warmup 5%), a learning rate for a model trained from scratch, fp32 on the CPU."""
    return {
        "stage": "train",
        "name": f"demo-train-{size.name}",
        "model": str(model),
        # The pipeline replaces the source with the curation's selection (s1K columns).
        "data": {"source": str(data), "fields": "curate"},
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
        "checkpoint": {"every_steps": 100000, "keep_last": 1},  # only the final one
        "launch": {"processes_per_node": 2},  # two ranks: ZeRO-3 really shards
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
        "benchmarks": [_benchmark(eval_data)],
        "sweep": {"max_thinking_tokens": list(size.budgets)},
        "max_answer_tokens": 8,
        "shards": 1,
    }
    if engine == "vllm":
        # No torch.compile warm-up on a CPU, and no engine-core or worker processes: each would import
        # vLLM and torch again (~15 s apiece on 2 cores) to serve a 0.4M-parameter model. Measured on
        # the project's 2-core machine: vLLM ready in 23 s instead of 61 s.
        spec["engine_args"] = {"enforce_eager": True, "distributed_executor_backend": "uni"}
        spec["engine_env"] = {"VLLM_ENABLE_V1_MULTIPROCESSING": "0"}
        spec["gpu_memory_utilization"] = 0.05  # a 0.4M-parameter model needs little KV cache
    return spec


def pipeline_spec(size: DemoSize, steps: list[dict[str, Any]]) -> dict[str, Any]:
    return {"stage": "pipeline", "name": f"demo-{size.name}", "steps": steps}


def write_spec(path: Path, spec: dict[str, Any], comment: str) -> Path:
    """Save a spec as YAML with a comment line saying where it came from."""
    atomic_write_text(path, f"# {comment}\n" + yaml.safe_dump(spec, sort_keys=False, allow_unicode=True))
    return path
