"""Training curves: the loss / learning-rate / gradient-norm plot every run folder gets, and the
Trainer's reporting integrations (``report_to``) of the training spec."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from s1slurm.core.errors import ConfigError
from s1slurm.core.rundir import RunDir
from s1slurm.train import curves
from s1slurm.train.paths import TrainPaths
from s1slurm.train.spec import TrainSpec

PNG = b"\x89PNG\r\n\x1a\n"


def rows(n: int, attempts: tuple[str, ...] = ("a1",)) -> list[dict]:
    per = -(-n // len(attempts))
    return [
        {
            "step": s,
            "loss": 3.0 / s,
            "learning_rate": 1e-5 * (1 - s / (n + 1)),
            "grad_norm": 0.5 + s % 3,
            "attempt": attempts[(s - 1) // per],
        }
        for s in range(1, n + 1)
    ]


def test_the_curves_are_a_png_with_one_panel_per_quantity_in_the_run_folder(tmp_path):
    paths = TrainPaths(RunDir.create(tmp_path, "train"))
    paths.root.mkdir(parents=True, exist_ok=True)
    written = curves.write_curves(paths, rows(30, ("a1", "a2")), "some/model")
    assert written == paths.curves_plot and written.read_bytes()[:8] == PNG
    assert written.name == "training_curves.png" and written.parent == paths.root


def test_curves_of_a_run_that_logged_nothing_still_draw():
    assert curves.render_curves([], "empty")[:8] == PNG
    assert (
        curves.render_curves([{"step": 1, "loss": 2.0, "learning_rate": None, "grad_norm": None}], "one")[:8]
        == PNG
    )


def test_report_to_defaults_to_none_and_is_validated_by_the_spec():
    spec = TrainSpec.model_validate({"data": {"source": "x.jsonl"}})
    assert spec.report_to == []
    assert TrainSpec.model_validate(
        {"data": {"source": "x.jsonl"}, "report_to": ["tensorboard"]}
    ).report_to == ["tensorboard"]
    with pytest.raises(ValueError, match="report_to"):
        TrainSpec.model_validate({"data": {"source": "x.jsonl"}, "report_to": ["comet"]})


def test_reporting_sends_tensorboard_into_the_run_folder_and_wandb_offline(tmp_path, monkeypatch):
    paths = TrainPaths(RunDir.create(tmp_path, "train"))
    assert curves.reporting([], paths) == "none"
    monkeypatch.delenv("TENSORBOARD_LOGGING_DIR", raising=False)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setattr(curves.importlib.util, "find_spec", lambda name: object())
    assert curves.reporting(["tensorboard", "wandb"], paths) == ["tensorboard", "wandb"]
    import os

    assert os.environ["TENSORBOARD_LOGGING_DIR"] == str(paths.tensorboard_dir)
    assert os.environ["WANDB_MODE"] == "offline" and os.environ["WANDB_DIR"] == str(paths.root)


def test_a_reporter_whose_package_is_missing_is_a_usage_error_naming_it(tmp_path, monkeypatch):
    paths = TrainPaths(RunDir.create(tmp_path, "train"))
    monkeypatch.setattr(
        curves.importlib.util, "find_spec", lambda name: None if name == "wandb" else object()
    )
    with pytest.raises(ConfigError) as err:
        curves.reporting(["tensorboard", "wandb"], paths)
    assert (
        err.value.exit_code == 2 and err.value.field == "report_to" and "pip install wandb" in str(err.value)
    )


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_smoke_training_writes_the_plot_and_tensorboard_events(workdir, small_model, s1_jsonl):
    pytest.importorskip("deepspeed")
    pytest.importorskip("tensorboard")
    (workdir / "train.yaml").write_text(f"""stage: train
model: {small_model}
data: {{source: {s1_jsonl}, fields: s1k, limit: 4}}
recipe: {{epochs: 1, global_batch_size: 2, micro_batch_size: 1, learning_rate: 5.0e-4, block_size: 256,
          precision: fp32, gradient_checkpointing: false, max_steps: 2}}
checkpoint: {{every_steps: 50, keep_last: 1}}
launch: {{processes_per_node: 1}}
report_to: [tensorboard]
""")
    done = subprocess.run(
        [sys.executable, "-m", "s1slurm", "submit", "train", "--config", "train.yaml"],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=540,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    [run] = [RunDir.open(p) for p in (workdir / "runs").glob("train-*")]
    paths = TrainPaths(run)
    summary = json.loads(paths.summary.read_text())
    assert Path(summary["curves_plot"]) == paths.curves_plot and paths.curves_plot.read_bytes()[:8] == PNG
    assert [r["step"] for r in summary["loss_curve"]] == [1, 2]
    assert all(r["grad_norm"] is not None and r["grad_norm"] >= 0 for r in summary["loss_curve"])
    events = list(paths.tensorboard_dir.rglob("events.out.tfevents.*"))
    assert events and all(e.stat().st_size > 0 for e in events), list(paths.root.rglob("*"))
