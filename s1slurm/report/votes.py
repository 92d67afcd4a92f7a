"""Majority votes over samples: the vote of a set of samples, and maj@k counted exactly.

maj@k of one question is the share of its k-subsets of samples whose majority vote is correct.
Samples keep their order inside a subset; the vote follows :func:`majority_correct` (the most
votes win, a tie goes to the class seen first, a sample without an extracted answer never votes,
the vote's correctness is that of the winning class's first sample). Instead of voting in every
subset (C(64, 32) of them), the subsets are counted from the per-class counts of the question.

The count. Fix a sample j of class A and the number a of A-samples in the subset: A wins with j as
its first sample when no earlier A-sample is taken, a - 1 of the l_A later ones are, and every other
class B takes fewer than a samples, or exactly a with none of them before j (the tie rule). Class B's
choices are then counted by the polynomial G_B(t) = sum_{m < a} C(n_B, m) t^m + C(l_B, a) t^a
(l_B: B-samples after j), samples without an answer by (1 + t)^n0, and the number of k-subsets is
the coefficient of t^(k-1) in C(l_A, a - 1) t^(a-1) (1 + t)^n0 prod_B G_B(t), summed over the
correct samples j and over a. A class B with n_B < a can never reach a: its G_B is (1 + t)^n_B.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

EXACT_FLOAT_SAMPLES = 1000  # C(n, k) fits a float64 up to n = 1029; above, Python integers


def majority_correct(answers: Sequence[int], correct: Sequence[int]) -> bool:
    """Whether the most frequent extracted answer is correct.

    ``answers`` are answer (or answer-class) codes in sample order (-1: nothing extracted, never
    a vote); a tie goes to the answer seen first; the vote's correctness is that of its first
    sample.
    """
    votes = Counter(a for a in answers if a >= 0)
    if not votes:
        return False
    best = votes.most_common(1)[0][0]
    return correct[list(answers).index(best)] == 1


def binomial_table(n: int) -> np.ndarray:
    """C(i, j) for 0 <= i, j <= n as an (n + 1, n + 1) array (0 above the diagonal): float64 up to
    :data:`EXACT_FLOAT_SAMPLES`, Python integers (object array) above, where floats overflow."""
    exact = n > EXACT_FLOAT_SAMPLES
    table = np.zeros((n + 1, n + 1), dtype=object if exact else np.float64)
    table[:, 0] = 1
    for i in range(1, n + 1):
        table[i, 1 : i + 1] = table[i - 1, 1 : i + 1] + table[i - 1, :i]
    return table


def correct_vote_counts(classes: np.ndarray, correct: np.ndarray, table: np.ndarray) -> np.ndarray:
    """For one question's samples (answer classes, -1 for none; correct as 1/0): element k - 1 is
    the number of k-subsets whose majority vote is correct, for k = 1 ... n. ``table`` is a
    :func:`binomial_table` of at least n."""
    n = int(classes.shape[0])
    counts = np.zeros(n, dtype=table.dtype)
    if n == 0:
        return counts
    order = np.argsort(classes, kind="stable")  # by class, then position
    ranked = classes[order]
    starts = np.flatnonzero(np.concatenate(([True], ranked[1:] != ranked[:-1])))
    sizes = np.diff(starts, append=n)
    if ranked[0] < 0:  # samples without an answer: never a vote, free to be taken or not
        n0 = int(sizes[0])
        starts, sizes = starts[1:], sizes[1:]
    else:
        n0 = 0
    if starts.size == 0:
        return counts
    has_correct = np.add.reduceat(correct[order] == 1, starts) > 0
    singles = np.sort(order[starts[sizes == 1]])
    size_list = sizes.tolist()
    for i in np.flatnonzero(has_correct).tolist():
        pos_a = order[starts[i] : starts[i] + size_list[i]]
        n_a = size_list[i]
        firsts = np.flatnonzero(correct[pos_a] == 1)  # j: correct samples of A, as ranks in A
        later_a = n_a - 1 - firsts  # l_A(j)
        a_max = max(size_list[:i] + size_list[i + 1 :], default=0)
        # a > every other class: all of them are (1 + t)^n_B, one binomial for all of a
        weights = table[later_a, :n].sum(axis=0)  # at t^(a-1): sum_j C(l_A(j), a-1)
        weights[:a_max] = 0
        if n_a > a_max:
            free = n - n_a
            counts += np.convolve(weights, table[free, : free + 1])[:n]
        for a in range(1, min(a_max, n_a) + 1):
            keep = later_a >= a - 1
            at = pos_a[firsts[keep]]  # positions of those j
            if at.size == 0:
                break
            free = n0 + sum(s for b, s in enumerate(size_list) if s < a and b != i)
            active = [b for b, s in enumerate(size_list) if s >= max(a, 2) and b != i]
            if a == 1:  # singletons: taken only after j, so (1 + t)^(singletons after j)
                after = singles.shape[0] - np.searchsorted(singles, at, side="right")
                poly = table[free + after, :n]
            else:
                poly = np.repeat(table[free : free + 1, :n], at.shape[0], axis=0)
            for b in active:
                poly = _times_class(poly, table, order[starts[b] : starts[b] + size_list[b]], at, a)
            weight = table[later_a[keep], a - 1]
            counts[a - 1 :] += (weight @ poly)[: n - a + 1]
    return counts


def _times_class(
    poly: np.ndarray, table: np.ndarray, pos_b: np.ndarray, at: np.ndarray, a: int
) -> np.ndarray:
    """Each row of ``poly`` (one per first sample j at ``at``) times G_B(t) of a class B at
    ``pos_b``, truncated to the row length."""
    n_b = pos_b.shape[0]
    later = n_b - np.searchsorted(pos_b, at, side="right")  # l_B(j)
    out = poly.copy()
    width = poly.shape[1]
    for m in range(1, min(a, width)):
        out[:, m:] += poly[:, : width - m] * table[n_b, m]
    if a < width:
        out[:, a:] += poly[:, : width - a] * table[later, a][:, None]
    return out


def maj_at_k_curve(
    classes: np.ndarray, correct: np.ndarray, ks: Sequence[int], table: np.ndarray | None = None
) -> list[float]:
    """maj@k of one question for each k of ``ks`` (fractions; a k above n counts as n)."""
    n = int(classes.shape[0])
    if n == 0:
        return [0.0 for _ in ks]
    table = binomial_table(n) if table is None else table
    counts = correct_vote_counts(
        np.asarray(classes, dtype=np.int64), np.asarray(correct, dtype=np.int64), table
    )
    return [float(counts[min(k, n) - 1] / table[n, min(k, n)]) for k in ks]


def maj_at_k(classes: Sequence[int], correct: Sequence[int], k: int) -> float:
    """Majority vote over k of one question's samples, averaged over all its k-subsets (each
    keeps sample order, so votes follow :func:`majority_correct`)."""
    return maj_at_k_curve(np.asarray(classes, dtype=np.int64), np.asarray(correct, dtype=np.int64), [k])[0]
