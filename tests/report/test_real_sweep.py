"""A report built from a real SmolLM2-135M sweep made by the evaluation stage, through the CLI.

The sweep runs locally (profile ``local``) on one MATH500 and one AIME24 question from the shared
data with two samples: budget forcing (three caps) and the paper's four other methods
(token-, step- and class-conditional control, rejection sampling), so 10 settings and 40
records (the metrics over several questions are checked on synthetic records in test_metrics.py). This is also the test that runs every method on a real model and checks its records.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from report_chromium import check_page, chromium_binary

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "benchmarks"
CAPS = (16, 32, 48)


def eval_spec(model: Path) -> str:
    """The job spec of the sweep. Field names follow the eval stage's spec model (EvalSpec)."""
    return f"""stage: eval
name: report-real-sweep
model: {json.dumps(str(model))}
engine: vllm
dtype: float32
max_model_len: 360                # small: the methods without a cap think to the end of it
engine_args: {{enforce_eager: true, distributed_executor_backend: uni}}
# vLLM in the task's own process (no engine-core or worker processes to start: ~40 s less on 2 cores);
# tests/eval/test_engine_vllm.py runs vLLM's default multiprocess mode
engine_env: {{VLLM_ENABLE_V1_MULTIPROCESSING: "0"}}
samples: 2
temperature: 0.8
seed: 0
max_answer_tokens: 32
benchmarks:
  # the named instruction template: with the bare question (the default) SmolLM2 often ends its
  # thinking at once, and a curve of zero-token points has no slope
  - {{name: math500, path: {json.dumps(str(SHARED / "math500.jsonl"))}, limit: 1, prompt_template: boxed}}
  - {{name: aime24, path: {json.dumps(str(SHARED / "aime24.jsonl"))}, limit: 1, prompt_template: boxed}}
sweep:
  max_thinking_tokens: {list(CAPS)}
  methods:
    - {{method: token_conditional, tokens: [32]}}
    - {{method: step_conditional, steps: [2], step_tokens: 16, source: injected}}
    - {{method: class_conditional, max_thinking_tokens: 48}}
    - {{method: rejection, max_thinking_tokens: [48], max_tries: 3}}
"""


METHODS = {
    "max",
    "token_conditional",
    "token_conditional_forced",
    "step_injected",
    "step_injected_forced",
    "class_conditional",
    "rejection",
}
SETTINGS = 3 + 2 + 2 + 2 + 1


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "s1slurm", *args], cwd=cwd, capture_output=True, text=True, timeout=1200
    )


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_report_of_a_real_smollm2_sweep(workdir: Path):
    from s1slurm.models.smollm2 import smollm2_folder
    from s1slurm.report import build_report
    from s1slurm.stages import get_stage

    assert get_stage("eval").name == "eval"
    (workdir / "sweep.yaml").write_text(eval_spec(smollm2_folder()))
    done = cli("--profile", "local", "submit", "eval", "--config", "sweep.yaml", cwd=workdir)
    assert done.returncode == 0, done.stdout + done.stderr
    (run_dir,) = [
        line.split(":", 1)[1].strip() for line in done.stdout.splitlines() if line.startswith("run folder:")
    ]

    shown = cli("report", run_dir, "--out", "rep", "--strict", "--reference", "s1-32b", cwd=workdir)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert "Control" in shown.stdout and "PARTIAL" not in shown.stdout

    check_records(Path(run_dir))
    result = build_report([run_dir], workdir / "rep2", strict=True)
    assert not result.partial and result.records == 2 * 1 * SETTINGS * 2
    assert {m.benchmark for m in result.settings} == {"math500", "aime24"}
    for m in result.settings:
        assert m.questions == 1 and m.samples_per_question == 2 and m.maj_k == 2
        assert 0.0 <= m.ci_low <= m.accuracy <= m.ci_high <= 100.0
        assert m.ks == [1, 2] and len(m.pass_at_k) == len(m.maj_at_k) == 2
        assert m.pass_at_k[0] <= m.pass_at_k[1]
        if m.method in ("max", "token_conditional_forced", "step_injected_forced", "class_conditional"):
            assert m.over_max == 0, f"{m.benchmark} {m.setting}: thinking went past the cap"
    for bench in ("math500", "aime24"):
        assert {c.method for c in result.methods if c.benchmark == bench} == METHODS
    for c in result.methods:
        # class-conditional Control follows the paper's rule (short < bare < long), without an interval
        assert (c.control_ci is not None or c.method == "class_conditional") and c.performance_ci is not None
        if c.method == "max":
            assert c.control == 100.0
        if c.method == "max" and c.benchmark == "aime24":  # its question thinks past the caps: a slope
            assert c.scaling_log2 is not None and c.scaling_log2_ci is not None
    k_svg = (workdir / "rep" / "curves_k.svg").read_text()
    assert "pass@k" in k_svg and "maj@k" in k_svg and "rejection" in k_svg
    scaling_svg = (workdir / "rep" / "scaling.svg").read_text()
    # one curve per benchmark and method, also for a method whose every setting thought 0 tokens on
    # average (the axis is linear below one token)
    for bench in ("math500", "aime24"):
        for name in METHODS:
            assert f"{bench} · {name}<" in scaling_svg, (bench, name)
    data = json.loads((workdir / "rep" / "report.json").read_text())
    assert data["models"] and data["runs"][0]["eval_plan"]["samples"] == 2
    import s1slurm

    assert data["runs"][0]["s1slurm_version"] == s1slurm.__version__
    assert chromium_binary(), "Debian's chromium is needed to open the page"
    check = check_page(workdir / "rep" / "report.html", workdir / "chromium-profile")
    assert check.errors == [] and check.remote_requests == []


def check_records(run_dir: Path) -> None:
    """Every method's records carry what the method did."""
    records = [
        json.loads(line)
        for path in sorted(run_dir.glob("outputs/*/records.jsonl"))
        for line in path.read_text().splitlines()
        if line.strip()
    ]
    by_method: dict[str, list[dict]] = {}
    for r in records:
        by_method.setdefault(r["method"], []).append(r)
    assert set(by_method) == METHODS
    for r in records:
        budget, extra = r["budget"], r["extra"]
        assert r["extraction_method"] in (None, "boxed", "answer_line", "answer_is")
        if r["method"] in ("max", "token_conditional_forced", "step_injected_forced", "class_conditional"):
            assert r["thinking_tokens"] <= budget["max_thinking_tokens"]
        if r["method"].startswith("token_conditional"):
            assert extra["prompt_variant"] == "tokens" and budget["stated_tokens"] == 32
        if r["method"].startswith("step_injected"):
            assert extra["prompt_variant"] == "steps_injected" and 0 <= extra["steps_used"] <= 3
            if r["thinking_end"] == "budget" and extra["steps_used"] >= 2:
                assert "steps left" in r["thinking"]
        if r["method"] == "class_conditional":
            assert extra["prompt_variant"] == "class" and budget["thinking_class"] in ("short", "long")
        if r["method"] == "rejection":
            assert 1 <= extra["tries"] <= 3
            if extra["accepted"]:
                assert (
                    r["thinking_end"] == "natural" and r["thinking_tokens"] <= budget["max_thinking_tokens"]
                )
            else:
                assert extra["tries"] == 3
        if r["method"] == "max":
            assert extra["prompt_variant"] == "bare"
