"""Step ``decontaminate``: remove questions that share a word n-gram with an evaluation set, then
near-duplicates across sources; keep, for each removal, what matched.

The evaluation sets are read with the evaluation stage's own loader (:func:`load_benchmark`:
AIME24, MATH500 and GPQA Diamond from the hub by default, or any local JSON Lines file), so a
benchmark means the same questions in both stages. GPQA items are marked ``redact``: their text,
the matching n-gram and the pool question that contains them are never stored or shown (only ids
and a hash of the removed question).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from s1slurm.curate.neardup import near_duplicates
from s1slurm.curate.ngrams import Item, Match, NgramIndex, normalize
from s1slurm.curate.spec import DecontaminateConfig
from s1slurm.eval.benchmarks import BenchmarkConfig, Question, load_benchmark

REDACTED = "[redacted]"


@dataclass
class Benchmark:
    """One evaluation set as decontamination targets: label, items and their texts."""

    label: str
    questions: list[Question]
    texts: dict[str, str]  # item id -> question text (with the answer when asked)
    redact: bool


def question_text(q: Question) -> str:
    """The question alone: the prompt without the choices the loader appended to MCQ prompts."""
    text = q.prompt
    if q.choices:
        text = text.split("\n\nA) ", 1)[0]
    return text


def gold_text(q: Question) -> str:
    """The gold answer as text (for MCQ the correct choice, not its letter)."""
    if q.choices:
        return q.choices[ord(q.gold) - ord("A")]
    return q.gold


def load_benchmarks(configs: Sequence[BenchmarkConfig], *, with_answer: bool, source: str) -> list[Benchmark]:
    """Every configured evaluation set, read by the eval stage's loader with a bare template."""
    out = []
    for cfg in configs:
        bare = cfg.model_copy(update={"prompt_template": "{question}"})
        qs = load_benchmark(bare, 0, source=source)
        texts = {q.id: question_text(q) + (" " + gold_text(q) if with_answer else "") for q in qs}
        out.append(Benchmark(cfg.effective_label, qs, texts, cfg.redact))
    return out


def build_index(benchmarks: Sequence[Benchmark], n: int) -> NgramIndex:
    index = NgramIndex(n)
    for b in benchmarks:
        for q in b.questions:
            index.add(Item(b.label, q.id, b.redact), b.texts[q.id])
    return index


@dataclass
class Decontaminated:
    """Rows kept, rows removed (rejects), and the contamination report's data."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    rejects: list[dict[str, Any]] = field(default_factory=list)
    matches: list[dict[str, Any]] = field(default_factory=list)
    clusters: dict[str, list[str]] = field(default_factory=dict)
    benchmarks: dict[str, int] = field(default_factory=dict)  # label -> items


def _hash(text: str) -> str:
    return hashlib.sha256(normalize(text).encode("utf-8")).hexdigest()[:16]


def match_record(row: dict[str, Any], m: Match, benchmarks: dict[str, Benchmark]) -> dict[str, Any]:
    """What the contamination report shows for one match; GPQA texts replaced by REDACTED."""
    if m.item.redact:
        return {
            "id": row["id"],
            "source": row.get("source"),
            "benchmark": m.item.benchmark,
            "item_id": m.item.item_id,
            "ngram": REDACTED,
            "question": REDACTED,
            "question_sha256": _hash(row["question"]),
            "benchmark_text": REDACTED,
        }
    return {
        "id": row["id"],
        "source": row.get("source"),
        "benchmark": m.item.benchmark,
        "item_id": m.item.item_id,
        "ngram": m.ngram,
        "question": row["question"],
        "benchmark_text": benchmarks[m.item.benchmark].texts[m.item.item_id],
    }


def decontaminate(
    rows: list[dict[str, Any]],
    cfg: DecontaminateConfig,
    benchmarks: list[Benchmark],
    *,
    step: str = "decontaminate",
) -> Decontaminated:
    """n-gram matches against ``benchmarks`` removed, then near-duplicates (when enabled)."""
    index = build_index(benchmarks, cfg.ngram)
    by_label = {b.label: b for b in benchmarks}
    out = Decontaminated(benchmarks={b.label: len(b.questions) for b in benchmarks})
    clean: list[dict[str, Any]] = []
    for row in rows:
        text = row["question"]
        if cfg.with_answer and row.get("answer"):
            text = f"{text} {row['answer']}"
        m = index.match(text)
        if m is None:
            clean.append(row)
            continue
        record = match_record(row, m, by_label)
        out.matches.append(record)
        reject = {"step": step, "reason": "contaminated", **record}
        if not m.item.redact:  # the full row, as for every other reject
            reject = {**row, **reject}
        out.rejects.append(reject)
    if cfg.near_dup.enabled and clean:
        nd = near_duplicates(
            [r["id"] for r in clean],
            [r["question"] for r in clean],
            threshold=cfg.near_dup.threshold,
            num_perm=cfg.near_dup.num_perm,
            shingle=cfg.near_dup.shingle,
        )
        out.clusters = nd.clusters
        for row in clean:
            dup = nd.duplicate_of.get(row["id"])
            if dup is None:
                out.rows.append(row)
            else:
                out.rejects.append(
                    {
                        **row,
                        "step": step,
                        "reason": "near_duplicate",
                        "duplicate_of": dup[0],
                        "similarity": dup[1],
                    }
                )
    else:
        out.rows = clean
    return out
