"""A report built from a real SmolLM2-135M sweep made by the evaluation stage, through the CLI.

The sweep runs locally (profile ``local``) on two MATH500 and two AIME24 questions from the shared
data, three thinking caps and two samples, so 24 records; it takes about a minute on a CPU.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from report_chromium import check_page, chromium_binary

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "benchmarks"
CAPS = (32, 64, 128)


def eval_spec(model: Path) -> str:
    """The job spec of the sweep. Field names follow the eval stage's spec model (EvalSpec)."""
    return f"""stage: eval
name: report-real-sweep
model: {json.dumps(str(model))}
engine: vllm
dtype: float32
max_model_len: 2048
engine_args: {{enforce_eager: true}}
samples: 2
temperature: 0.8
seed: 0
max_answer_tokens: 32
benchmarks:
  - {{name: math500, path: {json.dumps(str(SHARED / 'math500.jsonl'))}, limit: 2}}
  - {{name: aime24, path: {json.dumps(str(SHARED / 'aime24.jsonl'))}, limit: 2}}
sweep:
  max_thinking_tokens: {list(CAPS)}
delimiters:
  thinking_end: ["<|im_start|>"]
"""


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "s1slurm", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=1200)


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
    (run_dir,) = [line.split(":", 1)[1].strip() for line in done.stdout.splitlines()
                  if line.startswith("run folder:")]

    shown = cli("report", run_dir, "--out", "rep", "--strict", "--reference", "s1-32b", cwd=workdir)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert "Control" in shown.stdout and "PARTIAL" not in shown.stdout

    result = build_report([run_dir], workdir / "rep2", strict=True)
    assert not result.partial and result.records == 2 * 2 * len(CAPS) * 2
    assert {m.benchmark for m in result.settings} == {"math500", "aime24"}
    for m in result.settings:
        assert m.questions == 2 and m.samples_per_question == 2 and m.maj_k == 2
        assert 0.0 <= m.ci_low <= m.accuracy <= m.ci_high <= 100.0
        assert m.over_max == 0, f"{m.benchmark} {m.setting}: thinking went past the cap"
        assert m.avg_thinking_tokens <= m.max_thinking_tokens
    for c in result.methods:
        assert c.control == 100.0 and c.scaling_log2 is not None
    data = json.loads((workdir / "rep" / "report.json").read_text())
    assert data["models"] and data["runs"][0]["eval_plan"]["samples"] == 2
    import s1slurm
    assert data["runs"][0]["s1slurm_version"] == s1slurm.__version__
    assert chromium_binary(), "Debian's chromium is needed to open the page"
    check = check_page(workdir / "rep" / "report.html", workdir / "chromium-profile")
    assert check.errors == [] and check.remote_requests == []
