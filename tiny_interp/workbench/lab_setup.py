"""Where the lab finds its notebooks and keeps its state, and the environment of its kernels: the same from a
checkout and from an installed wheel, and never the user's own JupyterLab workspace or settings."""

from __future__ import annotations

import os
import sys
import sysconfig
from pathlib import Path

from ..defaults import MODEL_ENV, REPO_ROOT
from ..errors import ConfigError

QUICKSTART = "00_quickstart.ipynb"
# where the wheel's data-files put the notebooks, under the installation's data prefix (see pyproject.toml)
WHEEL_NOTEBOOKS = Path("share") / "tiny-interp" / "notebooks"
LAB_STATE = ".lab"  # inside the lab's working folder: its JupyterLab workspaces and user settings


def in_checkout() -> bool:
    """Running from a clone of the repository (not from an installed wheel)."""
    return (REPO_ROOT / "pyproject.toml").is_file() and (REPO_ROOT / "notebooks" / QUICKSTART).is_file()


def installed_notebooks() -> list[Path]:
    """Where an installed wheel may have put the notebooks (system, venv or ``--user`` installs)."""
    import site

    # the prefix this package was installed under: <prefix>/lib/pythonX.Y/site-packages (POSIX) or
    # <prefix>/Lib/site-packages (Windows); REPO_ROOT is site-packages in an install
    here = [REPO_ROOT.parents[i] for i in (1, 2) if len(REPO_ROOT.parents) > i]
    bases = [*map(str, here), sysconfig.get_path("data"), sys.prefix, getattr(site, "USER_BASE", None)]
    return [Path(b) / WHEEL_NOTEBOOKS for b in dict.fromkeys(b for b in bases if b)]


def notebook_source(given: str | os.PathLike | None) -> Path:
    """The folder of notebooks the lab copies: ``given``, the checkout's notebooks/, else the wheel's."""
    if given is not None:
        source = Path(given).expanduser().resolve()
        if not (source / QUICKSTART).is_file():
            raise ConfigError(f"no {QUICKSTART} in {source}; give --notebooks a folder of the tiny-interp notebooks")
        return source
    candidates = [REPO_ROOT / "notebooks", *installed_notebooks()]
    found = next((c for c in candidates if (c / QUICKSTART).is_file()), None)
    if found is None:
        looked = ", ".join(str(c) for c in candidates)
        raise ConfigError(f"no tiny-interp notebooks found (looked in {looked}); pass --notebooks FOLDER")
    return found


def default_workdir() -> Path:
    """runs/lab in a checkout; from a wheel, ``tiny-interp-lab`` in the user's current folder."""
    return REPO_ROOT / "runs" / "lab" if in_checkout() else Path.cwd() / "tiny-interp-lab"


def lab_state_args(work: Path) -> list[str]:
    """The lab's own JupyterLab workspace and user settings, inside its working folder: it neither reopens the
    notebooks of the user's other projects nor rewrites their global workspace."""
    state = work / LAB_STATE
    return [
        f"--LabApp.workspaces_dir={state / 'workspaces'}",
        f"--LabApp.user_settings_dir={state / 'settings'}",
    ]


def lab_environment(model: str | None) -> dict[str, str]:
    """The kernels' environment: the report's (offline unless told otherwise, PYTHONPATH absolute), the venv's bin
    on PATH for the lab's terminals, and $TINY_INTERP_MODEL only when the user named a model: without --model every
    notebook opens its own documented default, as in a report and in a terminal."""
    from ..report.execute import kernel_env

    env = kernel_env()
    if model is not None:
        env[MODEL_ENV] = model
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env
