"""``tiny_interp.Model``: one typed handle on a story model, in TransformerLens' vocabulary.

It carries the fast module (``TinyLM``), the tokenizer, the model config, the directory and its card, and offers
what a researcher reaches for in ``HookedTransformer``: ``to_tokens`` / ``to_str_tokens`` / ``to_string``,
``run_with_cache`` / ``run_with_hooks`` / ``hook_names``, ``generate`` (the fast KV-cache decoder), the readout
(``model.readout``), the TransformerLens bridge on demand (``model.bridge()``) and the dictionaries and atlases
shipped beside the weights. Every view, analysis and command accepts it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import torch
from jaxtyping import Float, Int
from torch import Tensor

from ..jsontypes import JSONValue
from .config import ModelConfig
from .hooks import HookFn, NamesFilter
from .readout import Readout, readout_of
from .transformer import TinyLM

if TYPE_CHECKING:
    from transformer_lens.model_bridge import TransformerBridge
    from transformers import PreTrainedTokenizerBase

    from ..features.feature_atlas import FeatureAtlas
    from ..features.sae import SAE
    from ..interp.atlas import Atlas
    from ..qk.why import AttentionWhy

TextOrTokens = str | Sequence[str] | Tensor
SAES_DIR = "saes"
ATLAS_DIR = "atlas"


@dataclass(frozen=True)
class ModelCard:
    """What the directory says about the model: its README, the card's settings and the training record."""

    readme: str = ""
    settings: dict[str, JSONValue] = field(default_factory=dict)
    meta: dict[str, JSONValue] = field(default_factory=dict)


class Model:
    """A story model with its tokenizer; open one with ``Model.from_pretrained("ts-1L")``."""

    def __init__(self, module: TinyLM, tokenizer: PreTrainedTokenizerBase, path: Path | None = None):
        self.module = module.eval()
        self.tokenizer = tokenizer
        self.path = path
        self._bridge: TransformerBridge | None = None

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str | os.PathLike,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> Model:
        """A shipped model's short name (``"ts-1L"``), a model directory or a Hugging Face hub id.

        Opening the same files on the same device and dtype again returns the same handle (nothing is read).
        """
        from ..loading import resolve_model_dir
        from . import opener

        dev = opener.torch_device(device)
        path = resolve_model_dir(name_or_path)
        key = opener.cache_key(path, dev, dtype)
        model = opener.cached(key)
        if model is None:
            from .checkpoint import load_tinylm, load_tokenizer

            module = load_tinylm(path, device=dev).to(dtype)
            model = cls(module, load_tokenizer(path), path)
            opener.remember(key, model)
        return model

    # --- what it is ---------------------------------------------------------------------------------------------
    @property
    def cfg(self) -> ModelConfig:
        return self.module.cfg

    @property
    def name(self) -> str:
        return self.path.name if self.path is not None else "model"

    @property
    def model_path(self) -> str | None:
        """The directory as a string, under the attribute name ``tiny_interp.load`` gives every bridge."""
        return str(self.path) if self.path is not None else None

    @property
    def device(self) -> torch.device:
        return self.module.device

    @property
    def dtype(self) -> torch.dtype:
        return self.module.tok_embed.weight.dtype

    @cached_property
    def card(self) -> ModelCard:
        if self.path is None:
            return ModelCard()
        from .checkpoint import read_meta

        readme = self.path / "README.md"
        settings = self.path / "card_config.json"
        return ModelCard(
            readme.read_text(encoding="utf-8") if readme.is_file() else "",
            json.loads(settings.read_text(encoding="utf-8")) if settings.is_file() else {},
            read_meta(self.path),
        )

    def __repr__(self) -> str:
        c = self.cfg
        return (
            f"Model({self.name!r}: {c.family}, {c.n_layers} layers, d_model {c.d_model}, {c.n_heads} heads, "
            f"context {c.n_ctx}, {self.device}, {str(self.dtype).removeprefix('torch.')})"
        )

    # --- tokens -------------------------------------------------------------------------------------------------
    @property
    def bos_token_id(self) -> int:
        return int(self.cfg.bos_token_id)

    @property
    def pad_token_id(self) -> int:
        pad = self.tokenizer.pad_token_id
        return int(pad) if pad is not None else int(self.cfg.eos_token_id)

    def _encode(self, text: str, prepend_bos: bool) -> list[int]:
        ids = list(self.tokenizer(text, add_special_tokens=False)["input_ids"])
        return [self.bos_token_id, *ids] if prepend_bos else ids

    def to_tokens(
        self,
        input: str | Sequence[str],
        prepend_bos: bool | None = None,
        padding_side: Literal["left", "right"] | None = None,
        move_to_device: bool = True,
        truncate: bool = True,
    ) -> Int[Tensor, "batch pos"]:
        """Token ids as TransformerLens' ``to_tokens``: one row per text, the BOS token first (these models were
        trained with a BOS before every story; ``prepend_bos=False`` leaves it out), padded with the pad token on
        ``padding_side`` (default right), cut to the context when ``truncate``; on the model's device unless
        ``move_to_device=False``."""
        texts = [input] if isinstance(input, str) else list(input)
        bos = True if prepend_bos is None else prepend_bos
        rows = [self._encode(t, bos) for t in texts]
        if truncate:
            rows = [r[: self.cfg.n_ctx] for r in rows]
        width = max((len(r) for r in rows), default=0)
        out = torch.full((len(rows), width), self.pad_token_id, dtype=torch.long)
        for i, r in enumerate(rows):
            start = width - len(r) if padding_side == "left" else 0
            out[i, start : start + len(r)] = torch.tensor(r, dtype=torch.long)
        return out.to(self.device) if move_to_device else out

    def to_str_tokens(
        self, input: str | Sequence[str] | Tensor | Sequence[int], prepend_bos: bool | None = None
    ) -> list[str] | list[list[str]]:
        """Each token as its text: a list for one text or one row of ids (a [1, pos] tensor too), a list of lists
        for several texts or a [batch, pos] tensor (TransformerLens' ``to_str_tokens``)."""
        if isinstance(input, str):
            return self._pieces(self.to_tokens(input, prepend_bos)[0].tolist())
        rows: list[list[str]]
        if isinstance(input, Tensor):
            ids = input.squeeze(0) if input.ndim == 2 and input.shape[0] == 1 else input  # TL squeezes a batch of 1
            if ids.ndim == 2:
                rows = [self._pieces(row.tolist()) for row in ids]
                return rows
            return self._pieces(ids.reshape(-1).tolist())
        texts = [x for x in input if isinstance(x, str)]
        if texts:
            rows = [self._pieces(self._encode(t, prepend_bos is not False)) for t in texts]
            return rows
        return self._pieces(torch.as_tensor(input).reshape(-1).tolist())

    def _pieces(self, ids: list[int]) -> list[str]:
        return [self._decode([i]) for i in ids]

    def _decode(self, ids: list[int]) -> str:
        return str(self.tokenizer.decode(ids))

    def to_string(self, tokens: Tensor | Sequence[int]) -> str | list[str]:
        """Text of one row of ids, or a list of texts for a [batch, pos] tensor."""
        t = torch.as_tensor(tokens)
        if t.ndim == 2:
            return [self._decode(row.tolist()) for row in t]
        return self._decode(t.tolist())

    def to_single_token(self, text: str) -> int:
        """The id of a string that is exactly one token (``" Lily"``); a one-line error otherwise."""
        from ..interp.common import token_index

        return token_index(self, text)

    def _ids(self, input: TextOrTokens) -> Int[Tensor, "batch pos"]:
        if isinstance(input, Tensor):
            return (input.unsqueeze(0) if input.ndim == 1 else input).to(self.device)
        return self.to_tokens(input)

    # --- running ------------------------------------------------------------------------------------------------
    def __call__(self, input: TextOrTokens) -> Float[Tensor, "batch pos vocab"]:
        """Logits for text (tokenized as ``to_tokens``) or token ids; differentiable, as in TransformerLens (wrap
        in ``torch.no_grad()`` when no gradient is wanted)."""
        return self.module(self._ids(input))

    forward = __call__

    @property
    def hook_names(self) -> list[str]:
        """Every hook point, in forward order (TransformerLens names)."""
        return list(self.module.hook_dict)

    def run_with_cache(
        self, input: TextOrTokens, names: NamesFilter = None, stop_at_layer: int | None = None
    ) -> tuple[Float[Tensor, "batch pos vocab"] | None, dict[str, Tensor]]:
        """(logits, or None with ``stop_at_layer``; {hook name: activation}) for the points ``names`` selects
        (a name, a list, a predicate; None: all). Runs without gradients: a cache is for reading."""
        with torch.no_grad():
            return self.module.run_with_cache(self._ids(input), names=names, stop_at_layer=stop_at_layer)

    def run_with_hooks(
        self,
        input: TextOrTokens,
        fwd_hooks: Sequence[tuple[str | Callable[[str], bool], HookFn]] = (),
        stop_at_layer: int | None = None,
    ) -> Tensor:
        """The forward pass with ``fn(activation, name)`` attached; a returned tensor replaces the activation."""
        return self.module.run_with_hooks(self._ids(input), fwd_hooks=fwd_hooks, stop_at_layer=stop_at_layer)

    @contextmanager
    def hooks(self, fwd_hooks: Sequence[tuple[str | Callable[[str], bool], HookFn]]) -> Iterator[Model]:
        """Keep hooks attached over several calls (generation with a steering hook, say)."""
        with self.module.hooks(fwd_hooks):
            yield self

    def generate(
        self,
        input: str | Sequence[str] = "",
        max_new_tokens: int = 200,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        seed: int | None = None,
        stop_at_eos: bool = True,
    ) -> str | list[str]:
        """The prompt followed by its continuation (a list for a list of prompts, sampled as one batch) through
        the fast KV-cache decoder; the options are the ``tiny-interp generate`` command's (temperature 0 is
        greedy)."""
        from .generate import generate_text
        from .sampling import SamplingConfig

        sampling = SamplingConfig(max_new_tokens, temperature, top_k, top_p, seed, stop_at_eos)
        prompts = [input] if isinstance(input, str) else list(input)
        texts = [p + t for p, t in zip(prompts, generate_text(self.module, self.tokenizer, prompts, sampling))]
        return texts[0] if isinstance(input, str) else texts

    # --- reading out ----------------------------------------------------------------------------------------------
    @cached_property
    def readout(self) -> Readout:
        """The final norm and unembedding: ``.logits(resid)`` for predictions, ``.directions(vectors)`` for
        directions (see ``tiny_interp.model.readout`` for the convention)."""
        return readout_of(self.module)

    def bridge(self) -> TransformerBridge:
        """The TransformerLens ``TransformerBridge`` of the same directory, built on first use and kept."""
        if self._bridge is None:
            if self.path is None:
                raise ValueError("this model has no directory to build a TransformerLens bridge from; save it first")
            from ..loading import load

            bridge = load(self.path, device=self.device, dtype=self.dtype)
            bridge.tiny_interp_model = self  # analyses given the bridge run this handle's module, not a re-read
            self._bridge = bridge
        return self._bridge

    def attention_why(
        self,
        tokens_or_prompt: str | Sequence[int] | Tensor,
        layer: int,
        head: int,
        query: int = -1,
        key: int | None = None,
        transcoders: str | os.PathLike | Sequence[SAE] | None = None,
        top: int = 10,
    ) -> AttentionWhy:
        """Why head ``head`` of ``layer`` at position ``query`` attends to ``key`` (default: its strongest key): the
        exact split of its pre-softmax score into query-side x key-side parts (see ``tiny_interp.qk``)."""
        from ..qk.why import attention_why

        return attention_why(self, tokens_or_prompt, layer, head, query, key, transcoders, top=top)

    # --- what ships beside it -----------------------------------------------------------------------------------
    @cached_property
    def saes(self) -> list[SAE]:
        """The dictionaries shipped in ``<model>/saes`` (SAEs, transcoders), in training order; [] when none."""
        from ..features.card import load_dictionaries
        from ..features.sae import CFG_FILE

        run = self.path / SAES_DIR if self.path is not None else None
        if run is None or not run.is_dir() or not any((p / CFG_FILE).is_file() for p in run.iterdir()):
            return []
        return load_dictionaries(run, device=str(self.device))

    @cached_property
    def atlas(self) -> Atlas | None:
        """The neuron atlas shipped in ``<model>/atlas``; None when there is none."""
        from ..interp.atlas import Atlas

        where = self.path / ATLAS_DIR if self.path is not None else None
        return Atlas.open(where) if where is not None and (where / "atlas.json").is_file() else None

    @cached_property
    def feature_atlas(self) -> FeatureAtlas | None:
        """The atlas of the shipped dictionaries (``<model>/saes/atlas``); None when there is none."""
        from ..features.feature_atlas import FeatureAtlas

        where = self.path / SAES_DIR / ATLAS_DIR if self.path is not None else None
        return FeatureAtlas.open(where) if where is not None and (where / "atlas.json").is_file() else None


def as_model(model: Model | TinyLM | str | os.PathLike, tokenizer: PreTrainedTokenizerBase | None = None) -> Model:
    """A handle for a handle (itself), a path or name (opened, cached), or a TinyLM with its tokenizer."""
    if isinstance(model, Model):
        return model
    if isinstance(model, TinyLM):
        if tokenizer is None:
            raise ValueError("a bare TinyLM needs its tokenizer: Model(module, tokenizer)")
        return Model(model, tokenizer)
    return Model.from_pretrained(model)
