"""Checkpoints: atomic (staged, sealed, renamed), the last K kept, a broken newest one skipped."""

from __future__ import annotations

import json

from s1slurm.train.checkpoints import MARKER, CheckpointManager, verify


def save(manager: CheckpointManager, step: int, size: int = 100):
    """Write a checkpoint as the ranks would (several files, a subfolder), then seal it."""
    staging = manager.staging_path(step)
    (staging / f"global_step{step}").mkdir(parents=True)
    (staging / f"global_step{step}" / "optim_rank0.pt").write_bytes(b"x" * size)
    (staging / "trainer_state.json").write_text(json.dumps({"global_step": step}))
    assert manager.latest() is None or manager.latest().name != f"checkpoint-{step}"  # staged: invisible
    return manager.finalize(step, {"epoch": step / 10})


def test_only_the_last_k_complete_checkpoints_are_kept(tmp_path):
    manager = CheckpointManager(tmp_path / "checkpoints", keep_last=2)
    for step in (2, 4, 6, 8):
        save(manager, step)
    assert [s for s, _ in manager.all_checkpoints()] == [6, 8]
    assert manager.latest().name == "checkpoint-8"
    assert not manager.staging_root.exists() or not any(manager.staging_root.iterdir())
    marker = json.loads((manager.latest() / MARKER).read_text())
    assert marker["step"] == 8 and marker["files"]["global_step8/optim_rank0.pt"]["size"] == 100


def test_a_broken_newest_checkpoint_is_skipped_for_the_previous_one(tmp_path):
    manager = CheckpointManager(tmp_path / "checkpoints", keep_last=3)
    for step in (10, 20, 30):
        save(manager, step)
    newest = manager.final_path(30)
    (newest / "global_step30" / "optim_rank0.pt").write_bytes(b"x" * 50)  # cut short
    assert "expected 100" in verify(newest)
    assert manager.latest() == manager.final_path(20)
    (manager.final_path(20) / "trainer_state.json").unlink()  # a file missing
    assert manager.latest() == manager.final_path(10)
    (manager.final_path(10) / MARKER).unlink()  # never sealed
    assert manager.latest() is None


def test_a_half_written_checkpoint_of_a_killed_attempt_is_invisible_and_replaced(tmp_path):
    manager = CheckpointManager(tmp_path / "checkpoints", keep_last=2)
    save(manager, 4)
    leftover = manager.staging_path(6)
    leftover.mkdir(parents=True)
    (leftover / "trainer_state.json").write_text("{")  # a rank died while writing
    assert manager.latest() == manager.final_path(4)
    manager.clean_staging()
    assert not manager.staging_root.exists()
    # a broken checkpoint-6 (e.g. damaged on disk) is replaced when step 6 is saved again
    broken = manager.final_path(6)
    broken.mkdir()
    (broken / "junk").write_text("x")
    assert manager.latest() == manager.final_path(4)
    save(manager, 6)
    assert manager.latest() == manager.final_path(6) and not (broken / "junk").exists()
    assert verify(manager.final_path(6)) is None
