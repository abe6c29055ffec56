"""Training run settings: frozen dataclasses, saved as ``train_config.json`` in the run directory.

Each field's metadata (help, allowed range) also defines its ``tiny-interp train`` option (``cli_args``), so a new
field appears in the CLI, the model card's reproduce command and the lab's trainer at once.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, TypeVar

from ..cli_args import opt
from ..config_keys import config_from_dict
from ..errors import ConfigError
from ..jsontypes import JSONObject, JSONValue

if TYPE_CHECKING:
    from ..data.shards import PreparedData

V = TypeVar("V")


def _f(default: V, help: str, low: float | None = None, high: float | None = None, low_open: bool = False) -> V:
    return field(default=default, metadata=opt(help, low=low, high=high, low_open=low_open))


@dataclass(frozen=True)
class TrainConfig:
    """Defaults follow the TinyStories paper (AdamW, lr 5e-4, weight decay 0.1, betas 0.9/0.95, context 512)."""

    preset: str = _f(
        "1M",
        "model shape: 1M, 3M, 8M, 28M, 33M, 1L-21M, 2L-33M, llama-260k, llama-1M, llama-4M, "
        "llama-15M, tiny, tiny-llama",
    )
    max_steps: int = _f(1000, "optimizer steps to train for", low=1)
    batch_size: int = _f(16, "sequences per micro-batch per process", low=1)
    seq_len: int | None = _f(None, "training window (default: the model context)", low=1)
    grad_accum: int = _f(1, "micro-batches per optimizer step", low=1)
    lr: float = _f(5e-4, "peak learning rate", low=0, low_open=True)
    min_lr_ratio: float = _f(0.1, "cosine floor as a fraction of --lr", low=0, high=1)
    weight_decay: float = _f(0.1, "AdamW weight decay on matrices and embeddings", low=0)
    beta1: float = _f(0.9, "AdamW beta1", low=0, high=1)
    beta2: float = _f(0.95, "AdamW beta2", low=0, high=1)
    warmup_steps: int = _f(100, "linear warmup steps", low=0)
    schedule: Literal["cosine", "constant"] = _f("cosine", "learning-rate schedule after warmup")
    grad_clip: float = _f(1.0, "max gradient norm (0 = off)", low=0)
    dropout: float = _f(0.0, "dropout on embeddings, attention and MLP outputs", low=0, high=1)
    eval_every: int = _f(200, "steps between validation runs", low=1)
    eval_batches: int = _f(20, "validation batches per evaluation", low=1)
    save_every: int = _f(500, "steps between checkpoints", low=1)
    keep_checkpoints: int = _f(0, "log-spaced snapshots to keep in checkpoints/ (0 = none)", low=0)
    device: str = _f("auto", "auto (cuda when present), cpu, cuda or cuda:N")
    compile: bool = _f(False, "torch.compile the model (worth it on GPUs)")
    # MKL, PyTorch's BLAS on x86, leaves AVX-512 unused on AMD CPUs; oneDNN (in the same wheel) does not
    cpu_gemm: Literal["auto", "onednn", "aten"] = _f(
        "auto",
        "matrix kernel for eager float32 CPU training: auto = oneDNN on x86 CPUs not made by Intel (1.4x faster "
        "per step measured on an AMD EPYC), PyTorch's own (MKL) elsewhere",
    )
    # bf16 autocast: "auto" uses it on CUDA only; "bf16" also on CPUs with bf16 matrix units (AMX /
    # AVX512-BF16): measured 1.9x faster per step on one AMX core, 1.25x on two; "fp32" never. Master weights stay
    # float32 either way.
    precision: Literal["auto", "fp32", "bf16"] = _f(
        "auto",
        "bf16 autocast: auto = on CUDA only; bf16 also on CPU (1.25-1.9x faster per step measured on a CPU with AMX)",
    )
    seed: int = _f(1337, "random seed (initialisation, data order, dropout)")

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            _check_range(f, getattr(self, f.name))
        if self.schedule not in ("cosine", "constant"):
            raise ConfigError(f"schedule must be 'cosine' or 'constant', got {self.schedule!r}")
        if self.precision not in ("auto", "fp32", "bf16"):
            raise ConfigError(f"precision must be auto, fp32 or bf16, got {self.precision!r}")
        if self.cpu_gemm not in ("auto", "onednn", "aten"):
            raise ConfigError(f"cpu_gemm must be auto, onednn or aten, got {self.cpu_gemm!r}")
        if self.device not in ("auto", "cpu", "cuda") and not self.device.startswith("cuda:"):
            raise ConfigError(f"device must be auto, cpu or cuda, got {self.device!r}")

    def to_dict(self) -> JSONObject:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, JSONValue], source: str | os.PathLike | None = None) -> "TrainConfig":
        """The config saved in ``source`` (``train_config.json``'s ``train``); an unknown key is an error."""
        return config_from_dict(cls, d, source)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    # settings that may change between a run and its resumption without changing what is computed so far
    RESUMABLE_CHANGES = ("max_steps", "eval_every", "save_every", "keep_checkpoints", "device", "compile", "cpu_gemm")


def _check_range(f: dataclasses.Field, value: object) -> None:
    low, high, low_open = f.metadata.get("low"), f.metadata.get("high"), f.metadata.get("low_open", False)
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return
    bad = (
        not math.isfinite(value)
        or (low is not None and (value <= low if low_open else value < low))
        or (high is not None and value > high)
    )
    if bad:
        bound = " and ".join(
            b
            for b in (low is not None and f"{'>' if low_open else '>='} {low:g}", high is not None and f"<= {high:g}")
            if b
        )
        raise ConfigError(f"{f.name} must be {bound}, got {value}")


@dataclass(frozen=True)
class DataConfig:
    """Where the stories come from and how they are tokenized (``tiny-interp prepare`` and ``train``)."""

    data: str = _f("", "training stories: .txt/.jsonl/.json/.parquet, a folder, or roneneldan/TinyStories[:SPLIT]")
    val_data: str | None = _f(None, "validation stories (same forms); enables val_loss/val_bpb")
    tokenizer: str = _f("bpe", "bpe (train one), gpt-neo, gpt-neo:DIR (vocab.json+merges.txt), or a tokenizer dir")
    vocab_size: int = _f(4096, "vocabulary of a newly trained BPE (258..65536)", low=258, high=65536)
    cache_dir: str = _f(".cache/tiny-interp", "where tokenizers and token shards are cached")
    max_stories: int | None = _f(None, "use at most N stories of each split (quick experiments)", low=1)

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            _check_range(f, getattr(self, f.name))

    def prepare(self, progress: bool = True) -> PreparedData:
        """The cached token shards and tokenizer of these stories (``tiny_interp.data.shards.prepare_data``)."""
        from ..data.shards import prepare_data

        return prepare_data(
            self.data,
            self.val_data,
            tokenizer=self.tokenizer,
            vocab_size=self.vocab_size,
            cache_dir=self.cache_dir,
            max_stories=self.max_stories,
            progress=progress,
        )
