"""Build a report: read the runs, compute the metrics, write every output, then honour ``strict``."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

import s1slurm
from s1slurm.core.atomic import atomic_write_bytes
from s1slurm.core.errors import ConfigError, S1SlurmError
from s1slurm.report.collect import Issues, RunInfo, find_missing, open_runs, plan_settings, read_records
from s1slurm.report.metrics import UNITS, MethodMetrics, SettingMetrics, method_metrics, setting_metrics
from s1slurm.report.reference import Reference, get_reference

SCHEMA = "s1slurm.report/1"
FILES = ("report.json", "report.md", "scaling.png", "scaling.svg", "report.html")


@dataclass
class ReportResult:
    """Everything a report says; ``files`` maps each output name to the path it was written to."""

    out_dir: Path
    runs: list[RunInfo]
    issues: Issues
    settings: list[SettingMetrics]
    methods: list[MethodMetrics]
    reference: Reference | None
    records: int
    models: list[str]
    engines: list[str]
    created: str
    version: str = s1slurm.__version__
    files: dict[str, Path] = field(default_factory=dict)

    @property
    def partial(self) -> bool:
        """True when some data is missing, duplicated or malformed (listed in ``issues``)."""
        return self.issues.partial

    @property
    def benchmarks(self) -> list[str]:
        return sorted({m.benchmark for m in self.settings})

    def reference_rows(self) -> list[dict[str, Any]]:
        """Per benchmark: the published figures next to this report's best accuracy."""
        if self.reference is None:
            return []
        rows = []
        for bench in self.benchmarks:
            hit = self.reference.for_benchmark(bench)
            best = max((m for m in self.settings if m.benchmark == bench), key=lambda m: m.accuracy)
            rows.append({"benchmark": bench, "paper_benchmark": hit[0] if hit else None,
                         "with_budget_forcing": hit[1] if hit else None,
                         "without_budget_forcing": hit[2] if hit else None,
                         "best_accuracy": best.accuracy, "best_setting": best.setting,
                         "best_method": best.method})
        return rows

    def to_dict(self) -> dict[str, Any]:
        """The content of report.json."""
        return {
            "schema": SCHEMA, "s1slurm_version": self.version, "created": self.created,
            "partial": self.partial, "units": UNITS, "records": self.records,
            "models": self.models, "engines": self.engines,
            "runs": [r.to_dict() for r in self.runs],
            "issues": self.issues.to_dict(),
            "settings": [m.to_dict() for m in self.settings],
            "methods": [m.to_dict() for m in self.methods],
            "reference": ({**self.reference.to_dict(), "rows": self.reference_rows()}
                          if self.reference else None),
        }


class PartialReportError(S1SlurmError):
    """``--strict`` and the report is partial: raised after every output was written."""

    exit_code = 1

    def __init__(self, result: ReportResult) -> None:
        self.result = result
        i = result.issues
        counts = (f"{len(i.shards_not_done)} shard(s) without done marker, "
                  f"{len(i.shards_without_records)} done shard(s) without records, "
                  f"{i.missing_total} missing record(s), {i.duplicates_total} duplicate(s), "
                  f"{i.malformed_total} malformed line(s)")
        where = result.files.get("report.md", result.out_dir)
        super().__init__(f"report is partial ({counts}); see {where}")


def default_out_dir(run_dirs: Sequence[Path | str], root: Path | str = "reports") -> Path:
    """``reports/<run name>`` for one run, ``reports/<first run name>-and-<n>-more`` for several."""
    names = [Path(p).resolve().name for p in run_dirs]
    if not names:
        raise ConfigError("no run directory given")
    name = names[0] if len(names) == 1 else f"{names[0]}-and-{len(names) - 1}-more"
    return Path(root) / name


def build_report(run_dirs: Sequence[Path | str], out_dir: Path | str, strict: bool = False,
                 reference: str | None = None) -> ReportResult:
    """Merge the records of ``run_dirs`` and write report.json, report.md, scaling.png/.svg and
    report.html into ``out_dir``.

    Raises ConfigError (exit code 2) for a folder that is not an evaluation run or an unknown
    ``reference``, before anything is written; with ``strict``, raises PartialReportError (exit
    code 1, carrying ``.result``) after writing everything when the report is partial.
    """
    from s1slurm.report.html import build_browser, render_html
    from s1slurm.report.plot import render_plots
    from s1slurm.report.render_md import render_markdown

    ref = get_reference(reference)
    runs = open_runs(run_dirs)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ConfigError("output path exists and is not a folder", file=str(out))
    issues = Issues()
    rec = read_records(runs, issues)
    find_missing(runs, rec, issues)
    if len(rec) == 0:
        issues.warnings.insert(0, "no usable records were found in the given runs")
    settings = setting_metrics(rec, plan_settings(runs))
    result = ReportResult(
        out_dir=out, runs=runs, issues=issues, settings=settings, methods=method_metrics(settings),
        reference=ref, records=len(rec), models=sorted(rec.models | {r.model for r in runs if r.model}),
        engines=sorted(rec.engines | {r.engine for r in runs if r.engine}),
        created=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))
    browser = build_browser(rec, settings)
    del rec
    out.mkdir(parents=True, exist_ok=True)
    png, svg = render_plots(result)
    outputs: dict[str, bytes] = {
        "report.json": (json.dumps(result.to_dict(), indent=1, allow_nan=False, default=str)
                        + "\n").encode(),
        "report.md": render_markdown(result).encode(),
        "scaling.png": png,
        "scaling.svg": svg,
    }
    outputs["report.html"] = render_html(result, svg, browser).encode()
    for name in FILES:
        atomic_write_bytes(out / name, outputs[name])
        result.files[name] = out / name
    if strict and result.partial:
        raise PartialReportError(result)
    return result


__all__ = ["FILES", "PartialReportError", "ReportResult", "build_report", "default_out_dir"]
