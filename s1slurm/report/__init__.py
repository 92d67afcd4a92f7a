"""Reports: merge evaluation runs' per-sample records into tables, scaling curves and a web page.

The CLI calls :func:`build_report` and then :func:`render_terminal` on its result. Names are
imported on first use, so importing this package (for example to build the CLI) loads neither
numpy nor matplotlib.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from s1slurm.report.build import PartialReportError, build_report, default_out_dir
    from s1slurm.report.reference import REFERENCES
    from s1slurm.report.terminal import render_terminal
    from s1slurm.report.types import FILES, ReportResult

_WHERE = {
    "FILES": "types",
    "PartialReportError": "build",
    "ReportResult": "types",
    "build_report": "build",
    "default_out_dir": "build",
    "REFERENCES": "reference",
    "render_terminal": "terminal",
}
__all__ = [
    "FILES",
    "REFERENCES",
    "PartialReportError",
    "ReportResult",
    "build_report",
    "default_out_dir",
    "render_terminal",
]  # loaded on first use (see __getattr__): the report stack is slow to import


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(f"s1slurm.report.{_WHERE[name]}"), name)
    raise AttributeError(f"module 's1slurm.report' has no attribute {name!r}")
