"""The selected dataset is read by the training stage as it is: one real training step on it."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from s1slurm.core.rundir import RunDir
from s1slurm.curate.pipeline import run_select_step
from s1slurm.curate.spec import CurateSpec
from s1slurm.curate.store import CurationDir, read_jsonl, save_rows
from s1slurm.train.paths import TrainPaths
from tests.curate.data import clean_olympiad

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]
pytest.importorskip("deepspeed")


def domains_rows(n: int) -> list[dict]:
    """What the domains step leaves: pool questions with a trace (their solution) and an attempt."""
    return [
        {
            "id": f"olympiadbench/{r['id']}",
            "question": r["question"],
            "solution": "\n".join(r["solution"]),
            "answer": ", ".join(r["final_answer"]),
            "source": "olympiadbench",
            "cot_type": "math",
            "domain": r["subfield"],
            "metadata": "{}",
            "thinking": "\n".join(r["solution"])[:600],
            "attempt": ", ".join(r["final_answer"]),
            "trace_flag": None,
            "solved_by": [],
        }
        for r in clean_olympiad(n)
    ]


def test_selected_set_trains_for_a_step(tmp_path: Path, small_model: Path):
    cur = CurationDir(tmp_path / "cur")
    save_rows(cur, "domains", domains_rows(12))
    cur.mark_done("domains", {"in": 12, "out": 12, "reasons": {}})
    spec = CurateSpec(
        out=cur.path, steps=["select"], select={"n": 4, "seed": 0, "tokenizer": str(small_model)}
    )
    run_select_step(cur, spec)
    selected = cur.export_path("select")
    assert len(read_jsonl(selected)) == 4

    (tmp_path / "train.yaml").write_text(f"""stage: train
model: {small_model}
data: {{source: {selected}, fields: curate}}
recipe: {{epochs: 1, global_batch_size: 4, micro_batch_size: 1, learning_rate: 1.0e-4, block_size: 256,
          precision: fp32, gradient_checkpointing: false}}   # fp32: bf16 is emulated (slow) on this CPU
launch: {{processes_per_node: 2}}             # as the training tests: gloo, ZeRO-3 on the CPU
""")
    proc = subprocess.Popen(
        [sys.executable, "-m", "s1slurm", "--profile", "local", "submit", "train", "--config", "train.yaml"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=800)
    finally:  # torchrun and its rank live in the same session: none is left behind
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    assert "1 succeeded, 0 failed" in out, out
    [run] = list((tmp_path / "runs").iterdir())
    summary = json.loads(TrainPaths(RunDir.open(run)).summary.read_text())
    assert [row["step"] for row in summary["loss_curve"]] == [1]
    assert summary["loss_curve"][0]["loss"] > 0
