"""Record logs survive a killed writer: a torn last line is closed and skipped, never rewritten."""

from __future__ import annotations

import json

from s1slurm.core.jsonl import append_lines, read_lines


def test_a_torn_last_line_is_closed_and_read_as_not_json(tmp_path):
    path = tmp_path / "records.jsonl"
    path.write_bytes(b'{"key": "a"}\n{"key": "b", "tor')
    assert list(read_lines(path)) == [{"key": "a"}, None]
    append_lines(path, [json.dumps({"key": "c"})])
    # the torn line stays where it was (nothing is rewritten); the new record follows on its own line
    assert path.read_bytes() == b'{"key": "a"}\n{"key": "b", "tor\n{"key": "c"}\n'
    assert list(read_lines(path)) == [{"key": "a"}, None, {"key": "c"}]


def test_a_missing_file_reads_as_empty_and_empty_appends_write_nothing(tmp_path):
    path = tmp_path / "none.jsonl"
    assert list(read_lines(path)) == []
    append_lines(path, [])
    assert not path.exists()
