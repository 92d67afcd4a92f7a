"""Control of class-conditional control as the paper scores it (Appendix E.1, the CCC row of Table 3).

The short/long prompts state no budget, so "within the asked budget" has no meaning for them. The
paper instead asks whether the "short" prompt makes the model think less than the bare prompt and
the "long" prompt more: "As 8033 > 6109 and 9651 > 6109, one out of two follows our expected
control thus Control is 50%." The bare prompt is the setting ``max=none`` of the same benchmark
(the "Without generic prompt appending" row of Table 14).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

DEFAULT_SETTING = "max=none"


def class_follows(setting: Any, default_tokens: float) -> bool:
    """Whether one class setting thinks as asked: "short" less than the bare prompt, "long" more."""
    avg = setting.avg_thinking_tokens
    return avg < default_tokens if "class=short" in setting.setting else avg > default_tokens


def apply_class_control(methods: Sequence[Any], settings: Sequence[Any]) -> None:
    """Replace Control of every ``class_conditional`` method by the paper's rule, in place. Without
    a bare ``max=none`` setting on the benchmark no class can be shown to follow: Control is 0 of
    n (run the bare prompt too), never the 100% the budget rule would give prompts without a budget."""
    by_bench: dict[str, dict[str, Any]] = {}
    for s in settings:
        by_bench.setdefault(s.benchmark, {})[s.setting] = s
    for m in methods:
        if m.method != "class_conditional":
            continue
        here = by_bench.get(m.benchmark, {})
        default = here.get(DEFAULT_SETTING)
        classes = [here[label] for label in m.settings if label in here]
        if default is None or not classes:
            m.control, m.settings_in_control, m.control_ci = 0.0, 0, None
            continue
        inside = sum(class_follows(s, default.avg_thinking_tokens) for s in classes)
        m.control = 100.0 * inside / len(classes)
        m.settings_in_control = inside
        m.control_ci = None  # the bootstrap interval was for the budget rule
