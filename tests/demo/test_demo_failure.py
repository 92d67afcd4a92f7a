"""When a step of the demo fails, the terminal names it: the step that failed (not the one before
it), the first line of its error and the log that holds the rest; ``s1slurm status`` of the
pipeline says the same. The demo's training is broken on purpose with a DeepSpeed template that
DeepSpeed itself refuses once the ranks start (an option ZeRO-3 does not have)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from .test_demo_end_to_end import _env

pytestmark = pytest.mark.slow

# Runs the demo as ``s1slurm demo --quick`` does, with its training spec naming a broken template.
BROKEN_DEMO = """
import sys
from s1slurm.demo import run as demo_run

template = sys.argv[-1]
made_by_the_demo = demo_run.train_spec

def broken_training(*args, **kwargs):
    return {**made_by_the_demo(*args, **kwargs), "deepspeed": template}

demo_run.train_spec = broken_training
sys.argv = ["s1slurm", "demo", "--quick"]
from s1slurm.cli.app import main
main()
"""


@pytest.fixture(scope="module")
def failed_demo(tmp_path_factory) -> tuple[subprocess.CompletedProcess, dict, Path]:
    work = tmp_path_factory.mktemp("broken-training")
    home = work / "home"
    home.mkdir()
    template = work / "zero3-broken.json"
    template.write_text(
        json.dumps(
            {
                "zero_optimization": {
                    "stage": 3,
                    "stage3_gather_16bit_weights_on_model_save": True,
                    "no_such_zero_option": 1,
                },
                "train_batch_size": "auto",
                "train_micro_batch_size_per_gpu": "auto",
                "gradient_accumulation_steps": "auto",
            }
        )
    )
    proc = subprocess.run(
        [sys.executable, "-c", BROKEN_DEMO, str(template)],
        cwd=work,
        env=_env(home),
        capture_output=True,
        text=True,
        timeout=1500,
    )
    folders = sorted((work / "runs").glob("demo-quick-*"))
    summary = json.loads((folders[-1] / "demo.json").read_text()) if folders else {}
    return proc, summary, work


def test_the_demo_names_the_failed_training_step_its_error_and_its_log(failed_demo):
    proc, summary, _ = failed_demo
    out = proc.stdout.replace("\n", " ")
    assert proc.returncode == 1 and summary["failed"], proc.stdout[-3000:] + proc.stderr[-3000:]
    # the table: training failed, the curation before it finished
    assert re.search(r"train\s*│\s*failed", proc.stdout), proc.stdout[-3000:]
    assert re.search(r"curate\s*│\s*done", proc.stdout) and re.search(r"eval\s*│\s*blocked", proc.stdout)
    # the line under it: the step, the first line of the error, the log that holds the rest
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("✗ step"))
    assert "step 'train'" in line and "training ranks" in line and "exited with" in line, line
    log = Path(re.search(r"\(log: (\S+)\)", out).group(1))
    assert log.is_file() and "training ranks" in log.read_text()


def test_status_of_the_pipeline_names_the_failed_step_the_same_way(failed_demo):
    _, summary, work = failed_demo
    proc = subprocess.run(
        [sys.executable, "-m", "s1slurm", "status", summary["pipeline_run"]],
        cwd=work,
        env=_env(work / "home"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    text = " ".join(proc.stdout.split())
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"\btrain (train )?FAILED", text) and re.search(r"\beval (eval )?BLOCKED", text), text
    assert "✗ step 'train', task 0 (train-00000-of-00001) failed: StageError: training ranks" in text, text
    doc = json.loads(
        subprocess.run(
            [sys.executable, "-m", "s1slurm", "status", summary["pipeline_run"], "--json"],
            cwd=work,
            env=_env(work / "home"),
            capture_output=True,
            text=True,
            timeout=300,
        ).stdout
    )
    failure = doc["runs"][0]["failure"]
    assert failure["where"].startswith("step 'train'") and Path(failure["log"]).is_file()
