"""tiny-interp lab: the main job: JupyterLab on the quickstart notebook."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "lab",
        help="open JupyterLab on the quickstart notebook",
        description="Open JupyterLab on the quickstart notebook. The lab works on copies of the notebooks in "
        "--workdir (made once, never overwritten: your edits, outputs and views stay there, and the originals stay "
        "clean), with its own JupyterLab workspace and settings there (your global ones are left alone). In a "
        "checkout its kernels start at the repository root, so paths mean what they mean in a terminal there; from "
        "an installed wheel they start in --workdir. Each notebook opens its own documented default model, as in a "
        "report; --model makes the notebooks that take $TINY_INTERP_MODEL open that one. Extra arguments after -- "
        "go to jupyter lab (e.g. -- --no-browser --port 8899).",
    )
    p.add_argument("--model", default=None, help="model directory or hub id the notebooks open by default")
    p.add_argument(
        "--notebooks", default=None, help="folder of notebooks to copy (default: the checkout's or the wheel's)"
    )
    p.add_argument(
        "--workdir",
        default=None,
        help="folder the lab works in (default: runs/lab in a checkout, else ./tiny-interp-lab)",
    )
    p.add_argument("jupyter_args", nargs=argparse.REMAINDER, help="arguments passed on to jupyter lab")
    p.set_defaults(run=run)


def checked_model(given: str | None) -> str | None:
    """The model named by --model (checked before any server starts: a wrong one is one line, not a dead lab); without
    one, a one-line instruction when no default model exists (never a silent training or download)."""
    from ..defaults import default_model_dir
    from ..errors import ConfigError

    if not given:
        if default_model_dir() is None:
            raise ConfigError(
                "no default model here (an installed wheel ships none): pass --model DIR or a hub id, e.g. "
                "tiny-interp lab --model roneneldan/TinyStories-1M"
            )
        return None
    from ..loading import resolve_model_dir
    from ..workbench.paths import model_arg

    model = model_arg(given)
    resolve_model_dir(model)
    return model


def jupyter_command(root: "os.PathLike[str]", quickstart: "os.PathLike[str]", extra: list[str]) -> list[str]:
    from importlib import resources

    from ..workbench.lab_setup import in_checkout, lab_state_args

    url = "/lab/tree/" + Path(quickstart).relative_to(root).as_posix()
    settings = resources.files("tiny_interp.workbench").joinpath("lab_settings")
    # kernels start at the repository root in a checkout (paths as in a terminal there and in the README); from a
    # wheel, JupyterLab's own choice, the notebook's folder: the user's working folder
    kernels = ["--ServerApp.kernel_manager_class=tiny_interp.workbench.lab_kernels.RepoRootKernelManager"]
    return [
        sys.executable,
        "-m",
        "jupyterlab",
        f"--ServerApp.root_dir={root}",
        # the printed URL and the opened page are the quickstart, not the launcher
        f"--ServerApp.default_url={url}",
        f"--LabApp.default_url={url}",
        *(kernels if in_checkout() else []),
        *lab_state_args(Path(quickstart).parent),
        # a save after a kernel restart keeps each view as its static twin (the widget state is gone by then)
        "--ContentsManager.pre_save_hook=tiny_interp.workbench.lab_views.keep_views_on_save",
        # our overrides: no news feed (nor the prompt about it), no update check, widget state saved
        f"--LabApp.app_settings_dir={settings}",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.news_url=None",
        *extra,
    ]


def run(args: argparse.Namespace) -> int:
    from ..defaults import MODEL_ENV, REPO_ROOT
    from ..workbench.lab_copy import copy_notebooks
    from ..workbench.lab_setup import QUICKSTART, default_workdir, in_checkout, lab_environment, notebook_source

    source = notebook_source(args.notebooks)
    model = checked_model(args.model)
    work = Path(args.workdir).resolve() if args.workdir else default_workdir()
    for note in copy_notebooks(source, work):
        print(note, file=sys.stderr)
    root = REPO_ROOT if in_checkout() and work.is_relative_to(REPO_ROOT) else work
    extra = [a for a in args.jupyter_args if a != "--"]
    if hasattr(os, "geteuid") and os.geteuid() == 0 and "--allow-root" not in extra:
        extra.append("--allow-root")  # containers often run as root; jupyter refuses that without the flag
    told = f" with {MODEL_ENV}={model}" if model else " (each notebook on its own default model)"
    print(f"opening JupyterLab on {work / QUICKSTART}{told}", file=sys.stderr)
    return subprocess.call(jupyter_command(root, work / QUICKSTART, extra), env=lab_environment(model))
