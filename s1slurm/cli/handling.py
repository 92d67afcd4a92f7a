"""How a command's end reaches the user: an exit code and a short message, never a raw traceback.

- usage errors (unknown command or option, missing argument, bad value): the command's usage line,
  one ``error:`` line (with click's "did you mean" when it has one) and a hint, exit code 2;
- errors s1slurm raises itself (:class:`S1SlurmError`): one ``error:`` line and their exit code;
- anything else is a bug: the full traceback goes to a crash file in the user's cache folder and the
  user sees where it is and how to report it, exit code 1.
"""

from __future__ import annotations

import inspect
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

from s1slurm.core.errors import S1SlurmError

INTERRUPTED = 130


def _click_exceptions():
    """The exception module of the click typer runs on (recent typer versions vendor their own click)."""
    return inspect.getmodule(typer.BadParameter)


def _stderr() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def show_usage_error(error: Exception) -> None:
    """Usage line, one error line, and where help is: click's layout, without its traceback."""
    ctx = getattr(error, "ctx", None)
    if type(error).__name__ == "NoArgsIsHelpError":  # the help was printed already: nothing was wrong
        message = error.format_message().strip()  # type: ignore[attr-defined]
        if message:
            print(message, file=sys.stderr)
        return
    console = _stderr()
    if ctx is not None:
        console.print(ctx.get_usage(), markup=False)
    console.print(f"[red]error:[/red] {escape(error.format_message())}")  # type: ignore[attr-defined]
    if ctx is not None and ctx.command.get_help_option(ctx) is not None:
        console.print(f"Try '{ctx.command_path} {ctx.help_option_names[0]}' for help.", markup=False)


def cache_dir(env: Mapping[str, str] | None = None) -> Path:
    """``$XDG_CACHE_HOME/s1slurm``, else ``~/.cache/s1slurm``."""
    env = os.environ if env is None else env
    xdg = env.get("XDG_CACHE_HOME", "")
    if xdg and Path(xdg).is_absolute():
        return Path(xdg) / "s1slurm"
    return (Path(env["HOME"]) if env.get("HOME") else Path.home()) / ".cache" / "s1slurm"


def write_crash_report(
    error: BaseException, argv: Sequence[str], env: Mapping[str, str] | None = None
) -> Path | None:
    """Write the versions, the command line and the full traceback to a new file; None if nowhere works."""
    # loaded when the command runs, not at start-up (``s1slurm --help`` stays fast)
    from s1slurm.cli.version import version_text

    stamp = time.strftime("%Y%m%d-%H%M%S")
    try:
        folder_now = os.getcwd()
    except OSError as e:  # the current folder was deleted: still write the report
        folder_now = f"<unknown: {e}>"
    text = (
        f"{version_text()}\n\ncommand: {' '.join(argv)}\nfolder: {folder_now}\ntime: {stamp}\n\n"
        + "".join(traceback.format_exception(type(error), error, error.__traceback__))
    )
    for folder in (cache_dir(env), Path(tempfile.gettempdir())):  # the cache, else /tmp
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"crash-{stamp}-{os.getpid()}.log"
            path.write_text(text)
            return path
        except OSError:
            continue
    return None


def report_bug(error: BaseException, argv: Sequence[str]) -> None:
    """Tell the user that s1slurm failed, where the traceback is, and how to report it."""
    path = write_crash_report(error, argv)
    console = _stderr()
    console.print(
        f"[red]error:[/red] s1slurm failed unexpectedly (a bug): "
        f"{escape(type(error).__name__)}: {escape(str(error))}"
    )
    if path is None:  # nowhere to write it: the traceback is the only record left
        traceback.print_exception(type(error), error, error.__traceback__)
        return
    console.print(f"the full traceback is in {path}", markup=False)
    console.print(
        "please report it to the s1slurm maintainers (the issue tracker of the repository you "
        "installed it from) with that file and the command you ran",
        markup=False,
    )


def run_app(app: typer.Typer, args: Sequence[str] | None = None, prog_name: str = "s1slurm") -> int:
    """Run the command line ``args`` (default: ``sys.argv[1:]``) and return its exit code."""
    click_exc = _click_exceptions()
    aborts = tuple(c for c in (getattr(click_exc, "Abort", None), typer.Abort, EOFError) if c is not None)
    exits = tuple(c for c in (getattr(click_exc, "Exit", None), typer.Exit) if c is not None)
    argv = [prog_name, *(sys.argv[1:] if args is None else args)]
    try:
        # standalone_mode=False: exceptions reach us, so that s1slurm's own errors and bugs are shown
        # as below; click's usage errors are then shown by show_usage_error.
        code = app(args=argv[1:], prog_name=prog_name, standalone_mode=False)
    except S1SlurmError as e:
        _stderr().print(f"[red]error:[/red] {escape(str(e))}")
        return e.exit_code
    except click_exc.ClickException as e:
        show_usage_error(e)
        return e.exit_code
    except aborts:
        _stderr().print("aborted", markup=False)
        return 1
    except exits as e:
        return e.exit_code
    except KeyboardInterrupt:  # typer turns it into exit code 130 itself; this is in case it does not
        code = INTERRUPTED
    except Exception as e:
        report_bug(e, argv)
        return 1
    if code == INTERRUPTED:
        _stderr().print("interrupted; finished shards are kept (see 's1slurm resume')", markup=False)
    return code if isinstance(code, int) else 0
