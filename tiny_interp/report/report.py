"""execute + render + atomic write: what ``tiny-interp report`` does."""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..atomic import write_text_atomic
from ..errors import ConfigError
from ..ownership import check_output_file, claim_output_file
from .execute import NotebookError, execute_notebook, read_notebook
from .html import notebook_title, render_html
from .meta import run_metadata

KIND = "report"


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
    .ipynb (written too when a cell fails, to see where). Every file is claimed as ``report`` output (a same-named
    file the command did not write is refused, writing nothing); a failing cell ends in one line naming it, with
    the full traceback in ``error_log(out)``."""
    import nbformat

    notebook, params = Path(notebook), dict(params or {})
    out, log = Path(out), error_log(out)
    check_output_file(out, KIND, legacy=_is_earlier_report, make_parent=True)
    check_output_file(log, KIND, make_parent=True)
    if executed_copy:
        check_output_file(executed_copy, KIND, make_parent=True)
    if cwd is not None and not Path(cwd).is_dir():
        raise ConfigError(f"--cwd {cwd} is not a directory; pass the folder the notebook should run in")
    if not math.isfinite(cell_timeout) or cell_timeout <= 0:
        raise ConfigError(f"--cell-timeout must be a positive number of seconds, got {cell_timeout}")
    nb = read_notebook(notebook)
    try:
        executed, seconds = execute_notebook(nb, params, cwd=cwd, cell_timeout=cell_timeout)
    except NotebookError as e:
        _write_owned(executed_copy, nbformat.writes(e.notebook))
        _write_owned(log, e.detail or str(e))
        raise NotebookError(f"{e}; full traceback in {log}", e.notebook, e.detail) from None
    _write_owned(executed_copy, nbformat.writes(executed))
    meta = run_metadata(notebook, params, executed, seconds, start=Path(out).resolve().parent)
    page = render_html(executed, meta, notebook_title(executed, notebook.stem))
    _write_owned(out, page, legacy=_is_earlier_report)
    return meta


def error_log(out: str | os.PathLike) -> Path:
    """Where a failed run's full traceback goes: beside the report, ``report.html`` -> ``report.log``."""
    out = Path(out)
    return out.with_suffix(".log") if out.suffix != ".log" else out.with_name(out.name + ".error")


def _write_owned(path: str | os.PathLike | None, text: str, legacy: Callable[[Path], bool] | None = None) -> None:
    """Claim ``path`` as report output (its folder's manifest), then write it atomically."""
    if path is not None:
        claim_output_file(path, KIND, legacy=legacy, make_parent=True)
        write_text_atomic(path, text)


def _is_earlier_report(path: Path) -> bool:
    """A report this command wrote before manifests existed (it carries our run-metadata block)."""
    with path.open(encoding="utf-8", errors="replace") as fh:
        return 'id="tiny-interp-run"' in fh.read()
