"""Step ``domains``: a Mathematics Subject Classification 2020 top-level area for each question.

As s1 (data/featurization.py, ``do_domain_classification``): the model gets the question and the
61 MSC 2020 areas s1 used (``msc2020.json``: code, official title and main topics, in s1's rubric
form), explains, and ends with the two-digit code; an answer whose last two characters
are not a known code is retried (with a new seed, sampled), then labelled ``unknown``. With
``use_source`` a row's own domain field (e.g. OlympiadBench's ``subfield``) is kept instead and no
model is asked about it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

from s1slurm.curate.models import chat, chat_ids, seed_for
from s1slurm.curate.spec import DomainsConfig
from s1slurm.eval.engines import Engine

UNKNOWN = "unknown"
MSC_FILE = "msc2020.json"  # package data: the 61 areas s1 classified into (its data/msc.json)


@dataclass(frozen=True)
class Area:
    """One MSC 2020 top-level area: two-digit code, official title, and its main topics."""

    code: str
    title: str
    topics: tuple[str, ...]

    def rubric(self) -> str:
        """The area as s1's prompt lists it (data/msc.json ``prompt``: title, code, topics)."""
        return f"### {self.title}\n* Code: {self.code}\n* Description: {'; '.join(self.topics)}"


def msc_areas() -> dict[str, Area]:
    """The 61 MSC 2020 areas s1 used, by code (00 General and 01 History are not among them)."""
    text = resources.files("s1slurm.curate").joinpath(MSC_FILE).read_text(encoding="utf-8")
    return {a["code"]: Area(a["code"], a["title"], tuple(a["topics"])) for a in json.loads(text)}


# s1's system prompt (data/featurization.py, do_domain_classification)
SYSTEM = (
    "You are a helpful assistant that classifies questions into different subjects based on the provided "
    "classification rubrics. You will be given a question and a list of subjects. You need to classify "
    "the question into one of the subjects. If the question has multiple subjects, you should classify "
    "the question into the most relevant subject. Explain your reasoning, and end your response on a new "
    "line with two-digit code of the subject that the question belongs to."
)


def user_prompt(question: str, areas: dict[str, Area]) -> str:
    rubric = "\n\n".join(a.rubric() for a in areas.values())
    return f"## Question\n{question}\n\n## Classification rubrics\n{rubric}"


def parse_code(text: str, areas: dict[str, Area]) -> str | None:
    """The two-digit code the answer ends with, when it is an MSC 2020 area (s1: ``completion[-2:]``)."""
    tail = text.strip().rstrip(".*` ")[-2:]
    return tail if tail in areas else None


def label(area: Area) -> str:
    return f"{area.code} {area.title}"


def domain_records(
    engine: Engine | None, cfg: DomainsConfig, rows: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """One record per row: ``domain`` and ``domain_origin`` (source | model | unknown), ``tries``."""
    out: dict[str, dict[str, Any]] = {}
    todo = []
    for row in rows:
        if cfg.use_source and row.get("domain"):
            out[row["id"]] = {
                "key": row["id"],
                "domain": row["domain"],
                "domain_origin": "source",
                "tries": 0,
            }
        else:
            todo.append(row)
    if todo and engine is None:
        raise ValueError("rows without a domain need domains.model")
    areas = msc_areas()
    tries = 0
    while todo and tries <= cfg.retries:
        assert engine is not None  # checked above: rows without a domain need the model
        prompts = [chat_ids(engine, user_prompt(r["question"], areas), SYSTEM) for r in todo]
        temperature = cfg.temperature if tries == 0 else max(cfg.temperature, 0.7)  # a retry must differ
        outs = chat(
            engine,
            prompts,
            max_tokens=cfg.max_tokens,
            temperature=temperature,
            top_p=cfg.top_p,
            seeds=[seed_for(cfg, "domains", r["id"], tries) for r in todo],
        )
        tries += 1
        left = []
        for row, res in zip(todo, outs):
            code = parse_code(res["text"], areas)
            if code is None:
                left.append(row)
            else:
                out[row["id"]] = {
                    "key": row["id"],
                    "domain": label(areas[code]),
                    "domain_origin": "model",
                    "tries": tries,
                }
        todo = left
    for row in todo:
        out[row["id"]] = {"key": row["id"], "domain": UNKNOWN, "domain_origin": "unknown", "tries": tries}
    return [out[r["id"]] for r in rows]


def needs_model(cfg: DomainsConfig, rows: list[dict[str, Any]]) -> bool:
    return any(not (cfg.use_source and r.get("domain")) for r in rows)


def merge(row: dict[str, Any], rec: dict[str, Any]) -> dict[str, Any]:
    return {**row, "domain": rec["domain"], "domain_origin": rec["domain_origin"]}
