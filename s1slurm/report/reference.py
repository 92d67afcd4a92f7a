"""Published figures a reproduction is read against (``--reference``)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from s1slurm.core.errors import ConfigError


@dataclass(frozen=True)
class Reference:
    """A published model: its headline accuracies (percent) with and without budget forcing (the
    paper's Table 1, which ties them to no setting) and its reproduction card: every published
    figure by model, benchmark, method and setting, and Table 3's method rows."""

    name: str
    source: str
    with_budget_forcing: dict[str, float]
    without_budget_forcing: dict[str, float]
    figures: tuple[Figure, ...] = ()
    methods: tuple[MethodFigure, ...] = ()
    models: dict[str, str] = field(default_factory=dict)
    scaling_unit: str = ""

    def for_benchmark(self, benchmark: str) -> tuple[str, float, float] | None:
        """(canonical name, with BF, without BF) for a benchmark name of ours, or None."""
        canon = canonical_benchmark(benchmark)
        if canon is None or canon not in self.with_budget_forcing:
            return None
        return canon, self.with_budget_forcing[canon], self.without_budget_forcing[canon]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "source": self.source,
            "with_budget_forcing": self.with_budget_forcing,
            "without_budget_forcing": self.without_budget_forcing,
            "figures": len(self.figures),
            "scaling_unit": self.scaling_unit,
        }


CARD_FILE = "reference_card.yaml"  # package data beside this module: the paper's figures, by table


@dataclass(frozen=True)
class Figure:
    """One published figure: a metric of a model on a benchmark at a setting (None: the paper ties
    it to no setting), with the table or figure it comes from."""

    source: str
    model: str
    benchmark: str
    method: str | None
    setting: str | None
    metric: str
    value: float
    label: str = ""
    note: str = ""


@dataclass(frozen=True)
class MethodFigure:
    """One row of the paper's Table 3: Control, Scaling (per doubling), Performance of a method."""

    source: str
    benchmark: str
    method: str
    label: str
    control: float
    scaling: float
    performance: float
    runs: int


def load_card(text: str | None = None) -> tuple[dict[str, Any], list[Figure], list[MethodFigure]]:
    """The reproduction card (``reference_card.yaml``, or ``text``): its header, every figure and
    Table 3's rows. Read at call time, never at import."""
    import yaml

    if text is None:
        from importlib.resources import files

        text = files("s1slurm.report").joinpath(CARD_FILE).read_text(encoding="utf-8")
    card = yaml.safe_load(text)
    figures: list[Figure] = []
    for t in card["tables"]:
        benches, note = t["benchmarks"], t.get("note", "")
        for row in t.get("rows", []):
            for bench, v in zip(benches, row["values"]):
                figures.append(
                    Figure(
                        t["source"],
                        row["model"],
                        bench,
                        row.get("method"),
                        row.get("setting"),
                        t["metric"],
                        float(v),
                        row.get("label", ""),
                        note,
                    )
                )
        for method, labels in t.get("settings", {}).items():
            for metric, values in t["series"][method].items():
                for setting, v in zip(labels, values):
                    per_bench = v if isinstance(v, list) else [v]
                    for bench, x in zip(benches, per_bench):
                        figures.append(
                            Figure(
                                t["source"], t["model"], bench, method, setting, metric, float(x), "", note
                            )
                        )
    m = card["methods"]
    methods = [
        MethodFigure(
            m["source"],
            m["benchmark"],
            r["method"],
            r["label"],
            float(r["control"]),
            float(r["scaling"]),
            float(r["performance"]),
            int(r["runs"]),
        )
        for r in m["rows"]
    ]
    header = {k: card[k] for k in ("name", "source", "models")}
    header["scaling_unit"] = m["scaling_unit"]
    return header, figures, methods


def _table1(figures: list[Figure], label: str) -> dict[str, float]:
    return {f.benchmark: f.value for f in figures if f.source == "Table 1" and f.label == label}


def s1_32b() -> Reference:
    """The s1-32B reference: Table 1's rows and the whole card."""
    header, figures, methods = load_card()
    return Reference(
        name=header["name"],
        source=header["source"],
        with_budget_forcing=_table1(figures, "s1-32B (with budget forcing)"),
        without_budget_forcing=_table1(figures, "s1 w/o BF"),
        figures=tuple(figures),
        methods=tuple(methods),
        models=dict(header["models"]),
        scaling_unit=header["scaling_unit"],
    )


REFERENCES = {"s1-32b": s1_32b}


def canonical_benchmark(name: str) -> str | None:
    """Map our benchmark names (aime24, aime_2024, math500, gpqa_diamond, ...) to the paper's."""
    flat = re.sub(r"[^a-z0-9]", "", name.lower())
    if flat in ("aime24", "aime2024", "aime24h4", "aime24nofigures"):
        return "AIME24"
    if flat in ("math500", "math"):
        return "MATH500"
    if flat.startswith("gpqa"):
        return "GPQA Diamond"
    return None


NO_FORCING_SETTING = "max=none"  # no cap, no forced continuation: the paper's "without" figures


def split_reference(text: str | None) -> tuple[str | None, str | None]:
    """``s1-32b@ignore=2,max=none`` -> (``s1-32b``, ``ignore=2,max=none``): the reference and the
    setting of this report compared with its budget-forcing figures."""
    if text is None:
        return None, None
    name, _, setting = text.partition("@")
    return name, (setting.strip() or None)


def get_reference(name: str | None) -> Reference | None:
    """The reference named on the command line (a ``@setting`` suffix is ignored here; see
    :func:`split_reference`); ConfigError for an unknown one."""
    full, name = name, split_reference(name)[0]
    if name is None or full is None:
        return None
    make = REFERENCES.get(name.lower())
    if make is None:
        raise ConfigError(
            f"unknown reference '{name}'",
            field="--reference",
            expected=f"one of: {', '.join(sorted(REFERENCES))}",
        )
    check_setting_label(full)
    return make()


# the parts of a setting label (BudgetSetting.label), "max=..." always last
_LABEL_PART = re.compile(
    r"^(?:(?:tokens|steps|step_tokens|reject|ignore)=\d+|class=\w+|min=\d+(?:\(suppress\))?"
    r"|string=.*|reject|stop0|injected)$"
)
_LABEL_MAX = re.compile(r"^max=(none|\d+)$")


def check_setting_label(text: str) -> None:
    """ConfigError unless the ``@setting`` of a reference reads as a setting label
    (``ignore=2,max=none``, ``max=4096``...): a typo there would only ever warn."""
    if "@" not in text:
        return
    setting = text.partition("@")[2].strip()
    parts = setting.split(",") if setting else []
    if not parts or not _LABEL_MAX.match(parts[-1]) or not all(_LABEL_PART.match(p) for p in parts[:-1]):
        raise ConfigError(
            f"'{setting}' is not a setting label",
            field="--reference",
            expected="NAME@SETTING with SETTING as the report names settings, e.g. "
            "s1-32b@ignore=2,max=none or s1-32b@max=4096",
        )


# ------------------------------------------------------------------------- measured beside published


def card_rows(
    ref: Reference, settings: Sequence[Any], extras: dict[tuple[str, str], dict[str, float]] | None = None
) -> list[dict[str, Any]]:
    """Every published figure of ``ref`` beside this report's measurement at the same benchmark and
    setting: accuracy with its 95% interval and ``outside`` true where the published figure falls
    outside it; average thinking tokens (s1's count when the report uses it); from ``extras`` (by
    our benchmark name and setting) average answer tokens, steps used, tokens per step and tries.
    Figures of models other than the reference's own, and of metrics not measured, are listed with
    ``measured`` None; settings measured here with no published figure get a row saying so."""
    here: dict[tuple[str, str], Any] = {}
    for m in settings:
        canon = canonical_benchmark(m.benchmark)
        if canon is not None:
            here.setdefault((canon, m.setting), m)
    rows: list[dict[str, Any]] = []
    published: set[tuple[str, str]] = set()
    for f in ref.figures:
        m = here.get((f.benchmark, f.setting)) if f.setting and f.model in ref.models else None
        row: dict[str, Any] = {
            "source": f.source,
            "model": f.model,
            "benchmark": f.benchmark,
            "method": f.method,
            "setting": f.setting,
            "metric": f.metric,
            "published": f.value,
            "measured": None,
            "ci": None,
            "outside": None,
            "label": f.label,
        }
        if f.setting and f.model in ref.models:
            published.add((f.benchmark, f.setting))
        if m is not None and f.metric == "accuracy":
            row.update(
                measured=m.accuracy, ci=[m.ci_low, m.ci_high], outside=not (m.ci_low <= f.value <= m.ci_high)
            )
        elif m is not None and f.metric == "thinking_tokens":
            row.update(measured=m.avg_thinking_tokens)
        elif m is not None:
            row.update(measured=_extra_metric(f.metric, m, (extras or {}).get((m.benchmark, m.setting), {})))
        rows.append(row)
    for (bench, setting), m in sorted(here.items()):
        if (bench, setting) not in published:
            rows.append(
                {
                    "source": None,
                    "model": None,
                    "benchmark": bench,
                    "method": m.method,
                    "setting": setting,
                    "metric": "accuracy",
                    "published": None,
                    "measured": m.accuracy,
                    "ci": [m.ci_low, m.ci_high],
                    "outside": None,
                    "label": "no published figure",
                }
            )
    return rows


def _extra_metric(metric: str, m: Any, averages: dict[str, float]) -> float | None:
    """answer_tokens, steps_used, tries as averaged over the setting's records; tokens_per_step as
    the average thinking tokens over the average steps used (the paper's Table 13 columns)."""
    if metric == "tokens_per_step":
        steps = averages.get("steps_used")
        return m.avg_thinking_tokens / steps if steps else None
    return averages.get(metric)


def method_rows(ref: Reference, methods: Sequence[Any]) -> list[dict[str, Any]]:
    """Table 3 beside this report's Control, Scaling per doubling of thinking tokens (``scaling_log2``,
    the reading whose magnitudes fit Table 3) and Performance, for each method measured here."""
    here = {(canonical_benchmark(m.benchmark), m.method): m for m in methods}
    rows = []
    for f in ref.methods:
        m = here.get((f.benchmark, f.method))
        rows.append(
            {
                "source": f.source,
                "benchmark": f.benchmark,
                "method": f.method,
                "label": f.label,
                "published": {
                    "control": f.control,
                    "scaling": f.scaling,
                    "performance": f.performance,
                    "runs": f.runs,
                },
                "measured": None
                if m is None
                else {
                    "control": m.control,
                    "control_ci": m.control_ci,
                    "scaling": m.scaling_log2,
                    "scaling_ci": m.scaling_log2_ci,
                    "performance": m.performance,
                    "performance_ci": m.performance_ci,
                    "runs": len(m.settings),
                },
                "scaling_unit": ref.scaling_unit,
            }
        )
    return rows
