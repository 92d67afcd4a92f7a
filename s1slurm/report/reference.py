"""Published figures a reproduction is read against (``--reference``)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from s1slurm.core.errors import ConfigError


@dataclass(frozen=True)
class Reference:
    """Accuracies (percent) of a published model, with and without budget forcing."""

    name: str
    source: str
    with_budget_forcing: dict[str, float]
    without_budget_forcing: dict[str, float]

    def for_benchmark(self, benchmark: str) -> tuple[str, float, float] | None:
        """(canonical name, with BF, without BF) for a benchmark name of ours, or None."""
        canon = canonical_benchmark(benchmark)
        if canon is None or canon not in self.with_budget_forcing:
            return None
        return canon, self.with_budget_forcing[canon], self.without_budget_forcing[canon]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "source": self.source,
                "with_budget_forcing": self.with_budget_forcing,
                "without_budget_forcing": self.without_budget_forcing}


REFERENCES = {
    "s1-32b": Reference(
        name="s1-32B",
        source="Muennighoff et al., s1: Simple test-time scaling (2025), arXiv:2501.19393",
        with_budget_forcing={"AIME24": 56.7, "MATH500": 93.0, "GPQA Diamond": 59.6},
        without_budget_forcing={"AIME24": 50.0, "MATH500": 92.6, "GPQA Diamond": 56.6},
    ),
}


def canonical_benchmark(name: str) -> str | None:
    """Map our benchmark names (aime24, aime_2024, math500, gpqa_diamond, ...) to the paper's."""
    flat = re.sub(r"[^a-z0-9]", "", name.lower())
    if flat in ("aime24", "aime2024"):
        return "AIME24"
    if flat in ("math500", "math"):
        return "MATH500"
    if flat.startswith("gpqa"):
        return "GPQA Diamond"
    return None


NO_FORCING_SETTING = "max=none"  # no cap, no forced continuation: the paper's "without" figures


def split_reference(text: str | None) -> tuple[str | None, str | None]:
    """``s1-32b@ignore=2,max=none`` -> (``s1-32b``, ``ignore=2,max=none``): the reference and the
    setting of this report compared with its budget-forcing figures."""
    if text is None:
        return None, None
    name, _, setting = text.partition("@")
    return name, (setting.strip() or None)


def get_reference(name: str | None) -> Reference | None:
    """The reference named on the command line (a ``@setting`` suffix is ignored here; see
    :func:`split_reference`); ConfigError for an unknown one."""
    full, name = name, split_reference(name)[0]
    if name is None or full is None:
        return None
    ref = REFERENCES.get(name.lower())
    if ref is None:
        raise ConfigError(f"unknown reference '{name}'", field="--reference",
                          expected=f"one of: {', '.join(sorted(REFERENCES))}")
    check_setting_label(full)
    return ref


# the parts of a setting label (BudgetSetting.label), "max=..." always last
_LABEL_PART = re.compile(r"^(?:(?:tokens|steps|step_tokens|reject|ignore)=\d+|class=\w+|min=\d+(?:\(suppress\))?"
                         r"|string=.*)$")
_LABEL_MAX = re.compile(r"^max=(none|\d+)$")


def check_setting_label(text: str) -> None:
    """ConfigError unless the ``@setting`` of a reference reads as a setting label
    (``ignore=2,max=none``, ``max=4096``...): a typo there would only ever warn."""
    if "@" not in text:
        return
    setting = text.partition("@")[2].strip()
    parts = setting.split(",") if setting else []
    if not parts or not _LABEL_MAX.match(parts[-1]) or not all(_LABEL_PART.match(p) for p in parts[:-1]):
        raise ConfigError(f"'{setting}' is not a setting label", field="--reference",
                          expected="NAME@SETTING with SETTING as the report names settings, e.g. "
                                   "s1-32b@ignore=2,max=none or s1-32b@max=4096")
