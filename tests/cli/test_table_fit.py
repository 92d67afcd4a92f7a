"""FittedTable: a table too wide for the console gives way by priority instead of cutting every cell."""

from __future__ import annotations

import io

from rich.console import Console
from rich.table import Table

from s1slurm.core.table_fit import FittedTable, plain_text, wrap_lines

ROWS = [
    (
        "0",
        "math500-00000-of-00004",
        "40_0",
        "FAILED",
        "node1,node2",
        "01:02:03",
        "RuntimeError: CUDA out of memory while allocating the logits of the last chunk",
    ),
    ("1", "math500-00001-of-00004", "40_1", "RUNNING", "node3", "00:10:00", ""),
]


def table(**options) -> FittedTable:
    t = FittedTable(title="a run", **options)
    t.add_column("task")
    t.add_column("shard")
    t.add_column("job id", priority=3)
    t.add_column("state")
    t.add_column("nodes", priority=1)
    t.add_column("elapsed", priority=2)
    t.add_column("note", priority=4, wrap=True, min_width=20, stack=True)
    for row in ROWS:
        t.add_row(*row)
    return t


def draw(renderable, width: int) -> str:
    return plain_text(renderable, width)


def test_a_table_that_fits_is_drawn_as_rich_draws_it():
    plain = Table(title="a run")
    for header in ("task", "shard", "job id", "state", "nodes", "elapsed", "note"):
        plain.add_column(header, no_wrap=header != "note")
    for row in ROWS:
        plain.add_row(*row)
    assert draw(table(), 200) == draw(plain, 200)


def test_columns_leave_lowest_priority_first_and_are_named_under_the_table():
    assert "not shown" not in draw(table(), 100)  # every column, the note wrapped at its 20 cells
    text = draw(table(), 95)
    assert "nodes" not in text.split("\n")[2] and "elapsed" in text and "job id" in text
    assert "(not shown at this width: nodes)" in text
    assert "…" not in text and all(len(line) <= 95 for line in text.splitlines())
    # the note wraps in its column, each word whole
    assert all(word in text.split() for word in ROWS[0][6].split())


def test_a_stacked_column_leaves_as_lines_under_the_table_keyed_by_row():
    text = draw(table(), 60)
    header = next(line for line in text.splitlines() if "task" in line)
    assert "note" not in header and "job id" in header  # the note leaves before the job id
    assert "task 0 note: RuntimeError: CUDA out of memory" in " ".join(text.split())
    assert "task 1  note" not in text  # an empty note says nothing
    assert "(not shown at this width: nodes, elapsed)" in text
    assert "…" not in text and all(len(line) <= 60 for line in text.splitlines())


def test_a_narrower_column_comes_back_when_a_wider_one_has_left():
    t = FittedTable()
    t.add_column("name")
    t.add_column("small", priority=1)
    t.add_column("wide", priority=2)
    t.add_row("alpha", "12", "x" * 40)
    text = draw(t, 30)
    assert "small" in text and "wide" not in text.splitlines()[1] and "12" in text


def test_wrapping_columns_fold_long_words_rather_than_cut_them():
    t = FittedTable(key=(0,))
    t.add_column("profile")
    t.add_column("from", wrap=True, min_width=10)
    path = "/very/long/path/to/a/cluster/file/in/a/deep/folder/cluster.yaml"
    t.add_row("h100", path)
    text = draw(t, 40)
    assert "…" not in text
    pieces = [line.split("│")[2].strip() for line in text.splitlines() if line.startswith("│")]
    assert "".join(pieces) == path


def test_the_console_width_is_read_when_drawn():
    buffer = io.StringIO()
    for width in (60, 140):
        Console(file=buffer, width=width, color_system=None, soft_wrap=True).print(table())
    narrow, wide = buffer.getvalue().split("a run")[1:]
    assert "note:" in narrow and "note:" not in wide and "node1,node2" in wide


def test_long_lines_wrap_under_their_own_indent_and_keep_long_words():
    path = "/a/" + "b" * 70
    text = wrap_lines(f"  note: the file {path} is missing and nothing else can be said about it", 40)
    lines = text.splitlines()
    assert lines[0] == "  note: the file" and lines[1] == f"    {path}"
    assert lines[2].startswith("    is missing")
    assert wrap_lines("short\n  also short", 40) == "short\n  also short"
