"""A report on a model that s1slurm trained links the training run's curves."""

from __future__ import annotations

import json

from report_runs import make_plan, record, write_run

from s1slurm.core.shard import Shard
from s1slurm.eval.records import BudgetSetting
from s1slurm.report import build_report

CAP = BudgetSetting(max_thinking_tokens=64)


def test_report_of_a_trained_model_links_its_training_curves(tmp_path):
    train = tmp_path / "runs" / "train-1" / "outputs" / "train-0"
    (train / "model").mkdir(parents=True)
    (train / "training_curves.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (train / "train_summary.json").write_text(
        json.dumps(
            {
                "steps": 12,
                "loss_curve": [{"step": 1, "loss": 2.5}, {"step": 12, "loss": 0.75}],
                "curves_plot": str(train / "training_curves.png"),
            }
        )
    )
    plan = {**make_plan({"aime24": ["q1"]}, [CAP], samples=1), "model": str(train / "model")}
    run = write_run(
        tmp_path / "runs", "eval-1", plan, {Shard("aime24", 0, 1): [record("aime24", CAP, "q1", 0, True, 9)]}
    )
    result = build_report([run], tmp_path / "report")
    [t] = json.loads((tmp_path / "report" / "report.json").read_text())["training"]
    assert (
        t["steps"] == 12 and t["last_loss"] == 0.75 and t["curves_plot"] == str(train / "training_curves.png")
    )
    assert (tmp_path / "report" / t["link"]).resolve() == (train / "training_curves.png").resolve()
    assert f"]({t['link']})" in result.files["report.md"].read_text()
    assert f'href="{t["link"]}"' in result.files["report.html"].read_text()


def test_report_of_a_model_not_trained_here_has_no_training_line(tmp_path):
    plan = make_plan({"aime24": ["q1"]}, [CAP], samples=1)
    run = write_run(
        tmp_path, "eval-1", plan, {Shard("aime24", 0, 1): [record("aime24", CAP, "q1", 0, True, 9)]}
    )
    build_report([run], tmp_path / "report")
    assert json.loads((tmp_path / "report" / "report.json").read_text())["training"] == []
    assert "training curves" not in (tmp_path / "report" / "report.md").read_text()
