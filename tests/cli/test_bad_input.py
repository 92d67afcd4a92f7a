"""Bad input met at the front door: each gets exit code 2, one line naming the file (or the
command line), the field or option at fault and what was expected; never a traceback."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from s1slurm.cli.app import app
from s1slurm.cli.handling import run_app

REPO = Path(__file__).resolve().parents[2]


def refused(capsys, *args: str) -> str:
    code = run_app(app, list(args))
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err and "a bug" not in err, err
    return err


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


@pytest.mark.parametrize(
    "content, says",
    [("[1, 2]\n", "the manifest is a JSON list"), ("{}\n", "field 'tasks': the manifest has no 'tasks'")],
)
@pytest.mark.parametrize("command", ["status", "cancel"])
def test_a_run_folder_whose_manifest_s1slurm_did_not_write(tmp_path, capsys, command, content, says):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "manifest.json").write_text(content)
    err = refused(capsys, command, str(tmp_path / "run"))
    assert "manifest.json" in err and says in err and "expected" in err


def test_resume_names_every_key_the_manifest_lacks(tmp_path, capsys):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "manifest.json").write_text("{}\n")
    err = refused(capsys, "resume", str(tmp_path / "run"))
    assert "field 'stage'" in err and "'tasks', 'spec', 'profile'" in err


def test_a_spec_that_is_not_text_or_not_a_file(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    Path("binary.yaml").write_bytes(bytes(range(128, 256)))
    assert "binary.yaml: not UTF-8 text" in refused(
        capsys, "submit", "eval", "--config", "binary.yaml", "--dry-run"
    )
    Path("folder.yaml").mkdir()
    assert "folder.yaml: is a folder (expected a YAML file)" in refused(
        capsys, "submit", "eval", "--config", "folder.yaml", "--dry-run"
    )


def test_cross_field_checks_name_their_field(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    Path("bad-cluster.yaml").write_text("default: zzz\nprofiles:\n  local:\n    executor: local\n")
    assert "bad-cluster.yaml: field 'default': profile 'zzz' is not one of the profiles (local)" in refused(
        capsys, "--cluster", "bad-cluster.yaml", "profiles"
    )
    spec = yaml.safe_load((REPO / "jobs" / "curate-smoke.yaml").read_text())
    Path("curate.yaml").write_text(yaml.safe_dump({**spec, "sources": []}))
    assert "curate.yaml: field 'sources': the collect step needs at least one source" in refused(
        capsys, "submit", "curate", "--config", "curate.yaml", "--dry-run"
    )


def test_a_profile_the_spec_names_is_blamed_on_the_spec(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    shutil.copy(REPO / "cluster.yaml", "cluster.yaml")
    text = (REPO / "jobs" / "eval-smoke.yaml").read_text() + "\nprofile: nope\n"
    Path("eval.yaml").write_text(text)
    err = refused(capsys, "submit", "eval", "--config", "eval.yaml", "--dry-run")
    assert "eval.yaml: field 'profile': no profile named 'nope'" in err and "expected one of:" in err


def test_training_data_with_a_bad_line_anywhere_is_refused_before_submission(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    good = {"question": "What is 1+1?", "solution": "1+1=2", "final_answer": "2"}
    write_jsonl(tmp_path / "pool.jsonl", [good, good, "not json", good])
    spec = yaml.safe_load((REPO / "jobs" / "train-smoke.yaml").read_text())
    spec["data"]["source"] = str(tmp_path / "pool.jsonl")
    spec.pop("cluster")
    Path("train.yaml").write_text(yaml.safe_dump(spec))
    err = refused(capsys, "--profile", "local", "submit", "train", "--config", "train.yaml", "--dry-run")
    assert "pool.jsonl: field 'data.source': cannot read: line 3 is not valid JSON" in err
    assert "expected one JSON object per line" in err


def test_decontaminate_options_and_init_path_are_named_as_typed(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    write_jsonl(tmp_path / "pool.jsonl", [{"question": "How many primes are below ten?"}])
    write_jsonl(tmp_path / "bench.jsonl", [{"question": "What is two plus two?", "answer": "4"}])
    base = ["decontaminate", "pool.jsonl", "--against", "bench.jsonl"]
    assert "<command line>: field '--ngram'" in refused(capsys, *base, "--ngram", "0")
    assert "field '--threshold'" in refused(capsys, *base, "--threshold", "7")
    Path("afile.txt").write_text("x\n")
    assert "afile.txt: field '--out': exists and is not a folder" in refused(
        capsys, *base, "--out", "afile.txt"
    )
    assert Path("afile.txt").read_text() == "x\n"  # nothing the user had is touched
    Path("somewhere").mkdir()
    assert "somewhere: field '--path': is a folder" in refused(
        capsys, "init", "--path", "somewhere", "--force"
    )


def test_a_bad_smollm2_alias_in_an_eval_spec_is_refused_at_submission(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    spec = yaml.safe_load((REPO / "jobs" / "eval-smoke.yaml").read_text())
    Path("eval.yaml").write_text(yaml.safe_dump({**spec, "model": "smollm2:abc"}))
    err = refused(capsys, "submit", "eval", "--config", "eval.yaml", "--dry-run")
    assert "eval.yaml: field 'model': unknown model alias 'smollm2:abc'" in err


def test_a_benchmark_error_says_which_benchmark(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    spec = yaml.safe_load((REPO / "jobs" / "eval-smoke.yaml").read_text())
    for bench in spec["benchmarks"]:  # the shipped spec's paths are relative to the repository
        bench["path"] = str((REPO / bench["path"]).resolve())
    spec["benchmarks"][-1]["path"] = str(tmp_path / "nope.jsonl")
    Path("eval.yaml").write_text(yaml.safe_dump(spec))
    err = refused(capsys, "submit", "eval", "--config", "eval.yaml", "--dry-run")
    assert f"eval.yaml: field 'benchmarks.{len(spec['benchmarks']) - 1}.path'" in err and "not found" in err


def test_output_folders_that_cannot_be_folders_are_refused_before_any_work(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    Path("afile").write_text("x\n")
    assert "field '--runs-dir'" in refused(capsys, "demo", "--quick", "--runs-dir", "afile")
    assert "afile is a file, not a folder" in refused(capsys, "demo", "--quick", "--runs-dir", "afile/sub")
    assert not list(tmp_path.glob("**/demo-*"))  # nothing was built


def test_a_reference_setting_that_is_no_setting_label_is_refused(tmp_path, monkeypatch, capsys):
    from s1slurm.report.reference import get_reference

    with pytest.raises(Exception, match="'nonsense' is not a setting label"):
        get_reference("s1-32b@nonsense")
    assert get_reference("s1-32b@ignore=2,max=none") is not None
    monkeypatch.chdir(tmp_path)
    shutil.copy(REPO / "jobs" / "eval-smoke.yaml", "eval.yaml")
    Path("pipe.yaml").write_text(
        "stage: pipeline\nsteps:\n  - {stage: eval, config: eval.yaml}\n"
        "  - {stage: report, reference: 's1-32b@ignore=abc,max=none'}\n"
    )
    err = refused(capsys, "--profile", "local", "submit", "pipeline", "--config", "pipe.yaml", "--dry-run")
    assert "pipe.yaml: field 'steps.1.reference'" in err


def test_logs_of_a_task_that_never_started(tmp_path, capsys):
    from s1slurm.core.atomic import atomic_write_json
    from s1slurm.core.rundir import RunDir

    run = RunDir.create(tmp_path, "probe")
    atomic_write_json(
        run.manifest_path,
        {
            "run": run.name,
            "stage": "probe",
            "executor": "slurm",
            "submissions": [],
            "tasks": [
                {
                    "index": 0,
                    "shard": {"group": "probe", "index": 0, "count": 1},
                    "shard_id": "probe-00000-of-00001",
                    "job_id": None,
                }
            ],
        },
    )
    assert "field '--task': task 0 has no logs yet" in refused(capsys, "logs", str(run.path))


@pytest.mark.parametrize(
    "override, field",
    [
        ({"time": "99:99"}, "time"),
        ({"partition": "gpu a"}, "partition"),
        ({"time": "00:10:00", "signal_delay_s": 100000}, "signal_delay_s"),
    ],
)
def test_profile_values_slurm_would_misread_are_refused(tmp_path, monkeypatch, capsys, override, field):
    monkeypatch.chdir(tmp_path)
    profile = {"executor": "slurm", "partition": "gpu", **override}
    Path("cluster.yaml").write_text(yaml.safe_dump({"default": "x", "profiles": {"x": profile}}))
    assert f"cluster.yaml: field 'profiles.x.{field}'" in refused(
        capsys, "--cluster", "cluster.yaml", "profiles"
    )
