"""Every command, as the app lists it, answers bad usage with its usage, one line and exit code 2.

The table is built from the click command tree of the app, so commands added later are covered
without editing this file.
"""

from __future__ import annotations

import enum
import typing
from dataclasses import dataclass

import pytest
import typer

from s1slurm.cli.app import app
from s1slurm.cli.handling import run_app

NUMBER_TYPES = {"integer", "float", "integer range", "float range"}


def walk(command, path: tuple[str, ...] = ()):
    """(path, command) for the root, every command and every sub-command of a group."""
    yield path, command
    ctx = typer.Context(command, info_name=path[-1] if path else "s1slurm")
    for name in getattr(command, "list_commands", lambda ctx: [])(ctx):
        sub = command.get_command(ctx, name)
        if sub is not None and not getattr(sub, "hidden", False):
            yield from walk(sub, (*path, name))


def annotation(param):
    """The Python type behind a parameter (typer >= 0.2x keeps it; older versions use click types)."""
    ann = getattr(getattr(param, "type_descriptor", None), "annotation", None)
    args = [a for a in typing.get_args(ann) if a is not type(None)]
    if (
        typing.get_origin(ann) in (typing.Union, getattr(__import__("types"), "UnionType", None))
        and len(args) == 1
    ):
        ann = args[0]
    if typing.get_origin(ann) in (list, tuple):
        ann = typing.get_args(ann)[0] if typing.get_args(ann) else None
    return ann


def wrong_value(param) -> str | None:
    """A value the option's type must refuse, or None for options that take any text or none."""
    if getattr(param, "is_flag", False) or getattr(param, "count", False):
        return None
    click_type = getattr(getattr(param, "type", None), "name", None)
    ann = annotation(param)
    if click_type in NUMBER_TYPES or ann in (int, float):
        return "not-a-number"
    if (
        click_type == "choice"
        or typing.get_origin(ann) is typing.Literal
        or (isinstance(ann, type) and issubclass(ann, enum.Enum))
    ):
        return "no-such-choice"
    if click_type == "boolean" or ann is bool:
        return "perhaps"
    return None


@dataclass(frozen=True)
class Case:
    args: tuple[str, ...]
    needles: tuple[str, ...]  # what the message must name

    def __str__(self) -> str:
        return " ".join(self.args) or "<no arguments>"


def cases() -> list[Case]:
    root = typer.main.get_command(app)
    table = []
    for path, command in walk(root):
        is_group = hasattr(command, "list_commands")
        required = [p for p in command.params if p.required]
        if path and (is_group or required):  # a command that runs with no arguments is not an error
            table.append(Case(path, ("Usage:",) if is_group else ("Missing",)))
        table.append(Case((*path, "--nosuchoption"), ("No such option", "--nosuchoption")))
        for param in command.params:
            bad = wrong_value(param)
            if bad is not None and param.opts and param.opts[0].startswith("-"):
                table.append(Case((*path, param.opts[0], bad), ("Invalid value", param.opts[0])))
    return table


TABLE = cases()


def test_the_table_covers_every_listed_command_and_typed_options():
    listed = {c.args[0] for c in TABLE if c.args}
    assert {"submit", "status", "logs", "cancel", "resume", "report", "demo", "init", "profiles"} <= listed
    assert ("logs", "--task", "not-a-number") in {c.args for c in TABLE}
    assert ("status", "--interval", "not-a-number") in {c.args for c in TABLE}


@pytest.mark.parametrize("case", TABLE, ids=str)
def test_bad_usage_is_exit_code_2_with_usage_and_one_line(case: Case, capsys):
    code = run_app(app, list(case.args))
    out = capsys.readouterr()
    text = out.out + out.err
    assert code == 2, text
    assert "Traceback" not in text, text
    for needle in case.needles:
        assert needle in text, (needle, text)
    if case.args:
        assert "Usage: s1slurm" in text and "--help" in text, text


def test_a_mistyped_command_gets_a_suggestion(capsys):
    assert run_app(app, ["sbumit"]) == 2
    err = capsys.readouterr().err
    assert "No such command 'sbumit'" in err and "Did you mean 'submit'?" in err


def test_a_bug_is_one_message_and_a_crash_file_with_the_traceback(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    buggy = typer.Typer()

    @buggy.command()
    def boom() -> None:
        raise RuntimeError("the bug")

    @buggy.command()
    def fine() -> None:
        pass

    assert run_app(buggy, ["boom"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and "RuntimeError: the bug" in err and "report it" in err
    [crash] = (tmp_path / "cache" / "s1slurm").glob("crash-*.log")
    assert str(crash) in err.replace("\n", "")
    text = crash.read_text()
    assert "Traceback (most recent call last)" in text and "RuntimeError: the bug" in text
    assert "command: s1slurm boom" in text and "s1slurm " in text.splitlines()[0]


def test_version_lists_installed_libraries_without_importing_them(capsys):
    import sys
    from importlib import metadata

    before = set(sys.modules)
    assert run_app(app, ["--version"]) == 0
    out = capsys.readouterr().out
    from s1slurm import __version__

    assert out.splitlines()[0] == f"s1slurm {__version__}"
    assert f"submitit {metadata.version('submitit')}" in out
    for dist, shown in (("torch", "torch"), ("transformers", "transformers"), ("deepspeed", "DeepSpeed")):
        try:
            assert f"{shown} {metadata.version(dist)}" in out
        except metadata.PackageNotFoundError:
            assert shown not in out
    assert not {"torch", "transformers", "vllm", "deepspeed"} & (set(sys.modules) - before)


def test_an_interrupt_is_exit_code_130_with_a_word_on_what_is_kept(capsys):
    interrupted = typer.Typer()

    @interrupted.command()
    def wait() -> None:
        raise KeyboardInterrupt

    @interrupted.command()
    def other() -> None:
        pass

    assert run_app(interrupted, ["wait"]) == 130
    err = capsys.readouterr().err
    assert "interrupted; finished shards are kept" in err and "Traceback" not in err
