"""Benchmark loading: shared AIME24/MATH500 files, JSONL field mappings, synthetic GPQA-style
multiple choice (never real GPQA), and clear errors for bad input."""

from __future__ import annotations

import csv
import json
import logging
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from pydantic import ValidationError

from s1slurm.core.errors import ConfigError
from s1slurm.eval.benchmarks import BenchmarkConfig, Question, load_benchmark
from s1slurm.eval.grading import grade

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "benchmarks"
GPQA_COLUMNS = [
    "Record ID",
    "Question",
    "Correct Answer",
    "Incorrect Answer 1",
    "Incorrect Answer 2",
    "Incorrect Answer 3",
    "Subdomain",
]


def _write_jsonl(path: Path, rows: list[dict | str]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def _synthetic_gpqa_rows(n: int) -> list[dict]:
    """Made-up multiple-choice records in GPQA's column layout (nothing from the real dataset)."""
    return [
        {
            "Record ID": f"recSYN{i:03d}",
            "Question": f"SECRET-QUESTION-{i}: which is right?",
            "Correct Answer": f"right-{i}",
            "Incorrect Answer 1": f"wrong-a-{i}",
            "Incorrect Answer 2": f"wrong-b-{i}",
            "Incorrect Answer 3": f"wrong-c-{i}",
            "Subdomain": "Synthetic",
        }
        for i in range(n)
    ]


@pytest.fixture
def gpqa_repo(tmp_path: Path) -> Path:
    """A local dataset folder laid out like the hub repo Idavidrein/gpqa (config gpqa_diamond)."""
    repo = tmp_path / "gpqa"
    repo.mkdir()
    (repo / "README.md").write_text(
        "---\nconfigs:\n- config_name: gpqa_diamond\n  data_files:\n  - split: train\n"
        "    path: gpqa_diamond.csv\n---\nSynthetic test data.\n"
    )
    with (repo / "gpqa_diamond.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=GPQA_COLUMNS)
        writer.writeheader()
        writer.writerows(_synthetic_gpqa_rows(40))
    return repo


def test_aime24_from_the_shared_file():
    qs = load_benchmark(BenchmarkConfig(name="aime24", path=DATA / "aime24.jsonl"))
    rows = [json.loads(line) for line in (DATA / "aime24.jsonl").read_text().splitlines()]
    assert len(qs) == 30 and [q.id for q in qs] == [str(r["id"]) for r in rows]
    assert all(q.kind == "aime" and q.choices is None for q in qs)
    assert [q.gold for q in qs] == [str(r["answer"]) for r in rows]
    # s1's default: the bare question, no instruction
    assert qs[0].prompt == rows[0]["problem"].strip()
    boxed = load_benchmark(
        BenchmarkConfig(name="aime24", path=DATA / "aime24.jsonl", limit=1, prompt_template="boxed")
    )
    assert boxed[0].prompt.startswith(qs[0].prompt) and r"\boxed{}" in boxed[0].prompt
    assert not qs[0].meta.get("redact")


def test_math500_from_the_shared_file_with_limit_and_label():
    cfg = BenchmarkConfig(name="math500", path=DATA / "math500.jsonl", limit=7, label="math500-small")
    qs = load_benchmark(cfg)
    assert len(qs) == 7 and qs[0].id == "test/precalculus/807.json"
    assert qs[0].gold == r"\left( 3, \frac{\pi}{2} \right)" and qs[0].kind == "math"
    assert qs[0].meta["subject"] == "Precalculus" and qs[0].meta["level"] == 2
    assert cfg.effective_label == "math500-small"
    assert BenchmarkConfig(name="math500").effective_label == "math500"


def test_prompt_template_keeps_braces_and_fills_the_question(tmp_path):
    path = _write_jsonl(tmp_path / "b.jsonl", [{"q": "What is {x} + 1?", "a": "2"}])
    cfg = BenchmarkConfig(
        name="jsonl",
        path=path,
        fields={"question": "q", "answer": "a"},
        prompt_template="Q: {question}\nEnd with \\boxed{}.",
    )
    (q,) = load_benchmark(cfg)
    assert q.prompt == "Q: What is {x} + 1?\nEnd with \\boxed{}." and q.id == "0" and q.gold == "2"


def test_gsm8k_style_gold_answers_keep_only_the_number_after_the_hashes(tmp_path):
    rows = [
        {"question": "How much?", "answer": "She pays 2 * 9 = <<2*9=18>>18 dollars.\n#### 18"},
        {"question": "How many?", "answer": "Add them up.\n#### 1,234"},
    ]
    qs = load_benchmark(BenchmarkConfig(name="jsonl", path=_write_jsonl(tmp_path / "g.jsonl", rows)))
    assert [q.gold for q in qs] == ["18", "1234"]
    assert grade(qs[0], "Final Answer: 18 dollars").correct is True
    assert grade(qs[0], "Final Answer: 81 dollars").correct is False


def test_jsonl_field_mapping_kind_and_ids(tmp_path):
    rows = [
        {"uid": "a1", "text": "1+1?", "sol": 2, "type": "aime"},
        {"uid": "a2", "text": "x?", "sol": "\\frac12", "type": "math"},
    ]
    cfg = BenchmarkConfig(
        name="jsonl",
        path=_write_jsonl(tmp_path / "b.jsonl", rows),
        fields={"id": "uid", "question": "text", "answer": "sol", "kind": "type"},
    )
    qs = load_benchmark(cfg)
    assert [(q.id, q.kind, q.gold) for q in qs] == [("a1", "aime", "2"), ("a2", "math", "\\frac12")]


def test_missing_field_names_file_line_and_field(tmp_path):
    rows = [{"question": "a", "answer": "1"}, "", {"question": "b", "answer": "2"}, {"question": "c"}]
    path = _write_jsonl(tmp_path / "my bench.jsonl", rows)
    with pytest.raises(ConfigError) as err:
        load_benchmark(BenchmarkConfig(name="jsonl", path=path))
    text = str(err.value)
    assert str(path) in text and "line 4" in text and "'answer'" in text and "gold answer" in text
    assert err.value.exit_code == 2 and err.value.field == "answer"


def test_missing_mapped_column_everywhere_and_unknown_kind(tmp_path):
    path = _write_jsonl(tmp_path / "b.jsonl", [{"problem": "a", "answer": "1"}])
    with pytest.raises(ConfigError, match=r"line 1.*'question'|'question'.*line 1"):
        load_benchmark(BenchmarkConfig(name="jsonl", path=path))
    path = _write_jsonl(tmp_path / "k.jsonl", [{"question": "a", "answer": "1", "k": "essay"}])
    with pytest.raises(ConfigError, match="unknown kind 'essay'"):
        load_benchmark(BenchmarkConfig(name="jsonl", path=path, fields={"kind": "k"}))


def test_invalid_json_line_duplicate_ids_missing_file_and_non_integer_aime(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "a", "answer": "1"}\n{"question": oops}\n')
    with pytest.raises(ConfigError, match="line 2 is not valid JSON"):
        load_benchmark(BenchmarkConfig(name="jsonl", path=bad))
    dup = _write_jsonl(
        tmp_path / "dup.jsonl",
        [{"id": 1, "question": "a", "answer": "1"}, {"id": 1, "question": "b", "answer": "2"}],
    )
    with pytest.raises(ConfigError, match="duplicate question id"):
        load_benchmark(BenchmarkConfig(name="jsonl", path=dup))
    with pytest.raises(ConfigError, match="not found") as err:
        load_benchmark(BenchmarkConfig(name="jsonl", path=tmp_path / "nope.jsonl"), source="jobs/e.yaml")
    assert "jobs/e.yaml" in str(err.value)
    aime = _write_jsonl(tmp_path / "aime.jsonl", [{"id": 1, "problem": "p", "answer": "1/2"}])
    with pytest.raises(ConfigError, match="not an integer"):
        load_benchmark(BenchmarkConfig(name="aime24", path=aime))


@pytest.mark.parametrize(
    "data, match",
    [
        ({"name": "aime25"}, "name"),
        ({"name": "jsonl"}, "path"),
        ({"name": "math500", "label": "../up"}, "label"),
        ({"name": "math500", "label": ".."}, "label"),
        ({"name": "math500", "labels": "x"}, "labels"),
        ({"name": "math500", "prompt_template": "no placeholder"}, "question"),
        ({"name": "math500", "fields": {"solution": "s"}}, "solution"),
        ({"name": "math500", "kind": "mcq"}, "kind"),
        ({"name": "math500", "limit": 0}, "limit"),
    ],
)
def test_bad_configs_are_rejected(data, match):
    with pytest.raises(ValidationError, match=match):
        BenchmarkConfig.model_validate(data)


def test_gpqa_from_a_hub_style_folder_shuffles_deterministically_and_tracks_gold(gpqa_repo):
    cfg = BenchmarkConfig(name="gpqa_diamond", hub_id=str(gpqa_repo))
    qs = load_benchmark(cfg, seed=0)
    assert len(qs) == 40 and qs[0].id == "recSYN000"
    for i, q in enumerate(qs):
        assert q.kind == "mcq" and q.meta["redact"] is True
        assert sorted(q.choices) == sorted([f"right-{i}", f"wrong-a-{i}", f"wrong-b-{i}", f"wrong-c-{i}"])
        assert q.choices["ABCD".index(q.gold)] == f"right-{i}"
        for letter, choice in zip("ABCD", q.choices):
            assert f"\n{letter}) {choice}" in q.prompt
        assert "(A, B, C or D)" not in q.prompt  # the bare default: question and choices only
        assert grade(q, f"Answer: {q.gold}").correct is True
        assert grade(q, f"Answer: {'B' if q.gold == 'A' else 'A'}").correct is False
    assert set(Counter(q.gold for q in qs)) == set("ABCD")  # the correct choice is not always first
    assert [q.choices for q in load_benchmark(cfg, seed=0)] == [q.choices for q in qs]
    other_seed = load_benchmark(cfg, seed=1)
    assert sum(a.choices != b.choices for a, b in zip(qs, other_seed)) >= 20


def test_gpqa_shuffle_is_the_same_in_another_process(gpqa_repo):
    qs = load_benchmark(BenchmarkConfig(name="gpqa_diamond", hub_id=str(gpqa_repo)), seed=7)
    code = (
        "import json,sys; from s1slurm.eval.benchmarks import *; "
        f"qs = load_benchmark(BenchmarkConfig(name='gpqa_diamond', hub_id={str(gpqa_repo)!r}), seed=7); "
        "print(json.dumps([q.gold + ''.join(q.choices) for q in qs]))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}  # str hashes differ from this process's
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [q.gold + "".join(q.choices) for q in qs]


def test_gpqa_text_is_never_logged_or_put_in_errors(gpqa_repo, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    qs = load_benchmark(BenchmarkConfig(name="gpqa_diamond", hub_id=str(gpqa_repo)))
    for q in qs[:5]:
        grade(q, "Answer: A")
    assert "SECRET-QUESTION" not in caplog.text and "right-" not in caplog.text
    rows = _synthetic_gpqa_rows(3)
    del rows[2]["Incorrect Answer 2"]
    path = _write_jsonl(tmp_path / "gpqa.jsonl", rows)
    with pytest.raises(ConfigError) as err:
        load_benchmark(BenchmarkConfig(name="gpqa_diamond", path=path))
    assert "line 3" in str(err.value) and "Incorrect Answer 2" in str(err.value)
    assert "SECRET" not in str(err.value) and "right-2" not in str(err.value)


def test_gpqa_unknown_config_is_a_config_error(gpqa_repo):
    with pytest.raises(ConfigError, match="gpqa_main"):
        load_benchmark(BenchmarkConfig(name="gpqa_diamond", hub_id=str(gpqa_repo), hub_config="gpqa_main"))


def test_jsonl_multiple_choice_with_a_choices_list(tmp_path):
    rows = [
        {"id": "m1", "question": "Pick", "choices": ["red", "green", "blue"], "answer": "green"},
        {"id": "m2", "question": "Pick", "choices": ["x", "y", "z"], "answer": "C"},
        {"id": "m3", "question": "Pick", "choices": ["x", "y"], "answer": "w"},
    ]
    path = _write_jsonl(tmp_path / "mcq.jsonl", rows)
    cfg = BenchmarkConfig(
        name="jsonl",
        path=path,
        kind="mcq",
        fields={"choices": "choices"},
        limit=2,
        prompt_template="mcq_boxed",
    )
    q1, q2 = load_benchmark(cfg, seed=3)
    assert q1.choices["ABC".index(q1.gold)] == "green" and q2.choices["ABC".index(q2.gold)] == "z"
    assert "(A, B or C)" in q1.prompt and not q1.meta.get("redact")
    with pytest.raises(ConfigError, match=r"line 3.*matches no choice"):
        load_benchmark(cfg.model_copy(update={"limit": None}))


def test_question_is_a_plain_dataclass():
    q = Question("1", "p", "2", "math")
    assert q.choices is None and q.meta == {}
