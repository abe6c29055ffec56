"""tiny-interp lab: the main job: JupyterLab on the quickstart notebook with the default model."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "lab",
        help="open JupyterLab on the quickstart notebook with the default model",
        description="Open JupyterLab on the quickstart notebook. The lab works on copies of notebooks/ in --workdir "
        "(made once, never overwritten: your edits, outputs and views stay there, and notebooks/ stays clean); its "
        "kernels start at the repository root, so paths mean what they mean in a terminal there. The notebooks use "
        "$TINY_INTERP_MODEL, set here to --model or the shipped default model; if no model is shipped yet, a small "
        "one is trained first. Extra arguments after -- go to jupyter lab (e.g. -- --no-browser --port 8899).",
    )
    p.add_argument("--model", default=None, help="model directory or hub id to open (default: the shipped default)")
    p.add_argument("--train-steps", type=int, default=600, help="steps for the fallback model when none is shipped")
    p.add_argument(
        "--notebooks", default=None, help="folder of notebooks to copy (default: the repository's notebooks/)"
    )
    p.add_argument("--workdir", default=None, help="folder the lab works in (default: runs/lab in the repository)")
    p.add_argument("jupyter_args", nargs=argparse.REMAINDER, help="arguments passed on to jupyter lab")
    p.set_defaults(run=run)


def ensure_default_model(train_steps: int) -> str:
    from ..defaults import FALLBACK_MODEL, SHARED_TRAIN, SHARED_VALID, default_model_dir

    found = default_model_dir()
    if found is not None:
        return str(found)
    from ..cli import main as cli_main

    data = str(SHARED_TRAIN) if SHARED_TRAIN.exists() else "roneneldan/TinyStories"
    val = str(SHARED_VALID) if SHARED_VALID.exists() else None
    print(f"no shipped model yet: training a small 1M model on {data} into {FALLBACK_MODEL} ...", file=sys.stderr)
    from ..train.argv import train_argv
    from ..train.config import DataConfig, TrainConfig
    from ..train.state import has_state

    cfg = TrainConfig(
        preset="1M",
        max_steps=train_steps,
        batch_size=16,
        seq_len=256,
        warmup_steps=50,
        lr=2e-3,
        eval_every=200,
        save_every=200,
    )
    stories = DataConfig(data=data, val_data=val, max_stories=6000)
    # a stopped fallback run continues; a finished or foreign folder is the train command's to refuse
    argv = train_argv(cfg, stories, FALLBACK_MODEL, resume=has_state(FALLBACK_MODEL))
    code = cli_main(argv)
    if code:
        raise SystemExit(code)
    return str(FALLBACK_MODEL)


def checked_model(given: str | None, train_steps: int) -> str:
    """The model the lab opens, checked before any server starts (a wrong --model is one line, not a dead lab)."""
    if not given:
        return ensure_default_model(train_steps)
    from ..loading import resolve_model_dir
    from ..workbench.paths import model_arg

    model = model_arg(given)
    resolve_model_dir(model)
    return model


def jupyter_command(root: "os.PathLike[str]", quickstart: "os.PathLike[str]", extra: list[str]) -> list[str]:
    from importlib import resources
    from pathlib import Path

    url = "/lab/tree/" + Path(quickstart).relative_to(root).as_posix()
    settings = resources.files("tiny_interp.workbench").joinpath("lab_settings")
    return [
        sys.executable,
        "-m",
        "jupyterlab",
        f"--ServerApp.root_dir={root}",
        # the printed URL and the opened page are the quickstart, not the launcher
        f"--ServerApp.default_url={url}",
        f"--LabApp.default_url={url}",
        # kernels start at the repository root (paths as in a terminal there and in the README)
        "--ServerApp.kernel_manager_class=tiny_interp.workbench.lab_kernels.RepoRootKernelManager",
        # our overrides: no news feed (nor the prompt about it), no update check, widget state saved
        f"--LabApp.app_settings_dir={settings}",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.news_url=None",
        *extra,
    ]


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..defaults import MODEL_ENV, REPO_ROOT
    from ..errors import TinyInterpError
    from ..report.execute import kernel_env
    from ..workbench.lab_copy import copy_notebooks

    source = Path(args.notebooks).resolve() if args.notebooks else REPO_ROOT / "notebooks"
    if not (source / "00_quickstart.ipynb").exists():
        raise TinyInterpError(f"no 00_quickstart.ipynb in {source}")
    model = checked_model(args.model, args.train_steps)
    work = Path(args.workdir).resolve() if args.workdir else REPO_ROOT / "runs" / "lab"
    for note in copy_notebooks(source, work):
        print(note, file=sys.stderr)
    root = REPO_ROOT if work.is_relative_to(REPO_ROOT) else work
    # kernel_env: offline unless told otherwise, PYTHONPATH absolute; the venv's bin on PATH for the lab's terminals
    env = {**kernel_env(), MODEL_ENV: model}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    extra = [a for a in args.jupyter_args if a != "--"]
    if hasattr(os, "geteuid") and os.geteuid() == 0 and "--allow-root" not in extra:
        extra.append("--allow-root")  # containers often run as root; jupyter refuses that without the flag
    print(f"opening JupyterLab on {work / '00_quickstart.ipynb'} with {MODEL_ENV}={model}", file=sys.stderr)
    return subprocess.call(jupyter_command(root, work / "00_quickstart.ipynb", extra), env=env)
