"""The training loop: AdamW with warmup + cosine/constant schedule, clipping, accumulation, bf16 autocast on CUDA,
optional torch.compile, DDP under torchrun, periodic validation, atomic checkpoints and exact resumption."""

from __future__ import annotations

import json
import os
import platform
import shutil
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .. import __version__
from ..atomic import write_json_atomic
from ..errors import ConfigError, TinyInterpError
from ..jsonl import append_jsonl, iter_jsonl
from ..model.checkpoint import write_model_files
from ..model.config import ModelConfig
from ..model.presets import get_preset
from ..model.transformer import TinyLM
from .batches import WindowSampler
from .config import TrainConfig
from .distributed import DistInfo, all_mean, all_sum, init_distributed, shutdown_distributed
from .evaluate import bpb_from_loss, validation_loss_sum, validation_windows
from .schedule import log_spaced_steps, lr_at
from .state import has_state, load_state, save_state

MODEL_FILES = ("config.json", "model.safetensors", "tiny_interp.json")


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


def build_model_config(cfg: TrainConfig, tokenizer: Any, overrides: dict[str, Any] | None) -> ModelConfig:
    eot = tokenizer.eos_token_id
    model_cfg = get_preset(cfg.preset).replace(
        vocab_size=len(tokenizer), bos_token_id=eot, eos_token_id=eot, dropout=cfg.dropout, **(overrides or {})
    )
    seq_len = cfg.seq_len or model_cfg.n_ctx
    if seq_len > model_cfg.n_ctx:
        raise ConfigError(f"seq_len={seq_len} exceeds the model context n_ctx={model_cfg.n_ctx}")
    return model_cfg


def make_optimizer(model: TinyLM, cfg: TrainConfig, device_type: str) -> torch.optim.AdamW:
    # matrices (and embeddings) decay; norms and biases do not
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), fused=True)


def hardware_description(device: str) -> str:
    if device.startswith("cuda"):
        return f"{torch.cuda.get_device_name()} (CUDA {torch.version.cuda})"
    threads = torch.get_num_threads()
    return f"CPU {cpu_name()}, {threads} thread{'s' if threads != 1 else ''}"


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _check_resumable(out: Path, cfg: TrainConfig, model_cfg: ModelConfig, data: TrainData) -> None:
    saved_path = out / "train_config.json"
    if not saved_path.exists():
        return
    saved = json.loads(saved_path.read_text())
    differs = [
        k for k, v in cfg.to_dict().items()
        if k not in TrainConfig.RESUMABLE_CHANGES and saved.get("train", {}).get(k) != v
    ]
    if differs:
        raise ConfigError(
            f"cannot resume {out}: settings changed since it started ({', '.join(differs)}); "
            "use the original settings or a new --out"
        )
    if saved.get("model") != model_cfg.to_dict():
        raise ConfigError(f"cannot resume {out}: the model shape differs from the saved run")
    if data.fingerprint and saved.get("data_fingerprint") not in (None, data.fingerprint):
        raise ConfigError(f"cannot resume {out}: the training data or tokenizer differs from the saved run")


class MetricsLog:
    """Append-only JSONL; a resumed run appends after a ``resume`` event (readers keep the last row per step)."""

    def __init__(self, path: Path, enabled: bool):
        self.path, self.enabled = path, enabled

    def write(self, record: dict[str, Any]) -> None:
        if not self.enabled:
            return
        append_jsonl(self.path, record)


def publish_model(out: Path, model: TinyLM, tokenizer: Any, meta: dict[str, Any], with_tokenizer: bool) -> None:
    """Write the model files into ``out`` file by file, each through a temp file + rename."""
    staging = out / ".publish.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    write_model_files(staging, model, tokenizer if with_tokenizer else None, meta)
    for f in sorted(staging.iterdir()):
        os.replace(f, out / f.name)
    staging.rmdir()


def save_snapshot(folder: Path, model: TinyLM, tokenizer: Any, meta: dict[str, Any]) -> None:
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
) -> dict[str, Any]:
    """Train (or resume) a model into ``out``; return the final metrics. ``out`` ends up a loadable model dir."""
    out = Path(out)
    device = resolve_device(cfg.device)
    dist_info = init_distributed(device.split(":")[0])
    if dist_info.enabled and device == "cuda":
        device = f"cuda:{dist_info.local_rank}"
    try:
        return _train(cfg, data, out, resume, model_overrides, progress, device, dist_info)
    finally:
        shutdown_distributed()


def _train(
    cfg: TrainConfig, data: TrainData, out: Path, resume: bool, overrides: dict[str, Any] | None,
    progress: bool, device: str, dist_info: DistInfo,
) -> dict[str, Any]:
    model_cfg = build_model_config(cfg, data.tokenizer, overrides)
    seq_len = cfg.seq_len or model_cfg.n_ctx
    if resume:
        _check_resumable(out, cfg, model_cfg, data)
    elif has_state(out):
        raise TinyInterpError(f"{out} already holds a training run; pass --resume to continue it or pick another --out")

    device_type = device.split(":")[0]
    if device_type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    torch.manual_seed(cfg.seed)
    model = TinyLM(model_cfg).to(device)
    optimizer = make_optimizer(model, cfg, device_type)

    start_step, wall_before = 0, 0.0
    if resume and has_state(out):
        saved = load_state(out, model, optimizer)
        start_step, wall_before = saved["step"], saved.get("train_seconds", 0.0)
    if start_step >= cfg.max_steps:
        raise TinyInterpError(f"{out} has already trained {start_step} steps (max_steps={cfg.max_steps}); raise --max-steps to continue")

    main = dist_info.is_main
    if main:
        out.mkdir(parents=True, exist_ok=True)
        write_json_atomic(out / "train_config.json", {
            "train": cfg.to_dict(), "model": model_cfg.to_dict(), "data_fingerprint": data.fingerprint,
            "train_data": data.train_meta, "val_data": data.val_meta, "world_size": dist_info.world_size,
        })
    log = MetricsLog(out / "metrics.jsonl", main)
    if start_step:
        log.write({"event": "resume", "step": start_step})

    ddp_model: torch.nn.Module = model
    if dist_info.enabled:
        from torch.nn.parallel import DistributedDataParallel

        ddp_model = DistributedDataParallel(model, device_ids=[dist_info.local_rank] if device_type == "cuda" else None)
    fwd = torch.compile(ddp_model) if cfg.compile else ddp_model
    use_bf16 = cfg.precision == "bf16" or (cfg.precision == "auto" and device_type == "cuda")
    autocast = partial(torch.autocast, device_type, dtype=torch.bfloat16) if use_bf16 else nullcontext

    sampler = WindowSampler(data.train_tokens, seq_len, cfg.seed)
    tokens_per_step = cfg.batch_size * seq_len * cfg.grad_accum * dist_info.world_size
    samples_per_step = cfg.batch_size * cfg.grad_accum * dist_info.world_size
    tokens_per_byte = data.val_tokens_per_byte()
    # the validation set is fixed by the global batch, so runs on 1 or N processes evaluate the same windows
    val_starts = []
    if data.val_tokens is not None:
        n_val = cfg.eval_batches * cfg.batch_size * dist_info.world_size
        val_starts = validation_windows(data.val_tokens, seq_len, n_val, dist_info.rank, dist_info.world_size)
    dynamics_steps = set(log_spaced_steps(cfg.max_steps, cfg.keep_checkpoints))

    def evaluate() -> dict[str, float | None]:
        if data.val_tokens is None:
            return {"val_loss": None, "val_bpb": None}
        total, count = validation_loss_sum(model, data.val_tokens, seq_len, val_starts, cfg.batch_size, autocast)
        total, count = all_sum([total, count], dist_info, torch.device(device))
        loss = total / max(count, 1)
        return {"val_loss": loss, "val_bpb": bpb_from_loss(loss, tokens_per_byte) if tokens_per_byte else None}

    def meta(step: int, metrics: dict[str, Any], seconds: float) -> dict[str, Any]:
        return {
            "tiny_interp_version": __version__, "train_config": cfg.to_dict(), "data_fingerprint": data.fingerprint,
            "train_data": data.train_meta, "step": step, "tokens_seen": step * tokens_per_step,
            "epochs": sampler.epochs(step * samples_per_step), "train_seconds": round(seconds, 1),
            "hardware": hardware_description(device), "world_size": dist_info.world_size, "metrics": metrics,
        }

    bar = None
    if progress and main:
        from tqdm.auto import tqdm

        bar = tqdm(total=cfg.max_steps, initial=start_step, desc="train", unit="step", dynamic_ncols=True)

    model.train()
    t_start = time.perf_counter()
    t_mark, tokens_mark = t_start, 0
    loss_sum = torch.zeros((), device=device)
    loss_steps = 0
    last_metrics: dict[str, Any] = {}
    log_every = max(1, min(10, cfg.eval_every))
    for step in range(start_step, cfg.max_steps):
        lr = lr_at(step, cfg)
        for group in optimizer.param_groups:
            group["lr"] = lr
        for micro in range(cfg.grad_accum):
            first = ((step * cfg.grad_accum + micro) * dist_info.world_size + dist_info.rank) * cfg.batch_size
            x, y = sampler.batch(first, cfg.batch_size)
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            sync = nullcontext()
            if dist_info.enabled and micro < cfg.grad_accum - 1:
                sync = ddp_model.no_sync()  # type: ignore[operator]
            with sync:
                with autocast():
                    logits = fwd(x)
                loss = F.cross_entropy(logits.float().flatten(0, 1), y.flatten()) / cfg.grad_accum
                loss.backward()
            loss_sum += loss.detach()
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        loss_steps += 1
        done = step + 1
        is_eval = done % cfg.eval_every == 0 or done == cfg.max_steps
        if done % log_every == 0 or is_eval:
            now = time.perf_counter()
            train_loss = all_mean(loss_sum.item() / loss_steps, dist_info, torch.device(device))
            tokens_done = (done - start_step) * tokens_per_step
            record: dict[str, Any] = {
                "step": done, "tokens": done * tokens_per_step, "loss": round(train_loss, 6), "lr": lr,
                "tokens_per_s": round((tokens_done - tokens_mark) / max(now - t_mark, 1e-9), 1),
                "epoch": round(sampler.epochs(done * samples_per_step), 4),
                "elapsed_s": round(wall_before + now - t_start, 2),
            }
            t_mark, tokens_mark = now, tokens_done
            loss_sum.zero_()
            loss_steps = 0
            if is_eval:
                record.update(evaluate())
                last_metrics = {"train_loss": record["loss"], **{k: record[k] for k in ("val_loss", "val_bpb")}}
            log.write(record)
            if bar is not None:
                post = {"loss": f"{record['loss']:.3f}", "tok/s": f"{record['tokens_per_s']:.0f}"}
                if record.get("val_bpb") is not None:
                    post["val_bpb"] = f"{record['val_bpb']:.3f}"
                bar.set_postfix(post)
        if bar is not None:
            bar.update(1)
        seconds = wall_before + time.perf_counter() - t_start
        is_save = done % cfg.save_every == 0 or done == cfg.max_steps
        if main and done in dynamics_steps:
            metrics = last_metrics if is_eval else {**last_metrics, **evaluate(), "train_loss": None}
            save_snapshot(out / "checkpoints" / f"step-{done:08d}", model, data.tokenizer, meta(done, metrics, seconds))
        elif dist_info.enabled and done in dynamics_steps:
            evaluate()  # keep collective calls in step with rank 0
        if is_save and main:
            publish_model(out, model, data.tokenizer, meta(done, last_metrics, seconds), with_tokenizer=True)
            save_state(out, model, optimizer, {"step": done, "train_seconds": seconds})
        if dist_info.enabled and (is_save or done in dynamics_steps):
            torch.distributed.barrier()
    if bar is not None:
        bar.close()
    return {"step": cfg.max_steps, "tokens_seen": cfg.max_steps * tokens_per_step, **last_metrics}


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

