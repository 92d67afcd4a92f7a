"""Bad training input is refused with exit code 2 and a clear message before anything is submitted."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from s1slurm.config.cluster import load_cluster
from s1slurm.core.errors import ConfigError
from s1slurm.stages import get_stage
from s1slurm.stages.submission import resolve
from tests.spine.test_cli import assert_clean_error, s1slurm

pytest.importorskip("transformers")


def spec_text(model: Path | str, data: Path, *, fields: str = "s1k", extra: str = "") -> str:
    return (
        f"stage: train\nmodel: {model}\ndata:\n  source: {data}\n  fields: {fields}\n"
        f"recipe:\n  global_batch_size: 4\n  block_size: 512\n{extra}"
    )


def check(workdir: Path, text: str, profile: str = "local"):
    (workdir / "train.yaml").write_text(text)
    return resolve(
        get_stage("train"), Path("train.yaml"), load_cluster("cluster.yaml"), Path("cluster.yaml"), profile
    )


def test_a_good_spec_passes_and_paths_become_absolute(workdir, small_model, s1_jsonl):
    shutil.copy(s1_jsonl, workdir / "data.jsonl")
    resolved = check(workdir, spec_text(small_model, Path("data.jsonl")))
    assert resolved.spec.data.source == str(workdir / "data.jsonl")
    assert Path(resolved.spec.deepspeed).is_absolute() and Path(resolved.spec.deepspeed).is_file()


def test_dataset_without_the_mapped_fields(workdir, small_model, s1_jsonl):
    with pytest.raises(ConfigError) as e:
        check(workdir, spec_text(small_model, s1_jsonl, fields="s1k-1.1"))
    assert "deepseek_thinking_trajectory" in str(e.value) and "columns are" in str(e.value)


def test_model_folder_without_chat_template(workdir, small_model, s1_jsonl):
    bare = workdir / "bare-model"
    shutil.copytree(small_model, bare)
    (bare / "chat_template.jinja").unlink(missing_ok=True)
    config = json.loads((bare / "tokenizer_config.json").read_text())
    config.pop("chat_template", None)
    (bare / "tokenizer_config.json").write_text(json.dumps(config))
    with pytest.raises(ConfigError, match="no chat template"):
        check(workdir, spec_text(bare, s1_jsonl))


def test_block_size_above_the_models_maximum(workdir, small_model, s1_jsonl):
    text = spec_text(small_model, s1_jsonl).replace("block_size: 512", "block_size: 32768")
    with pytest.raises(ConfigError, match="above the model's maximum of 8192"):
        check(workdir, text)


def test_layout_that_cannot_reach_the_global_batch_exits_2_and_submits_nothing(
    workdir, small_model, s1_jsonl
):
    (workdir / "train.yaml").write_text(
        spec_text(small_model, s1_jsonl, extra="launch:\n  processes_per_node: 3\n")
    )
    assert_clean_error(
        s1slurm("submit", "train", "--config", "train.yaml"),
        "train.yaml",
        "global batch 4 cannot be reached with 3 processes",
    )
    assert not (workdir / "runs").exists()
    # two nodes on the local executor, and two nodes of 8 GPUs for a global batch of 4
    (workdir / "train.yaml").write_text(spec_text(small_model, s1_jsonl, extra="cluster:\n  nodes: 2\n"))
    assert_clean_error(s1slurm("submit", "train", "--config", "train.yaml"), "local executor")
    with pytest.raises(ConfigError, match="16 sequences per accumulation step"):
        check(
            workdir,
            spec_text(small_model, s1_jsonl, extra="cluster:\n  nodes: 2\n  gpus_per_node: 8\n"),
            profile="ci",
        )


def test_shipped_specs_are_valid(workdir):
    from s1slurm.config.loading import load_model
    from s1slurm.train.spec import TrainSpec

    for name, data, block in (
        ("train-s1-32b.yaml", "simplescaling/s1K", 32768),
        ("train-s1.1-32b.yaml", "simplescaling/s1K-1.1", 20000),
    ):
        big = load_model(workdir / "jobs" / name, TrainSpec)
        assert (
            big.model,
            big.data.source,
            big.recipe.epochs,
            big.recipe.global_batch_size,
            big.recipe.learning_rate,
        ) == ("Qwen/Qwen2.5-32B-Instruct", data, 5, 16, 1e-5)
        assert (
            big.recipe.adam_beta1,
            big.recipe.adam_beta2,
            big.recipe.weight_decay,
            big.recipe.warmup_fraction,
            big.recipe.block_size,
            big.recipe.precision,
            big.recipe.loss_averaging,
        ) == (0.9, 0.95, 1e-4, 0.05, block, "bf16", "sequence")
        assert big.memory.liger_kernel and big.cluster == {
            "nodes": 2,
            "gpus_per_node": 8,
            "tasks_per_node": 1,
            "time": "02:00:00",
            "signal_delay_s": 300,
        }
    load_model(workdir / "jobs/train-smoke.yaml", TrainSpec)


MEMORY_REFUSALS = [
    ("memory:\n  liger_kernel: true\n", "ci", "memory.liger_kernel", "'liger_kernel' is not installed"),
    (
        "memory:\n  liger_kernel: true\ncluster:\n  gpus_per_node: 0\n",
        "ci",
        "memory.liger_kernel",
        "need GPUs",
    ),
    (
        "memory:\n  attn_implementation: flash_attention_2\n",
        "ci",
        "memory.attn_implementation",
        "'flash_attn' is not installed",
    ),
    (
        "memory:\n  sequence_parallel_size: 3\n",
        "ci",
        "memory.sequence_parallel_size",
        "does not divide the 2 ranks",
    ),
    # SmolLM2 has 9 attention heads and 3 key/value heads: 2 does not divide them
    ("memory:\n  sequence_parallel_size: 2\n", "ci", "memory.sequence_parallel_size", "9 attention heads"),
    (
        "memory:\n  sequence_parallel_size: 2\nrecipe:\n  loss_averaging: token\n",
        "ci",
        "recipe.loss_averaging",
        "token weighting",
    ),
]


@pytest.mark.parametrize("extra, profile, field, words", MEMORY_REFUSALS)
def test_memory_options_that_cannot_work_exit_2_before_submission(
    workdir, small_model, s1_jsonl, extra, profile, field, words
):
    text = (
        f"stage: train\nmodel: {small_model}\ndata:\n  source: {s1_jsonl}\n  fields: s1k\n"
        f"launch:\n  processes_per_node: 1\n{extra}"
    )
    if "recipe:" not in extra:
        text += "recipe:\n  global_batch_size: 4\n  block_size: 512\n"
    else:
        text = text.replace("recipe:\n", "recipe:\n  global_batch_size: 4\n  block_size: 512\n")
    if "cluster:" not in extra:
        text += "cluster:\n  nodes: 2\n  gpus_per_node: 8\n"
    else:
        text = text.replace("cluster:\n", "cluster:\n  nodes: 2\n")
    if field == "memory.liger_kernel" and "need GPUs" not in words:  # one case end to end, through the CLI
        (workdir / "train.yaml").write_text(text)
        proc = s1slurm("--profile", profile, "submit", "train", "--config", "train.yaml")
        assert_clean_error(proc, "train.yaml", words)
        assert f"field '{field}'" in proc.stderr
        assert not (workdir / "runs").exists()
        return
    with pytest.raises(ConfigError) as e:
        check(workdir, text, profile=profile)
    assert words in str(e.value) and e.value.field == field and e.value.file == "train.yaml"


def test_a_preemption_grace_shorter_than_a_checkpoint_is_warned_about(
    workdir, small_model, s1_jsonl, monkeypatch
):
    import subprocess

    import s1slurm.train.requeue as requeue

    asked = []

    def scontrol(args, timeout=15):
        asked.append(args)
        return subprocess.CompletedProcess(
            args,
            0,
            stdout="PartitionName=debug PreemptMode=REQUEUE GraceTime=1 DefaultTime=NONE\n",
            stderr="",
        )

    monkeypatch.setattr(requeue, "_run", scontrol)
    resolved = check(workdir, spec_text(small_model, s1_jsonl), profile="ci")
    assert ["scontrol", "-o", "show", "partition", resolved.profile.partition] in asked
    [warning] = [n for n in resolved.stage.notes if n.startswith("warning:")]
    assert "GraceTime 1 s is shorter than one step + a checkpoint" in warning
    monkeypatch.setattr(requeue, "_run", lambda args, timeout=15: None)  # SLURM cannot tell: no warning
    assert not [
        n
        for n in check(workdir, spec_text(small_model, s1_jsonl), profile="ci").stage.notes
        if n.startswith("warning:")
    ]
