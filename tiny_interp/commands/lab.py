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
        description="Open JupyterLab on notebooks/00_quickstart.ipynb. The notebooks use $TINY_INTERP_MODEL, set "
        "here to --model or the shipped default model; if no model is shipped yet, a small one is trained first "
        "(a few minutes on a CPU) from ../shared TinyStories data or the hub. Extra arguments after -- go to "
        "jupyter lab (e.g. -- --no-browser --port 8899).",
    )
    p.add_argument("--model", default=None, help="model directory or hub id to open (default: the shipped default)")
    p.add_argument("--train-steps", type=int, default=600, help="steps for the fallback model when none is shipped")
    p.add_argument("--notebooks", default=None,
                   help="folder holding 00_quickstart.ipynb to open (default: the repository's notebooks/)")
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
    argv = ["train", "--preset", "1M", "--data", data, "--out", str(FALLBACK_MODEL), "--max-steps", str(train_steps),
            "--batch-size", "16", "--seq-len", "256", "--warmup-steps", "50", "--lr", "2e-3", "--eval-every", "200",
            "--save-every", "200", "--max-stories", "6000"]
    if val:
        argv += ["--val-data", val]
    if (FALLBACK_MODEL / "resume").exists():
        argv.append("--resume")
    code = cli_main(argv)
    if code:
        raise SystemExit(code)
    return str(FALLBACK_MODEL)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..defaults import MODEL_ENV, REPO_ROOT
    from ..errors import TinyInterpError
    from ..report.execute import kernel_env

    notebooks = Path(args.notebooks).resolve() if args.notebooks else REPO_ROOT / "notebooks"
    notebook = notebooks / "00_quickstart.ipynb"
    if not notebook.exists():
        raise TinyInterpError(f"no 00_quickstart.ipynb in {notebooks}")
    model = str(Path(args.model).resolve()) if args.model and Path(args.model).exists() else args.model
    model = model or ensure_default_model(args.train_steps)
    # kernel_env: offline unless told otherwise, and PYTHONPATH absolute (kernels start in the notebook's folder)
    env = {**kernel_env(), MODEL_ENV: model}
    extra = [a for a in args.jupyter_args if a != "--"]
    if hasattr(os, "geteuid") and os.geteuid() == 0 and "--allow-root" not in extra:
        extra.append("--allow-root")  # containers often run as root; jupyter refuses that without the flag
    cmd = [sys.executable, "-m", "jupyterlab", str(notebook), f"--ServerApp.root_dir={notebooks.parent}",
           # offline workbench: no update checks and no announcements feed (nor the prompt asking about it)
           "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate", "--LabApp.news_url=None", *extra]
    print(f"opening JupyterLab with {MODEL_ENV}={model}", file=sys.stderr)
    return subprocess.call(cmd, env=env)
