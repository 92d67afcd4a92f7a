"""Run folders and shards: unique names, atomic outputs, done markers, never overwritten."""

from __future__ import annotations

import re

import pytest

from s1slurm.core.atomic import atomic_write_json, write_new_text
from s1slurm.core.errors import ConfigError
from s1slurm.core.rundir import RunDir
from s1slurm.core.shard import Shard, make_shards


def test_run_folder_is_named_stage_utc_timestamp_short_id(tmp_path):
    run = RunDir.create(tmp_path, "probe")
    assert re.fullmatch(r"probe-\d{8}T\d{6}Z-[0-9a-f]{6}", run.name)
    for sub in ("submitit", "logs", "tasks", "outputs", "done"):
        assert (run.path / sub).is_dir()
    assert RunDir.create(tmp_path, "probe").path != run.path


def test_opening_a_folder_without_manifest_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="not a run directory"):
        RunDir.open(tmp_path)


def test_shards_cover_every_item_exactly_once():
    items = list(range(17))
    shards = make_shards("math500", 5)
    seen = [x for s in shards for x in s.select(items)]
    assert seen == items
    assert [len(s.select(items)) for s in shards] == [3, 3, 4, 3, 4]


def test_shard_ids_are_sortable_and_round_trip():
    s = Shard("aime24", 3, 12)
    assert s.id == "aime24-00003-of-00012"
    assert Shard.from_dict(s.to_dict()) == s
    with pytest.raises(ValueError):
        Shard("a/b", 0, 1)
    with pytest.raises(ValueError):
        Shard("a", 2, 2)


def test_done_marker_is_written_atomically_and_listed(tmp_path):
    run = RunDir.create(tmp_path, "eval")
    shard = Shard("math500", 0, 2)
    assert not run.is_done(shard)
    run.mark_done(shard, {"records": 3})
    assert run.is_done(shard) and run.done_ids() == {shard.id}
    assert not list(run.done_dir.glob(".*.tmp"))  # no temporary file left behind


def test_atomic_json_leaves_no_partial_file_and_new_files_refuse_to_overwrite(tmp_path):
    target = tmp_path / "x.json"
    atomic_write_json(target, {"a": 1})
    assert target.read_text().strip().startswith("{")
    write_new_text(tmp_path / "y.txt", "once")
    with pytest.raises(FileExistsError):
        write_new_text(tmp_path / "y.txt", "twice")
    assert (tmp_path / "y.txt").read_text() == "once"
