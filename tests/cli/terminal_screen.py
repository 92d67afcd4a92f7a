"""Run a real command in a tmux window of a given width and read what it left on the screen."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.ops.test_ops_cluster import TmuxScreen, wait_for

# What rich puts where it cuts a cell, a header or a title.
CUT = "…"
BORDERS = "┏┃┡│└┗╭╰"


@dataclass
class Screen:
    """What a command printed, as the terminal shows it (``shown``) and as it wrote it (``written``:
    lines the terminal had to wrap joined back, so a line wider than the terminal is visible)."""

    width: int
    shown: str
    written: str

    def table_lines(self) -> list[str]:
        """The lines of bordered tables, as written."""
        return [line for line in self.written.splitlines() if line[:1] in BORDERS]

    def too_wide(self) -> list[str]:
        """Table lines the program wrote wider than the terminal (the terminal broke them)."""
        return [line for line in self.table_lines() if len(line.rstrip()) > self.width]

    def column(self, header: str, lines: list[str] | None = None) -> str:
        """The text of one boxed column, its wrapped or folded pieces joined (rows ending at ``│``)."""
        rows = lines if lines is not None else self.table_lines()
        head = next(line for line in rows if f" {header} " in line)
        start = head.index(f" {header} ")
        end = next(i for i in range(start + 1, len(head)) if head[i] in "┃│")
        return "".join(line[start:end].strip() for line in rows if line.startswith("│"))


def run_in_tmux(command: list[str], cwd: Path, width: int, timeout: float = 240) -> Screen:
    """``command`` run to its end in a ``width``-column tmux window; its whole output read back."""
    # The tmux server keeps the environment of whoever started it: a COLUMNS set there (pytest's
    # IPython plugin sets 80) would override the window's real width, as it would in a user's shell.
    screen = TmuxScreen(["env", "-u", "COLUMNS", "-u", "LINES", *command], cwd=cwd, width=width, height=50)
    try:

        def capture(*flags: str) -> str:
            return subprocess.run(
                ["tmux", "capture-pane", "-p", "-S", "-", *flags, "-t", screen.name],
                capture_output=True,
                text=True,
                check=False,
            ).stdout

        shown = wait_for(lambda: (t := capture()) and "EXITED" in t and t, timeout, f"{command} to end")
        return Screen(width, shown, capture("-J"))
    finally:
        screen.close()
