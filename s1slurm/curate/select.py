"""Step ``select``: quality, difficulty and diversity (s1 paper section 2), or one of its ablations.

Strategies (the paper's section 5.1 data ablations, as names):

* ``s1`` (default): quality filter; difficulty: drop every question any attempt model solved, and
  every question whose attempts could not be graded (s1's data/filter.ipynb drops missing grades); then
  the pre-selection (``preselect`` rules: s1's filter.ipynb cell 14 takes teacher-correct GPQA and AIME
  questions and teacher-correct MATH questions thinking over 5,600 tokens; ``keep_sources``: whole
  sources, no condition); then, until N are chosen, pick a domain uniformly at random among the
  domains with questions left and, in it, a question with probability proportional to 2^(-rank),
  rank 0 being the longest trace left (the paper's Algorithm 1).
* ``s1-notebook``: as ``s1``, but once ``mix.after`` questions are chosen (s1: 700) the domain is drawn
  from a mix of the domain distributions of ``mix.weights``' sources (filter.ipynb cells 17-21:
  AIME's, and GPQA's at half weight), a domain with nothing left dropping out of the mix (uniform
  again once none is left, where the notebook would stop).
* ``random`` ("1K-random"): N rows uniformly at random from those that passed the quality filter.
* ``diversity-only`` ("1K-diverse"): a uniformly chosen domain, then a uniformly chosen question in it.
* ``longest`` ("1K-longest"): the N longest traces.
* ``full`` ("59K-full"): every row that passed the quality filter.

Everything random draws from one ``random.Random(seed)``, over rows in a fixed order (by id), so the
same seed gives the same set.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from s1slurm.core.errors import ConfigError
from s1slurm.curate.quality import quality_problem
from s1slurm.curate.spec import SelectConfig

UNKNOWN = "unknown"
S1K_COLUMNS = (
    "question",
    "solution",
    "cot_type",
    "source_type",
    "metadata",
    "thinking_trajectories",
    "attempt",
)
# simplescaling/s1K-1.1's names for the DeepSeek-R1 traces (the train stage's ``s1k-1.1`` preset reads them)
S1K_11_COLUMNS = (
    "question",
    "solution",
    "cot_type",
    "source_type",
    "metadata",
    "deepseek_thinking_trajectory",
    "deepseek_attempt",
    "deepseek_grade",
)


@dataclass(frozen=True)
class Candidate:
    """What selection looks at: id, domain, source and trace length in target-model tokens."""

    id: str
    domain: str
    source: str
    length: int
    teacher_correct: bool | None = None  # the teacher's attempt graded against the reference


def _geometric_rank(rng: random.Random, size: int) -> int:
    """A rank in [0, size) with probability proportional to 2^(-rank) (exact: a fair-coin
    geometric draw, redrawn when it falls past the end)."""
    while True:
        k = 0
        while rng.random() < 0.5:
            k += 1
        if k < size:
            return k


def _by_domain(cands: Sequence[Candidate], longest_first: bool) -> dict[str, list[Candidate]]:
    groups: dict[str, list[Candidate]] = {}
    for c in sorted(cands, key=lambda c: c.id):
        groups.setdefault(c.domain, []).append(c)
    if longest_first:
        for g in groups.values():
            g.sort(key=lambda c: (-c.length, c.id))
    return groups


def _domain_sampling(
    cands: Sequence[Candidate],
    n: int,
    rng: random.Random,
    pick: Callable[[random.Random, int], int],
    longest_first: bool,
    mix: tuple[int, dict[str, float]] | None = None,
) -> list[Candidate]:
    """``n`` candidates: a domain (uniform; with ``mix = (k, weights)``, from the k-th pick on, by
    ``weights``), then ``pick`` a rank in it."""
    groups = _by_domain(cands, longest_first)
    chosen: list[Candidate] = []
    while len(chosen) < n and groups:
        weighted = {d: w for d, w in mix[1].items() if d in groups} if mix and len(chosen) >= mix[0] else {}
        if weighted:
            names = sorted(weighted)
            domain = rng.choices(names, weights=[weighted[d] for d in names])[0]
        else:
            domain = rng.choice(sorted(groups))
        group = groups[domain]
        chosen.append(group.pop(pick(rng, len(group))))
        if not group:
            del groups[domain]
    return chosen


def preselected(cands: Sequence[Candidate], cfg: SelectConfig) -> list[Candidate]:
    """The candidates the pre-selection takes (``keep_sources``, then each ``preselect`` rule), by id."""
    keep = set(cfg.keep_sources)

    def taken(c: Candidate) -> bool:
        if c.source in keep:
            return True
        return any(
            c.source in r.sources
            and (not r.teacher_correct or c.teacher_correct is True)
            and (r.thinking_tokens_over is None or c.length > r.thinking_tokens_over)
            for r in cfg.preselect
        )

    return [c for c in sorted(cands, key=lambda c: c.id) if taken(c)]


def domain_mix(cands: Sequence[Candidate], weights: dict[str, float]) -> dict[str, float]:
    """Domain -> weight: the sum over the sources of ``weights`` of weight x that source's share of
    its candidates in the domain (filter.ipynb: AIME's domain counts plus GPQA's scaled to half)."""
    mix: dict[str, float] = {}
    for source, w in weights.items():
        mine = [c.domain for c in cands if c.source == source]
        for d in mine:
            mix[d] = mix.get(d, 0.0) + w / len(mine)
    return mix


def choose(cands: Sequence[Candidate], cfg: SelectConfig) -> list[Candidate]:
    """The selected candidates under ``cfg.strategy`` (see the module docstring)."""
    rng = random.Random(cfg.seed)
    ordered = sorted(cands, key=lambda c: c.id)
    if cfg.strategy == "full":
        return ordered
    if cfg.n > len(ordered):
        raise ConfigError(
            f"cannot select {cfg.n} questions: only {len(ordered)} are left after filtering",
            field="select.n",
            expected=f"at most {len(ordered)}",
        )
    if cfg.strategy == "random":
        return rng.sample(ordered, cfg.n)
    if cfg.strategy == "longest":
        return sorted(ordered, key=lambda c: (-c.length, c.id))[: cfg.n]
    first = preselected(ordered, cfg)[: cfg.n]
    taken = {c.id for c in first}
    rest = [c for c in ordered if c.id not in taken]
    if cfg.strategy == "diversity-only":
        return first + _domain_sampling(rest, cfg.n - len(first), rng, lambda r, m: r.randrange(m), False)
    mix = None
    if cfg.strategy == "s1-notebook" and cfg.mix is not None:
        # the mix is computed over every candidate of its sources, pre-selected ones included (as s1)
        mix = (max(cfg.mix.after - len(first), 0), domain_mix(ordered, cfg.mix.weights))
    return first + _domain_sampling(rest, cfg.n - len(first), rng, _geometric_rank, True, mix)


@dataclass
class Selection:
    """The selected rows in the s1K schema, the rejects, and what the report counts."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    rejects: list[dict[str, Any]] = field(default_factory=list)
    funnel: list[dict[str, Any]] = field(default_factory=list)  # per filter: in, out, reasons
    candidates: list[Candidate] = field(default_factory=list)
    chosen: list[Candidate] = field(default_factory=list)


def s1k_row(row: dict[str, Any], cand: Candidate, columns: str = "s1k") -> dict[str, Any]:
    """A selected row in the s1K schema (the training stage's ``s1k``/``curate`` field preset), or with
    ``columns="s1k-1.1"`` in s1K-1.1's (its ``s1k-1.1`` preset; the grade is the teacher's, Yes/No)."""
    meta = json.loads(row.get("metadata") or "{}")
    meta.update(
        {
            "id": row["id"],
            "source": row.get("source"),
            "domain": cand.domain,
            "trace_tokens": cand.length,
            "answer": row.get("answer"),
            "solved_by": row.get("solved_by") or [],
        }
    )
    return {
        "question": row["question"],
        "solution": row.get("solution"),
        "cot_type": row.get("cot_type") or "math",
        "source_type": row.get("source_type") or row.get("source"),
        "metadata": json.dumps(meta, ensure_ascii=False, default=str),
        **(
            {"thinking_trajectories": [row["thinking"]], "attempt": row["attempt"]}
            if columns == "s1k"
            else {
                "deepseek_thinking_trajectory": row["thinking"],
                "deepseek_attempt": row["attempt"],
                "deepseek_grade": None
                if row.get("teacher_correct") is None
                else "Yes"
                if row["teacher_correct"]
                else "No",
            }
        ),
    }


def run_select(
    rows: list[dict[str, Any]], cfg: SelectConfig, count_tokens: Callable[[list[str]], list[int]]
) -> Selection:
    """Filters, then the strategy; ``count_tokens`` measures traces with the target tokenizer."""
    out = Selection()

    def stage(
        name: str, kept: list[dict[str, Any]], dropped: list[tuple[dict[str, Any], str, str]], n_in: int
    ) -> None:
        reasons: dict[str, int] = {}
        for row, reason, detail in dropped:
            reasons[reason] = reasons.get(reason, 0) + 1
            out.rejects.append({**row, "step": "select", "filter": name, "reason": reason, "detail": detail})
        out.funnel.append({"filter": name, "in": n_in, "out": len(kept), "reasons": reasons})

    kept, dropped = [], []
    for row in rows:
        problem = quality_problem(
            row, allow_asymptote=cfg.allow_asymptote, asymptote_sources=tuple(cfg.asymptote_sources)
        )
        (kept.append(row) if problem is None else dropped.append((row, *problem)))
    stage("quality", kept, dropped, len(rows))

    if cfg.strategy in ("s1", "s1-notebook"):
        n_in, survivors, dropped = len(kept), [], []
        for row in kept:
            if row.get("solved_by"):
                dropped.append((row, "too_easy", f"solved by {', '.join(row['solved_by'])}"))
            elif row.get("graded") is False:  # s1's filter.ipynb drops rows whose grade is missing
                dropped.append(
                    (
                        row,
                        "ungraded",
                        "no attempt could be graded (no reference answer, "
                        "no judge verdict): difficulty unknown",
                    )
                )
            else:
                survivors.append(row)
        kept = survivors
        stage("difficulty", kept, dropped, n_in)

    lengths = count_tokens([r["thinking"] for r in kept]) if kept else []
    by_id = {r["id"]: r for r in kept}
    out.candidates = [
        Candidate(r["id"], r.get("domain") or UNKNOWN, r.get("source") or "", n, r.get("teacher_correct"))
        for r, n in zip(kept, lengths)
    ]
    out.chosen = choose(out.candidates, cfg)
    if cfg.strategy in ("s1", "s1-notebook", "diversity-only") and (cfg.preselect or cfg.keep_sources):
        pre = preselected(out.candidates, cfg)[: cfg.n]
        out.funnel.append(
            {
                "filter": "pre-selection",
                "in": len(kept),
                "out": len(pre),
                "reasons": dict(Counter(c.source for c in pre)),
            }
        )
    out.funnel.append(
        {
            "filter": f"strategy {cfg.strategy}",
            "in": len(kept),
            "out": len(out.chosen),
            "reasons": {"not_selected": len(kept) - len(out.chosen)},
        }
    )
    out.rows = [s1k_row(by_id[c.id], c, cfg.columns) for c in out.chosen]
    return out
