"""Build a report: read the runs, compute the metrics, write every output, then honour ``strict``."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

from s1slurm.core.atomic import atomic_write_bytes
from s1slurm.core.errors import ConfigError, S1SlurmError
from s1slurm.core.folders import check_output_folder
from s1slurm.report.collect import TOKEN_COUNTS, Issues, find_missing, open_runs, plan_settings, read_records
from s1slurm.report.html import build_browser, render_html
from s1slurm.report.metrics import QuestionStats, method_metrics, setting_metrics
from s1slurm.report.plot import render_k_curves, render_plots
from s1slurm.report.reference import get_reference, split_reference
from s1slurm.report.render_md import render_markdown
from s1slurm.report.training import training_runs
from s1slurm.report.types import FILES, SCHEMA, ReportResult


class PartialReportError(S1SlurmError):
    """``--strict`` and the report is partial: raised after every output was written."""

    exit_code = 1

    def __init__(self, result: ReportResult) -> None:
        self.result = result
        i = result.issues
        counts = (
            f"{len(i.shards_not_done)} shard(s) without done marker, "
            f"{len(i.shards_without_records)} done shard(s) without records, "
            f"{i.missing_total} missing record(s), {i.duplicates_total} duplicate(s), "
            f"{i.malformed_total} malformed line(s)"
        )
        where = result.files.get("report.md", result.out_dir)
        super().__init__(f"report is partial ({counts}); see {where}")


def default_out_dir(run_dirs: Sequence[Path | str], root: Path | str = "reports") -> Path:
    """``reports/<run name>`` for one run, ``reports/<first run name>-and-<n>-more`` for several."""
    names = [Path(p).resolve().name for p in run_dirs]
    if not names:
        raise ConfigError("no run directory given")
    name = names[0] if len(names) == 1 else f"{names[0]}-and-{len(names) - 1}-more"
    return Path(root) / name


def build_report(
    run_dirs: Sequence[Path | str],
    out_dir: Path | str,
    strict: bool = False,
    reference: str | None = None,
    tokens: str | None = None,
    timings: dict[str, float] | None = None,
) -> ReportResult:
    """Merge the records of ``run_dirs`` and write report.json, report.md, scaling.png/.svg and
    report.html into ``out_dir``.

    Raises ConfigError (exit code 2) for a folder that is not an evaluation run or an unknown
    ``reference``, before anything is written; with ``strict``, raises PartialReportError (exit
    code 1, carrying ``.result``) after writing everything when the report is partial.
    ``reference`` may name the setting compared with the published budget-forcing figures:
    ``s1-32b@ignore=2,max=none`` (without it, only the ``max=none`` comparison is made).
    ``tokens`` counts thinking tokens on the axis: ``generated`` ids or ``s1`` (s1's re-tokenized
    count); by default s1's when a reference is given (the paper's figures use it), else generated.
    ``timings``, when given, receives the wall and CPU seconds of each phase (read, metrics, browser, plots,
    render, write), for benchmarks/report_merge.py.
    """
    clock = _PhaseClock(timings)
    ref = get_reference(reference)
    ref_setting = split_reference(reference)[1]
    runs = open_runs(run_dirs)
    out = check_output_folder(out_dir, field="--out")
    issues = Issues()
    if tokens is not None and tokens not in TOKEN_COUNTS:
        raise ConfigError(
            f"unknown token count {tokens!r}", field="--tokens", expected=" or ".join(TOKEN_COUNTS)
        )
    rec = read_records(runs, issues, tokens or ("s1" if ref is not None else "generated"))
    find_missing(runs, rec, issues)
    clock.lap("read")
    if len(rec) == 0:
        issues.warnings.insert(0, "no usable records were found in the given runs")
    per_question: dict[tuple[str, str], QuestionStats] = {}
    settings = setting_metrics(rec, plan_settings(runs), per_question)
    if ref_setting is not None and ref_setting not in {m.setting for m in settings}:
        issues.warnings.append(f"reference setting {ref_setting!r} is not a setting of these runs")
    result = ReportResult(
        out_dir=out,
        runs=runs,
        issues=issues,
        settings=settings,
        methods=method_metrics(settings, per_question),
        reference=ref,
        reference_setting=ref_setting,
        records=len(rec),
        models=sorted(rec.models | {r.model for r in runs if r.model}),
        engines=sorted(rec.engines | {r.engine for r in runs if r.engine}),
        setting_extras=rec.extras,
        created=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        training=training_runs(runs, out),
    )
    if result.run_differences():
        issues.warnings.insert(
            0,
            "the merged runs differ in "
            + ", ".join(result.run_differences())
            + ": their numbers may not be comparable",
        )
    clock.lap("metrics")
    browser = build_browser(rec, settings)
    del rec
    clock.lap("browser")
    out.mkdir(parents=True, exist_ok=True)
    png, svg = render_plots(result)
    k_png, k_svg = render_k_curves(result)
    clock.lap("plots")
    outputs: dict[str, bytes] = {
        "report.json": (json.dumps(result.to_dict(), indent=1, allow_nan=False, default=str) + "\n").encode(),
        "report.md": render_markdown(result).encode(),
        "scaling.png": png,
        "scaling.svg": svg,
        "curves_k.png": k_png,
        "curves_k.svg": k_svg,
    }
    outputs["report.html"] = render_html(result, svg, browser, k_svg).encode()
    clock.lap("render")
    for name in FILES:
        atomic_write_bytes(out / name, outputs[name])
        result.files[name] = out / name
    clock.lap("write")
    if strict and result.partial:
        raise PartialReportError(result)
    return result


class _PhaseClock:
    """Wall and CPU seconds between laps, per phase name, into ``into`` (``<phase>`` and
    ``<phase> cpu``; nothing when None)."""

    def __init__(self, into: dict[str, float] | None) -> None:
        self.into = into
        self.last = (time.perf_counter(), time.process_time())

    def lap(self, phase: str) -> None:
        now = (time.perf_counter(), time.process_time())
        if self.into is not None:
            self.into[phase] = self.into.get(phase, 0.0) + now[0] - self.last[0]
            self.into[phase + " cpu"] = self.into.get(phase + " cpu", 0.0) + now[1] - self.last[1]
        self.last = now


__all__ = ["FILES", "SCHEMA", "PartialReportError", "ReportResult", "build_report", "default_out_dir"]
