"""The small exception tree of s1slurm.

Every error a user can cause carries an exit code; the CLI prints the message alone (no traceback)
and exits with that code.
"""

from __future__ import annotations


class S1SlurmError(Exception):
    """Base class: an error with a user-facing message and an exit code."""

    exit_code = 1


class FieldError(ValueError):
    """Raised by a config model's cross-field check to name the field at fault (pydantic locates a
    model-level error nowhere; :func:`~s1slurm.config.loading.validation_error` reads ``field``)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class ConfigError(S1SlurmError):
    """Bad input: a file, a field, and what was expected."""

    exit_code = 2

    def __init__(
        self, message: str, *, file: str | None = None, field: str | None = None, expected: str | None = None
    ) -> None:
        self.file, self.field, self.expected, self.detail = file, field, expected, message
        parts = []
        if file:
            parts.append(str(file))
        if field:
            parts.append(f"field '{field}'")
        prefix = ": ".join(parts)
        text = f"{prefix}: {message}" if prefix else message
        if expected:
            text += f" (expected {expected})"
        super().__init__(text)

    def in_file(self, file: str) -> ConfigError:
        """The same error attributed to ``file`` (for checks that do not know which file they read)."""
        return ConfigError(self.detail, file=file, field=self.field, expected=self.expected)


class SlurmError(S1SlurmError):
    """SLURM refused or could not be reached; the message carries SLURM's own words."""

    exit_code = 2


class StageError(S1SlurmError):
    """A stage failed while running a shard."""

    exit_code = 1


class MissingDependencyError(S1SlurmError):
    """An optional dependency is not installed; the message says which extra installs it."""

    exit_code = 2

    def __init__(self, module: str, extra: str) -> None:
        super().__init__(f"this needs the Python package '{module}': pip install 's1slurm[{extra}]'")
