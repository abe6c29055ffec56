"""Run a notebook top to bottom in a fresh kernel (nbclient), with parameters injected."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import IO, Any

from ..errors import TinyInterpError
from .params import INJECTED_TAG, inject_parameters


class NotebookError(TinyInterpError):
    """A cell raised: the message names the cell and the error; the partly executed notebook is kept."""

    def __init__(self, message: str, notebook: Any, detail: str = ""):
        super().__init__(message)
        self.notebook = notebook
        self.detail = detail  # the full traceback, for a log file (the message stays one line)


def read_notebook(path: str | os.PathLike) -> Any:
    import nbformat

    path = Path(path)
    if not path.is_file():
        raise TinyInterpError(f"no notebook at {path}")
    try:
        return nbformat.read(path, as_version=4)
    except Exception as e:  # nbformat raises several kinds for broken JSON / schema
        raise TinyInterpError(f"{path} is not a readable Jupyter notebook ({e})") from None


def kernel_env() -> dict[str, str]:
    """The kernel's environment: ours, offline by default, and with relative PYTHONPATH entries made absolute
    (the kernel may start in another directory, where ``PYTHONPATH=.`` would no longer find this package)."""
    env = dict(os.environ)
    parts = [str(Path(p).resolve()) for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    package_root = str(Path(__file__).resolve().parents[2])
    if package_root not in parts:
        parts.append(package_root)
    env["PYTHONPATH"] = os.pathsep.join(parts)
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    return env


def execute_notebook(
    nb: Any,
    params: dict[str, Any] | None = None,
    cwd: str | os.PathLike | None = None,
    cell_timeout: float = 1800,
    kernel_name: str = "python3",
    strict: bool = True,
) -> tuple[Any, float]:
    """Execute a copy of ``nb`` with ``params`` injected; returns (executed notebook, seconds).

    Raises ``NotebookError`` (holding the partly executed notebook) when a cell fails."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    nb = inject_parameters(nb, params or {}, strict=strict)
    cwd = str(Path(cwd or os.getcwd()).resolve())
    client = NotebookClient(
        nb,
        timeout=cell_timeout,
        kernel_name=kernel_name,
        allow_errors=False,
        resources={"metadata": {"path": cwd}},
        record_timing=True,
    )
    # the kernel process's own stderr (start-up notices, races in its messaging while it shuts down) belongs in
    # the failure log, not on the user's terminal beside our one-line error
    with tempfile.TemporaryFile("w+", encoding="utf-8") as kernel_stderr:
        t0 = time.monotonic()
        try:
            client.execute(env=kernel_env(), stderr=kernel_stderr)
        except CellExecutionError as e:
            detail = strip_ansi(str(e)) + kernel_log(kernel_stderr)
            raise NotebookError(failed_cell_line(nb, e.ename, e.evalue), nb, detail=detail) from None
        except CellTimeoutError:
            message = f"a notebook cell ran longer than {cell_timeout:.0f} s (raise --cell-timeout)"
            raise NotebookError(message, nb, detail=message + kernel_log(kernel_stderr)) from None
        except DeadKernelError as e:
            message = f"the kernel died while running the notebook ({e}); out of memory?"
            raise NotebookError(message, nb, detail=message + kernel_log(kernel_stderr)) from None
        return nb, time.monotonic() - t0


def kernel_log(stream: IO[str]) -> str:
    """What the kernel process wrote to its stderr, as a section of the failure log ("" when nothing)."""
    stream.seek(0)
    text = strip_ansi(stream.read()).strip()
    return f"\n\n--- the kernel process's own output ---\n{text}\n" if text else ""


def strip_ansi(text: str) -> str:
    """Kernel tracebacks are coloured with terminal escapes; a log file wants plain text."""
    import re

    return re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", text)


def failed_cell_line(nb: Any, ename: str, evalue: str) -> str:
    """One line: which cell failed (its number in the user's notebook, counting every cell from 1 and leaving out
    the cell we injected the parameters in) and the error."""
    cells = [c for c in nb.cells if INJECTED_TAG not in c.get("metadata", {}).get("tags", [])]
    number = next(
        (
            i + 1
            for i, cell in enumerate(cells)
            if any(o.get("output_type") == "error" for o in cell.get("outputs", []))
        ),
        None,
    )
    first = strip_ansi(str(evalue)).strip().splitlines()
    error = f"{ename}: {first[0]}" if first else str(ename)
    where = f"cell {number}" if number is not None else "a cell"
    return f"{where} of the notebook failed: {error[:300]}"
