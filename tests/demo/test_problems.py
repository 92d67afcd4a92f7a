"""The demo's generated data and its tiny model: what each part promises, without training."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from s1slurm.demo.data import write_data
from s1slurm.demo.tasks import DOMAINS, MAX_STEPS, all_problems, generate


def test_a_walk_is_worked_one_hop_per_line_and_answered_by_its_last_letter():
    p = DOMAINS["lower"].problem("d", 6)
    assert p.question == "lower: from d, 6 hops of 3"
    assert p.trace.splitlines() == ["6 g", "5 j", "4 m", "3 p", "2 s", "1 v"]
    assert p.answer == "v"


@pytest.mark.parametrize("domain", sorted(DOMAINS))
def test_every_hop_follows_from_the_line_above(domain):
    ring = DOMAINS[domain]
    for p in all_problems((domain,)):
        start = p.question.split("from ")[1].split(",")[0]
        letters = [start] + [line.split(" ")[1] for line in p.trace.splitlines()]
        counts = [int(line.split(" ")[0]) for line in p.trace.splitlines()]
        assert counts == list(range(p.steps, 0, -1))
        for a, b in itertools.pairwise(letters):
            assert ring.letters.index(b) == (ring.letters.index(a) + ring.hop) % len(ring.letters)
        assert letters[-1] == p.answer


def test_a_cut_walk_almost_never_ends_on_the_answer():
    # Why budgets matter: the letter reached after fewer hops is not the answer (rings of 24-26).
    cut = [p for p in all_problems() if p.steps > 1]
    same = sum(p.trace.splitlines()[-2].split(" ")[1] == p.answer for p in cut)
    assert same == 0


def test_generated_sets_are_balanced_and_an_excluded_set_stays_disjoint():
    first = generate(30, seed=1)
    assert {d: sum(p.domain == d for p in first) for d in DOMAINS} == {d: 10 for d in DOMAINS}
    second = generate(len(all_problems()) - 30, seed=2, exclude={p.key for p in first})
    assert not {p.key for p in first} & {p.key for p in second}
    with pytest.raises(ValueError, match="distinct problems"):
        generate(31, seed=3, exclude={p.key for p in second})
    with pytest.raises(ValueError):
        DOMAINS["greek"].problem("α", MAX_STEPS + 1)


def test_written_data_holds_a_pool_and_a_disjoint_evaluation_set(tmp_path: Path):
    files = write_data(tmp_path, eval_size=12, seed=0, planted=2)
    pool = [json.loads(x) for x in files.pool.read_text(encoding="utf-8").splitlines()]
    evals = [json.loads(x) for x in files.eval.read_text(encoding="utf-8").splitlines()]
    assert len(evals) == 12 and set(evals[0]) == {"id", "question", "answer", "domain", "steps"}
    assert set(pool[0]) == {"id", "question", "solution", "answer", "domain", "steps"}
    overlap = {r["question"] for r in pool} & {r["question"] for r in evals}
    assert len(overlap) == 2  # exactly the planted copies, for decontamination to find
    assert len(pool) == len(all_problems()) - 12 + 2
    assert len({r["id"] for r in pool}) == len(pool)
