"""Load YAML into pydantic models, turning every problem into one clear :class:`ConfigError`."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from s1slurm.core.errors import ConfigError, FieldError

M = TypeVar("M", bound=BaseModel)


def read_yaml(path: Path | str) -> dict[str, Any]:
    """Read a YAML mapping; a missing file, a YAML syntax error or a non-mapping is a ConfigError."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError("is a folder", file=str(path), expected="a YAML file")
    if not path.is_file():
        raise ConfigError("file not found", file=str(path), expected="an existing YAML file")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as e:
        raise ConfigError(
            f"not UTF-8 text ({e.reason} at byte {e.start})", file=str(path), expected="a YAML file in UTF-8"
        ) from None
    except yaml.YAMLError as e:
        raise ConfigError(f"invalid YAML: {e}", file=str(path)) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"top level is a {type(data).__name__}", file=str(path), expected="a mapping")
    return data


def _allowed_keys(model: type[BaseModel], loc: tuple) -> list[str]:
    """The field names valid at ``loc`` (for listing them in an 'unknown key' error)."""
    current: Any = model
    for part in loc[:-1]:
        if isinstance(part, int) or current is None:
            continue
        fields = getattr(current, "model_fields", None)
        if fields is None:
            return []
        info = fields.get(part)
        if info is None:  # a key of a dict of models, e.g. a profile name
            continue
        current = _model_in(info.annotation)
    fields = getattr(current, "model_fields", None)
    return sorted(fields) if fields else []


def _model_in(annotation: Any) -> Any:
    """The BaseModel class inside an annotation such as ``Model | None`` or ``dict[str, Model]``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def validation_error(
    e: ValidationError, model: type[BaseModel], file: str | Path, prefix: str = ""
) -> ConfigError:
    """Turn pydantic's errors into one ConfigError naming the file, each field and what is allowed."""
    lines = []
    first_field = None
    for err in e.errors():
        loc = tuple(err["loc"])
        cause = (err.get("ctx") or {}).get("error")
        if isinstance(cause, FieldError):  # a cross-field check that names its field
            loc = loc + tuple(cause.field.split("."))
            err = {**err, "msg": str(cause)}
        field = ".".join(str(p) for p in loc)
        if prefix:
            field = f"{prefix}.{field}" if field else prefix
        first_field = first_field or field
        if err["type"] == "extra_forbidden":
            allowed = _allowed_keys(model, loc)
            lines.append(f"field '{field}': unknown key (allowed: {', '.join(allowed)})")
        else:
            got = err.get("input")
            got_text = f", got {got!r}" if got is not None and not isinstance(got, dict) else ""
            msg = err["msg"].removeprefix("Value error, ")  # pydantic's wording around our own checks' text
            lines.append(f"field '{field}': {msg}{got_text}")
    message = lines[0] if len(lines) == 1 else "\n  " + "\n  ".join(lines)
    error = ConfigError(message, file=str(file))
    error.field = first_field
    return error


def load_model(path: Path | str, model: type[M], data: dict[str, Any] | None = None) -> M:
    """Validate the YAML file at ``path`` (or already-read ``data`` from it) as ``model``."""
    if data is None:
        data = read_yaml(path)
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise validation_error(e, model, path) from None
