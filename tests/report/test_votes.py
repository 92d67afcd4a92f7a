"""maj@k is counted exactly from the answer classes of a question's samples, with the vote rule of
:func:`majority_correct` (most votes, ties to the class seen first, no answer never votes)."""

from __future__ import annotations

import itertools
import math
import random

import numpy as np
import pytest

from s1slurm.report.votes import (
    binomial_table,
    correct_vote_counts,
    maj_at_k,
    maj_at_k_curve,
    majority_correct,
)


def every_subset(classes: list[int], correct: list[int], k: int) -> float:
    """maj@k by voting in every k-subset (the definition)."""
    subsets = list(itertools.combinations(range(len(classes)), k))
    return sum(majority_correct([classes[i] for i in s], [correct[i] for i in s]) for s in subsets) / len(
        subsets
    )


def tensor_maj_at_k(classes: np.ndarray, correct: np.ndarray, k: int) -> float:
    """The implementation maj@k replaced (one question, every subset enumerated): a (subsets x k x
    classes) tensor of votes. Kept here as the yardstick of the exact count."""
    n = classes.shape[0]
    subsets = np.array(list(itertools.combinations(range(n), k)), dtype=np.int64).reshape(-1, k)
    cls, ok = classes[subsets], correct[subsets]
    m = int(cls.max()) + 1
    if m <= 0:
        return 0.0
    same = cls[..., None] == np.arange(m)
    counts = same.sum(axis=1)
    first = np.where(same, np.arange(k)[:, None], k).min(axis=1)
    winner = (counts * (k + 1) - first).argmax(axis=1)
    votes = np.take_along_axis(counts, winner[:, None], axis=1)[:, 0]
    at = np.minimum(np.take_along_axis(first, winner[:, None], axis=1)[:, 0], k - 1)
    hit = np.take_along_axis(ok, at[:, None], axis=1)[:, 0] == 1
    return float(((votes > 0) & hit).mean())


def random_question(rng: random.Random, n: int) -> tuple[list[int], list[int]]:
    classes = [rng.randint(-1, rng.randint(0, 5)) for _ in range(n)]
    if rng.random() < 0.5:  # one class is right, as graded answers usually are
        right = rng.randint(0, 5)
        return classes, [int(c == right) for c in classes]
    return classes, [rng.randint(0, 1) if c >= 0 else 0 for c in classes]


def test_exact_count_equals_the_tensor_implementation_on_small_questions():
    rng = random.Random(7)
    for _ in range(400):
        n = rng.randint(1, 9)
        classes, correct = random_question(rng, n)
        for k in range(1, n + 1):
            old = tensor_maj_at_k(np.array(classes), np.array(correct), k)
            assert maj_at_k(classes, correct, k) == pytest.approx(old, abs=1e-12), (classes, correct, k)


def test_exact_count_equals_voting_in_every_subset_up_to_14_samples():
    rng = random.Random(11)
    for _ in range(60):
        n = rng.randint(10, 14)
        classes, correct = random_question(rng, n)
        ks = [1, 2, 3, n // 2, n - 1, n]
        curve = maj_at_k_curve(np.array(classes), np.array(correct), ks)
        assert curve == pytest.approx([every_subset(classes, correct, k) for k in ks], abs=1e-12)


def test_ties_go_to_the_class_seen_first_and_missing_answers_never_vote():
    # {0,1}, {0,2}: class 1 then 0, a tie -> class 1, wrong; {1,2}: class 0, right
    assert maj_at_k([1, 0, 0], [0, 1, 1], 2) == pytest.approx(1 / 3)
    assert maj_at_k([-1, -1, 3], [0, 0, 1], 3) == 1.0 and maj_at_k([-1, -1], [0, 0], 2) == 0.0
    # k = 1 is the share of samples that are right; k = n is the majority over all of them
    assert maj_at_k([2, 2, 5, 5, 5], [1, 1, 0, 0, 0], 1) == pytest.approx(0.4)
    assert maj_at_k([2, 2, 5, 5, 5], [1, 1, 0, 0, 0], 5) == 0.0


def test_the_counts_are_subset_counts_and_hold_for_64_samples():
    rng = random.Random(3)
    classes = np.array([rng.choice([0, 0, 0, 1, 2, 3, -1]) for _ in range(64)])
    correct = (classes == 0).astype(np.int64)
    counts = correct_vote_counts(classes, correct, binomial_table(64))
    assert all(0 <= counts[k - 1] <= math.comb(64, k) * (1 + 1e-12) for k in range(1, 65))
    assert counts[0] == int(correct.sum())  # k = 1: the correct samples themselves
    assert counts[63] == float(majority_correct(classes.tolist(), correct.tolist()))


def test_beyond_float_range_the_count_uses_integers():
    table = binomial_table(1030)
    assert table.dtype == object and table[1030, 515] == math.comb(1030, 515)
    assert binomial_table(64).dtype == np.float64
