"""The training loop: AdamW with warmup + cosine/constant schedule, clipping, accumulation, bf16 autocast on CUDA,
optional torch.compile, DDP under torchrun, periodic validation, atomic checkpoints and exact resumption."""

from __future__ import annotations

import math
import os
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F

from .. import __version__
from ..atomic import staged_into, write_json_atomic
from ..errors import ConfigError, TinyInterpError, TrainingDiverged
from ..jsonl import append_jsonl, iter_jsonl
from ..locking import exclusive_lock
from ..model.checkpoint import write_model_files
from ..model.config import ModelConfig
from ..model.linear import use_gemm
from ..model.presets import get_preset
from ..model.transformer import TinyLM
from .batches import WindowSampler
from .config import TrainConfig
from .distributed import DistInfo, all_mean, all_sum, init_distributed, shutdown_distributed
from .evaluate import bpb_from_loss, validation_loss_sum, validation_windows
from .hardware import hardware_description, resolve_gemm
from .run_dir import LOCK_FILE, check_resumable, check_run_dir, prepare_run_dir
from .schedule import log_spaced_steps, lr_at
from .state import load_state, save_state

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase


@dataclass(frozen=True)
class TrainData:
    """Token streams (stories as ``[EOT] story ...`` in uint16) and the tokenizer that made them."""

    train_tokens: np.ndarray
    val_tokens: np.ndarray | None
    tokenizer: Any
    fingerprint: str = ""
    train_meta: dict[str, Any] = field(default_factory=dict)
    val_meta: dict[str, Any] = field(default_factory=dict)

    def val_tokens_per_byte(self) -> float | None:
        meta = self.val_meta
        if not meta.get("n_bytes"):
            return None
        return (meta["n_tokens"] - 1) / meta["n_bytes"]


def resolve_device(name: str) -> str:
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError("--device cuda was asked for, but no CUDA GPU is visible to PyTorch; use --device cpu")
    return name


def build_model_config(
    cfg: TrainConfig, tokenizer: PreTrainedTokenizerBase, overrides: dict[str, Any] | None
) -> ModelConfig:
    eot = tokenizer.eos_token_id
    model_cfg = get_preset(cfg.preset).replace(
        vocab_size=len(tokenizer), bos_token_id=eot, eos_token_id=eot, dropout=cfg.dropout, **(overrides or {})
    )
    seq_len = cfg.seq_len or model_cfg.n_ctx
    if seq_len > model_cfg.n_ctx:
        raise ConfigError(f"seq_len={seq_len} exceeds the model context n_ctx={model_cfg.n_ctx}")
    return model_cfg


def make_optimizer(model: TinyLM, cfg: TrainConfig) -> torch.optim.AdamW:
    # matrices (and embeddings) decay; norms and biases do not
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), fused=True)


class MetricsLog:
    """Append-only JSONL; a resumed run appends after a ``resume`` event (readers keep the last row per step)."""

    def __init__(self, path: Path, enabled: bool):
        self.path, self.enabled = path, enabled

    def write(self, record: dict[str, Any]) -> None:
        if not self.enabled:
            return
        append_jsonl(self.path, record)


def publish_model(out: Path, model: TinyLM, tokenizer: PreTrainedTokenizerBase, meta: dict[str, Any]) -> None:
    """Write the model files into ``out`` file by file, each through a rename (other files stay)."""
    with staged_into(out) as staging:
        write_model_files(staging, model, tokenizer, meta)


def save_snapshot(folder: Path, model: TinyLM, tokenizer: PreTrainedTokenizerBase, meta: dict[str, Any]) -> None:
    from ..atomic import atomic_directory

    with atomic_directory(folder) as tmp:
        write_model_files(tmp, model, tokenizer, meta)


def train(
    cfg: TrainConfig,
    data: TrainData,
    out: str | os.PathLike,
    resume: bool = False,
    model_overrides: dict[str, Any] | None = None,
    progress: bool = True,
    force: bool = False,
) -> dict[str, Any]:
    """Train (or resume) a model into ``out``; return the final metrics. ``out`` ends up a loadable model dir.

    ``resume`` continues the newest complete state (refusing when there is none); ``force`` starts afresh in a
    directory that holds an earlier run or other files (replacing only the run's own files)."""
    out = Path(out)
    device = resolve_device(cfg.device)
    dist_info = init_distributed(device.split(":")[0])
    if dist_info.enabled and device == "cuda":
        device = f"cuda:{dist_info.local_rank}"
    try:
        trainer = Trainer(cfg, data, out, device, dist_info, model_overrides)
        if not dist_info.is_main:
            return trainer.fit(resume, progress)
        check_run_dir(out, resume, force)  # refuse before the lock file is made inside ``out``
        out.mkdir(parents=True, exist_ok=True)
        with exclusive_lock(out / LOCK_FILE, f"run directory {out}"):
            prepare_run_dir(out, resume, force)
            return trainer.fit(resume, progress)
    finally:
        shutdown_distributed()


class Trainer:
    """One training run: ``setup`` (model, optimizer, state), ``step``, ``evaluate``, ``save``; ``fit`` runs them."""

    def __init__(
        self,
        cfg: TrainConfig,
        data: TrainData,
        out: Path,
        device: str,
        dist_info: DistInfo,
        overrides: dict[str, Any] | None = None,
    ):
        self.cfg, self.data, self.out, self.device, self.dist = cfg, data, out, device, dist_info
        self.model_cfg = build_model_config(cfg, data.tokenizer, overrides)  # validates before anything is written
        self.seq_len = cfg.seq_len or self.model_cfg.n_ctx
        self.device_type = device.split(":")[0]
        world = dist_info.world_size
        self.tokens_per_step = cfg.batch_size * self.seq_len * cfg.grad_accum * world
        self.samples_per_step = cfg.batch_size * cfg.grad_accum * world
        self.sampler = WindowSampler(data.train_tokens, self.seq_len, cfg.seed)
        self.tokens_per_byte = data.val_tokens_per_byte()
        self.val_starts: list[int] = []
        if data.val_tokens is not None:
            # fixed by the global batch, so runs on 1 or N processes evaluate the same windows
            n_val = cfg.eval_batches * cfg.batch_size * world
            self.val_starts = validation_windows(data.val_tokens, self.seq_len, n_val, dist_info.rank, world)
        use_bf16 = cfg.precision == "bf16" or (cfg.precision == "auto" and self.device_type == "cuda")
        self.autocast = partial(torch.autocast, self.device_type, dtype=torch.bfloat16) if use_bf16 else nullcontext
        self.gemm = resolve_gemm(cfg, self.device_type, use_bf16)
        self.start_step, self.wall_before = 0, 0.0
        self.last_metrics: dict[str, Any] = {}

    def setup(self, resume: bool) -> None:
        """Build the model and optimizer, restore the saved state when resuming, record the run's settings."""
        cfg, out = self.cfg, self.out
        if resume:
            check_resumable(out, cfg, self.model_cfg, self.data.fingerprint)
        if self.device_type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
        torch.manual_seed(cfg.seed)
        self.model = TinyLM(self.model_cfg).to(self.device)
        use_gemm(self.model, self.gemm)
        self.optimizer = make_optimizer(self.model, cfg)
        if resume:
            saved = load_state(out, self.model, self.optimizer)
            self.start_step, self.wall_before = saved["step"], saved.get("train_seconds", 0.0)
        if self.start_step >= cfg.max_steps:
            raise TinyInterpError(
                f"{out} has already trained {self.start_step} steps (max_steps={cfg.max_steps}); "
                "raise --max-steps to continue"
            )
        self.log = MetricsLog(out / "metrics.jsonl", self.dist.is_main)
        if self.dist.is_main:
            write_json_atomic(
                out / "train_config.json",
                {
                    "train": cfg.to_dict(),
                    "model": self.model_cfg.to_dict(),
                    "data_fingerprint": self.data.fingerprint,
                    "train_data": self.data.train_meta,
                    "val_data": self.data.val_meta,
                    "world_size": self.dist.world_size,
                },
            )
        if self.start_step:
            self.log.write({"event": "resume", "step": self.start_step})
        self.ddp_model: torch.nn.Module = self.model
        if self.dist.enabled:
            from torch.nn.parallel import DistributedDataParallel

            ids = [self.dist.local_rank] if self.device_type == "cuda" else None
            self.ddp_model = DistributedDataParallel(self.model, device_ids=ids)
        self.fwd = torch.compile(self.ddp_model) if cfg.compile else self.ddp_model

    def step(self, step: int) -> torch.Tensor:
        """One optimizer step (all micro-batches); returns the step's summed loss, still on the device."""
        cfg, dist = self.cfg, self.dist
        for group in self.optimizer.param_groups:
            group["lr"] = lr_at(step, cfg)
        total = torch.zeros((), device=self.device)
        for micro in range(cfg.grad_accum):
            first = ((step * cfg.grad_accum + micro) * dist.world_size + dist.rank) * cfg.batch_size
            x, y = self.sampler.batch(first, cfg.batch_size)
            x, y = x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)
            sync = nullcontext()
            if dist.enabled and micro < cfg.grad_accum - 1:
                sync = self.ddp_model.no_sync()  # type: ignore[operator]
            with sync:
                with self.autocast():
                    logits = self.fwd(x)
                loss = F.cross_entropy(logits.float().flatten(0, 1), y.flatten()) / cfg.grad_accum
                loss.backward()
            total += loss.detach()
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return total

    def evaluate(self) -> dict[str, float | None]:
        """Validation loss and bits per byte on the run's fixed windows (None without validation data)."""
        if self.data.val_tokens is None:
            return {"val_loss": None, "val_bpb": None}
        total, count = validation_loss_sum(
            self.model, self.data.val_tokens, self.seq_len, self.val_starts, self.cfg.batch_size, self.autocast
        )
        summed, n = all_sum([total, count], self.dist, torch.device(self.device))
        loss = summed / max(n, 1)
        return {
            "val_loss": loss,
            "val_bpb": bpb_from_loss(loss, self.tokens_per_byte) if self.tokens_per_byte else None,
        }

    def meta(self, step: int, metrics: dict[str, Any], seconds: float) -> dict[str, Any]:
        data = self.data
        return {
            "tiny_interp_version": __version__,
            "train_config": self.cfg.to_dict(),
            "data_fingerprint": data.fingerprint,
            "train_data": data.train_meta,
            "step": step,
            "tokens_seen": step * self.tokens_per_step,
            "epochs": self.sampler.epochs(step * self.samples_per_step),
            "train_seconds": round(seconds, 1),
            "hardware": hardware_description(self.device, self.gemm),
            "world_size": self.dist.world_size,
            "metrics": metrics,
        }

    def save(self, done: int, seconds: float, snapshot: bool, state: bool, is_eval: bool) -> None:
        """Publish the model and the resume state (and a dynamics snapshot); every rank keeps in step."""
        main, dist = self.dist.is_main, self.dist
        if snapshot:
            metrics = self.last_metrics if is_eval else {**self.last_metrics, **self.evaluate(), "train_loss": None}
            if main:
                save_snapshot(
                    self.out / "checkpoints" / f"step-{done:08d}",
                    self.model,
                    self.data.tokenizer,
                    self.meta(done, metrics, seconds),
                )
        if state and main:
            publish_model(self.out, self.model, self.data.tokenizer, self.meta(done, self.last_metrics, seconds))
            save_state(self.out, self.model, self.optimizer, {"step": done, "train_seconds": seconds})
        if dist.enabled and (state or snapshot):
            torch.distributed.barrier()

    def fit(self, resume: bool, progress: bool) -> dict[str, Any]:
        self.setup(resume)
        cfg = self.cfg
        bar = _progress_bar(cfg.max_steps, self.start_step) if progress and self.dist.is_main else None
        dynamics_steps = set(log_spaced_steps(cfg.max_steps, cfg.keep_checkpoints))
        meter = _Meter(self, time.perf_counter())
        self.model.train()
        for step in range(self.start_step, cfg.max_steps):
            meter.add(self.step(step))
            done = step + 1
            is_eval = done % cfg.eval_every == 0 or done == cfg.max_steps
            is_save = done % cfg.save_every == 0 or done == cfg.max_steps
            if done % meter.log_every == 0 or is_eval:
                record = meter.record(done, lr_at(step, cfg), is_eval)
                self.log.write(record)
                _show(bar, record)
            if bar is not None:
                bar.update(1)
            if is_save or done in dynamics_steps:
                meter.check_finite(done)  # a diverged run publishes nothing
                self.save(done, meter.seconds(), done in dynamics_steps, is_save, is_eval)
        if bar is not None:
            bar.close()
        return {"step": cfg.max_steps, "tokens_seen": cfg.max_steps * self.tokens_per_step, **self.last_metrics}


class _Meter:
    """Train loss and throughput between log lines."""

    def __init__(self, trainer: Trainer, t_start: float):
        self.t, self.t_start = trainer, t_start
        self.t_mark, self.tokens_mark = t_start, 0
        self.loss_sum = torch.zeros((), device=trainer.device)
        self.loss_steps = 0
        self.log_every = max(1, min(10, trainer.cfg.eval_every))

    def add(self, loss: torch.Tensor) -> None:
        self.loss_sum += loss
        self.loss_steps += 1

    def seconds(self) -> float:
        return self.t.wall_before + time.perf_counter() - self.t_start

    def check_finite(self, done: int, value: float | None = None) -> None:
        value = self.loss_sum.item() if value is None else value
        if not math.isfinite(value):
            raise TrainingDiverged(
                f"the training loss became {value} by step {done}; nothing from this point was published and "
                f"{self.t.out} keeps its last good state: lower --lr or raise --warmup-steps / --grad-clip, then "
                "start afresh (--force) or --resume"
            )

    def record(self, done: int, lr: float, is_eval: bool) -> dict[str, Any]:
        t, now = self.t, time.perf_counter()
        train_loss = all_mean(self.loss_sum.item() / self.loss_steps, t.dist, torch.device(t.device))
        self.check_finite(done, train_loss)
        tokens_done = (done - t.start_step) * t.tokens_per_step
        record: dict[str, Any] = {
            "step": done,
            "tokens": done * t.tokens_per_step,
            "loss": round(train_loss, 6),
            "lr": lr,
            "tokens_per_s": round((tokens_done - self.tokens_mark) / max(now - self.t_mark, 1e-9), 1),
            "epoch": round(t.sampler.epochs(done * t.samples_per_step), 4),
            "elapsed_s": round(t.wall_before + now - self.t_start, 2),
        }
        self.t_mark, self.tokens_mark = now, tokens_done
        self.loss_sum.zero_()
        self.loss_steps = 0
        if is_eval:
            record.update(t.evaluate())
            t.last_metrics = {"train_loss": record["loss"], **{k: record[k] for k in ("val_loss", "val_bpb")}}
        return record


def _progress_bar(total: int, initial: int) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc="train", unit="step", dynamic_ncols=True)


def _show(bar: Any, record: dict[str, Any]) -> None:
    if bar is None:
        return
    post = {"loss": f"{record['loss']:.3f}", "tok/s": f"{record['tokens_per_s']:.0f}"}
    if record.get("val_bpb") is not None:
        post["val_bpb"] = f"{record['val_bpb']:.3f}"
    bar.set_postfix(post)


def read_metrics(run_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """metrics.jsonl rows, one per step (the last written wins after a resume), events dropped."""
    rows: dict[int, dict[str, Any]] = {}
    path = Path(run_dir) / "metrics.jsonl"
    if not path.exists():
        return []
    for rec in iter_jsonl(path):
        if "event" not in rec and "step" in rec:
            rows[rec["step"]] = rec
    return [rows[s] for s in sorted(rows)]
