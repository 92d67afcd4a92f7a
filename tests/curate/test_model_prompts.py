"""Parsing what the models answer, with a scripted engine: domain codes (retried, then unknown) and
the optional judge's Yes/No."""

from __future__ import annotations

import json

from s1slurm.curate import attempts, domains
from s1slurm.curate.spec import AttemptsConfig, DomainsConfig
from s1slurm.eval.engines.base import Engine, EngineConfig, Request
from tests.eval.fakes import EOS, FakeTokenizer


class Scripted(Engine):
    """Answers each request with the next text its script gives for the request's user message."""

    kind = "scripted"

    def __init__(self, script) -> None:
        super().__init__(EngineConfig(kind="scripted", model="scripted"))
        self.tokenizer = FakeTokenizer()
        self.max_model_len = 100_000
        self.eos_token_ids = (EOS,)
        self.script = script
        self.prompts: list[str] = []

    def _generate(self, requests: list[Request]) -> list[list[int]]:
        out = []
        for r in requests:
            prompt = self.tokenizer.decode(r.prompt)
            self.prompts.append(prompt)
            out.append(self.tokenizer.encode(self.script(prompt)) + [EOS])
        return out


def test_domain_codes_are_parsed_retried_then_unknown():
    tries: dict[str, int] = {}

    def script(prompt: str) -> str:
        q = "q1" if "Q-one" in prompt else "q2" if "Q-two" in prompt else "q3"
        tries[q] = tries.get(q, 0) + 1
        if q == "q1":
            return "It counts primes.\n11"
        if q == "q2":
            return "Hmm." if tries[q] == 1 else "Graphs and counting.\n05."
        return "I cannot tell."

    rows = [
        {"id": "a", "question": "Q-one"},
        {"id": "b", "question": "Q-two"},
        {"id": "c", "question": "Q-three"},
        {"id": "d", "question": "Q-four", "domain": "Geometry"},
    ]
    recs = domains.domain_records(Scripted(script), DomainsConfig(retries=2, model="m"), rows)
    assert [(r["domain"], r["domain_origin"], r["tries"]) for r in recs] == [
        ("11 Number theory", "model", 1),
        ("05 Combinatorics", "model", 2),
        ("unknown", "unknown", 3),
        ("Geometry", "source", 0),
    ]
    assert tries == {"q1": 1, "q2": 2, "q3": 3}
    areas = domains.msc_areas()
    assert (
        domains.parse_code("the answer is 99", areas) is None and domains.parse_code("**60**", areas) == "60"
    )
    assert domains.parse_code("General topics: 00", areas) is None  # not one of s1's 61 areas


def test_the_61_msc_areas_have_official_titles_and_topics_in_the_prompt():
    areas = domains.msc_areas()
    assert len(areas) == 61 and "00" not in areas and "01" not in areas
    assert areas["11"].title == "Number theory" and areas["05"].title == "Combinatorics"
    assert areas["91"].title == "Game theory, economics, finance, and other social and behavioral sciences"
    assert all(a.topics and all(t == t.strip() for t in a.topics) for a in areas.values())
    prompt = domains.user_prompt("Count the graphs.", areas)
    assert "### Combinatorics\n* Code: 05\n* Description: Enumerative combinatorics; Designs" in prompt
    assert prompt.count("* Code: ") == 61


def test_judge_accepts_what_the_grader_did_not():
    rows = {
        "a": {"id": "a", "question": "How many?", "answer": "7"},
        "b": {"id": "b", "question": "Which?", "answer": "x"},
    }
    graded = [
        {
            "key": attempts.key("m", "a"),
            "id": "a",
            "model": "m",
            "answer": "seven",
            "correct": False,
            "extracted": None,
            "grade_error": None,
            "tokens": 1,
            "cut_off": False,
        },
        {
            "key": attempts.key("m", "b"),
            "id": "b",
            "model": "m",
            "answer": "y",
            "correct": False,
            "extracted": "y",
            "grade_error": None,
            "tokens": 1,
            "cut_off": False,
        },
    ]
    engine = Scripted(lambda p: "Same value.\nYes" if "seven" in p else "Different.\nNo")
    verdicts = attempts.judge_records(engine, AttemptsConfig(judge="j"), graded, rows)
    assert [(v["id"], v["verdict"]) for v in verdicts] == [("a", True), ("b", False)]
    merged = attempts.merge(rows["a"], [graded[0], verdicts[0]])
    assert merged["solved_by"] == ["m"] and json.loads(merged["attempts"])[0]["judge"] is True
    assert attempts.merge(rows["b"], [graded[1], verdicts[1]])["solved_by"] == []
    assert "## Correct answer\n7" in engine.prompts[0]


def test_attempts_are_graded_against_the_solution_when_a_row_has_no_answer():
    # NuminaMath-CoT rows carry a worked solution ending in \\boxed{}, no answer column
    rows = [
        {"id": "a", "question": "Half of one?", "solution": "Divide: $\\boxed{\\frac{1}{2}}$."},
        {"id": "b", "question": "Name it.", "solution": "It is the golden ratio, no closed form given"},
        {"id": "c", "question": "Two and two?", "answer": "4"},
    ]
    recs = attempts.attempt_records(
        Scripted(lambda p: "So \\boxed{0.5}"), AttemptsConfig(max_tokens=20), "m", rows
    )
    assert [(r["id"], r["correct"], r["grade_error"]) for r in recs] == [
        ("a", True, None),
        ("b", None, "no reference answer"),
        ("c", False, None),
    ]
    merged = {r["id"]: attempts.merge(row, [r]) for row, r in zip(rows, recs)}
    assert attempts.gold_answer({"answer": 0, "solution": "\\boxed{1}"}) == "0"  # 0 is an answer
    # a question nobody could grade has an unknown difficulty: the s1 selection drops it
    assert [(m["solved_by"], m["graded"]) for m in merged.values()] == [
        (["m"], True),
        ([], False),
        ([], True),
    ]


def test_the_judge_reads_the_worked_solution_as_s1_did_and_its_verdict_grades_the_row():
    row = {"id": "b", "question": "Name it.", "solution": "The worked solution: phi."}
    rec = {
        "key": attempts.key("m", "b"),
        "id": "b",
        "model": "m",
        "answer": "phi",
        "correct": None,
        "extracted": None,
        "grade_error": "no reference answer",
        "tokens": 1,
        "cut_off": False,
    }
    engine = Scripted(lambda p: "Matches.\nNo")
    [verdict] = attempts.judge_records(engine, AttemptsConfig(judge="j"), [rec], {"b": row})
    assert "## Correct answer\nThe worked solution: phi." in engine.prompts[0]
    assert attempts.merge(row, [rec, verdict])["graded"] is True  # judged wrong: hard, and known to be
