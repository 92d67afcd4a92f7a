"""One loader reads every table the stages take: data files of four formats, saved dataset folders,
hub ids; one rule tells a local name from a hub id."""

from __future__ import annotations

import json

import pytest

from s1slurm.core.dataload import BadLine, is_hub_id, load_table, looks_local
from s1slurm.core.errors import ConfigError

ROWS = [
    {"id": "a", "question": "1+1?", "answer": "x = 2"},
    {"id": "b", "question": "2+2?", "answer": "x = 4"},
]


def test_a_name_is_local_when_it_exists_or_is_written_like_a_path_else_a_hub_id(tmp_path):
    (tmp_path / "pool").mkdir()
    assert looks_local(str(tmp_path / "pool"))
    for name in ("./x", "../x", "~/x", "/abs/x", "a/b/c", "pool.jsonl", "data/x.parquet"):
        assert looks_local(name), name
    for name in ("simplescaling/s1K", "HuggingFaceH4/MATH-500"):
        assert is_hub_id(name), name


@pytest.mark.parametrize("suffix", [".jsonl", ".json", ".csv", ".parquet"])
def test_every_data_file_format_reads_the_same_records(tmp_path, suffix):
    import datasets

    path = tmp_path / f"pool{suffix}"
    ds = datasets.Dataset.from_list(ROWS)
    {
        ".jsonl": lambda: ds.to_json(path),
        ".json": lambda: path.write_text(json.dumps(ROWS)),
        ".csv": lambda: ds.to_csv(path),
        ".parquet": lambda: ds.to_parquet(path),
    }[suffix]()
    table = load_table(str(path), field="path")
    assert table.records == ROWS and set(table.columns) == {"id", "question", "answer"}
    assert load_table(str(path), field="path", limit=1).records == ROWS[:1]


def test_a_saved_dataset_folder_reads_like_a_file(tmp_path):
    import datasets

    datasets.Dataset.from_list(ROWS).save_to_disk(str(tmp_path / "saved"))
    assert load_table(str(tmp_path / "saved"), field="hub_id").records == ROWS


def test_bad_lines_are_an_error_naming_the_line_or_kept_in_place(tmp_path):
    path = tmp_path / "pool.jsonl"
    path.write_text(json.dumps(ROWS[0]) + "\n{oops\n" + json.dumps(ROWS[1]) + "\n")
    with pytest.raises(ConfigError, match="line 2"):
        load_table(str(path), field="path")
    kept = load_table(str(path), field="path", bad_lines="keep").records
    assert kept == [ROWS[0], BadLine(2), ROWS[1]]


def test_a_missing_file_or_an_unknown_format_names_the_spec_and_field(tmp_path):
    with pytest.raises(ConfigError, match=r"spec.yaml: field 'sources.0.path': file .* not found"):
        load_table(str(tmp_path / "nope.jsonl"), field="sources.0.path", file="spec.yaml")
    (tmp_path / "pool.txt").write_text("x")
    with pytest.raises(ConfigError, match=r"expected a file ending in \.jsonl"):
        load_table(str(tmp_path / "pool.txt"), field="path", file="spec.yaml")
