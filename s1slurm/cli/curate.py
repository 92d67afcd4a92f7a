"""``s1slurm decontaminate``: the decontamination step alone, on any dataset, with its report."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from s1slurm.cli.common import console as make_console
from s1slurm.core.errors import ConfigError

_PRESETS = ("aime24", "math500", "gpqa_diamond")


def benchmark_entry(text: str) -> dict:
    """``aime24`` (hub), ``math500=path.jsonl`` (a preset read from a local file) or ``path.jsonl``
    (any JSON Lines benchmark with ``question`` and ``answer`` columns, labelled by its file name)."""
    name, sep, path = text.partition("=")
    if sep:
        if name not in _PRESETS:
            raise ConfigError(f"unknown benchmark {name!r} in {text!r}", field="--against",
                              expected=f"one of {', '.join(_PRESETS)} before '='")
        return {"name": name, "path": path}
    if text in _PRESETS:
        return {"name": text}
    if not Path(text).is_file():
        raise ConfigError(f"benchmark file {text!r} not found", field="--against",
                          expected=f"{', '.join(_PRESETS)}, NAME=PATH or a JSON Lines file")
    return {"name": "jsonl", "path": text, "label": Path(text).stem}


# the option that fills each config field, and what it takes (for error messages)
_OPTIONS = {"ngram": ("--ngram", "a whole number >= 1 (8 as s1, 13 as lm-eval)"),
            "threshold": ("--threshold", "a number above 0 and below 1"),
            "split": ("--split", "a split name"), "question": ("--question-field", "a column name"),
            "answer": ("--answer-field", "a column name"), "id": ("--id-field", "a column name")}


def decontaminate(dataset: str = typer.Argument(..., help="a .jsonl/.json/.parquet file, a saved dataset folder, "
                                                          "or a hub id"),
                  against: list[str] = typer.Option(..., "--against", help="benchmark: aime24, math500, "
                                                    "gpqa_diamond, NAME=PATH or a JSON Lines file (repeat)"),
                  question_field: str = typer.Option("question", "--question-field"),
                  answer_field: Optional[str] = typer.Option(None, "--answer-field"),
                  id_field: Optional[str] = typer.Option(None, "--id-field"),
                  split: str = typer.Option("train", "--split", help="split of a hub dataset"),
                  ngram: int = typer.Option(8, "--ngram", help="word n-gram size (8 as s1, 13 as lm-eval)"),
                  with_answer: bool = typer.Option(False, "--with-answer", help="n-grams of question + answer"),
                  near_dup: bool = typer.Option(True, "--near-dup/--no-near-dup"),
                  threshold: float = typer.Option(0.7, "--threshold", help="MinHash near-duplicate threshold"),
                  out: Optional[Path] = typer.Option(None, "--out", help="report folder (default: "
                                                     "reports/decontaminate-<dataset name>)"),
                  ) -> None:
    """Decontaminate a dataset against evaluation sets; write the contamination report."""
    # loaded when the command runs, not at start-up (``s1slurm --help`` stays fast)
    from pydantic import ValidationError

    from s1slurm.curate.pipeline import decontaminate_rows
    from s1slurm.curate.reports import contamination_markdown, contamination_report, contamination_table, write_report
    from s1slurm.curate.sources import collect
    from s1slurm.curate.spec import DecontaminateConfig, NearDupConfig, SourceConfig
    from s1slurm.core.folders import check_output_folder
    from s1slurm.curate.store import write_jsonl

    fields = {"question": question_field, **({"answer": answer_field} if answer_field else {}),
              **({"id": id_field} if id_field else {})}
    local = Path(dataset).suffix.lower() in (".jsonl", ".json", ".parquet")
    if not local and Path(dataset).is_dir() is False and "/" not in dataset:
        raise ConfigError(f"dataset {dataset!r} not found", field="DATASET",
                          expected="a .jsonl, .json or .parquet file, a saved dataset folder, or a hub id")
    try:
        source = SourceConfig(name="dataset", fields=fields, split=split,
                              **({"path": dataset} if local else {"hub_id": dataset}))
        cfg = DecontaminateConfig(ngram=ngram, with_answer=with_answer, against=[benchmark_entry(a) for a in against],
                                  near_dup=NearDupConfig(enabled=near_dup, threshold=threshold))
    except ValidationError as e:
        err = e.errors()[0]
        option, takes = next((_OPTIONS[str(p)] for p in err["loc"] if str(p) in _OPTIONS), ("options", None))
        raise ConfigError(f"{err['msg']} (got {err.get('input')!r})", file="<command line>", field=option,
                          expected=takes) from None
    folder = out or Path("reports") / f"decontaminate-{Path(dataset.rstrip('/')).stem}"
    check_output_folder(folder, field="--out")
    got = collect([source], "<command line>", dedup=False)
    dec = decontaminate_rows(got.rows, cfg, source="<command line>", step="decontaminate")
    report = contamination_report(dec, len(got.rows), ngram=ngram, with_answer=with_answer, dataset=dataset)
    folder.mkdir(parents=True, exist_ok=True)
    paths = write_report(folder, "contamination", report, contamination_markdown(report))
    write_jsonl(folder / "clean.jsonl", dec.rows)
    write_jsonl(folder / "rejects.jsonl", got.rejects + dec.rejects)
    console = make_console()
    console.print(contamination_table(report))
    for path in (*paths, folder / "clean.jsonl", folder / "rejects.jsonl"):
        console.print(f"wrote {path}", markup=False, highlight=False)


def register(app: typer.Typer) -> None:
    """Add this module's command to the app."""
    app.command()(decontaminate)
