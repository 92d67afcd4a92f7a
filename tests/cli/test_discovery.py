"""Which cluster.yaml a command uses: --cluster, $S1SLURM_CLUSTER, ./cluster.yaml, the user config
folder, then the built-in ``local`` profile."""

from __future__ import annotations

from pathlib import Path

import pytest

from s1slurm.config.discovery import BUILTIN, discover, find_cluster_file, user_config_dir
from s1slurm.core.errors import ConfigError

SLURM_ONLY = "default: big\nprofiles:\n  big:\n    executor: slurm\n    partition: p\n"


@pytest.fixture
def places(tmp_path, monkeypatch):
    """An empty current folder, a HOME, and an XDG config folder, each with no cluster.yaml yet."""
    cwd, home, xdg = tmp_path / "cwd", tmp_path / "home", tmp_path / "xdg"
    for p in (cwd, home, xdg):
        p.mkdir()
    monkeypatch.chdir(cwd)
    return {"cwd": cwd, "home": home, "xdg": xdg, "env": {"HOME": str(home), "XDG_CONFIG_HOME": str(xdg)}}


def write(path: Path, text: str = SLURM_ONLY) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_nothing_anywhere_gives_the_built_in_local_profile(places):
    found = discover(None, places["env"])
    assert found.source.path is None and found.source.reason == BUILTIN
    assert found.cluster.default == "local" and found.cluster.profiles["local"].executor == "local"
    assert found.origins == {"local": BUILTIN}


def test_the_user_config_folder_follows_xdg_config_home_else_home(places):
    assert user_config_dir(places["env"]) == places["xdg"] / "s1slurm"
    assert user_config_dir({"HOME": str(places["home"])}) == places["home"] / ".config" / "s1slurm"
    # A relative XDG_CONFIG_HOME is invalid by the XDG specification and ignored.
    assert (
        user_config_dir({"HOME": str(places["home"]), "XDG_CONFIG_HOME": "rel"})
        == places["home"] / ".config" / "s1slurm"
    )


def test_search_order_each_place_wins_over_the_next(places):
    env = dict(places["env"])
    user = write(places["xdg"] / "s1slurm" / "cluster.yaml")
    assert find_cluster_file(None, env).path == user
    here = write(places["cwd"] / "cluster.yaml")
    assert find_cluster_file(None, env).path.resolve() == here
    env["S1SLURM_CLUSTER"] = str(write(places["cwd"] / "from-env.yaml"))
    assert find_cluster_file(None, env).reason == "$S1SLURM_CLUSTER"
    explicit = write(places["cwd"] / "explicit.yaml")
    assert find_cluster_file(explicit, env).path == explicit


def test_a_file_without_local_gets_the_built_in_one_and_says_where_each_came_from(places):
    write(places["cwd"] / "cluster.yaml")
    found = discover(None, places["env"])
    assert found.cluster.default == "big"
    assert found.origins == {"big": "cluster.yaml", "local": BUILTIN}


def test_a_files_own_local_profile_is_kept(places):
    write(
        places["cwd"] / "cluster.yaml",
        "default: local\nprofiles:\n  local:\n    executor: local\n    setup: ['echo mine']\n",
    )
    found = discover(None, places["env"])
    assert found.cluster.profiles["local"].setup == ["echo mine"] and found.origins["local"] == "cluster.yaml"


@pytest.mark.parametrize("how", ["--cluster", "$S1SLURM_CLUSTER"])
def test_a_file_the_user_names_must_exist(places, how):
    env = dict(places["env"])
    missing = places["cwd"] / "missing.yaml"
    if how == "$S1SLURM_CLUSTER":
        env["S1SLURM_CLUSTER"] = str(missing)
    with pytest.raises(ConfigError, match=r"missing\.yaml: file not found"):
        discover(missing if how == "--cluster" else None, env)


def test_a_runs_own_submissions_use_the_profiles_file_it_recorded(tmp_path, monkeypatch):
    from s1slurm.config.discovery import profiles_for_run, recorded_cluster_file

    mine = tmp_path / "elsewhere.yaml"
    mine.write_text("default: gpu\nprofiles:\n  gpu:\n    executor: slurm\n    partition: big\n")
    monkeypatch.chdir(tmp_path)  # a ./cluster.yaml in the task's folder must not be picked instead
    (tmp_path / "cluster.yaml").write_text("default: other\nprofiles:\n  other:\n    executor: local\n")
    found = profiles_for_run({"cluster_file": recorded_cluster_file(mine)})
    assert found.cluster.profiles["gpu"].partition == "big" and "other" not in found.cluster.profiles
    builtin = profiles_for_run({"cluster_file": recorded_cluster_file(Path("<built-in>"))})
    assert builtin.source.path is None and set(builtin.cluster.profiles) == {"local"}
