"""The grader keeps correct answers in every form a model writes them, and keeps wrong ones wrong.

Cases are built from the gold answers of the shared MATH500 and AIME24 files: each gold is written
as a model would (boxed, after ``Final Answer:``, in "the answer is" prose, with units or words, with
choice markup, in scientific notation, with leading zeros), and each is also changed to a wrong
value written the same ways.
"""

from __future__ import annotations

import json
import re

import pytest

from s1slurm.eval.benchmarks import Question
from s1slurm.eval.grading import extract_with_method, grade
from tests.conftest import SHARED_DATA

BENCH = SHARED_DATA / "benchmarks"
INTEGER = re.compile(r"^\d+$")
DECIMAL = re.compile(r"^\d+\.\d+$")


def golds(name: str) -> list[str]:
    return [
        str(json.loads(line)["answer"]).strip()
        for line in (BENCH / name).read_text().splitlines()
        if line.strip()
    ]


MATH_NUMBERS = [g for g in golds("math500.jsonl") if INTEGER.match(g) or DECIMAL.match(g)][:10]
MATH_LATEX = [g for g in golds("math500.jsonl") if "\\frac" in g or "\\sqrt" in g][:8]
AIME = golds("aime24.jsonl")[:6]


def forms(value: str) -> list[tuple[str, str]]:
    """(answer text, expected extraction method) for one value, written in many ways."""
    out = [
        (f"So we are done.\n\\boxed{{{value}}}", "boxed"),
        (f"Final Answer: ${value}$", "answer_line"),
        (f"Final Answer: The final answer is ${value}$. I hope it is correct.", "answer_line"),
        (f"Putting it together, the answer is ${value}$.", "answer_is"),
    ]
    if INTEGER.match(value) or DECIMAL.match(value):
        out += [
            (f"\\boxed{{{value}~\\mathrm{{cm}}}}", "boxed"),
            (f"Final Answer: {value} dollars", "answer_line"),
            (f"\\boxed{{\\textbf{{(B) }}{value}}}", "boxed"),
            (f"\\boxed{{{value}\\text{{ units}}}}", "boxed"),
        ]
    if INTEGER.match(value) and len(value) < 15 and int(value) >= 10:
        mantissa = f"{value[0]}.{value[1:].rstrip('0') or '0'}"
        exponent = len(value) - 1
        out += [
            (f"\\boxed{{{mantissa}e{exponent}}}", "boxed"),
            (f"\\boxed{{{mantissa} \\times 10^{{{exponent}}}}}", "boxed"),
        ]
    return out


def wrong(value: str) -> str:
    """A different value of the same shape: the last digit changed."""
    i = max(i for i, ch in enumerate(value) if ch.isdigit())
    return value[:i] + str((int(value[i]) + 1) % 10) + value[i + 1 :]


def cases(kind: str, values: list[str]):
    for g in values:
        for text, method in forms(g):
            yield pytest.param(kind, g, text, method, True, id=f"{kind}:{g}:{method}:{text[:24]}")
        for text, method in forms(wrong(g)):
            yield pytest.param(kind, g, text, method, False, id=f"{kind}:{g}:wrong:{text[:24]}")


@pytest.mark.parametrize(
    "kind,gold,text,method,correct",
    list(cases("math", MATH_NUMBERS + MATH_LATEX)) + list(cases("aime", AIME)),
)
def test_forms_of_shared_gold_answers(kind, gold, text, method, correct):
    g = grade(Question("q", "", gold, kind), text)
    assert g.correct is correct, (gold, text, g)
    assert g.method == method


@pytest.mark.parametrize("gold", AIME)
def test_aime_answers_with_leading_zeros_are_the_same_integer(gold):
    assert grade(Question("q", "", gold, "aime"), f"\\boxed{{{int(gold):03d}}}").correct is True
    assert grade(Question("q", "", gold, "aime"), f"\\boxed{{{int(gold) + 1:03d}}}").correct is False


def test_the_shared_data_gives_enough_cases():
    assert len(MATH_NUMBERS) == 10 and len(MATH_LATEX) == 8 and len(AIME) == 6


MCQ = Question("q", "", "C", "mcq", ["1", "2", "3", "4"])


@pytest.mark.parametrize(
    "text,letter",
    [
        ("Final Answer: C", "C"),
        ("Final Answer: (C)", "C"),
        ("The answer is **C**.", "C"),
        ("\\boxed{C}", "C"),
        ("Answer: C) 3", "C"),
        ("So it is\n\nC.", "C"),
        ("Final Answer: A careful check shows the value is 3", None),
        ("Final Answer: A. Since the value doubles", None),
        ("I think B is wrong.", None),
    ],
)
def test_a_choice_letter_counts_only_when_it_stands_alone(text, letter):
    found, _ = extract_with_method(text, "mcq", choices=MCQ.choices)
    assert found == letter
    assert grade(MCQ, text).correct is (letter == "C")


def test_votes_group_answers_by_mathematical_equivalence():
    from s1slurm.eval.grading import answer_classes

    assert answer_classes(["\\frac{1}{2}", "0.5", "1/2", "$0.5$", "2", "\\sqrt{4}", "3"]) == [
        0,
        0,
        0,
        0,
        1,
        1,
        2,
    ]
    assert answer_classes(["033", "33", "$33$", "34"], integers=True) == [0, 0, 0, 1]
