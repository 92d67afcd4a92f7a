"""Cluster profiles and job specs: valid files load, bad ones fail with file, field and what is allowed."""

from __future__ import annotations

from pathlib import Path

import pytest

from s1slurm.config.cluster import Profile, load_cluster, parse_time_minutes
from s1slurm.core.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str, name: str = "cluster.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_shipped_cluster_file_has_local_ci_and_h100_profiles():
    cluster = load_cluster(REPO / "cluster.yaml")
    assert {"local", "ci", "h100"} <= set(cluster.profiles)
    assert cluster.profile(None).executor == "local"
    h100 = cluster.profile("h100")
    assert h100.gpus_per_node == 8 and h100.executor == "slurm"


def test_unknown_key_names_file_field_and_allowed_keys(tmp_path):
    p = write(tmp_path, "default: a\nprofiles:\n  a:\n    executor: slurm\n    partiton: gpu\n")
    with pytest.raises(ConfigError) as e:
        load_cluster(p)
    msg = str(e.value)
    assert str(p) in msg and "profiles.a.partiton" in msg and "unknown key" in msg
    assert "partition" in msg and "gpus_per_node" in msg  # the allowed keys are listed
    assert e.value.exit_code == 2


def test_wrong_type_names_the_field(tmp_path):
    p = write(tmp_path, "default: a\nprofiles:\n  a:\n    nodes: two\n")
    with pytest.raises(ConfigError, match=r"profiles\.a\.nodes.*integer"):
        load_cluster(p)


def test_missing_default_profile_lists_the_profiles(tmp_path):
    p = write(tmp_path, "default: big\nprofiles:\n  a: {}\n  b: {}\n")
    with pytest.raises(
        ConfigError, match=r"field 'default': profile 'big' is not one of the profiles \(a, b\)"
    ):
        load_cluster(p)


def test_asking_for_a_missing_profile_lists_the_existing_ones(tmp_path):
    cluster = load_cluster(write(tmp_path, "default: a\nprofiles:\n  a: {}\n"))
    with pytest.raises(ConfigError, match=r"no profile named 'gpu'.*one of: a"):
        cluster.profile("gpu", file="c.yaml")


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        load_cluster(tmp_path / "nope.yaml")


def test_newline_in_partition_is_refused_so_it_cannot_inject_sbatch_lines():
    with pytest.raises(Exception, match="newlines"):
        Profile(partition="gpu\n#SBATCH --account=other")


def test_override_errors_name_the_spec_file_and_cluster_prefix():
    with pytest.raises(ConfigError) as e:
        Profile().merged({"gpus_per_node": -1}, source="jobs/x.yaml")
    assert "jobs/x.yaml" in str(e.value) and "cluster.gpus_per_node" in str(e.value)


@pytest.mark.parametrize(
    "text,minutes",
    [(30, 30), ("30", 30), ("01:30:00", 90), ("1-00:00:00", 1440), ("2-04", 2 * 1440 + 240), ("10:30", 11)],
)
def test_slurm_time_formats(text, minutes):
    assert parse_time_minutes(text) == minutes


def test_bad_time_is_refused():
    with pytest.raises(ValueError):
        parse_time_minutes("soon")
