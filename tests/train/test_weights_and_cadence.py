"""Hub weights resolved once at submission into the profile's cache; the time-based checkpoint cadence."""

from __future__ import annotations

import shutil
import types
from pathlib import Path

import pytest

from s1slurm.config.cluster import Profile
from s1slurm.core.rundir import RunDir
from s1slurm.launch.distributed import DistEnv
from s1slurm.models import hub
from s1slurm.stages.train import TrainStage
from s1slurm.train.job_plan import TrainPlan
from s1slurm.train.paths import TrainPaths
from s1slurm.train.spec import DataSpec, TrainSpec
from s1slurm.train.supervisor import TorchrunSupervisor
from tests.train.conftest import s1_records


@pytest.fixture
def fake_hub(monkeypatch, small_model):
    """A hub that answers (this machine reaches none) and serves the 2-layer SmolLM2 as 'org/tiny'."""
    import huggingface_hub
    import pyarrow as pa
    import pyarrow.parquet as pq

    calls = []

    def snapshot_download(repo_id, revision=None, local_dir=None, allow_patterns=None, repo_type=None):
        calls.append((repo_id, local_dir))
        if repo_type == "dataset":  # a hub dataset's snapshot: parquet under data/
            Path(local_dir, "data").mkdir(parents=True, exist_ok=True)
            pq.write_table(
                pa.Table.from_pylist(s1_records(4)), str(Path(local_dir, "data", "train-0.parquet"))
            )
        else:
            shutil.copytree(small_model, local_dir, dirs_exist_ok=True)
        return local_dir

    def hf_hub_download(repo_id, filename):
        return str(Path(small_model) / filename)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", hf_hub_download)
    monkeypatch.setattr(hub, "offline_reason", lambda: None)
    monkeypatch.setattr("s1slurm.stages.train.check_model", lambda spec, file: None)  # tokenizer from the hub
    return calls


def test_a_hub_model_is_downloaded_at_submission_and_the_ranks_load_the_folder_offline(
    tmp_path, fake_hub, monkeypatch
):
    cache = tmp_path / "cache"
    monkeypatch.setattr(
        "s1slurm.train.data.peek_columns",  # the hub dataset's first record
        lambda spec: (sorted(s1_records(1)[0]), s1_records(1)[0]),
    )
    spec = TrainSpec(
        model="org/tiny",
        data=DataSpec(source="org/s1-data"),
        recipe={"global_batch_size": 2, "block_size": 512},
        launch={"processes_per_node": 1},
    )
    profile = Profile(
        executor="slurm", nodes=2, gpus_per_node=8, weights_cache=str(cache), signal_delay_s=120
    )
    stage = TrainStage()
    stage.check(spec, profile, tmp_path / "train.yaml", dry_run=True)
    assert fake_hub == [] and spec.model == "org/tiny"  # a dry run downloads nothing, and says where it would
    assert any(str(cache / "org--tiny") in note for note in stage.notes)
    stage.check(spec, profile, tmp_path / "train.yaml")
    assert fake_hub == [
        ("org/tiny", str(cache / "org--tiny")),
        ("org/s1-data", str(cache / "datasets" / "org--s1-data")),
    ]
    assert spec.model == str(cache / "org--tiny") and (cache / "org--tiny" / "config.json").is_file()
    # the ranks read the dataset's snapshot from the cache too
    from s1slurm.train.data import load_records

    assert spec.data.source == str(cache / "datasets" / "org--s1-data")
    assert [r["question"] for r in load_records(spec.data)] == [r["question"] for r in s1_records(4)]
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    plan = TrainPlan.build(spec, profile, template={"zero_optimization": {"stage": 3}})
    node = TorchrunSupervisor(
        TrainPaths(RunDir.create(tmp_path, "train")), plan, DistEnv(num_nodes=2, world_size=2), "1.0"
    )
    assert node.environment()["HF_HUB_OFFLINE"] == "1"


def test_a_checkpoint_is_due_every_n_minutes_besides_every_n_steps(monkeypatch):
    pytest.importorskip("torch")
    from transformers import TrainerControl, TrainerState

    from s1slurm.train import trainer as T
    from s1slurm.train.worker import StopFlag

    now = [1000.0]
    monkeypatch.setattr(T.time, "time", lambda: now[0])
    callback = T.StopOnRequest(StopFlag(), Path("/nonexistent/stop"), every_minutes=5)
    args = types.SimpleNamespace(device="cpu")
    state = TrainerState(max_steps=100, global_step=1)
    control = callback.on_step_end(args, state, TrainerControl())
    assert not control.should_save
    now[0] += 301
    state.global_step = 2
    control = callback.on_step_end(args, state, TrainerControl())
    assert control.should_save and not control.should_training_stop and callback.timed_saves == [2]
    callback.on_save(args, state, control)  # the clock restarts at every save, step-based ones too
    state.global_step = 3
    assert not callback.on_step_end(args, state, TrainerControl()).should_save
