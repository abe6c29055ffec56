"""execute + render + atomic write: what ``tiny-interp report`` does."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..atomic import write_text_atomic
from .execute import NotebookError, execute_notebook, read_notebook
from .html import notebook_title, render_html
from .meta import run_metadata


def build_report(
    notebook: str | os.PathLike,
    out: str | os.PathLike,
    params: dict[str, Any] | None = None,
    cwd: str | os.PathLike | None = None,
    cell_timeout: float = 1800,
    executed_copy: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """Run ``notebook`` with ``params`` and write the self-contained HTML report to ``out`` (atomically: a failed
    run leaves an earlier report untouched). Returns the run metadata. ``executed_copy`` also saves the executed
    .ipynb (written too when a cell fails, to see where)."""
    import nbformat

    notebook, params = Path(notebook), dict(params or {})
    nb = read_notebook(notebook)
    try:
        executed, seconds = execute_notebook(nb, params, cwd=cwd, cell_timeout=cell_timeout)
    except NotebookError as e:
        if executed_copy:
            write_text_atomic(executed_copy, nbformat.writes(e.notebook))
        raise
    if executed_copy:
        write_text_atomic(executed_copy, nbformat.writes(executed))
    meta = run_metadata(notebook, params, executed, seconds, start=Path(out).resolve().parent)
    page = render_html(executed, meta, notebook_title(executed, notebook.stem))
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out, page)
    return meta
