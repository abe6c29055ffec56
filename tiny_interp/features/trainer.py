"""The dictionary trainer: setup / step / save_state / finish, one ``Trainer`` per run directory.

A run trains one dictionary per hook (or per layer for transcoders) from the same forward passes. Its directory
holds ``train_config.json`` (the marker that it is ours), ``metrics.jsonl`` (append-only), ``resume.safetensors``
(weights, Adam moments, dead-latent counters and the stream position, replaced atomically every ``save_every``
steps) and, when finished, one SAELens-layout directory per dictionary.
"""

from __future__ import annotations

import json
import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..atomic import write_bytes_atomic, write_json_atomic
from ..errors import ConfigError
from ..model.handle import Model
from ..provenance import content_identity, model_fingerprint, portable_source, relative_path
from .activations import StreamSpec, buffer_activations, story_buffers
from .config import SAETrainConfig, dictionary_specs
from .objective import StepOutput, dense_loss, topk_loss
from .run_dir import (
    MARKER,
    METRICS_FILE,
    OUTPUT_KIND,
    RUN_KIND,
    STATE_FILE,
    check_run_dir,
    discard_empty_run,
    is_earlier_run,
    last_logged_step,
)
from .sae import SAE, SAEConfig
from .validate import check_device, check_hooks


@dataclass
class Dictionary:
    """One dictionary being trained: its module, optimizer and the tokens since each latent last fired."""

    name: str
    hook_in: str
    hook_out: str
    sae: SAE
    opt: torch.optim.Optimizer
    since_fired: Tensor
    extra: dict[str, Tensor] = field(default_factory=dict)
    window: list[StepOutput] = field(default_factory=list)


def lr_factor(step: int, cfg: SAETrainConfig) -> float:
    """Linear warmup, constant, then linear decay to zero over the last ``decay_frac`` of the steps."""
    warm = min(1.0, (step + 1) / cfg.warmup_steps) if cfg.warmup_steps else 1.0
    decay_start = int(cfg.steps * (1 - cfg.decay_frac))
    decay = 1.0 if step < decay_start else max(0.0, (cfg.steps - step) / max(1, cfg.steps - decay_start))
    return warm * decay


def pass_orders(n: int, cfg: SAETrainConfig, buffer: int) -> list[Tensor]:
    """Row orders of the ``reuse`` passes over a buffer of ``n`` (already shuffled) rows: as stored, then
    reshuffled by ``(seed, buffer, pass)``, so a resumed run replays them exactly."""
    orders = [torch.arange(n, device=cfg.device)]
    for p in range(1, cfg.reuse):
        g = torch.Generator().manual_seed((cfg.seed * 1_000_003 + buffer) * 64 + p)
        orders.append(torch.randperm(n, generator=g).to(cfg.device))
    return orders


@torch.no_grad()
def init_from_data(sae: SAE, x: Tensor, y: Tensor, threshold: float) -> None:
    """b_dec at the targets' mean, and the encoder scaled so the first reconstructions have the targets' spread
    (latents are positively homogeneous in W_enc with b_enc = 0): a transcoder's normalised input is far larger
    than the MLP output it predicts, and an unscaled start spends hundreds of steps shrinking."""
    sae.b_dec.copy_(y.mean(0))
    if sae.threshold is not None:
        sae.threshold.fill_(threshold)
    f = sae.encode(x.to(sae.W_enc.device))
    spread = (
        (sae.decode(f, x) - sae.b_dec).norm(dim=-1).mean()
        if sae.W_skip is None
        else (f @ sae.W_dec).norm(dim=-1).mean()
    )
    target = (y - sae.b_dec).norm(dim=-1).mean()
    if spread > 0:
        sae.W_enc.mul_(target / spread)
        if sae.threshold is not None:
            sae.threshold.mul_(target / spread)


def unit_scale(a: Tensor) -> Tensor:
    """The factor that gives activations ``a`` [tokens, d] a mean squared norm of d (SAELens' "expected average")."""
    return (a.shape[1] / a.float().pow(2).sum(-1).mean().clamp(min=1e-12)).sqrt()


@torch.no_grad()
def fold_scales(sae: SAE, scale_in: float, scale_out: float) -> None:
    """Rewrite a dictionary trained on ``scale_in * x`` -> ``scale_out * y`` to read raw ``x`` and predict raw ``y``:
    its latents become ``1 / scale_out`` of the trained ones (the same top-k choices and thresholds crossed), its
    decoder directions stay unit-norm."""
    ratio = scale_in / scale_out
    sae.W_enc.mul_(ratio)
    sae.b_enc.div_(scale_out)
    sae.b_dec.div_(scale_out)
    for p in (sae.threshold,):
        if p is not None:
            p.div_(scale_out)
    if sae.W_skip is not None:
        sae.W_skip.mul_(ratio)


def sae_config(cfg: SAETrainConfig, hook_in: str, hook_out: str, d_in: int, d_out: int, model_name: str) -> SAEConfig:
    return SAEConfig(
        architecture=cfg.architecture,
        d_in=d_in,
        d_sae=cfg.latents,
        hook_name=hook_in,
        d_out=d_out if cfg.is_transcoder else None,
        hook_name_out=hook_out if cfg.is_transcoder else None,
        k=cfg.k if cfg.uses_k else None,
        activation=cfg.activation if cfg.is_transcoder else "relu",
        apply_b_dec_to_input=not cfg.is_transcoder,
        model_name=model_name,
    )


class Trainer:
    def __init__(
        self,
        model_dir: str | os.PathLike | Model,
        data: str | os.PathLike,
        out: str | os.PathLike,
        cfg: SAETrainConfig,
        resume: bool = False,
        force: bool = False,
        progress: bool = True,
    ):
        if isinstance(model_dir, Model):  # its directory: the run records it and re-opens the same cached handle
            if model_dir.path is None:
                raise ConfigError("SAETrainer needs a model saved in a directory; save it first")
            model_dir = model_dir.path
        self.model_dir, self.data, self.out, self.cfg = Path(model_dir), str(data), Path(out), cfg
        self.resume, self.force, self.progress = resume, force, progress
        self.step_i = self.buffer = self.batch_in_buffer = 0
        self.tokens_per_s = 0.0
        self.dicts: list[Dictionary] = []

    # ---- setup ----
    def setup(self) -> "Trainer":
        from ..loading import resolve_model_dir
        from .model_access import open_model

        check_device(self.cfg.device)
        self._check_out()
        self.model_dir = resolve_model_dir(self.model_dir)
        self.model, self.tokenizer, self.n_layers, self.n_ctx = open_model(self.model_dir, self.cfg.device)
        specs = dictionary_specs(self.cfg, self.n_layers)
        if not self.cfg.is_transcoder and hasattr(self.model, "hook_dict"):
            check_hooks(self.model.hook_dict, self.cfg.hooks, "--hook")
        hooks = tuple(dict.fromkeys(h for _, a, b in specs for h in (a, b)))
        self.stream = StreamSpec(
            self.data,
            hooks,
            self.cfg.buffer_stories,
            self.cfg.model_batch,
            self.cfg.max_len,
            self.cfg.skip_stories,
            self.cfg.seed,
            self.cfg.device,
            self.cfg.precision,
        )
        self.specs = specs
        identity = {
            "config": self.cfg.identity(),
            # content fingerprints, not paths: a cloned or moved run resumes and its record stays the same
            "data": content_identity(self.data),
            "model": model_fingerprint(self.model_dir),
        }
        self.identity = json.loads(json.dumps(identity))  # as a saved state reads it back (tuples as lists)
        if self.cfg.threads and self.cfg.device == "cpu":
            torch.set_num_threads(self.cfg.threads)
        return self

    def _check_out(self, under_lock: bool = False) -> None:
        check_run_dir(self.out, self.resume, self.force, self._own_files(), under_lock)

    def _own_files(self) -> list[str]:
        """Every name the run writes in ``out`` (its manifest: ``--force`` replaces these and nothing else)."""
        names = [spec[0] for spec in dictionary_specs(self.cfg, self.n_layers)] if hasattr(self, "n_layers") else []
        return [MARKER, METRICS_FILE, STATE_FILE, *names]

    def _build(self, first: dict[str, Tensor]) -> None:
        """Fresh dictionaries, seeded, with b_dec set to the mean of the first buffer's targets."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.cfg.seed)
            for name, hook_in, hook_out in self.specs:
                d_in, d_out = first[hook_in].shape[1], first[hook_out].shape[1]
                sae = SAE(sae_config(self.cfg, hook_in, hook_out, d_in, d_out, self.model_dir.name))
                if self.cfg.is_transcoder and self.cfg.skip:
                    sae.add_skip()
                d = self._dictionary(name, hook_in, hook_out, sae)
                if self.cfg.normalize:
                    d.extra.update(scale_in=unit_scale(first[hook_in]), scale_out=unit_scale(first[hook_out]))
                x, y = self._scaled(d, first[hook_in][:4096], first[hook_out][:4096])
                init_from_data(sae, x.cpu(), y.cpu(), self.cfg.jump_bandwidth)
                d.sae.to(self.cfg.device)
                self.dicts.append(d)

    @staticmethod
    def _scaled(d: Dictionary, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        """A batch as the dictionary trains on it: scaled to unit mean squared norm per width when normalizing."""
        if "scale_in" not in d.extra:
            return x, y
        return x * d.extra["scale_in"].to(x.device), y * d.extra["scale_out"].to(y.device)

    def _dictionary(self, name: str, hook_in: str, hook_out: str, sae: SAE) -> Dictionary:
        # fused: one kernel per parameter instead of a chain of foreach ops (measured 4% of a TopK step on CPU)
        opt = torch.optim.Adam(sae.parameters(), lr=self.cfg.lr, betas=(0.9, 0.999), fused=True)
        since = torch.zeros(self.cfg.latents, dtype=torch.long, device=self.cfg.device)
        return Dictionary(name, hook_in, hook_out, sae, opt, since)

    # ---- training ----
    def step(self, batch: dict[str, Tensor]) -> None:
        cfg = self.cfg
        factor = lr_factor(self.step_i, cfg)
        for d in self.dicts:
            for group in d.opt.param_groups:
                group["lr"] = cfg.lr * factor
            x, y = self._scaled(d, batch[d.hook_in], batch[d.hook_out])
            with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=cfg.precision == "bf16"):
                if cfg.uses_k and cfg.architecture != "batchtopk":
                    out = topk_loss(d.sae, cfg, x, y, d.since_fired >= cfg.dead_tokens)
                else:
                    out = dense_loss(d.sae, cfg, x, y, d.extra)
            if not torch.isfinite(out.loss):
                raise ConfigError(f"{d.name}: the loss became {out.loss.item()} at step {self.step_i}; lower --lr")
            d.opt.zero_grad(set_to_none=True)
            out.loss.backward()
            d.opt.step()
            with torch.no_grad():
                d.sae.W_dec.div_(d.sae.W_dec.norm(dim=1, keepdim=True).clamp(min=1e-8))
            d.since_fired += x.shape[0]
            d.since_fired[out.fired] = 0
            d.window.append(out)
        self.step_i += 1

    def run(self) -> list[Path]:
        """Train to ``cfg.tokens`` (resuming if asked) and save the dictionaries; their directories. One process
        writes a run directory at a time (a second, or a ``--resume`` beside a live run, is refused with its pid)."""
        from ..locking import exclusive_lock, lock_path

        self.setup()
        created = not self.out.exists()
        self.out.mkdir(parents=True, exist_ok=True)
        with exclusive_lock(lock_path(self.out, OUTPUT_KIND), f"dictionary run {self.out}"):
            self._check_out(under_lock=True)  # again under the lock: a run that just ended may have left a state behind
            return self._run_locked(created)

    def _run_locked(self, created: bool) -> list[Path]:
        from tqdm.auto import tqdm

        self._start()
        # drawn from the first step on: a run refused before it (too little data) prints only its error line
        bar = tqdm(
            total=self.cfg.steps,
            initial=self.step_i,
            unit="step",
            desc="sae train",
            disable=not self.progress,
            delay=float("inf"),
        )
        self._clock = (time.perf_counter(), self.step_i)
        with self._activation_buffers() as buffers:
            for c, acts in buffers:
                if not self.dicts:
                    self._build(acts)
                self._train_buffer(c, acts, bar)
                if self.step_i >= self.cfg.steps:
                    break
                self.buffer, self.batch_in_buffer = c + 1, 0
        bar.close()
        if self.step_i == 0:
            self._discard(created)
        if self.step_i < self.cfg.steps:
            warnings.warn(
                f"{self.data} ran out after {self.step_i * self.cfg.batch_tokens:,} tokens ({self.step_i} "
                f"of {self.cfg.steps} steps); the dictionaries are saved as they are",
                stacklevel=2,
            )
        return self.finish(time.perf_counter() - self._clock[0])

    def _discard(self, created: bool) -> None:
        discard_empty_run(self.out, created, self.data, self.cfg.batch_tokens)

    def _activation_buffers(self) -> Any:
        """(index, activations) of every buffer from the current one on, computed a buffer ahead in a background
        thread when ``prefetch`` is set (a context manager either way: leaving it stops the producer)."""
        from contextlib import nullcontext

        from .prefetch import Prefetched

        def buffers():
            for c, stories in enumerate(story_buffers(self.stream, first=self.buffer), start=self.buffer):
                yield (
                    c,
                    buffer_activations(self.model, self.tokenizer, self.stream, stories, c, self.n_ctx, self.n_layers),
                )

        return Prefetched(buffers) if self.cfg.prefetch else nullcontext(buffers())

    def _train_buffer(self, c: int, acts: dict[str, Tensor], bar: Any) -> None:
        """Steps over buffer ``c`` from batch ``batch_in_buffer`` on (``reuse`` passes of whole batches)."""
        B = self.cfg.batch_tokens
        orders = pass_orders(next(iter(acts.values())).shape[0], self.cfg, c)
        per_pass = orders[0].shape[0] // B
        for j in range(self.batch_in_buffer, len(orders) * per_pass):
            if self.step_i >= self.cfg.steps:
                return
            rows = orders[j // per_pass][(j % per_pass) * B :][:B]
            self.step({h: a.index_select(0, rows) for h, a in acts.items()})
            self.buffer, self.batch_in_buffer = c, j + 1
            self.tokens_per_s = (self.step_i - self._clock[1]) * B / (time.perf_counter() - self._clock[0])
            self._after_step(bar)

    def _after_step(self, bar: Any) -> None:
        if getattr(bar, "delay", 0):  # a disabled bar has no delay
            bar.delay = 0
        bar.update(1)
        if self.step_i % self.cfg.log_every == 0 or self.step_i == self.cfg.steps:
            self._log()
        if self.step_i % self.cfg.save_every == 0 and self.step_i < self.cfg.steps:
            self.save_state()

    def _log(self) -> None:
        from ..train.loop import MetricsLog

        record: dict[str, Any] = {
            "step": self.step_i,
            "tokens": self.step_i * self.cfg.batch_tokens,
            "lr": self.cfg.lr * lr_factor(self.step_i - 1, self.cfg),
            "tokens_per_s": round(self.tokens_per_s, 1),
        }
        for d in self.dicts:
            w = d.window
            record[d.name] = {
                "fvu": round(float(torch.stack([o.fvu for o in w]).mean()), 5),
                "l0": round(float(torch.stack([o.l0 for o in w]).mean()), 3),
                "dead_frac": round(float((d.since_fired >= self.cfg.dead_tokens).float().mean()), 5),
            }
            d.window = []
        if self.step_i > self._last_logged:
            MetricsLog(self.out / METRICS_FILE, True).write(record)

    # ---- state ----
    def _start(self) -> None:
        from ..ownership import claim_files, claim_output_dir, owns

        # decided before claiming: with --force in someone else's folder, a metrics.jsonl there is theirs
        earlier_run = self.out.is_dir() and (owns(self.out, OUTPUT_KIND) or is_earlier_run(self.out))
        claim_output_dir(self.out, OUTPUT_KIND, force=self.force, legacy=is_earlier_run)
        claim_files(self.out, OUTPUT_KIND, self._own_files(), legacy=lambda _: earlier_run)
        self._last_logged = last_logged_step(self.out / METRICS_FILE) if self.resume else 0
        if self.resume:
            self._load_state()
        elif self.force and earlier_run:
            for name in (STATE_FILE, METRICS_FILE):
                (self.out / name).unlink(
                    missing_ok=True
                )  # our earlier run's files; dictionaries are replaced at the end
        write_json_atomic(self.out / MARKER, {"kind": RUN_KIND, **self._run_record(self.out)})

    def _run_record(self, folder: Path) -> dict[str, Any]:
        """What a run's record says, with paths relative to ``folder``, the one holding the record."""
        return {
            "config": self.cfg.to_dict(),
            "identity": self.identity,
            "model_dir": relative_path(self.model_dir, folder),
            "data": portable_source(self.data, folder),
            "dictionaries": [name for name, _, _ in self.specs],
        }

    def save_state(self) -> None:
        from safetensors.torch import save as save_bytes

        from .state import pack_state

        tensors, meta = pack_state(self)
        write_bytes_atomic(self.out / STATE_FILE, save_bytes(tensors, metadata={"progress": json.dumps(meta)}))

    def _load_state(self) -> None:
        from .state import unpack_state

        unpack_state(self, self.out / STATE_FILE)

    def finish(self, seconds: float) -> list[Path]:
        from ..train.hardware import hardware_description

        dirs = []
        for d in self.dicts:
            directory = self.out / d.name
            if "threshold" in d.extra and d.sae.threshold is not None:
                with torch.no_grad():
                    d.sae.threshold.fill_(float(d.extra["threshold"]))
            if "scale_in" in d.extra:
                fold_scales(d.sae, float(d.extra["scale_in"]), float(d.extra["scale_out"]))
            d.sae.save(directory, dtype=getattr(torch, self.cfg.save_dtype))
            write_json_atomic(
                directory / "train_config.json",
                {
                    **self._run_record(directory),
                    "hook_in": d.hook_in,
                    "hook_out": d.hook_out,
                    "steps": self.step_i,
                    "tokens": self.step_i * self.cfg.batch_tokens,
                    "seconds": round(seconds, 1),
                    "tokens_per_s": round(self.tokens_per_s, 1),
                    "hardware": hardware_description(self.cfg.device),
                    "load_avg": os.getloadavg()[0],
                },
            )
            dirs.append(directory)
        (self.out / STATE_FILE).unlink(missing_ok=True)
        return dirs
