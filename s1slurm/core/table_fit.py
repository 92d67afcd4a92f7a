"""Tables that fit the width they are drawn at: columns leave by priority, notes move under the table.

Rich squeezes a table that is too wide by cutting every column (``Cont...``, ``Scal...``). A
:class:`FittedTable` decides at draw time instead: columns the user can do without leave first (lowest
``priority`` first), a column marked ``stack`` leaves as ``key  header: value`` lines under the table
rather than disappearing, wrapping columns wrap (and fold words longer than the column), and what is
left is drawn whole. A table that fits is drawn exactly as rich would draw it.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field
from io import StringIO
from typing import Any

from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

# A wrapping column keeps at least this many cells (all it needs, if less) unless given its own min_width.
WRAP_MIN = 20


@dataclass
class FitColumn:
    """One column and what happens to it when the table is too wide."""

    header: str
    priority: int | None = None  # None: always shown; else leaves when too wide, lowest priority first
    wrap: bool = False  # may wrap onto several lines (else kept whole on one line)
    min_width: int | None = None  # the narrowest a wrapping column may get (default: WRAP_MIN)
    stack: bool = False  # when it leaves, its values are listed under the table
    options: dict[str, Any] = field(default_factory=dict)  # rich's add_column options (justify, style ...)


@dataclass
class Layout:
    """The columns shown, their widths (a column not in ``widths``: rich's natural width), the
    columns that left the table and those listed under it."""

    shown: list[int]
    widths: dict[int, int]
    dropped: list[int]
    stacked: list[int]


class FittedTable:
    """A rich renderable with the API of :class:`rich.table.Table` that fits the console's width.

    ``key``: the columns that name a row in the lines of stacked columns (default: the first).
    Other keyword arguments are rich's ``Table`` options (``title``, ``caption``, ``box`` ...).
    """

    def __init__(self, *, key: Sequence[int] = (0,), **table_options: Any) -> None:
        self.title: str | Text | None = table_options.pop("title", None)
        self.caption: str | Text | None = table_options.pop("caption", None)
        self.key = tuple(key)
        self.table_options = table_options
        self.columns: list[FitColumn] = []
        self.rows: list[tuple[RenderableType, ...]] = []

    def add_column(
        self,
        header: str,
        *,
        priority: int | None = None,
        wrap: bool | None = None,
        min_width: int | None = None,
        stack: bool = False,
        **options: Any,
    ) -> None:
        """Add a column; ``no_wrap`` (rich's spelling) is the opposite of ``wrap``."""
        no_wrap = options.pop("no_wrap", None)
        if wrap is None:
            wrap = no_wrap is False
        self.columns.append(FitColumn(header, priority, wrap, min_width, stack, options))

    def add_row(self, *cells: RenderableType | None) -> None:
        """Add a row (``None`` cells are drawn empty)."""
        self.rows.append(tuple("" if c is None else c for c in cells))

    @property
    def row_count(self) -> int:
        return len(self.rows)

    def layout(self, console: Console, width: int) -> Layout:
        """Which columns fit in ``width`` cells and how wide the wrapping ones are."""
        wide = console.options.update(width=10_000, no_wrap=False)
        natural, required = [], []
        for i, col in enumerate(self.columns):
            cells = [col.header, *(r[i] for r in self.rows)]
            sizes = [Measurement.get(console, wide, cell) for cell in cells]
            most = max(s.maximum for s in sizes)
            natural.append(most)
            if col.wrap:
                floor = col.min_width if col.min_width is not None else WRAP_MIN
                required.append(min(most, max(floor, sizes[0].minimum)))  # the header's words stay whole
            else:
                required.append(most)
        shown = list(range(len(self.columns)))
        leaving = sorted(
            (i for i, c in enumerate(self.columns) if c.priority is not None),
            key=lambda i: (self.columns[i].priority, -i),
        )
        dropped: list[int] = []

        def fits(columns: list[int]) -> bool:
            return sum(required[i] for i in columns) + self._extra(console, len(columns)) <= width

        while not fits(shown) and leaving:
            gone = leaving.pop(0)
            shown.remove(gone)
            dropped.append(gone)
        # A wide column that left may have made room for a narrower one that left before it.
        for i in reversed(dropped[:-1]):
            if fits(sorted([*shown, i])):
                shown = sorted([*shown, i])
                dropped.remove(i)
        widths: dict[int, int] = {}
        room = width - self._extra(console, len(shown))
        if sum(natural[i] for i in shown) > room:
            # Too wide as drawn naturally: whole columns keep their width, wrapping ones share the rest.
            widths = {i: required[i] for i in shown}
            room -= sum(widths.values())
            wrapping = sorted(
                (i for i in shown if self.columns[i].wrap), key=lambda i: natural[i] - required[i]
            )
            for n, i in enumerate(wrapping):
                give = max(0, min(natural[i] - required[i], room // (len(wrapping) - n)))
                widths[i] += give
                room -= give
        stacked = [i for i in dropped if self.columns[i].stack]
        return Layout(shown, widths, [i for i in dropped if i not in stacked], stacked)

    def _extra(self, console: Console, n: int) -> int:
        """Cells taken by borders and padding around ``n`` columns (measured on a probe table)."""
        if n == 0:
            return 0
        probe = Table(**self.table_options)
        for _ in range(n):
            probe.add_column(width=1)
        return Measurement.get(console, console.options.update(width=10_000), probe).minimum - n

    def table(self, console: Console, width: int) -> tuple[Table, Layout]:
        """The rich table drawn at ``width`` and the layout it follows."""
        lay = self.layout(console, width)
        table = Table(
            title=_wrapping(console, self.title, "table.title"),
            caption=_wrapping(console, self.caption, "table.caption"),
            **self.table_options,
        )
        for i in lay.shown:
            col = self.columns[i]
            options = dict(col.options)
            if col.wrap:
                options.setdefault("overflow", "fold")
            table.add_column(col.header, no_wrap=not col.wrap, width=lay.widths.get(i), **options)
        for row in self.rows:
            table.add_row(*(row[i] for i in lay.shown))
        return table, lay

    def below(self, console: Console, lay: Layout) -> list[Text]:
        """The lines under the table: stacked values per row, then which columns were left out."""
        lines = []
        for row in self.rows:
            for i in lay.stacked:
                value = _text(console, row[i])
                if not value.plain.strip():
                    continue
                keys = " ".join(f"{self.columns[k].header} {_text(console, row[k]).plain}" for k in self.key)
                line = Text.assemble((f"{keys}  ", "bold"), f"{self.columns[i].header}: ", value)
                line.no_wrap, line.overflow = False, "fold"
                lines.append(line)
        if lay.dropped:
            names = ", ".join(dict.fromkeys(self.columns[i].header.strip() for i in lay.dropped))
            lines.append(Text(f"(not shown at this width: {names})", style="dim", no_wrap=False))
        return lines

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        table, lay = self.table(console, options.max_width)
        yield table
        yield from self.below(console, lay)

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        table, _ = self.table(console, options.max_width)
        return Measurement.get(console, options, table)


def _text(console: Console, cell: RenderableType) -> Text:
    """A cell as styled text (markup in strings read as rich reads it in a table)."""
    if isinstance(cell, Text):
        return cell.copy()
    if isinstance(cell, str):
        return console.render_str(cell)
    return Text(str(cell))


def _wrapping(console: Console, text: str | Text | None, style: str) -> Text | None:
    """A title or caption that wraps at words to the table's width, even on a soft-wrapping console."""
    if text is None:
        return None
    out = console.render_str(text, style=style, highlight=False) if isinstance(text, str) else text.copy()
    out.no_wrap, out.overflow = False, "fold"
    return out


def plain_text(renderable: RenderableType, width: int) -> str:
    """``renderable`` drawn as plain text ``width`` cells wide (for logs, files and messages)."""
    buffer = StringIO()
    console = Console(file=buffer, width=width, force_terminal=False, color_system=None, highlight=False)
    console.print(renderable)
    return buffer.getvalue()


def wrap_lines(text: str, width: int) -> str:
    """Each line longer than ``width`` wrapped at spaces, continued under its own indent plus two.

    Words longer than the width (paths) stay whole: the terminal folds them, but they can be copied.
    """
    out = []
    for line in text.splitlines():
        if len(line) <= width:
            out.append(line)
            continue
        indent = line[: len(line) - len(line.lstrip())]
        out += textwrap.wrap(
            line, width, subsequent_indent=indent + "  ", break_long_words=False, break_on_hyphens=False
        ) or [line]
    return "\n".join(out)
