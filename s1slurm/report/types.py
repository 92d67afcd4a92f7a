"""What a report says (:class:`ReportResult`): built by :mod:`s1slurm.report.build`, read by every
renderer (Markdown, HTML, terminal, plots). Its own module so that the builder and the renderers
import it without importing each other."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import s1slurm
from s1slurm.report.collect import Issues, RunInfo
from s1slurm.report.metrics import UNITS, MethodMetrics, SettingMetrics
from s1slurm.report.reference import NO_FORCING_SETTING, Reference, card_rows, method_rows

SCHEMA = "s1slurm.report/2"
FILES = (
    "report.json",
    "report.md",
    "scaling.png",
    "scaling.svg",
    "curves_k.png",
    "curves_k.svg",
    "report.html",
)
RUN_FIELDS = ("engine", "engine_version", "dtype", "tensor_parallel_size", "batch_size", "batch_invariant")


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
    reference_setting: str | None = None  # compared with the reference's budget-forcing figures
    # (benchmark, setting) -> averaged answer_tokens, steps_used, tries, accepted (collect.Records.extras)
    setting_extras: dict[tuple[str, str], dict[str, float]] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)
    training: list[dict[str, Any]] = field(default_factory=list)  # runs that trained the models (collect)

    @property
    def partial(self) -> bool:
        """True when some data is missing, duplicated or malformed (listed in ``issues``)."""
        return self.issues.partial

    @property
    def benchmarks(self) -> list[str]:
        return sorted({m.benchmark for m in self.settings})

    def run_differences(self) -> list[str]:
        """Fields of :data:`RUN_FIELDS` on which the merged runs differ (empty for one run)."""
        if len(self.runs) < 2:
            return []
        return [f for f in RUN_FIELDS if len({repr(r.description.get(f)) for r in self.runs}) > 1]

    def reference_rows(self) -> list[dict[str, Any]]:
        """Per benchmark: the published figures next to this report's accuracy at the named
        setting (with budget forcing) and at ``max=none`` (without); never the best over settings."""
        if self.reference is None:
            return []
        rows = []
        for bench in self.benchmarks:
            hit = self.reference.for_benchmark(bench)
            here = {m.setting: m for m in self.settings if m.benchmark == bench}
            named = here.get(self.reference_setting) if self.reference_setting else None
            plain = here.get(NO_FORCING_SETTING)
            rows.append(
                {
                    "benchmark": bench,
                    "paper_benchmark": hit[0] if hit else None,
                    "with_budget_forcing": hit[1] if hit else None,
                    "without_budget_forcing": hit[2] if hit else None,
                    "setting": self.reference_setting,
                    "accuracy": named.accuracy if named else None,
                    "ci": [named.ci_low, named.ci_high] if named else None,
                    "without_setting": NO_FORCING_SETTING if plain else None,
                    "without_accuracy": plain.accuracy if plain else None,
                }
            )
        return rows

    def to_dict(self) -> dict[str, Any]:
        """The content of report.json."""
        return {
            "schema": SCHEMA,
            "s1slurm_version": self.version,
            "created": self.created,
            "partial": self.partial,
            "units": UNITS,
            "records": self.records,
            "models": self.models,
            "engines": self.engines,
            "run_differences": self.run_differences(),
            "runs": [r.to_dict() for r in self.runs],
            "training": self.training,
            "issues": self.issues.to_dict(),
            "settings": [m.to_dict() for m in self.settings],
            "methods": [m.to_dict() for m in self.methods],
            "reference": (
                {
                    **self.reference.to_dict(),
                    "setting": self.reference_setting,
                    "rows": self.reference_rows(),
                    "card": card_rows(self.reference, self.settings, self.setting_extras),
                    "table3": method_rows(self.reference, self.methods),
                }
                if self.reference
                else None
            ),
        }
