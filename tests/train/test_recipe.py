"""Batch arithmetic and layouts: the global batch is reached exactly on any layout, or refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from s1slurm.config.cluster import Profile
from s1slurm.core.errors import ConfigError
from s1slurm.train import deepspeed as ds
from s1slurm.train.recipe import gradient_accumulation, layout_for, steps_per_epoch, total_steps, warmup_steps


@pytest.mark.parametrize("nodes, gpus, expected", [(1, 1, 16), (1, 8, 2), (2, 8, 1)])
def test_accumulation_keeps_global_batch_16_on_1_8_and_16_gpus(nodes, gpus, expected):
    layout = layout_for(Profile(nodes=nodes, gpus_per_node=gpus), None)
    assert layout.world_size == nodes * gpus
    accumulation = gradient_accumulation(16, layout.world_size, 1)
    assert accumulation == expected
    assert layout.world_size * 1 * accumulation == 16


@pytest.mark.parametrize("world, micro", [(16, 2), (3, 1), (32, 1), (6, 1)])
def test_layout_that_cannot_reach_the_global_batch_is_a_config_error(world, micro):
    with pytest.raises(ConfigError) as e:
        gradient_accumulation(16, world, micro, file="jobs/train.yaml")
    msg = str(e.value)
    assert e.value.exit_code == 2 and "jobs/train.yaml" in msg and "recipe.global_batch_size" in msg
    assert f"{world} processes x micro batch {micro}" in msg


def test_s1_recipe_has_315_steps_on_16_gpus_and_16_warmup_steps():
    # 1000 examples, 16 ranks, micro batch 1, no accumulation: 63 steps per epoch, 5 epochs.
    assert steps_per_epoch(1000, 16, 1, 1) == 63
    total = total_steps(1000, 5, 16, 1, 1)
    assert total == 315
    assert warmup_steps(total, 0.05) == 16
    assert steps_per_epoch(1000, 1, 1, 16) == 63  # the same optimizer steps on one GPU
    assert total_steps(1000, 5, 16, 1, 1, max_steps=7) == 7


def test_layouts_one_torchrun_per_node_or_one_task_per_rank():
    per_node = layout_for(Profile(nodes=2, gpus_per_node=8, tasks_per_node=1), None)
    assert not per_node.one_task_per_rank and per_node.processes_per_node == 8
    per_rank = layout_for(Profile(nodes=2, gpus_per_node=8, tasks_per_node=8), None)
    assert per_rank.one_task_per_rank and per_rank.world_size == 16
    cpu = layout_for(Profile(nodes=2, gpus_per_node=8), 1)  # the test cluster: one process per node
    assert cpu.world_size == 2
    with pytest.raises(ConfigError, match="tasks_per_node"):
        layout_for(Profile(nodes=1, gpus_per_node=8, tasks_per_node=4), None)
    with pytest.raises(ConfigError, match="GPUs per node"):
        layout_for(Profile(nodes=1, gpus_per_node=4), 8)


def test_the_package_ships_the_templates_users_read_in_the_repository(tmp_path, monkeypatch):
    repo = Path(__file__).resolve().parents[2] / "templates"
    shipped = sorted(p.relative_to(ds.SHIPPED) for p in ds.SHIPPED.rglob("*.json"))
    assert shipped == sorted(p.relative_to(repo) for p in repo.rglob("*.json")) and shipped
    for rel in shipped:  # the same bytes: the copy users edit starts as the default
        assert (repo / rel).read_bytes() == (ds.SHIPPED / rel).read_bytes()
    monkeypatch.chdir(tmp_path)  # a folder with no templates/: the default still resolves (as from a wheel)
    assert ds.resolve_template(Path("templates/deepspeed/zero3.json")) == ds.SHIPPED / "deepspeed/zero3.json"
    (tmp_path / "templates/deepspeed").mkdir(parents=True)
    (tmp_path / "templates/deepspeed/zero3.json").write_text("{}")  # the user's own copy wins
    assert (
        ds.resolve_template(Path("templates/deepspeed/zero3.json"))
        == (tmp_path / "templates/deepspeed/zero3.json").resolve()
    )
    with pytest.raises(ConfigError, match=r"ships templates/deepspeed/zero3\.json"):
        ds.resolve_template(Path("templates/deepspeed/zero9.json"))


def test_deepspeed_template_is_zero3_bf16_and_rendered_with_the_batch():
    template = ds.load_template(ds.SHIPPED / "deepspeed/zero3.json")
    config = ds.render(
        template, micro_batch=1, accumulation=2, world_size=8, precision="bf16", max_grad_norm=1.0
    )
    assert config["zero_optimization"]["stage"] == 3
    assert config["zero_optimization"]["stage3_gather_16bit_weights_on_model_save"] is True
    assert config["bf16"]["enabled"] is True
    assert (
        config["train_batch_size"],
        config["gradient_accumulation_steps"],
        config["train_micro_batch_size_per_gpu"],
    ) == (16, 2, 1)
    assert template["train_batch_size"] == "auto"  # the template itself is not modified


def test_deepspeed_template_without_consolidated_weights_is_refused(tmp_path):
    import json

    bad = tmp_path / "zero2.json"
    bad.write_text(json.dumps({"zero_optimization": {"stage": 2}}))
    with pytest.raises(ConfigError, match="stage"):
        ds.load_template(bad)
    bad.write_text(json.dumps({"zero_optimization": {"stage": 3}}))
    with pytest.raises(ConfigError, match="stage3_gather_16bit_weights_on_model_save"):
        ds.load_template(bad)
