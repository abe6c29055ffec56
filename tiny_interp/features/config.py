"""The frozen settings of one dictionary-training run, saved as ``train_config.json`` beside every dictionary it
produced. The ``sae train`` CLI options are generated from these fields (``options.py``)."""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from ..cli_args import opt
from ..config_keys import build_config, config_kwargs
from ..errors import ConfigError
from ..jsontypes import JSONObject, JSONValue
from .kinds import ARCHITECTURES, Architecture, ArchitectureTraits

TRANSCODER_IN = "blocks.{layer}.mlp.hook_in"
TRANSCODER_OUT = "blocks.{layer}.hook_mlp_out"


@dataclass(frozen=True)
class SAETrainConfig(ArchitectureTraits):
    """One run trains one dictionary per hook (SAEs) or per layer (transcoders), all from the same forward passes."""

    architecture: Architecture = field(
        default="topk",
        metadata=opt("dictionary kind (transcoder: MLP input -> MLP output of every --layers)", aliases=("--arch",)),
    )
    hooks: tuple[str, ...] = field(
        default=("blocks.0.hook_mlp_out",),
        metadata=opt("hook points to train SAEs on, comma-separated (ignored by transcoders)", flag=False),
    )
    layers: tuple[int, ...] = field(
        default=(), metadata=opt("transcoders: layers, comma-separated (default: every layer)", flag=False)
    )
    activation: Literal["topk", "relu", "jumprelu"] = field(default="topk", metadata=opt("transcoders' latents"))
    skip: bool = field(default=True, metadata=opt("transcoders: learn a linear skip term x @ W_skip", flag=False))
    latents: int = field(default=4096, metadata=opt("dictionary size d_sae", low=1))
    k: int = field(default=16, metadata=opt("active latents per token (topk, batchtopk)", low=1))
    l1_coeff: float = field(default=0.05, metadata=opt("standard: L1 penalty weight", low=0))
    l0_coeff: float = field(default=0.002, metadata=opt("jumprelu: L0 penalty weight", low=0))
    jump_bandwidth: float = field(
        default=0.05, metadata=opt("jumprelu: straight-through kernel width", low=0, low_open=True)
    )
    tokens: int = field(default=8_000_000, metadata=opt("training tokens", low=1))
    batch_tokens: int = field(default=4096, metadata=opt("tokens per optimizer step", low=1))
    lr: float = field(default=2e-3, metadata=opt("peak Adam learning rate", low=0, low_open=True))
    warmup_steps: int = field(default=100, metadata=opt("linear warmup steps", low=0))
    decay_frac: float = field(default=0.3, metadata=opt("final fraction of steps decayed linearly to 0", low=0, high=1))
    aux_k: int = field(default=256, metadata=opt("AuxK: dead latents that model the residual (0: off)", low=0))
    aux_coeff: float = field(default=1 / 32, metadata=opt("AuxK loss weight", low=0))
    dead_tokens: int = field(default=1_000_000, metadata=opt("a latent silent this many tokens counts as dead", low=1))
    buffer_stories: int = field(default=2048, metadata=opt("stories per shuffled activation buffer", low=1))
    reuse: int = field(
        default=1,
        metadata=opt("passes over each buffer (reshuffled each pass): fewer model forwards per training token", low=1),
    )
    model_batch: int = field(default=32, metadata=opt("stories per model forward pass", low=1))
    max_len: int = field(default=512, metadata=opt("tokens per story at most", low=1))
    skip_stories: int = field(default=0, metadata=opt("start this many stories into the data", low=0))
    normalize: bool = field(
        default=True,
        metadata=opt(
            "train on activations scaled to a mean squared norm of their width (measured on the first buffer), so one "
            "learning rate suits any hook's scale; the saved weights read raw activations"
        ),
    )
    seed: int = field(default=0, metadata=opt("initialisation and shuffling seed"))
    device: str = field(default="cpu", metadata=opt("cpu or cuda"))
    precision: Literal["float32", "bf16"] = field(default="float32", metadata=opt("bf16: autocast (CUDA, bf16 CPUs)"))
    threads: int = field(default=1, metadata=opt("torch threads on CPU (0: leave torch's setting)", low=0))
    prefetch: bool = field(
        default=True,
        metadata=opt(
            "compute the next activation buffer in a background thread while training on this one (one more core)"
        ),
    )
    save_every: int = field(default=200, metadata=opt("steps between resumable states", low=1))
    log_every: int = field(default=50, metadata=opt("steps between metrics.jsonl lines", low=1))
    save_dtype: Literal["float32", "float16"] = field(default="float32", metadata=opt("dtype of the saved weights"))

    def __post_init__(self) -> None:
        positive = (
            "reuse",
            "latents",
            "tokens",
            "batch_tokens",
            "dead_tokens",
            "buffer_stories",
            "model_batch",
            "max_len",
            "save_every",
            "log_every",
        )
        checks = [(getattr(self, n) > 0, f"{n} must be positive, got {getattr(self, n)}") for n in positive]
        floats = ("lr", "l1_coeff", "l0_coeff", "jump_bandwidth", "aux_coeff")
        checks += [
            (
                math.isfinite(getattr(self, n)) and getattr(self, n) >= 0,
                f"{n} must be a finite number >= 0, got {getattr(self, n)}",
            )
            for n in floats
        ]
        checks += [
            (self.lr > 0, "lr must be positive"),
            (self.architecture in ARCHITECTURES, f"architecture must be one of {', '.join(ARCHITECTURES)}"),
            (self.activation in ("topk", "relu", "jumprelu"), "activation must be topk, relu or jumprelu"),
            (self.precision in ("float32", "bf16"), "precision must be float32 or bf16"),
            (self.save_dtype in ("float32", "float16"), "save_dtype must be float32 or float16"),
            (self.is_transcoder or len(self.hooks) > 0, "hooks must name at least one hook point"),
            (0 < self.k <= self.latents or not self.uses_k, f"k must be in 1..latents ({self.latents}), got {self.k}"),
            (0.0 <= self.decay_frac <= 1.0, f"decay_frac must be in [0, 1], got {self.decay_frac}"),
            (
                self.aux_k >= 0 and self.warmup_steps >= 0 and self.skip_stories >= 0 and self.threads >= 0,
                "aux_k, warmup_steps, skip_stories and threads must not be negative",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)

    @property
    def steps(self) -> int:
        return max(1, self.tokens // self.batch_tokens)

    def identity(self) -> JSONObject:
        """What a resumed run must share with the stopped one (device, threads and logging may change)."""
        d = dataclasses.asdict(self)
        for name in ("device", "threads", "prefetch", "save_every", "log_every"):
            d.pop(name)
        return d

    def to_dict(self) -> JSONObject:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, JSONValue], source: str | os.PathLike | None = None) -> "SAETrainConfig":
        """The config recorded in ``source`` (a run's ``train_config.json``); an unknown key is an error."""
        values: dict[str, object] = {
            k: tuple(v) if isinstance(v, list) else v for k, v in config_kwargs(cls, d, source).items()
        }
        values.setdefault("normalize", False)  # runs recorded before the option trained on raw activations
        return build_config(cls, values)


def dictionary_specs(cfg: SAETrainConfig, n_layers: int) -> list[tuple[str, str, str]]:
    """(directory name, input hook, output hook) of every dictionary the run trains."""
    if not cfg.is_transcoder:
        return [(hook, hook, hook) for hook in cfg.hooks]
    layers = cfg.layers or tuple(range(n_layers))
    bad = [l for l in layers if not 0 <= l < n_layers]
    if bad:
        raise ConfigError(f"layers {bad} do not exist: the model has layers 0..{n_layers - 1}")
    return [(f"blocks.{l}.transcoder", TRANSCODER_IN.format(layer=l), TRANSCODER_OUT.format(layer=l)) for l in layers]
