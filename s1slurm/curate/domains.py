"""Step ``domains``: a Mathematics Subject Classification 2020 top-level area for each question.

As s1 (data/featurization.py, ``do_domain_classification``): the model gets the question and the
list of MSC areas, explains, and ends with the two-digit code; an answer whose last two characters
are not a known code is retried (with a new seed, sampled), then labelled ``unknown``. With
``use_source`` a row's own domain field (e.g. OlympiadBench's ``subfield``) is kept instead and no
model is asked about it.
"""

from __future__ import annotations

from typing import Any

from s1slurm.curate.models import chat, chat_ids, seed_for
from s1slurm.curate.spec import DomainsConfig
from s1slurm.eval.engines import Engine

UNKNOWN = "unknown"

# MSC 2020 top-level areas (the classification s1 used, data/msc.json).
MSC2020: dict[str, str] = {
    "00": "General and overarching topics; collections",
    "01": "History and biography",
    "03": "Mathematical logic and foundations",
    "05": "Combinatorics",
    "06": "Order, lattices, ordered algebraic structures",
    "08": "General algebraic systems",
    "11": "Number theory",
    "12": "Field theory and polynomials",
    "13": "Commutative algebra",
    "14": "Algebraic geometry",
    "15": "Linear and multilinear algebra; matrix theory",
    "16": "Associative rings and algebras",
    "17": "Nonassociative rings and algebras",
    "18": "Category theory; homological algebra",
    "19": "K-theory",
    "20": "Group theory and generalizations",
    "22": "Topological groups, Lie groups",
    "26": "Real functions",
    "28": "Measure and integration",
    "30": "Functions of a complex variable",
    "31": "Potential theory",
    "32": "Several complex variables and analytic spaces",
    "33": "Special functions",
    "34": "Ordinary differential equations",
    "35": "Partial differential equations",
    "37": "Dynamical systems and ergodic theory",
    "39": "Difference and functional equations",
    "40": "Sequences, series, summability",
    "41": "Approximations and expansions",
    "42": "Harmonic analysis on Euclidean spaces",
    "43": "Abstract harmonic analysis",
    "44": "Integral transforms, operational calculus",
    "45": "Integral equations",
    "46": "Functional analysis",
    "47": "Operator theory",
    "49": "Calculus of variations and optimal control; optimization",
    "51": "Geometry",
    "52": "Convex and discrete geometry",
    "53": "Differential geometry",
    "54": "General topology",
    "55": "Algebraic topology",
    "57": "Manifolds and cell complexes",
    "58": "Global analysis, analysis on manifolds",
    "60": "Probability theory and stochastic processes",
    "62": "Statistics",
    "65": "Numerical analysis",
    "68": "Computer science",
    "70": "Mechanics of particles and systems",
    "74": "Mechanics of deformable solids",
    "76": "Fluid mechanics",
    "78": "Optics, electromagnetic theory",
    "80": "Classical thermodynamics, heat transfer",
    "81": "Quantum theory",
    "82": "Statistical mechanics, structure of matter",
    "83": "Relativity and gravitational theory",
    "85": "Astronomy and astrophysics",
    "86": "Geophysics",
    "90": "Operations research, mathematical programming",
    "91": "Game theory, economics, finance, and other social and behavioral sciences",
    "92": "Biology and other natural sciences",
    "93": "Systems theory; control",
    "94": "Information and communication theory, circuits",
    "97": "Mathematics education",
}

SYSTEM = ("You are a helpful assistant that classifies questions into different subjects based on the provided "
          "classification rubrics. If the question has multiple subjects, choose the most relevant one. "
          "Explain your reasoning, and end your response on a new line with the two-digit code of the subject "
          "that the question belongs to.")


def user_prompt(question: str) -> str:
    rubric = "\n".join(f"* {code}: {title}" for code, title in MSC2020.items())
    return f"## Question\n{question}\n\n## Classification rubrics\n{rubric}"


def parse_code(text: str) -> str | None:
    """The two-digit code the answer ends with, when it is an MSC 2020 area (s1: ``completion[-2:]``)."""
    tail = text.strip().rstrip(".*` ")[-2:]
    return tail if tail in MSC2020 else None


def label(code: str) -> str:
    return f"{code} {MSC2020[code]}"


def domain_records(engine: Engine | None, cfg: DomainsConfig, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One record per row: ``domain`` and ``domain_origin`` (source | model | unknown), ``tries``."""
    out: dict[str, dict[str, Any]] = {}
    todo = []
    for row in rows:
        if cfg.use_source and row.get("domain"):
            out[row["id"]] = {"key": row["id"], "domain": row["domain"], "domain_origin": "source", "tries": 0}
        else:
            todo.append(row)
    if todo and engine is None:
        raise ValueError("rows without a domain need domains.model")
    tries = 0
    while todo and tries <= cfg.retries:
        prompts = [chat_ids(engine, user_prompt(r["question"]), SYSTEM) for r in todo]  # type: ignore[arg-type]
        temperature = cfg.temperature if tries == 0 else max(cfg.temperature, 0.7)  # a retry must differ
        outs = chat(engine, prompts, max_tokens=cfg.max_tokens, temperature=temperature,  # type: ignore[arg-type]
                    top_p=cfg.top_p, seeds=[seed_for(cfg, "domains", r["id"], tries) for r in todo])
        tries += 1
        left = []
        for row, res in zip(todo, outs):
            code = parse_code(res["text"])
            if code is None:
                left.append(row)
            else:
                out[row["id"]] = {"key": row["id"], "domain": label(code), "domain_origin": "model", "tries": tries}
        todo = left
    for row in todo:
        out[row["id"]] = {"key": row["id"], "domain": UNKNOWN, "domain_origin": "unknown", "tries": tries}
    return [out[r["id"]] for r in rows]


def needs_model(cfg: DomainsConfig, rows: list[dict[str, Any]]) -> bool:
    return any(not (cfg.use_source and r.get("domain")) for r in rows)


def merge(row: dict[str, Any], rec: dict[str, Any]) -> dict[str, Any]:
    return {**row, "domain": rec["domain"], "domain_origin": rec["domain_origin"]}
