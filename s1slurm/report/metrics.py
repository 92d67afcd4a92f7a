"""The numbers of a report: per-setting accuracy and thinking statistics, and the s1 paper's
Control, Scaling and Performance per benchmark and method.

Units: accuracies, shares and Control are percentages (0-100). Scaling is in percentage points of
accuracy per doubling of average thinking tokens (x = log2 tokens), and per 1,000 thinking tokens
for the raw-token version.

Over samples: avg@n is the mean accuracy over a question's n samples (the "accuracy" column);
pass@k is the unbiased estimator 1 - C(n-c, k) / C(n, k) (Chen et al. 2021); maj@k is the
majority vote over k samples, votes grouped by mathematical equivalence
(:func:`s1slurm.eval.grading.answer_classes`), averaged over all subsets of k samples, counted
exactly (:mod:`s1slurm.report.votes`). Both are given as curves over k = 1, 2, 4, ... n.

Intervals: 95% percentile bootstrap over questions. For Control, Scaling and Performance the
questions common to all of a method's settings are resampled together (one resample gives all
three); the difference between neighbouring settings (ordered by thinking) is a paired bootstrap
over the questions both have.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from s1slurm.eval.grading import answer_classes
from s1slurm.eval.records import BudgetSetting
from s1slurm.report.class_control import apply_class_control
from s1slurm.report.collect import Records
from s1slurm.report.votes import binomial_table, correct_vote_counts
from s1slurm.report.votes import maj_at_k as maj_at_k  # re-exported
from s1slurm.report.votes import majority_correct as majority_correct

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
    "pass_at_k": "unbiased pass@k (Chen et al. 2021), mean over questions with at least k samples, percent",
    "maj_at_k": "majority vote over k samples (answers grouped by mathematical equivalence), mean over "
    "all subsets of k samples (counted exactly) and over questions, percent",
    "neighbour": "accuracy difference to the previous setting of the method (ordered by thinking), "
    "percentage points, with a 95% paired bootstrap interval over questions",
}


@dataclass
class QuestionStats:
    """Per question of one (benchmark, setting): accuracy over its samples and mean thinking."""

    questions: np.ndarray  # question codes, ascending
    accuracy: np.ndarray  # fraction correct
    tokens: np.ndarray  # mean thinking tokens


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
    samples_per_question: int  # the most samples any question has here
    samples_uniform: bool  # every question has that many
    accuracy: float
    ci_low: float
    ci_high: float
    avg_thinking_tokens: float
    cut_share: float
    avg_forced_continuations: float
    total_forced_continuations: int
    maj_k: int | None
    maj_accuracy: float | None
    over_max: int  # samples with thinking_tokens > max_thinking_tokens
    under_min: int  # samples with thinking_tokens < min_thinking_tokens
    in_control: bool
    ungraded: int  # samples with correct = null (counted as wrong)
    ks: list[int] = field(default_factory=list)  # 1, 2, 4, ... n (n: fewest samples)
    pass_at_k: list[float] = field(default_factory=list)  # percent, one per k
    maj_at_k: list[float] = field(default_factory=list)  # percent, one per k

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class MethodMetrics:
    """Control, Scaling and Performance of one benchmark's family of settings."""

    benchmark: str
    method: str
    settings: list[str]  # ordered by average thinking tokens
    control: float
    settings_in_control: int
    scaling_log2: float | None
    scaling_raw: float | None
    performance: float
    performance_setting: str
    left_out_of_log: list[str] = field(default_factory=list)  # settings with 0 average tokens
    control_ci: tuple[float, float] | None = None
    scaling_log2_ci: tuple[float, float] | None = None
    scaling_raw_ci: tuple[float, float] | None = None
    performance_ci: tuple[float, float] | None = None
    bootstrap_questions: int = 0  # questions common to all settings
    neighbours: list[dict[str, Any]] = field(default_factory=list)  # paired differences

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def bootstrap_ci(
    per_question: np.ndarray, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED
) -> tuple[float, float]:
    """95% percentile interval of the mean of ``per_question`` (fractions), resampling questions."""
    n = per_question.shape[0]
    if n == 0:
        return (math.nan, math.nan)
    rng = np.random.default_rng(seed)
    means = per_question[rng.integers(0, n, size=(resamples, n))].mean(axis=1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    return float(lo), float(hi)


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k for one question with ``c`` correct among ``n`` samples (k <= n)."""
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def k_values(n: int) -> list[int]:
    """1, 2, 4, ... up to n, and n itself."""
    ks = [k for k in (2**i for i in range(max(n, 1).bit_length())) if k <= n]
    if n >= 1 and ks[-1] != n:
        ks.append(n)
    return ks


def _most_samples(rec: Records) -> int:
    """The most samples any (benchmark, setting, question) has: the size of the binomial table."""
    cell = rec.benchmark * max(len(rec.settings), 1) + rec.setting
    key = cell * max(len(rec.questions), 1) + rec.question
    return int(np.unique(key, return_counts=True)[1].max()) if len(rec) else 0


def _maj_curve(
    classes: np.ndarray,
    correct: np.ndarray,
    qstarts: np.ndarray,
    counts: np.ndarray,
    ks: list[int],
    table: np.ndarray,
) -> tuple[list[float], float | None]:
    """One setting's maj@k curve over ``ks`` and its majority vote over all samples (None with one
    sample per question), percent, means over questions (rows in sample order per question)."""
    curve = np.zeros(len(ks))
    whole = 0.0
    for a, n in zip(qstarts.tolist(), counts.tolist()):
        votes = correct_vote_counts(classes[a : a + n], correct[a : a + n], table)
        curve += [float(votes[min(k, n) - 1] / table[n, min(k, n)]) for k in ks]
        whole += float(votes[n - 1])
    q = max(len(qstarts), 1)
    return [100.0 * float(v) / q for v in curve], (100.0 * whole / q if int(counts.max()) > 1 else None)


def answer_class_codes(rec: Records) -> np.ndarray:
    """Per record, the class of its extracted answer among all answers to the same question
    (mathematical equivalence; AIME-style integer golds compare answers as integers); -1 where
    nothing was extracted."""

    out = np.full(len(rec), -1, dtype=np.int64)
    have = np.flatnonzero(rec.extracted >= 0)
    if have.size == 0:
        return out
    group = rec.benchmark[have] * max(len(rec.questions), 1) + rec.question[have]
    order = have[np.argsort(group, kind="stable")]
    keys = group[np.argsort(group, kind="stable")]
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    ends = np.r_[starts[1:], keys.shape[0]]
    for lo, hi in zip(starts.tolist(), ends.tolist()):
        rows = order[lo:hi]
        codes = rec.extracted[rows]
        distinct = list(dict.fromkeys(codes.tolist()))
        gold = rec.gold.get((int(rec.benchmark[rows[0]]), int(rec.question[rows[0]])))
        integers = gold is not None and gold.strip().lstrip("+-").isdigit()
        classes = answer_classes([rec.answers.values[c] for c in distinct], integers=integers)
        by_code = dict(zip(distinct, classes))
        out[rows] = [by_code[c] for c in codes.tolist()]
    return out


def scaling(points: Sequence[tuple[float, float]], log2: bool) -> float | None:
    """Average slope (f(b) - f(a)) / (b - a) over all pairs a < b; None without such a pair."""
    xs = [(math.log2(a) if log2 else a / 1000.0, f) for a, f in points if not log2 or a > 0]
    slopes = [(fb - fa) / (xb - xa) for i, (xa, fa) in enumerate(xs) for (xb, fb) in xs[i + 1 :] if xb != xa]
    # each unordered pair once, oriented so that x grows: the slope is symmetric in the pair
    return sum(slopes) / len(slopes) if slopes else None


def setting_metrics(
    rec: Records,
    plan: dict[str, BudgetSetting],
    per_question: dict[tuple[str, str], QuestionStats] | None = None,
) -> list[SettingMetrics]:
    """Metrics of every (benchmark, setting) cell present in the records; fills ``per_question``
    (by (benchmark, setting label)) for :func:`method_metrics`' bootstrap when given."""
    if len(rec) == 0:
        return []
    classes = answer_class_codes(rec)
    table = binomial_table(_most_samples(rec))
    n_s = max(len(rec.settings), 1)
    cell = rec.benchmark * n_s + rec.setting
    order = np.lexsort((rec.sample, rec.question, cell))
    cols = {
        name: getattr(rec, name)[order]
        for name in ("question", "sample", "correct", "thinking_tokens", "forced", "cut", "extracted")
    }
    cols["classes"] = classes[order]
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
        ks = k_values(int(counts.min()))
        n_correct = np.add.reduceat(ok, qstarts)
        pass_k = [
            100.0 * float(np.mean([pass_at_k(int(n), int(c), kk) for n, c in zip(counts, n_correct)]))
            for kk in ks
        ]
        maj_k, maj = _maj_curve(cols["classes"][lo:hi], cols["correct"][lo:hi], qstarts, counts, ks, table)
        if per_question is not None:
            per_question[(rec.benchmarks.values[b], label)] = QuestionStats(
                q[qstarts], per_q, np.add.reduceat(tokens.astype(np.float64), qstarts) / counts
            )
        avg = float(tokens.mean())
        a_max = budget.asked_max  # the cap, or the budget a conditional-control prompt states
        out.append(
            SettingMetrics(
                benchmark=rec.benchmarks.values[b],
                setting=label,
                method=method,
                min_thinking_tokens=budget.min_thinking_tokens,
                max_thinking_tokens=a_max,
                num_ignore=budget.num_ignore,
                questions=len(qstarts),
                records=hi - lo,
                samples_per_question=k,
                samples_uniform=bool((counts == k).all()),
                accuracy=100.0 * float(per_q.mean()),
                ci_low=100.0 * ci_lo,
                ci_high=100.0 * ci_hi,
                avg_thinking_tokens=avg,
                cut_share=100.0 * float(cols["cut"][lo:hi].mean()),
                avg_forced_continuations=float(cols["forced"][lo:hi].mean()),
                total_forced_continuations=int(cols["forced"][lo:hi].sum()),
                maj_k=k if k > 1 else None,
                maj_accuracy=maj,
                over_max=int((tokens > a_max).sum()) if a_max is not None else 0,
                under_min=int((tokens < budget.min_thinking_tokens).sum()),
                in_control=budget.min_thinking_tokens <= avg and (a_max is None or avg <= a_max),
                ungraded=int((cols["correct"][lo:hi] == -1).sum()),
                ks=ks,
                pass_at_k=pass_k,
                maj_at_k=maj_k,
            )
        )
    order_of = {label: i for i, label in enumerate(plan)}
    out.sort(
        key=lambda m: (
            m.benchmark,
            m.method,
            order_of.get(m.setting, len(order_of)),
            m.avg_thinking_tokens,
            m.setting,
        )
    )
    return out


def method_metrics(
    settings: Sequence[SettingMetrics], per_question: dict[tuple[str, str], QuestionStats] | None = None
) -> list[MethodMetrics]:
    """Control, Scaling and Performance per (benchmark, method) over the settings present, with
    bootstrap intervals and neighbour differences when ``per_question`` is given."""
    groups: dict[tuple[str, str], list[SettingMetrics]] = {}
    for m in settings:
        groups.setdefault((m.benchmark, m.method), []).append(m)
    out = []
    for (bench, method), ms in groups.items():
        ms = sorted(ms, key=lambda m: (m.avg_thinking_tokens, m.setting))
        points = [(m.avg_thinking_tokens, m.accuracy) for m in ms]
        best = max(ms, key=lambda m: m.accuracy)
        inside = sum(m.in_control for m in ms)
        out.append(
            MethodMetrics(
                benchmark=bench,
                method=method,
                settings=[m.setting for m in ms],
                control=100.0 * inside / len(ms),
                settings_in_control=inside,
                scaling_log2=scaling(points, log2=True),
                scaling_raw=scaling(points, log2=False),
                performance=best.accuracy,
                performance_setting=best.setting,
                left_out_of_log=[m.setting for m in ms if m.avg_thinking_tokens <= 0],
            )
        )
        if per_question is not None:
            _bootstrap_method(out[-1], ms, [per_question.get((bench, m.setting)) for m in ms])
    apply_class_control(out, settings)  # the paper's rule for class-conditional control (Appendix E.1)
    out.sort(key=lambda m: (m.benchmark, m.method))
    return out


def _interval(values: np.ndarray) -> tuple[float, float] | None:
    values = values[np.isfinite(values)]
    if values.size == 0:
        return None
    lo, hi = np.percentile(values, [2.5, 97.5])
    return float(lo), float(hi)


def _mean_pairwise_slope(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per row, :func:`scaling`'s average slope over all pairs of columns (NaN without a pair)."""
    first, second = np.triu_indices(x.shape[1], k=1)  # each pair once, by column order
    dx = x[:, second] - x[:, first]
    dy = y[:, second] - y[:, first]
    ok = np.isfinite(dx) & (dx != 0)
    slopes = np.divide(dy, dx, out=np.zeros_like(dy), where=ok)
    count = ok.sum(axis=1)
    with np.errstate(invalid="ignore"):
        return np.where(count > 0, slopes.sum(axis=1) / np.maximum(count, 1), np.nan)


def _bootstrap_method(
    c: MethodMetrics,
    ms: Sequence[SettingMetrics],
    stats: Sequence[QuestionStats | None],
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> None:
    """Fill ``c``'s intervals (questions common to every setting, resampled together) and its
    paired differences between neighbouring settings."""
    if any(st is None for st in stats):
        return
    rng = np.random.default_rng(seed)
    for a, b, sa, sb in zip(ms[:-1], ms[1:], stats[:-1], stats[1:]):
        common, ia, ib = np.intersect1d(sa.questions, sb.questions, return_indices=True)  # type: ignore[union-attr]
        if common.size == 0:
            continue
        d = sb.accuracy[ib] - sa.accuracy[ia]  # type: ignore[union-attr]
        means = d[rng.integers(0, d.size, size=(resamples, d.size))].mean(axis=1)
        lo, hi = np.percentile(means, [2.5, 97.5])
        c.neighbours.append(
            {
                "from": a.setting,
                "to": b.setting,
                "questions": int(common.size),
                "difference": 100.0 * float(d.mean()),
                "ci_low": 100.0 * float(lo),
                "ci_high": 100.0 * float(hi),
                "share_not_better": float((means <= 0).mean()),
            }
        )
    common = stats[0].questions  # type: ignore[union-attr]
    for st in stats[1:]:
        common = np.intersect1d(common, st.questions)  # type: ignore[union-attr]
    if common.size == 0:
        return
    acc = np.stack([st.accuracy[np.searchsorted(st.questions, common)] for st in stats], axis=1)  # type: ignore[union-attr]
    tok = np.stack([st.tokens[np.searchsorted(st.questions, common)] for st in stats], axis=1)  # type: ignore[union-attr]
    idx = rng.integers(0, common.size, size=(resamples, common.size))
    acc_b = 100.0 * acc[idx].mean(axis=1)  # (resamples, settings)
    tok_b = tok[idx].mean(axis=1)
    lo_b = np.array([m.min_thinking_tokens for m in ms], dtype=np.float64)
    hi_b = np.array([m.max_thinking_tokens if m.max_thinking_tokens is not None else np.inf for m in ms])
    control = 100.0 * ((tok_b >= lo_b) & (tok_b <= hi_b)).mean(axis=1)
    with np.errstate(divide="ignore"):
        log_x = np.where(tok_b > 0, np.log2(np.where(tok_b > 0, tok_b, 1.0)), np.nan)
    c.bootstrap_questions = int(common.size)
    c.control_ci = _interval(control)
    c.performance_ci = _interval(acc_b.max(axis=1))
    if len(ms) > 1:
        c.scaling_log2_ci = _interval(_mean_pairwise_slope(log_x, acc_b))
        c.scaling_raw_ci = _interval(_mean_pairwise_slope(tok_b / 1000.0, acc_b))


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
