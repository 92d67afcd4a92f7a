"""The numbers of a report: per-setting accuracy and thinking statistics, and the s1 paper's
Control, Scaling and Performance per benchmark and method.

Units: accuracies, shares and Control are percentages (0-100). Scaling is in percentage points of
accuracy per doubling of average thinking tokens (x = log2 tokens), and per 1,000 thinking tokens
for the raw-token version.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import numpy as np

from s1slurm.eval.records import BudgetSetting
from s1slurm.report.collect import Records

BOOTSTRAP_RESAMPLES = 1000
BOOTSTRAP_SEED = 20250131  # fixed: the same records always give the same interval
UNITS = {
    "accuracy": "percent of samples correct (pass@1 averaged over samples, mean over questions)",
    "ci": "95% percentile bootstrap interval over questions, percent",
    "control": "percent of the method's settings whose average thinking tokens lie in [min, max]",
    "scaling_log2": "percentage points of accuracy per doubling of average thinking tokens",
    "scaling_raw": "percentage points of accuracy per 1,000 average thinking tokens",
    "performance": "highest accuracy over the method's settings, percent",
    "cut_share": "percent of samples whose thinking was ended by the budget",
}


@dataclass
class SettingMetrics:
    """One benchmark under one budget setting."""

    benchmark: str
    setting: str
    method: str
    min_thinking_tokens: int
    max_thinking_tokens: int | None
    num_ignore: int
    questions: int
    records: int
    samples_per_question: int           # the most samples any question has here
    samples_uniform: bool               # every question has that many
    accuracy: float
    ci_low: float
    ci_high: float
    avg_thinking_tokens: float
    cut_share: float
    avg_forced_continuations: float
    total_forced_continuations: int
    maj_k: int | None
    maj_accuracy: float | None
    over_max: int                       # samples with thinking_tokens > max_thinking_tokens
    under_min: int                      # samples with thinking_tokens < min_thinking_tokens
    in_control: bool
    ungraded: int                       # samples with correct = null (counted as wrong)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class MethodMetrics:
    """Control, Scaling and Performance of one benchmark's family of settings."""

    benchmark: str
    method: str
    settings: list[str]                 # ordered by average thinking tokens
    control: float
    settings_in_control: int
    scaling_log2: float | None
    scaling_raw: float | None
    performance: float
    performance_setting: str
    left_out_of_log: list[str] = field(default_factory=list)   # settings with 0 average tokens

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def bootstrap_ci(per_question: np.ndarray, resamples: int = BOOTSTRAP_RESAMPLES,
                 seed: int = BOOTSTRAP_SEED) -> tuple[float, float]:
    """95% percentile interval of the mean of ``per_question`` (fractions), resampling questions."""
    n = per_question.shape[0]
    if n == 0:
        return (math.nan, math.nan)
    rng = np.random.default_rng(seed)
    means = per_question[rng.integers(0, n, size=(resamples, n))].mean(axis=1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    return float(lo), float(hi)


def majority_correct(answers: Sequence[int], correct: Sequence[int]) -> bool:
    """Whether the most frequent extracted answer is correct.

    ``answers`` are answer codes in sample order (-1: nothing extracted, never a vote); a tie goes
    to the answer seen first; the vote's correctness is that of its first sample.
    """
    votes = Counter(a for a in answers if a >= 0)
    if not votes:
        return False
    best = votes.most_common(1)[0][0]
    return correct[list(answers).index(best)] == 1


def scaling(points: Sequence[tuple[float, float]], log2: bool) -> float | None:
    """Average slope (f(b) - f(a)) / (b - a) over all pairs a < b; None without such a pair."""
    xs = [(math.log2(a) if log2 else a / 1000.0, f) for a, f in points if not log2 or a > 0]
    slopes = [(fb - fa) / (xb - xa) for i, (xa, fa) in enumerate(xs) for (xb, fb) in xs[i + 1:]
              if xb != xa]
    # each unordered pair once, oriented so that x grows: the slope is symmetric in the pair
    return sum(slopes) / len(slopes) if slopes else None


def setting_metrics(rec: Records, plan: dict[str, BudgetSetting]) -> list[SettingMetrics]:
    """Metrics of every (benchmark, setting) cell present in the records."""
    if len(rec) == 0:
        return []
    n_s = max(len(rec.settings), 1)
    cell = rec.benchmark * n_s + rec.setting
    order = np.lexsort((rec.sample, rec.question, cell))
    cols = {name: getattr(rec, name)[order] for name in
            ("question", "sample", "correct", "thinking_tokens", "forced", "cut", "extracted")}
    cell = cell[order]
    starts = np.flatnonzero(np.r_[True, cell[1:] != cell[:-1]])
    ends = np.r_[starts[1:], cell.shape[0]]
    out = []
    for lo, hi in zip(starts.tolist(), ends.tolist()):
        b, s = divmod(int(cell[lo]), n_s)
        label = rec.settings.values[s]
        method, budget = _budget(label, rec, plan)
        q = cols["question"][lo:hi]
        ok = (cols["correct"][lo:hi] == 1).astype(np.float64)
        tokens = cols["thinking_tokens"][lo:hi]
        qstarts = np.flatnonzero(np.r_[True, q[1:] != q[:-1]])
        counts = np.diff(np.r_[qstarts, q.shape[0]])
        per_q = np.add.reduceat(ok, qstarts) / counts
        ci_lo, ci_hi = bootstrap_ci(per_q)
        k = int(counts.max())
        maj = None
        if k > 1:
            ans, corr = cols["extracted"][lo:hi].tolist(), cols["correct"][lo:hi].tolist()
            bounds = qstarts.tolist() + [hi - lo]
            maj = 100.0 * sum(majority_correct(ans[a:z], corr[a:z])
                              for a, z in zip(bounds[:-1], bounds[1:])) / len(qstarts)
        avg = float(tokens.mean())
        a_max = budget.max_thinking_tokens
        out.append(SettingMetrics(
            benchmark=rec.benchmarks.values[b], setting=label, method=method,
            min_thinking_tokens=budget.min_thinking_tokens, max_thinking_tokens=a_max,
            num_ignore=budget.num_ignore, questions=int(len(qstarts)), records=hi - lo,
            samples_per_question=k, samples_uniform=bool((counts == k).all()),
            accuracy=100.0 * float(per_q.mean()), ci_low=100.0 * ci_lo, ci_high=100.0 * ci_hi,
            avg_thinking_tokens=avg, cut_share=100.0 * float(cols["cut"][lo:hi].mean()),
            avg_forced_continuations=float(cols["forced"][lo:hi].mean()),
            total_forced_continuations=int(cols["forced"][lo:hi].sum()),
            maj_k=k if k > 1 else None, maj_accuracy=maj,
            over_max=int((tokens > a_max).sum()) if a_max is not None else 0,
            under_min=int((tokens < budget.min_thinking_tokens).sum()),
            in_control=budget.min_thinking_tokens <= avg and (a_max is None or avg <= a_max),
            ungraded=int((cols["correct"][lo:hi] == -1).sum())))
    order_of = {label: i for i, label in enumerate(plan)}
    out.sort(key=lambda m: (m.benchmark, m.method, order_of.get(m.setting, len(order_of)),
                            m.avg_thinking_tokens, m.setting))
    return out


def method_metrics(settings: Sequence[SettingMetrics]) -> list[MethodMetrics]:
    """Control, Scaling and Performance per (benchmark, method) over the settings present."""
    groups: dict[tuple[str, str], list[SettingMetrics]] = {}
    for m in settings:
        groups.setdefault((m.benchmark, m.method), []).append(m)
    out = []
    for (bench, method), ms in groups.items():
        ms = sorted(ms, key=lambda m: (m.avg_thinking_tokens, m.setting))
        points = [(m.avg_thinking_tokens, m.accuracy) for m in ms]
        best = max(ms, key=lambda m: m.accuracy)
        inside = sum(m.in_control for m in ms)
        out.append(MethodMetrics(
            benchmark=bench, method=method, settings=[m.setting for m in ms],
            control=100.0 * inside / len(ms), settings_in_control=inside,
            scaling_log2=scaling(points, log2=True), scaling_raw=scaling(points, log2=False),
            performance=best.accuracy, performance_setting=best.setting,
            left_out_of_log=[m.setting for m in ms if m.avg_thinking_tokens <= 0]))
    out.sort(key=lambda m: (m.benchmark, m.method))
    return out


def _budget(label: str, rec: Records, plan: dict[str, BudgetSetting]) -> tuple[str, BudgetSetting]:
    """The setting's method and budget: from the records, else the plan, else unbounded."""
    method, raw = rec.setting_info.get(label, (None, None))
    budget = plan.get(label)
    if budget is None and raw is not None:
        try:
            budget = BudgetSetting.from_dict(raw)
        except (TypeError, ValueError):
            budget = None
    budget = budget or BudgetSetting(method=method or "unknown")
    return (method or budget.method), budget
