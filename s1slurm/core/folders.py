"""Output folders the user names: checked before any work, so that a bad path costs nothing."""

from __future__ import annotations

from pathlib import Path

from s1slurm.core.errors import ConfigError


def check_output_folder(path: Path | str, *, field: str, file: str | None = None) -> Path:
    """``path`` as a folder that exists or can be created: not empty, not a file, with no file
    among its parents; a ConfigError naming ``field`` otherwise."""
    if str(path).strip() == "":
        raise ConfigError("an empty path", file=file, field=field, expected="a folder")
    p = Path(path)
    for candidate in (p, *p.parents):
        if candidate.exists():
            if not candidate.is_dir():
                where = (
                    "exists and is not a folder" if candidate == p else f"{candidate} is a file, not a folder"
                )
                raise ConfigError(
                    where,
                    file=str(p) if file is None else file,
                    field=field,
                    expected="a folder (created when absent)",
                )
            break
    return p
