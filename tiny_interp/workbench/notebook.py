"""What every workbench notebook calls first: one-line errors and the notebook's model and data, resolved the same
in the lab, in a report and in a terminal."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any


def setup(plotly: bool = False) -> None:
    """Workbench errors (a wrong path, a bad parameter) show as one line instead of a traceback; with ``plotly``,
    figures render live in JupyterLab and are kept by ``tiny-interp report``."""
    from IPython import get_ipython

    from ..errors import TinyInterpError

    shell = get_ipython()
    if shell is not None:
        shell.set_custom_exc((TinyInterpError,), one_line_error)
    if plotly:
        import plotly.io as pio

        pio.renderers.default = "plotly_mimetype+notebook"


def one_line_error(shell: Any, etype: type, value: BaseException, tb: Any, tb_offset: Any = None) -> list[str]:
    """IPython's custom-exception hook: the message alone (our errors name the file or value and what to do).
    IPython leaves showing it to the hook; ``_showtraceback`` is the kernel's way to send it as the cell's error."""
    stb = [f"error: {value}"]
    shell._showtraceback(etype, value, stb)
    return stb


def pick_model(given: Any, default: Callable[[], Path | None], what: str = "model") -> str:
    """The notebook's model: ``given`` (a path found from here or the repository root, or a hub id), else
    ``default()``; a one-line error when there is none."""
    from ..errors import ConfigError
    from .paths import model_arg

    if given:
        return model_arg(given)
    found = default()
    if found is None:
        raise ConfigError(f"no {what}: set MODEL to a model directory or hub id (no shipped trained_models/ here)")
    return str(found)


def pick_path(given: Any, default: os.PathLike | str, what: str = "stories") -> Path:
    """A data path: ``given`` or ``default``, found from here or the repository root."""
    from .paths import repo_path

    return repo_path(given or default, what)
