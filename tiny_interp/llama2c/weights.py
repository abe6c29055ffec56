"""Reading llama2.c checkpoints into one form: a header plus tensors under llama2.c's PyTorch names.

Two sources: the legacy ``.bin`` export (7 int32 header, then float32 arrays in run.c's order) and the ``.pt``
training checkpoints of llama2.c's ``train.py`` (``model`` state dict + ``model_args``), read with
``torch.load(weights_only=True)`` so no pickled code ever runs.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ..errors import CheckpointError

HEADER = struct.Struct("<7i")
VERSIONED_MAGIC = 0x616B3432  # "ak42": llama2.c's later export formats (not the legacy one)


@dataclass(frozen=True)
class Llama2cHeader:
    dim: int
    hidden_dim: int
    n_layers: int
    n_heads: int
    n_kv_heads: int
    vocab_size: int
    seq_len: int
    shared_classifier: bool = True

    @property
    def head_size(self) -> int:
        return self.dim // self.n_heads

    @property
    def kv_dim(self) -> int:
        return self.n_kv_heads * self.head_size

    def layout(self) -> list[tuple[str, tuple[int, ...]]]:
        """(name, shape) of each array of the legacy ``.bin``, in file order; ``None`` names are skipped."""
        d, h, L, kv = self.dim, self.hidden_dim, self.n_layers, self.kv_dim
        rope = (self.seq_len, self.head_size // 2)
        arrays = [
            ("tok_embeddings", (self.vocab_size, d)),
            ("attention_norm", (L, d)),
            ("wq", (L, d, d)),
            ("wk", (L, kv, d)),
            ("wv", (L, kv, d)),
            ("wo", (L, d, d)),
            ("ffn_norm", (L, d)),
            ("w1", (L, h, d)),
            ("w2", (L, d, h)),
            ("w3", (L, h, d)),
            ("norm", (d,)),
            ("freq_cis_real", rope),
            ("freq_cis_imag", rope),
        ]
        if not self.shared_classifier:
            arrays.append(("output", (self.vocab_size, d)))
        return arrays

    def expected_bytes(self) -> int:
        return HEADER.size + 4 * sum(int(np.prod(shape)) for _, shape in self.layout())

    def check(self, source: str) -> None:
        values = [
            self.dim,
            self.hidden_dim,
            self.n_layers,
            self.n_heads,
            self.n_kv_heads,
            self.vocab_size,
            self.seq_len,
        ]
        if min(values) <= 0 or self.dim % self.n_heads or self.n_heads % self.n_kv_heads or self.head_size % 2:
            raise CheckpointError(
                f"{source} has an impossible llama2.c header {values} (dim, hidden_dim, n_layers, n_heads, "
                "n_kv_heads, vocab_size, seq_len): is it a llama2.c legacy .bin export?"
            )


# per-layer array of the ``.bin`` layout -> llama2.c's PyTorch state-dict name ({i} = layer)
PER_LAYER_NAMES = {
    "attention_norm": "layers.{i}.attention_norm.weight",
    "ffn_norm": "layers.{i}.ffn_norm.weight",
    "wq": "layers.{i}.attention.wq.weight",
    "wk": "layers.{i}.attention.wk.weight",
    "wv": "layers.{i}.attention.wv.weight",
    "wo": "layers.{i}.attention.wo.weight",
    "w1": "layers.{i}.feed_forward.w1.weight",
    "w2": "layers.{i}.feed_forward.w2.weight",
    "w3": "layers.{i}.feed_forward.w3.weight",
}


def read_bin(path: str | os.PathLike) -> tuple[Llama2cHeader, dict[str, Tensor]]:
    """Header and state dict (llama2.c names) of a legacy ``.bin`` export."""
    path = Path(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(HEADER.size)
    except OSError as e:
        raise CheckpointError(f"cannot read llama2.c checkpoint {path} ({e})") from e
    if len(head) < HEADER.size:
        raise CheckpointError(f"{path} is {size} bytes: too short for a llama2.c header (28 bytes)")
    values = HEADER.unpack(head)
    if values[0] == VERSIONED_MAGIC:
        raise CheckpointError(
            f"{path} is a versioned llama2.c export (magic 'ak42'); export it with llama2.c's legacy format "
            "(`python export.py out.bin --version 0 --checkpoint ckpt.pt`) or pass the .pt checkpoint itself"
        )
    dim, hidden, layers, heads, kv_heads, vocab, seq_len = values
    header = Llama2cHeader(dim, hidden, layers, heads, kv_heads, abs(vocab), seq_len, shared_classifier=vocab > 0)
    header.check(str(path))
    expected = header.expected_bytes()
    if size != expected:
        raise CheckpointError(
            f"{path} is {size:,} bytes but its header (dim={dim}, hidden_dim={hidden}, n_layers={layers}, "
            f"n_heads={heads}, n_kv_heads={kv_heads}, vocab_size={vocab}, seq_len={seq_len}) needs {expected:,}: "
            "the file is truncated, or not a llama2.c legacy .bin export"
        )
    flat = np.fromfile(path, dtype="<f4", offset=HEADER.size)
    arrays: dict[str, np.ndarray] = {}
    offset = 0
    for name, shape in header.layout():
        n = int(np.prod(shape))
        arrays[name] = flat[offset : offset + n].reshape(shape)
        offset += n
    state = {
        "tok_embeddings.weight": torch.from_numpy(arrays["tok_embeddings"].copy()),
        "norm.weight": torch.from_numpy(arrays["norm"].copy()),
    }
    for short, pattern in PER_LAYER_NAMES.items():
        for i in range(layers):
            state[pattern.format(i=i)] = torch.from_numpy(arrays[short][i].copy())
    if not header.shared_classifier:
        state["output.weight"] = torch.from_numpy(arrays["output"].copy())
    return header, state


def read_pt(path: str | os.PathLike) -> tuple[Llama2cHeader, dict[str, Tensor]]:
    """Header and state dict of a llama2.c ``train.py`` checkpoint (shapes from the tensors, heads from model_args)."""
    import pickle

    path = Path(path)
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError) as e:
        raise CheckpointError(
            f"cannot read {path} as a llama2.c training checkpoint ({e}); only plain tensors and numbers are "
            "accepted (torch.load weights_only=True)"
        ) from e
    if not isinstance(ckpt, dict) or "model" not in ckpt or "model_args" not in ckpt:
        raise CheckpointError(f"{path} has no 'model' and 'model_args' entries: not a llama2.c train.py checkpoint")
    state = {k.removeprefix("_orig_mod."): v.float() for k, v in ckpt["model"].items()}
    args = ckpt["model_args"]
    try:
        emb = state["tok_embeddings.weight"]
        layers = 1 + max(int(k.split(".")[1]) for k in state if k.startswith("layers."))
        hidden = state["layers.0.feed_forward.w1.weight"].shape[0]
        heads = int(args["n_heads"])
        kv_heads = int(args.get("n_kv_heads") or heads)
        seq_len = int(args.get("max_seq_len", 256))
    except (KeyError, ValueError) as e:
        raise CheckpointError(f"{path} lacks {e} that a llama2.c checkpoint has") from e
    shared = "output.weight" not in state or torch.equal(state["output.weight"], emb)
    if shared:
        state.pop("output.weight", None)
    header = Llama2cHeader(emb.shape[1], hidden, layers, heads, kv_heads, emb.shape[0], seq_len, shared)
    header.check(str(path))
    return header, state


def read_checkpoint(path: str | os.PathLike) -> tuple[Llama2cHeader, dict[str, Tensor]]:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"llama2.c checkpoint {path} does not exist")
    with open(path, "rb") as fh:
        magic = fh.read(4)
    # .pt files are zip archives (torch.save) or raw pickles
    if magic.startswith(b"PK") or magic[:1] == b"\x80":
        return read_pt(path)
    return read_bin(path)
