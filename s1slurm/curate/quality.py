"""Quality filter of the select step: each dropped row gets one reason.

s1 paper section 2 ("Quality"): drop questions whose generation failed (API errors, here engine
outputs flagged by the traces step) and those with formatting problems such as ASCII art, missing
images or Asymptote figures the model cannot see. The string rules follow the s1 repository's
data/filter.ipynb ("Drop weird string patterns"): ``[asy]`` (kept for its AIME source), ``![Image]``,
problem-set numbering ``p1.``, ``p2.``, ... and markdown-bold tokens on a line with a digit (``**1.**``,
scraped numbering); plus checks of our own for unbalanced braces and an unclosed ``$``.
"""

from __future__ import annotations

import re
from typing import Any

_IMAGE = re.compile(
    r"!\[[^\]]*\]\(|<img\b|\\includegraphics|https?://\S+\.(?:png|jpe?g|gif|svg)\b", re.IGNORECASE
)
_ASY = re.compile(r"\[asy\]|\\begin\{asy\}", re.IGNORECASE)
# s1 matched the substring "p{i}." for i in 1..999, which also hits "step1."; only a p that starts a word here
_PROBLEM_NUMBER = re.compile(r"(?<![A-Za-z0-9])p[1-9]\d{0,2}\.")
_BOLD_WITH_DIGIT = re.compile(r"\*\*(?=.*\d)[^\s\]]*\*\*")  # data/filter.ipynb, as written there
REQUIRED = ("question", "thinking", "attempt")


def _balanced_braces(text: str) -> bool:
    depth = 0
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\":  # \{ and \} are literal braces
            i += 2
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth < 0:
                return False
        i += 1
    return depth == 0


def _odd_dollars(text: str) -> bool:
    """An odd number of unescaped ``$``: an inline formula is left open."""
    return len(re.findall(r"(?<!\\)\$", text)) % 2 == 1


def quality_problem(
    row: dict[str, Any], *, allow_asymptote: bool = False, asymptote_sources: tuple[str, ...] = ()
) -> tuple[str, str] | None:
    """(reason, detail) when ``row`` fails the quality filter, else None. Asymptote figures are kept
    when ``allow_asymptote``, or for rows of ``asymptote_sources``."""
    for key in REQUIRED:
        value = row.get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            return "missing_field", f"{key} is missing or empty"
    if row.get("trace_flag"):
        return "generation_error", f"trace flagged: {row['trace_flag']}"
    question = row["question"]
    if _IMAGE.search(question):
        return "image", "the question refers to an image"
    if not allow_asymptote and row.get("source") not in asymptote_sources and _ASY.search(question):
        return "asymptote", "the question has an Asymptote figure"
    if _PROBLEM_NUMBER.search(question):
        return "problem_set", "the question holds numbered problems (p1., p2., ...)"
    if _BOLD_WITH_DIGIT.search(question):
        return "markdown_numbering", "a markdown-bold token on a line with a digit (scraped numbering)"
    if not _balanced_braces(question):
        return "broken_markup", "unbalanced braces in the question"
    if _odd_dollars(question):
        return "broken_markup", "an unclosed $ formula in the question"
    return None
