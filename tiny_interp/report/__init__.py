"""Notebook reports: execute a notebook with parameters and publish it as one self-contained HTML file."""

from .execute import NotebookError, execute_notebook, read_notebook
from .html import ReportError, remote_references, render_html
from .meta import note_run, run_metadata
from .params import declared_parameters, inject_parameters, parse_params
from .report import build_report

__all__ = [
    "NotebookError",
    "ReportError",
    "build_report",
    "declared_parameters",
    "execute_notebook",
    "inject_parameters",
    "note_run",
    "parse_params",
    "read_notebook",
    "remote_references",
    "render_html",
    "run_metadata",
]
