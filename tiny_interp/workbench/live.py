"""Training from a notebook: the trainer runs in a child process (so an interrupt stops it cleanly and the kernel
stays responsive) while the notebook redraws the loss curve from the run's append-only ``metrics.jsonl``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import TinyInterpError
from ..train.loop import read_metrics


def train_argv(
    preset: str,
    data: str,
    out: str | os.PathLike,
    max_steps: int,
    val_data: str | None = None,
    resume: bool = False,
    **options: Any,
) -> list[str]:
    """``tiny-interp train`` arguments; ``options`` are TrainConfig / DataConfig fields (``batch_size=8``) and
    ``set=["n_layers=1"]`` for model overrides; None leaves a field at its default. Built by the one argv builder
    (``tiny_interp.train.argv``), so every config field is accepted here as soon as it exists."""
    import dataclasses

    from ..train.argv import train_argv as build
    from ..train.config import DataConfig, TrainConfig

    model_set = options.pop("set", None) or []
    fields = {cls: {f.name for f in dataclasses.fields(cls)} for cls in (TrainConfig, DataConfig)}
    unknown = set(options) - fields[TrainConfig] - fields[DataConfig]
    if unknown:
        raise TinyInterpError(
            f"train_argv: unknown option(s) {', '.join(sorted(unknown))}; use TrainConfig or DataConfig field names"
        )
    given = {k: v for k, v in options.items() if v is not None}
    cfg = TrainConfig(
        preset=preset, max_steps=max_steps, **{k: v for k, v in given.items() if k in fields[TrainConfig]}
    )
    data_cfg = DataConfig(
        data=str(data), val_data=val_data, **{k: v for k, v in given.items() if k in fields[DataConfig]}
    )
    return build(cfg, data_cfg, out, resume=resume, model_set=model_set)


def loss_figure(rows: list[dict[str, Any]], title: str = "training loss") -> Any:
    """Train loss (and validation loss / bits per byte when measured) against step."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(specs=[[{"secondary_y": True}]])
    steps = [r["step"] for r in rows]
    fig.add_trace(go.Scatter(x=steps, y=[r.get("loss") for r in rows], name="train loss", mode="lines"))
    val = [r for r in rows if r.get("val_loss") is not None]
    if val:
        fig.add_trace(
            go.Scatter(
                x=[r["step"] for r in val], y=[r["val_loss"] for r in val], name="val loss", mode="lines+markers"
            )
        )
    bpb = [r for r in rows if r.get("val_bpb") is not None]
    if bpb:
        fig.add_trace(
            go.Scatter(
                x=[r["step"] for r in bpb],
                y=[r["val_bpb"] for r in bpb],
                name="val bits/byte",
                mode="markers",
                marker={"symbol": "diamond"},
            ),
            secondary_y=True,
        )
    last = f" (step {steps[-1]}, loss {rows[-1].get('loss', float('nan')):.3f})" if rows else " (waiting for step 1)"
    fig.update_layout(title=title + last, xaxis_title="step", height=380, margin={"t": 50})
    fig.update_yaxes(title_text="loss (nats/token)", secondary_y=False)
    fig.update_yaxes(title_text="bits per byte", secondary_y=True, showgrid=False)
    return fig


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    parts = [str(Path(p).resolve()) for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(parts + ([root] if root not in parts else []))
    return env


def train_live(
    argv: list[str],
    refresh_s: float = 2.0,
    show: Callable[[Any], Any] | None = None,
    log_file: str | os.PathLike | None = None,
) -> list[dict[str, Any]]:
    """Run ``tiny-interp train ARGV`` in a child process, redrawing the loss plot every ``refresh_s`` seconds in
    place (one display, updated). Returns the metrics rows. Interrupting the kernel stops the child with SIGINT:
    the run keeps its last checkpoint and ``--resume`` continues it exactly."""
    out = Path(argv[argv.index("--out") + 1])
    log_path = Path(log_file) if log_file else out.with_name(out.name + ".train.log")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    handle = _display_handle(show)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tiny_interp.cli", *argv, "--quiet"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=_child_env(),
        )
        try:
            while proc.poll() is None:
                handle(loss_figure(read_metrics(out)))
                time.sleep(refresh_s)
        except KeyboardInterrupt:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
            rows = read_metrics(out)
            handle(loss_figure(rows))
            print(f"stopped at step {rows[-1]['step'] if rows else 0}; rerun with resume to continue", file=sys.stderr)
            return rows
    rows = read_metrics(out)
    handle(loss_figure(rows))
    if proc.returncode != 0:
        tail = log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-15:]
        raise TinyInterpError(f"training exited with code {proc.returncode}; end of {log_path}:\n" + "\n".join(tail))
    return rows


def _display_handle(show: Callable[[Any], Any] | None) -> Callable[[Any], Any]:
    if show is not None:
        return show
    from IPython.display import display

    state: dict[str, Any] = {}

    def update(fig: Any) -> None:
        if "handle" not in state:
            state["handle"] = display(fig, display_id=True)
        else:
            state["handle"].update(fig)

    return update


def saved_step(out: str | os.PathLike) -> int:
    """The step a run directory can resume from (0 when it holds no run)."""
    from ..train.state import saved_step as step_of

    return step_of(Path(out))
