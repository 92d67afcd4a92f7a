"""Selection: the s1 rule (domain-uniform, 2^-rank by trace length), its ablations, seeds, filters."""

from __future__ import annotations

import json
import random
from collections import Counter

import pytest

from s1slurm.core.errors import ConfigError
from s1slurm.curate.select import S1K_COLUMNS, Candidate, _geometric_rank, choose, run_select
from s1slurm.curate.spec import SelectConfig

SIZES = {"algebra": 120, "geometry": 120, "number theory": 120, "logic": 6}


def candidates() -> list[Candidate]:
    rng = random.Random(7)
    return [
        Candidate(f"{d[:3]}-{i:03d}", d, "pool", rng.randrange(100, 20000))
        for d, n in SIZES.items()
        for i in range(n)
    ]


def ranks(chosen: list[Candidate], cands: list[Candidate]) -> list[int]:
    """Rank of each chosen candidate by trace length within its domain (0: longest)."""
    order = {}
    for d in SIZES:
        group = sorted((c for c in cands if c.domain == d), key=lambda c: (-c.length, c.id))
        order.update({c.id: r for r, c in enumerate(group)})
    return [order[c.id] for c in chosen]


def test_same_seed_same_set_other_seed_other_set():
    cands = candidates()
    for strategy in ("s1", "random", "diversity-only"):
        a = choose(cands, SelectConfig(n=60, seed=1, strategy=strategy))
        assert a == choose(list(reversed(cands)), SelectConfig(n=60, seed=1, strategy=strategy))
        assert {c.id for c in a} != {
            c.id for c in choose(cands, SelectConfig(n=60, seed=2, strategy=strategy))
        }


def test_s1_is_domain_balanced_and_takes_the_longest_traces_first():
    cands = candidates()
    chosen = choose(cands, SelectConfig(n=150, seed=0))
    per_domain = Counter(c.domain for c in chosen)
    assert per_domain["logic"] == 6  # a small domain is used up
    big = [per_domain[d] for d in ("algebra", "geometry", "number theory")]
    assert sum(big) == 144 and max(big) - min(big) <= 25  # uniform over domains, not over questions
    r = ranks(chosen, cands)
    # each pick takes rank k (of what is left) with probability 2^-(k+1): the chosen ones are, in each
    # domain, nearly exactly the longest traces
    for d in ("algebra", "geometry", "number theory"):
        mine = sorted(x for x, c in zip(r, chosen) if c.domain == d)
        assert mine[-1] < per_domain[d] + 12


def test_geometric_rank_has_probability_proportional_to_two_to_the_minus_rank():
    rng = random.Random(0)
    counts = Counter(_geometric_rank(rng, 4) for _ in range(30000))
    total = 1 + 1 / 2 + 1 / 4 + 1 / 8
    for k in range(4):
        assert counts[k] / 30000 == pytest.approx(2**-k / total, abs=0.01)


def test_ablations_do_what_their_names_say():
    cands = candidates()
    longest = choose(cands, SelectConfig(n=50, strategy="longest"))
    assert [c.length for c in longest] == sorted((c.length for c in cands), reverse=True)[:50]
    assert choose(cands, SelectConfig(n=5, strategy="full")) == sorted(cands, key=lambda c: c.id)
    rand = choose(cands, SelectConfig(n=100, strategy="random", seed=3))
    assert len({c.id for c in rand}) == 100
    assert Counter(c.domain for c in rand)["logic"] <= 6  # proportional to the pool, not balanced
    diverse = choose(cands, SelectConfig(n=150, strategy="diversity-only", seed=3))
    per_domain = Counter(c.domain for c in diverse)
    assert per_domain["logic"] == 6 and min(per_domain[d] for d in SIZES if d != "logic") >= 35
    # no preference for length: mean rank near the middle of each domain (about 60), not near 0
    assert sum(ranks(diverse, cands)) / 150 > 30
    assert sum(ranks(choose(cands, SelectConfig(n=150, seed=3)), cands)) / 150 < 30


def test_keep_sources_are_selected_first_and_n_too_large_is_a_clear_error():
    cands = candidates() + [Candidate(f"aime-{i}", "algebra", "aime", 10) for i in range(4)]
    chosen = choose(cands, SelectConfig(n=20, keep_sources=["aime"]))
    assert [c.id for c in chosen[:4]] == [f"aime-{i}" for i in range(4)] and len(chosen) == 20
    with pytest.raises(ConfigError, match="only 370 are left") as e:
        choose(cands, SelectConfig(n=371))
    assert e.value.field == "select.n"


def row(i: int, **over) -> dict:
    base = {
        "id": f"r{i}",
        "question": f"Question {i}: find $x$.",
        "solution": "s",
        "answer": "1",
        "source": "pool",
        "cot_type": "math",
        "domain": "algebra" if i % 2 else "geometry",
        "metadata": json.dumps({"row": i}),
        "thinking": "think " * (i + 1),
        "attempt": "Answer: 1",
        "trace_flag": None,
        "solved_by": [],
    }
    return {**base, **over}


def test_filters_give_each_dropped_row_its_reason_and_output_is_the_s1k_schema():
    rows = [row(i) for i in range(10)] + [
        row(10, question="See the figure ![fig](a.png)"),
        row(11, question="[asy] draw((0,0)--(1,1)); [/asy] Find it."),
        row(12, attempt=""),
        row(13, trace_flag="cut_off"),
        row(14, question="Find $x such that {x"),
        row(15, solved_by=["Qwen/Qwen2.5-7B-Instruct"]),
        row(16, graded=False),
    ]
    sel = run_select(rows, SelectConfig(n=4, seed=0), lambda texts: [len(t.split()) for t in texts])
    reasons = {r["id"]: r["reason"] for r in sel.rejects}
    assert reasons == {
        "r10": "image",
        "r11": "asymptote",
        "r12": "missing_field",
        "r13": "generation_error",
        "r14": "broken_markup",
        "r15": "too_easy",
        "r16": "ungraded",
    }
    assert [f["filter"] for f in sel.funnel] == ["quality", "difficulty", "strategy s1"]
    assert [(f["in"], f["out"]) for f in sel.funnel] == [(17, 12), (12, 10), (10, 4)]
    assert all(tuple(r) == S1K_COLUMNS for r in sel.rows)
    first = sel.rows[0]
    assert first["thinking_trajectories"] == [rows[int(json.loads(first["metadata"])["id"][1:])]["thinking"]]
    assert json.loads(first["metadata"])["trace_tokens"] > 0
    # the ablations skip the difficulty filter (the paper's 1K-random/-diverse/-longest)
    longest = run_select(rows, SelectConfig(n=4, strategy="longest"), lambda t: [len(x.split()) for x in t])
    assert "r15" in {json.loads(r["metadata"])["id"] for r in longest.rows}


def test_s1s_string_rules_drop_problem_sets_and_scraped_numbering_and_keep_figures_of_named_sources():
    rows = [
        row(0),
        row(1, question="p1. Find $x$. p2. Find $y$."),
        row(2, question="**3.** Find $x$."),
        row(3, question="In step1. we add; find $x$."),
        row(4, question="Find **all** $x$."),
        row(5, question="[asy] draw((0,0)--(1,1)); [/asy] Find it.", source="aime"),
        row(6, question="[asy] draw((0,0)--(1,1)); [/asy] Find it."),
    ]
    sel = run_select(
        rows,
        SelectConfig(n=10, strategy="full", asymptote_sources=["aime"]),
        lambda texts: [len(t.split()) for t in texts],
    )
    assert {r["id"]: r["reason"] for r in sel.rejects} == {
        "r1": "problem_set",
        "r2": "markdown_numbering",
        "r6": "asymptote",
    }
    assert sorted(json.loads(r["metadata"])["id"] for r in sel.rows) == ["r0", "r3", "r4", "r5"]
