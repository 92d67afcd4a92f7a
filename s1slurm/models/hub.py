"""The Hugging Face hub at submission: is it reachable, a model's config.json, weights into a cache.

Compute nodes often have no internet and 16 ranks downloading 65 GB at once race on a shared cache,
so a hub id is resolved once, at submission, into a snapshot under the profile's ``weights_cache``;
the ranks then load that folder with ``HF_HUB_OFFLINE=1``. Offline (a laptop, a login node without
a proxy) checks that need the hub are skipped with the reason by planning and dry runs, never by a
real submission.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from s1slurm.core.errors import ConfigError

# How long the reachability probe waits: huggingface_hub itself retries for ~25 s before giving up.
PROBE_TIMEOUT_S = 3.0


def hub_endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co")


def offline_reason() -> str | None:
    """Why the hub cannot be used from this machine now, or None when it answers a TCP connect."""
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        return "HF_HUB_OFFLINE is set"
    url = urlparse(hub_endpoint())
    host, port = url.hostname or "", url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=PROBE_TIMEOUT_S):
            return None
    except OSError as e:
        return f"{host}:{port} not reachable ({e.strerror or e})"


def read_config(model: str) -> dict[str, Any]:
    """``config.json`` of a local folder, or of a hub id (one small download)."""
    local = Path(model).expanduser() / "config.json"
    if local.is_file():
        return json.loads(local.read_text())
    from huggingface_hub import hf_hub_download

    return json.loads(Path(hf_hub_download(model, "config.json")).read_text())


def snapshot_folder(cache: str | Path, model: str) -> Path:
    """Where the snapshot of ``model`` lands under the cache folder (one folder per hub id)."""
    return Path(os.path.expandvars(str(cache))).expanduser() / model.replace("/", "--")


def download_dataset(source: str, cache: str | Path) -> Path:
    """The snapshot of hub dataset ``source`` under ``cache``/datasets (the ranks run offline too)."""
    from huggingface_hub import snapshot_download

    target = snapshot_folder(Path(os.path.expandvars(str(cache))).expanduser() / "datasets", source)
    try:
        return Path(snapshot_download(source, repo_type="dataset", local_dir=str(target)))
    except Exception as e:
        raise ConfigError(
            f"cannot download dataset {source} into {target}: {e}",
            field="data.source",
            expected="a hub dataset you can read, or a local file",
        ) from None


def download_weights(model: str, cache: str | Path, *, revision: str | None = None) -> Path:
    """Download (or find, when it is complete already) the snapshot of ``model`` under ``cache``.

    huggingface_hub shows a progress bar per file and skips files already there, so a second
    submission costs one listing. Only the files a training needs are fetched.
    """
    from huggingface_hub import snapshot_download

    target = snapshot_folder(cache, model)
    try:
        path = snapshot_download(
            model,
            revision=revision,
            local_dir=str(target),
            allow_patterns=[
                "*.json",
                "*.safetensors",
                "*.model",
                "*.txt",
                "*.jinja",
                "*.tiktoken",
                "tokenizer*",
            ],
        )
    except Exception as e:  # unknown id, gated model, no space: one message for the user
        raise ConfigError(
            f"cannot download the weights of {model} into {target}: {e}",
            field="model",
            expected="a hub id you can read, or a local model folder",
        ) from None
    folder = Path(path)
    if not (folder / "config.json").is_file():
        raise ConfigError(f"the snapshot of {model} in {folder} has no config.json", field="model")
    return folder
