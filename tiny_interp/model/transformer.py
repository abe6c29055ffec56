"""TinyLM: the decoder-only story model of both families, in one small module.

Its activations are reachable at TransformerLens-named hook points (see ``hooks``): ``run_with_cache`` reads
them, ``run_with_hooks`` edits them. Analyses go through these two methods and nothing else.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import cast

import torch
from jaxtyping import Bool, Float, Int
from torch import Tensor, nn

from .block import Block
from .config import ModelConfig
from .hooks import HookFn, HookPoint, NamesFilter, attached, check_names, name_matcher
from .kv_cache import KVCache
from .linear import Linear
from .norm import make_dropout, make_norm
from .rotary import Rotary


class TinyLM(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.tok_embed = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.pos_embed = nn.Embedding(cfg.positions, cfg.d_model) if cfg.family == "gpt-neo" else None
        self.rotary = Rotary(cfg.d_head, cfg.n_ctx, cfg.rope_theta) if cfg.family == "llama" else None
        self.embed_dropout = make_dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(cfg, i) for i in range(cfg.n_layers))
        self.norm_f = make_norm(cfg)
        self.unembed = Linear(cfg.d_model, cfg.vocab_size, bias=False)
        if cfg.tie_embeddings:
            self.unembed.weight = self.tok_embed.weight
        self.hook_embed, self.hook_pos_embed = HookPoint(), HookPoint()
        self.hook_dict = self._collect_hook_points()
        self.apply(self._init_weights)
        # GPT-2's scaled init of the projections that write into the residual stream
        for name, p in self.named_parameters():
            if name.endswith(("attn.out.weight", "mlp.down.weight")):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * cfg.n_layers))

    def _collect_hook_points(self) -> dict[str, HookPoint]:
        points = {"hook_embed": self.hook_embed}
        if self.pos_embed is not None:
            points["hook_pos_embed"] = self.hook_pos_embed
        for i, block in enumerate(self.layers):
            points.update({f"blocks.{i}.{name}": p for name, p in block.hook_points().items()})
        points.update({f"ln_final.{name}": p for name, p in self.norm_f.hook_points().items()})
        for name, point in points.items():
            point.name = name
        return points

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def forward(
        self,
        input_ids: Int[Tensor, "batch seq"],
        cache: KVCache | None = None,
        key_valid: Bool[Tensor, "batch keys"] | None = None,
        stop_at_layer: int | None = None,
    ) -> Float[Tensor, "batch seq vocab"] | Float[Tensor, "batch seq d_model"]:
        """Logits for every position, or with ``stop_at_layer=L`` the residual stream entering block L.

        With a ``cache`` the tokens continue the cached ones; ``key_valid`` marks the real (non-padding) slots of
        the cache including the new tokens, for left-padded batches.
        """
        B, T = input_ids.shape
        start = cache.length if cache is not None else 0
        positions = self._positions(B, T, start, key_valid, input_ids.device)
        x = self.hook_embed(self.tok_embed(input_ids))
        if self.pos_embed is not None:
            pos = self.pos_embed(positions)
            x = x + (self.hook_pos_embed(pos.expand(B, T, -1)) if self.hook_pos_embed.active else pos)
        x = self.embed_dropout(x)
        rope = self.rotary.tables(positions) if self.rotary is not None else None
        masks = {
            kind: self._mask(kind, B, T, start, key_valid, input_ids.device) for kind in set(self.cfg.layer_kinds())
        }
        for block in self.layers[:stop_at_layer]:
            x = block(x, masks[block.attn.kind], rope, cache)
        if stop_at_layer is not None:
            return x
        if cache is not None:
            cache.advance(T)
        return self.readout(x)

    def readout(self, resid: Float[Tensor, "... d_model"]) -> Float[Tensor, "... vocab"]:
        """The final norm and the unembedding: the last step of ``forward``. With ``stop_at_layer=n_layers`` the
        forward returns the final residual, so a caller can read out only the rows it needs (bits per byte)."""
        return self.unembed(self.norm_f(resid))

    def run_with_hooks(
        self,
        input_ids: Int[Tensor, "batch seq"],
        fwd_hooks: Sequence[tuple[str | Callable[[str], bool], HookFn]] = (),
        stop_at_layer: int | None = None,
        **kwargs,
    ) -> Tensor:
        """``forward`` with ``fn(activation, name)`` attached at the named points (a name or a predicate on
        names); a function that returns a tensor replaces the activation."""
        with self.hooks(fwd_hooks):
            return self(input_ids, stop_at_layer=stop_at_layer, **kwargs)

    def run_with_cache(
        self,
        input_ids: Int[Tensor, "batch seq"],
        names: NamesFilter = None,
        stop_at_layer: int | None = None,
        **kwargs,
    ) -> tuple[Float[Tensor, "batch seq vocab"] | None, dict[str, Tensor]]:
        """Logits (None when stopped early) and the activations at the points ``names`` selects (None: all); a
        name the model lacks raises ``UnknownHookError``."""
        if isinstance(names, str):
            check_names(self.hook_dict, [names])
        elif names is not None and not callable(names):
            check_names(self.hook_dict, names)
        match = name_matcher(names)
        store: dict[str, Tensor] = {}

        def keep(x: Tensor, name: str) -> None:
            store[name] = x.detach()

        with self.hooks([(name, keep) for name in self.hook_dict if match(name)]):
            out = self(input_ids, stop_at_layer=stop_at_layer, **kwargs)
        return (None if stop_at_layer is not None else out), store

    @contextmanager
    def hooks(self, fwd_hooks: Sequence[tuple[str | Callable[[str], bool], HookFn]]) -> Iterator["TinyLM"]:
        """Keep ``(name, fn)`` hooks attached for a block of calls (generation, several forwards)."""
        with attached(self.hook_dict, fwd_hooks):
            yield self

    @property
    def layers(self) -> Sequence[Block]:
        """The blocks, typed (a type checker reads ``nn.ModuleList``'s items as plain modules)."""
        return cast("Sequence[Block]", self.blocks)

    @property
    def hook_names(self) -> list[str]:
        """Every hook point's name, in the order the forward pass reaches them."""
        return list(self.hook_dict)

    def hooks_active(self) -> bool:
        return any(p.active for p in self.hook_dict.values())

    def _positions(
        self, B: int, T: int, start: int, key_valid: Tensor | None, device: torch.device
    ) -> Int[Tensor, "batch_or_1 seq"]:
        if key_valid is None:
            # one row broadcast over the batch: the position embedding's backward then sums T rows, not B*T
            return torch.arange(start, start + T, device=device).unsqueeze(0)
        # left padding shifts each row's positions so its first real token sits at position 0
        real_before = key_valid.long().cumsum(-1) - 1
        return real_before[:, start : start + T].clamp(min=0)

    def _mask(
        self, kind: str, B: int, T: int, start: int, key_valid: Tensor | None, device: torch.device
    ) -> Tensor | None:
        window = self.cfg.window_size if kind == "local" else None
        total = start + T
        if key_valid is None and start == 0 and (window is None or window >= T):
            return None  # plain causal: SDPA's fast path
        q_idx = torch.arange(start, total, device=device).unsqueeze(1)
        k_idx = torch.arange(total, device=device).unsqueeze(0)
        allowed = k_idx <= q_idx
        if window is not None:
            allowed = allowed & (q_idx - k_idx < window)
        allowed = allowed.unsqueeze(0)
        if key_valid is not None:
            # a padding query would see no key at all (NaN); let every query see itself
            allowed = (allowed & key_valid[:, None, :total]) | (k_idx == q_idx).unsqueeze(0)
        return allowed.expand(B, T, total).unsqueeze(1)

    @property
    def device(self) -> torch.device:
        return self.tok_embed.weight.device
