"""``s1slurm decontaminate``: the decontamination step alone, on any dataset, with its report.

The dataset comes back as it came (every column, the same ids and order) minus the contaminated rows;
see :mod:`s1slurm.curate.decontaminate_table`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from typer.core import TyperCommand

from s1slurm.cli.common import console as make_console
from s1slurm.core.errors import ConfigError

_MANY = ("--against",)  # options that take several values after one flag (``--against A B C``)


def spread_values(args: list[str], value_options: set[str]) -> list[str]:
    """``--against A B C`` as ``--against A --against B --against C``: the values run to the next
    option. When no positional argument is left (``--against A B DATASET``), the last value is it."""
    out: list[str] = []
    positional = 0
    spread: list[int] = []  # indexes in ``out`` of the values spread from a many-valued option
    i = 0
    while i < len(args):
        token = args[i]
        if token == "--":
            out += args[i:]
            positional += len(args) - i - 1
            break
        if token in _MANY:
            values = []
            while i + 1 < len(args) and not args[i + 1].startswith("-"):
                values.append(args[i + 1])
                i += 1
            if not values:  # let click say that the option needs a value
                out.append(token)
            for v in values:
                out += [token, v]
                spread.append(len(out) - 1)
        elif token.startswith("-"):
            out.append(token)
            if token in value_options and i + 1 < len(args):
                out.append(args[i + 1])
                i += 1
        else:
            out.append(token)
            positional += 1
        i += 1
    if positional == 0 and len(spread) > 1:  # the dataset was written after the benchmarks
        last = spread[-1]
        out = out[: last - 1] + out[last + 1 :] + [out[last]]
    return out


class ManyValuesCommand(TyperCommand):
    """A command whose ``--against`` takes several values after one flag, as the README and docs/cli.md show."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        # typer carries its own copy of click: options are told by their dashes, not their class
        takes_value = {
            o
            for p in self.params
            if getattr(p, "is_flag", None) is False
            for o in (*p.opts, *p.secondary_opts)
            if o.startswith("-")
        }
        return super().parse_args(ctx, spread_values(args, takes_value))


# the option that fills each config field, and what it takes (for error messages)
_OPTIONS = {
    "ngram": ("--ngram", "a whole number >= 1 (8 as s1, 13 as lm-eval)"),
    "threshold": ("--threshold", "a number above 0 and below 1"),
}


def decontaminate(
    dataset: str = typer.Argument(
        ..., help="a .jsonl/.json/.parquet/.csv file, a saved dataset folder, or a hub id"
    ),
    against: list[str] = typer.Option(
        ...,
        "--against",
        help="benchmarks, several after one flag: "
        "aime24, math500, gpqa_diamond (the hub), PRESET=PATH, or a "
        "data file (its question column found by name)",
    ),
    question_field: str | None = typer.Option(
        None,
        "--question-field",
        help="the dataset's question column (default: problem, question or Question, the first it has)",
    ),
    against_question_field: str | None = typer.Option(
        None,
        "--against-question-field",
        help="the question column of benchmark files (default: found as the dataset's)",
    ),
    answer_field: str | None = typer.Option(None, "--answer-field", help="answer column (for --with-answer)"),
    id_field: str | None = typer.Option(
        None, "--id-field", help="id column named in the report (default: id or unique_id when present)"
    ),
    split: str = typer.Option("train", "--split", help="split of a hub dataset"),
    ngram: int = typer.Option(8, "--ngram", help="word n-gram size (8 as s1, 13 as lm-eval)"),
    with_answer: bool = typer.Option(False, "--with-answer", help="n-grams of question + answer"),
    near_dup: bool = typer.Option(
        False, "--near-dup/--no-near-dup", help="also drop MinHash near-duplicates within the dataset"
    ),
    threshold: float = typer.Option(0.7, "--threshold", help="MinHash near-duplicate threshold"),
    out: Path | None = typer.Option(
        None, "--out", help="output folder (default: reports/decontaminate-<dataset name>)"
    ),
) -> None:
    """Decontaminate a dataset against evaluation sets: clean.jsonl is the input rows minus the
    contaminated ones; rejects.jsonl, provenance.json and the contamination report beside it."""
    # loaded when the command runs, not at start-up (``s1slurm --help`` stays fast)
    from pydantic import ValidationError

    from s1slurm.core.atomic import atomic_write_json
    from s1slurm.core.dataload import load_table, looks_local
    from s1slurm.core.folders import check_output_folder
    from s1slurm.curate.decontaminate import load_benchmarks
    from s1slurm.curate.decontaminate_table import (
        benchmark_entry,
        decontaminate_table,
        id_column,
        question_column,
    )
    from s1slurm.curate.reports import (
        contamination_markdown,
        contamination_report,
        contamination_table,
        write_report,
    )
    from s1slurm.curate.spec import DecontaminateConfig, NearDupConfig
    from s1slurm.curate.store import write_jsonl

    if looks_local(dataset) and not Path(dataset).expanduser().exists():
        raise ConfigError(
            f"dataset {dataset!r} not found",
            field="DATASET",
            expected="a data file, a saved dataset folder, or a hub id",
        )
    try:
        cfg = DecontaminateConfig(
            ngram=ngram,
            with_answer=with_answer,
            against=[benchmark_entry(a, against_question_field) for a in against],
            near_dup=NearDupConfig(enabled=near_dup, threshold=threshold),
        )
    except ValidationError as e:
        err = e.errors()[0]
        option, takes = next(
            (_OPTIONS[str(p)] for p in err["loc"] if str(p) in _OPTIONS), ("--against", None)
        )
        raise ConfigError(
            f"{err['msg']} (got {err.get('input')!r})", file="<command line>", field=option, expected=takes
        ) from None
    folder = out or Path("reports") / f"decontaminate-{Path(dataset.rstrip('/')).stem}"
    check_output_folder(folder, field="--out")
    table = load_table(dataset, field="DATASET", file=dataset, split=split)
    question = question_column(table.columns, question_field, file=dataset, field="--question-field")
    if answer_field is not None and answer_field not in table.columns:
        raise ConfigError(
            f"no column {answer_field!r}; its columns are: {', '.join(table.columns)}",
            file=dataset,
            field="--answer-field",
            expected="an existing column",
        )
    ids = id_column(table.columns, id_field, file=dataset)
    benchmarks = load_benchmarks(cfg.against, with_answer=with_answer, source="<command line>")
    got = decontaminate_table(
        table.records, cfg, benchmarks, question=question, answer=answer_field, id_col=ids
    )
    report = contamination_report(
        got.dec, len(table.records), ngram=ngram, with_answer=with_answer, dataset=dataset
    )
    folder.mkdir(parents=True, exist_ok=True)
    paths = write_report(folder, "contamination", report, contamination_markdown(report))
    write_jsonl(folder / "clean.jsonl", got.clean)
    write_jsonl(folder / "rejects.jsonl", got.rejects)
    provenance: dict[str, Any] = {
        "dataset": dataset,
        "split": split if not looks_local(dataset) else None,
        "question_column": question,
        "id_column": ids,
        "rows_in": len(table.records),
        "rows_out": len(got.clean),
        "removed": {
            "contaminated": sum(r["reason"] == "contaminated" for r in got.rejects),
            "near_duplicate": sum(r["reason"] == "near_duplicate" for r in got.rejects),
        },
        "unchecked_rows": got.unchecked,
        "ngram": ngram,
        "with_answer": with_answer,
        "near_dup": near_dup,
        "against": [
            {
                "label": b.effective_label,
                "path": str(b.path) if b.path else None,
                "hub_id": b.hub_id,
                "question_column": b.effective_fields["question"],
            }
            for b in cfg.against
        ],
        "files": {"clean": "clean.jsonl", "rejects": "rejects.jsonl", "report": "contamination.json"},
    }
    atomic_write_json(folder / "provenance.json", provenance)
    console = make_console()
    console.print(contamination_table(report))
    for path in (*paths, folder / "clean.jsonl", folder / "rejects.jsonl", folder / "provenance.json"):
        console.print(f"wrote {path}", markup=False, highlight=False)


def register(app: typer.Typer) -> None:
    """Add this module's command to the app."""
    app.command(cls=ManyValuesCommand)(decontaminate)
