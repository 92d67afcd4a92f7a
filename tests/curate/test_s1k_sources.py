"""jobs/curate-s1k.yaml rebuilds s1's pool and s1K's selection rules: every source's mapping on
fixtures shaped like its hub columns, source-by-source 8-gram dedup, pre-selection, Algorithm 1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter

import pytest
import yaml

from s1slurm.core.errors import ConfigError
from s1slurm.curate import sources
from s1slurm.curate.reports import selection_report
from s1slurm.curate.select import run_select
from s1slurm.curate.sources import Collected, collect
from s1slurm.curate.spec import CurateSpec
from tests.conftest import REPO
from tests.curate.s1_fixtures import serve, tables, text

SPEC = REPO / "jobs" / "curate-s1k.yaml"
S1_ORDER = [
    "math",
    "olympic_arena",
    "theoremqa",
    "numinamath",
    "omni_math",
    "scieval",
    "olympiadbench",
    "jeebench",
    "agieval",
    "agieval_aqua_rat",
    "agieval_math",
    "s1_prob",
    "gpqa",
    "xword",
    "usaco",
    "s1_teasers",
    "livecodebench",
    "aime",
]


def s1k_spec(**select) -> CurateSpec:
    raw = yaml.safe_load(SPEC.read_text())
    raw["select"].update(select)
    return CurateSpec(**raw)


@pytest.fixture
def pool(monkeypatch) -> tuple[CurateSpec, Collected]:
    spec = s1k_spec()
    spec.sources[[s.name for s in spec.sources].index("xword")].take.n = 3  # 5 fixture rows: take 3 of them
    monkeypatch.setattr(sources, "load_table", serve(tables()))
    return spec, collect(spec.sources, str(SPEC), settings=spec.collect)


def by_source(got: Collected) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for r in got.rows:
        out.setdefault(r["source"], []).append(r)
    return out


def test_the_spec_lists_s1s_sources_in_s1s_order():
    assert [s.name for s in s1k_spec().sources] == S1_ORDER
    assert s1k_spec().collect.ngram == 8


def test_every_source_maps_its_hub_columns_filters_and_selects_as_s1(pool):
    _, got = pool
    rows, counts = by_source(got), got.per_source
    kept = {name: c["kept"] for name, c in counts.items()}
    assert kept == {
        "math": 6,
        "olympic_arena": 14,
        "theoremqa": 2,
        "numinamath": 3,
        "omni_math": 3,
        "scieval": 8,
        "olympiadbench": 8,
        "jeebench": 3,
        "agieval": 24,
        "agieval_aqua_rat": 2,
        "agieval_math": 2,
        "s1_prob": 2,
        "gpqa": 3,
        "xword": 3,
        "usaco": 2,
        "s1_teasers": 2,
        "livecodebench": 3,
        "aime": 4,
    }
    # filters: OlympicArena EN text-only, TheoremQA without picture, NuminaMath aops + the 500 listed,
    # SciEval with an answer, AGIEval MATH level 5, GPQA minus Diamond, LiveCodeBench hard, AIME <= 2022
    assert {
        n: counts[n]["filtered"]
        for n in (
            "olympic_arena",
            "theoremqa",
            "numinamath",
            "scieval",
            "agieval_math",
            "gpqa",
            "livecodebench",
            "aime",
        )
    } == {
        "olympic_arena": 28,
        "theoremqa": 1,
        "numinamath": 3,
        "scieval": 2,
        "agieval_math": 2,
        "gpqa": 1,
        "livecodebench": 3,
        "aime": 2,
    }
    math0 = rows["math"][0]
    assert (math0["id"], math0["answer"], math0["source_type"], math0["cot_type"]) == (
        "math/train/m/0.json",
        "0",
        "simplescaling/openaimath/Algebra",
        "math",
    )
    assert {r["cot_type"] for r in rows["olympic_arena"] if "CS" in r["source_type"]} == {"coding"}
    assert {r["cot_type"] for r in rows["olympic_arena"] if "Physics" in r["source_type"]} == {"science"}
    assert sorted(r["question"] for r in rows["numinamath"]) == sorted(
        [text("numina", 0), text("numina", 1), text("numina", 3)]
    )
    sci = rows["scieval"][0]
    assert sci["question"].endswith("\nWhat is the optimal solvent?") and "Answer:" not in sci["question"]
    assert (
        sci["solution"] == "B"
        and sci["source_type"] == "OpenDFM/SciEval/chemistry/multiple-choice/SocraticQA"
    )
    assert {r["cot_type"] for r in rows["scieval"]} == {"science", "health science"}
    assert rows["olympiadbench"][0]["source_type"] == "Hothan/OlympiadBench/Open-ended/Math"
    assert [r["cot_type"] for r in rows["jeebench"]] == ["math", "math", "science"]
    agi = rows["agieval"][0]  # s1: (passage + "\n\n").strip() + question + "\n" + options
    assert agi["question"] == "Passage sat_en test." + text("agi-sat_en-test", 0) + "\n(A)one\n(B)two"
    assert agi["cot_type"] == "english" and agi["source_type"] == "baber/agieval/sat_en"
    assert [r["cot_type"] for r in rows["agieval"] if r["source_type"].endswith("sat_math")] == ["math"] * 4
    gpqa = rows["gpqa"][0]
    assert (gpqa["answer"], gpqa["solution"], gpqa["cot_type"]) == ("right", "Because.", "science")
    xword = rows["xword"][0]["question"]
    assert (
        xword.startswith(
            "Solve the crossword puzzle. You are presented with a clue as input and the number of "
            "letters in brackets.\n\nSynthetic xword"
        )
        and "###" not in xword
    )
    assert rows["usaco"][0]["question"] == text("usaco", 0) and rows["usaco"][0]["cot_type"] == "coding"
    assert {r["source_type"] for r in rows["livecodebench"]} == {
        f"LiveCodeBench/release_v{v}" for v in (1, 2, 3)
    }
    assert sorted(r["id"] for r in rows["aime"]) == [
        "aime/1990-I-1",
        "aime/1990-I-2",
        "aime/2022-I-1",
        "aime/2022-I-2",
    ]


def test_take_is_seeded_and_balanced_over_a_column(pool):
    spec, got = pool
    assert got.per_source["xword"]["not_taken"] == 2
    again = collect(spec.sources, str(SPEC), settings=spec.collect)
    assert [r["id"] for r in again.rows] == [r["id"] for r in got.rows]
    scieval = spec.sources[S1_ORDER.index("scieval")]
    scieval.take.n = 4
    few = by_source(collect([scieval], str(SPEC)))["scieval"]
    # four task names share the 4 places: one each, though SocraticQA has the most rows
    assert len(few) == 4
    assert Counter(r["cot_type"] for r in few) == {"science": 2, "health science": 2}


def test_each_source_is_ngram_deduplicated_against_the_sources_before_it(pool):
    _, got = pool
    [overlap] = [r for r in got.rejects if r["reason"] == "ngram_overlap"]
    assert (overlap["source"], overlap["duplicate_of"]) == ("omni_math", "math/train/m/0.json")
    assert got.per_source["omni_math"]["ngram_overlap"] == 1


def test_group_members_share_their_ngram_index(monkeypatch):
    spec = s1k_spec()
    data = tables()
    data["baber/agieval", "aqua_rat", "test"][0]["question"] = "Again: " + text("agi-sat_en-test", 0)
    data["simplescaling/s1-prob", None, "train"][0]["question"] = "Also: " + text("agi-sat_en-test", 1)
    monkeypatch.setattr(sources, "load_table", serve(data))
    wanted = [s for s in spec.sources if s.group == "agieval" or s.name == "s1_prob"]
    got = collect(wanted, str(SPEC), settings=spec.collect)
    assert got.per_source["agieval_aqua_rat"]["ngram_overlap"] == 0  # same s1 source as agieval
    assert got.per_source["s1_prob"]["ngram_overlap"] == 1  # a later source


def test_a_spec_naming_a_missing_column_is_refused_with_the_field(monkeypatch):
    spec = s1k_spec()
    monkeypatch.setattr(sources, "load_table", serve(tables()))
    bad = spec.sources[S1_ORDER.index("theoremqa")].model_copy(update={"source_type": "x/{Answer_kind}"})
    with pytest.raises(ConfigError, match="no column 'Answer_kind'") as e:
        collect([bad], "c.yaml")
    assert e.value.field == "sources.0.source_type.Answer_kind"


def trace_fields(row: dict, i: int) -> dict:
    """What the model steps would add: traces (long for some MATH rows), grades, a domain."""
    long = row["source"] == "math" and i % 2 == 0
    return {
        **row,
        "thinking": "step " * (6000 if long else 50 + 7 * (i % 40)),
        "attempt": "Answer: 1",
        "trace_flag": None,
        "teacher_correct": i % 4 != 3,
        "solved_by": ["Qwen/Qwen2.5-7B-Instruct"] if i % 9 == 8 else [],
        "graded": True,
        "domain": ["05 Combinatorics", "11 Number theory", "26 Real functions", "81 Quantum theory"][i % 4],
    }


def test_a_small_s1k_shaped_selection_from_all_sources(pool, tmp_path):
    from s1slurm.curate.decontaminate import decontaminate, load_benchmarks

    spec, got = pool
    # a MATH500 question planted in the pool is removed by the decontaminate step
    math500 = json.loads((REPO.parent / "shared/data/benchmarks/math500.jsonl").read_text().splitlines()[3])
    rows = got.rows + [{**got.rows[0], "id": "math/planted", "question": math500["problem"]}]
    against = [{"name": "math500", "path": str(REPO.parent / "shared/data/benchmarks/math500.jsonl")}]
    dec_cfg = spec.decontaminate.model_copy(update={"against": []})
    dec_cfg = type(dec_cfg)(**{**dec_cfg.model_dump(exclude={"against"}), "against": against})
    dec = decontaminate(rows, dec_cfg, load_benchmarks(dec_cfg.against, with_answer=False, source="t"))
    assert [r["id"] for r in dec.rejects] == ["math/planted"]
    featured = [trace_fields(r, i) for i, r in enumerate(dec.rows)]
    n = 40
    cfg = spec.select.model_copy(update={"n": n})
    sel = run_select(featured, cfg, lambda texts: [len(t.split()) for t in texts])
    chosen = {c.id for c in sel.chosen}
    easy = {r["id"] for r in featured if r["solved_by"]}
    pre = [
        r["id"]
        for r in featured
        if r["id"] not in easy
        and r["teacher_correct"]
        and (r["source"] in ("gpqa", "aime") or (r["source"] == "math" and len(r["thinking"].split()) > 5600))
    ]
    assert pre and set(pre) <= chosen and not easy & chosen
    assert [c.id for c in sel.chosen[: len(pre)]] == sorted(pre)  # taken first, then Algorithm 1
    wrong_gpqa = {r["id"] for r in featured if r["source"] == "gpqa" and not r["teacher_correct"]}
    assert wrong_gpqa and not wrong_gpqa & set(c.id for c in sel.chosen[: len(pre)])
    funnel = {f["filter"]: f for f in sel.funnel}
    assert funnel["pre-selection"]["out"] == len(pre) and funnel["strategy s1"]["out"] == n
    assert set(funnel["pre-selection"]["reasons"]) <= {"gpqa", "aime", "math"}
    report = selection_report([], sel.funnel, sel.candidates, sel.chosen, cfg.strategy, cfg.seed, n)
    assert sum(report["sources_after"].values()) == n
    assert report["sources_before"] == dict(Counter(c.source for c in sel.candidates).most_common())
    assert len(report["sources_before"]) == len(S1_ORDER) and len(report["sources_after"]) > 5
    assert all(json.loads(r["metadata"])["id"] in chosen for r in sel.rows)
    assert {r["source_type"] for r in sel.rows} >= {"Idavidrein/gpqa", "qq8933/AIME_1983_2024"}


def test_notebook_mix_draws_domains_from_aime_and_gpqa_after_the_first_picks(pool):
    spec, got = pool
    featured = [trace_fields(r, i) for i, r in enumerate(got.rows)]
    cfg = spec.select.model_copy(update={"n": 60, "preselect": [], "strategy": "s1-notebook", "mix": None})
    with pytest.raises(ValueError, match="needs 'mix'"):
        type(cfg)(**cfg.model_dump())
    mixed = type(cfg)(**{**cfg.model_dump(), "mix": {"after": 20, "weights": {"aime": 1.0, "gpqa": 0.5}}})
    sel = run_select(featured, mixed, lambda texts: [len(t.split()) for t in texts])
    mix_domains = {c.domain for c in sel.candidates if c.source in ("aime", "gpqa")}
    later = [c.domain for c in sel.chosen[20:]]
    # after 20 picks only the AIME/GPQA domains are drawn while they have questions left
    assert later and set(later[:10]) <= mix_domains
    assert len(sel.chosen) == 60


@pytest.mark.parametrize(
    "stage, name",
    [("curate", "curate-s1k.yaml"), ("curate", "curate-s1k-1.1.yaml"), ("pipeline", "pipeline-s1.1.yaml")],
)
def test_the_s1k_and_s1k_11_specs_render_offline_with_dry_run(tmp_path, stage, name):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "s1slurm",
            "--cluster",
            str(REPO / "cluster.yaml"),
            "--profile",
            "h100",
            "submit",
            stage,
            "--config",
            str(REPO / "jobs" / name),
            "--dry-run",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    assert "#SBATCH" in proc.stdout


def test_unknown_source_in_a_preselection_rule_is_refused():
    raw = yaml.safe_load(SPEC.read_text())
    raw["select"]["preselect"][0]["sources"] = ["gqpa"]
    with pytest.raises(Exception, match="unknown sources \\['gqpa'\\]"):
        CurateSpec(**raw)
