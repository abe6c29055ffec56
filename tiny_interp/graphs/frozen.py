"""A prompt's local replacement model: the real forward pass linearised around itself.

Attention patterns and normalisation scales are read from the real forward pass through the seam
(``run_with_cache``) and then held fixed; each MLP is replaced by its layer's transcoder plus an error term. With
patterns and scales fixed, every layer is an affine map of the residual stream, so the effect of one node on a later
one is a sum over linear paths (residual, attention OV, transcoder skip).

The functions here take weights from the TinyLM's parameters but are not a second copy of its forward pass: a frozen
norm divides by a number per position measured in the real pass (not by the statistics of its input), and frozen
attention mixes values with the real pass's pattern (queries and keys, rotary included, never enter). They compute
the forward's linearisation at one point, which equals the forward only at that point: the tests check both facts.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import torch
from jaxtyping import Float, Int
from torch import Tensor

from ..features.sae import SAE
from ..model.transformer import TinyLM

MlpFn = Callable[[int, Tensor], Tensor]
# float64 throughout: an error node is the difference of two nearly equal vectors, and the exactness checks
# (1e-4 on logits) must not be eaten by float32 rounding of that difference
DTYPE = torch.float64


def block_name(layer: int, point: str) -> str:
    return f"blocks.{layer}.{point}"


@dataclass(frozen=True)
class FrozenNorm:
    """A LayerNorm / RMSNorm with its per-position scale fixed: ``weight * centre(x) / scale + bias``.

    Linear in ``x`` (plus the constant ``bias``) because ``scale`` is a measured number, not ``std(x)``."""

    weight: Float[Tensor, " d_model"]
    bias: Float[Tensor, " d_model"]
    scale: Float[Tensor, " pos"]
    centred: bool

    def linear(self, x: Float[Tensor, "... pos d_model"]) -> Float[Tensor, "... pos d_model"]:
        if self.centred:
            x = x - x.mean(-1, keepdim=True)
        return self.weight * x / self.scale[:, None]

    def __call__(self, x: Float[Tensor, "... pos d_model"], with_bias: bool) -> Float[Tensor, "... pos d_model"]:
        y = self.linear(x)
        return y + self.bias if with_bias else y

    def transpose(self, g: Float[Tensor, "... pos d_model"]) -> Float[Tensor, "... pos d_model"]:
        """The transpose of ``linear`` (centring is a symmetric projection, the gain and scale are diagonal)."""
        y = self.weight * g / self.scale[:, None]
        return y - y.mean(-1, keepdim=True) if self.centred else y


def frozen_norm(
    norm: torch.nn.Module, centred: bool, x: Float[Tensor, "pos d_model"], normalized: Float[Tensor, "pos d_model"]
) -> FrozenNorm:
    """The norm at the point the real pass visited: its scale per position solved from the cached input ``x`` and
    output ``normalized`` (least squares over the channels, so a zero gain in one channel does no harm)."""
    gain, shift = cast(Tensor, norm.weight), cast("Tensor | None", getattr(norm, "bias", None))
    weight = gain.detach().to(DTYPE)
    bias = shift.detach().to(DTYPE) if shift is not None else torch.zeros_like(weight)
    g = weight * (x - x.mean(-1, keepdim=True) if centred else x)
    scale = (g * g).sum(-1) / (g * (normalized - bias)).sum(-1)
    return FrozenNorm(weight, bias, scale, centred)


@dataclass(frozen=True)
class OVMap:
    """One layer's value and output projections, per head: ``out = sum_h W_O[h] (pattern_h @ (x W_V[kv(h)]))``.

    With the pattern frozen this is the whole of attention's dependence on its input; queries, keys and rotary only
    shape the pattern."""

    W_V: Float[Tensor, "kv d_model d_head"]
    W_O: Float[Tensor, "heads d_head d_model"]
    b_O: Float[Tensor, " d_model"]

    def __call__(
        self, x: Float[Tensor, "... pos d_model"], pattern: Float[Tensor, "heads q k"], with_bias: bool
    ) -> Float[Tensor, "... pos d_model"]:
        v = torch.einsum("...sd,kde->...kse", x, self.W_V)
        groups = self.W_O.shape[0] // self.W_V.shape[0]
        if groups > 1:
            # grouped KV heads: query head h reads KV head h // groups, as the model's repeat_interleave does
            v = v.repeat_interleave(groups, dim=-3)
        z = torch.einsum("hqs,...hse->...hqe", pattern, v)
        out = torch.einsum("...hqe,hed->...qd", z, self.W_O)
        return out + self.b_O if with_bias else out

    def transpose(
        self, g: Float[Tensor, "... pos d_model"], pattern: Float[Tensor, "heads q k"]
    ) -> Float[Tensor, "... pos d_model"]:
        """The transpose of the bias-free map: gradients flow from queries back to the keys they attended to.

        Laid out as one matmul per head over the whole batch ([head, key, query] @ [head, query, batch * d_head]),
        which is what keeps a graph's thousands of backward passes cheap on a CPU."""
        H, dh, d = self.W_O.shape
        K, T = self.W_V.shape[0], g.shape[-2]
        lead = g.shape[:-2]
        z = (g.reshape(-1, T, d) @ self.W_O.reshape(H * dh, d).T).view(-1, T, H, dh)  # [B, q, H, dh]
        B = z.shape[0]
        z = z.permute(2, 1, 0, 3).reshape(H, T, B * dh)
        v = (pattern.transpose(1, 2) @ z).view(K, H // K, T, B, dh).sum(1)  # [K, s, B, dh]
        x = v.permute(2, 1, 0, 3).reshape(B, T, K * dh) @ self.W_V.transpose(1, 2).reshape(K * dh, d)
        return x.reshape(*lead, T, d)


def ov_map(model: TinyLM, layer: int) -> OVMap:
    """Layer ``layer``'s OV weights sliced from the fused QKV projection in the order the model splits it."""
    attn: Any = model.blocks[layer].attn  # the model's attention module (nn.Module attributes type as unions)
    H, K, dh, d = attn.n_heads, attn.kv_heads, attn.d_head, model.cfg.d_model
    qkv = attn.qkv.weight.detach().to(DTYPE)
    W_V = qkv[(H + K) * dh :].reshape(K, dh, d).transpose(1, 2)
    W_O = attn.out.weight.detach().to(DTYPE).reshape(d, H, dh).permute(1, 2, 0)
    b_O = attn.out.bias.detach().to(DTYPE) if attn.out.bias is not None else torch.zeros(d, dtype=DTYPE)
    return OVMap(W_V.contiguous(), W_O.contiguous(), b_O)


def cache_names(n_layers: int, family: str) -> list[str]:
    """The activations the replacement model needs from the real pass."""
    points = [
        "hook_resid_pre",
        "ln1.hook_normalized",
        "attn.hook_pattern",
        "hook_resid_mid",
        "ln2.hook_normalized",
        "hook_mlp_out",
    ]
    names = [block_name(l, p) for l in range(n_layers) for p in points]
    return names + [block_name(n_layers - 1, "hook_resid_post"), "ln_final.hook_normalized", "hook_embed"]


@dataclass
class LocalReplacement:
    """The real pass of one prompt, frozen: norms, patterns, the transcoders and their errors at every (layer, pos)."""

    model: TinyLM
    transcoders: list[SAE]
    input_ids: Int[Tensor, " pos"]
    logits: Float[Tensor, "pos vocab"]
    cache: dict[str, Tensor]
    ln1: list[FrozenNorm]
    ln2: list[FrozenNorm]
    ln_final: FrozenNorm
    ov: list[OVMap]
    patterns: list[Float[Tensor, "heads pos pos"]]

    @property
    def n_layers(self) -> int:
        return len(self.transcoders)

    def linear_part(self, dtype: torch.dtype) -> "LocalReplacement":
        """The frozen norms, OV maps and patterns in ``dtype`` (what ``transpose`` reads; float32 halves the cost
        of a graph's backward passes, while errors and node inputs stay float64)."""

        def norm(n: FrozenNorm) -> FrozenNorm:
            return FrozenNorm(n.weight.to(dtype), n.bias.to(dtype), n.scale.to(dtype), n.centred)

        return dataclasses.replace(
            self,
            ln1=[norm(n) for n in self.ln1],
            ln2=[norm(n) for n in self.ln2],
            ln_final=norm(self.ln_final),
            ov=[OVMap(o.W_V.to(dtype), o.W_O.to(dtype), o.b_O.to(dtype)) for o in self.ov],
            patterns=[p.to(dtype) for p in self.patterns],
        )

    @property
    def n_pos(self) -> int:
        return int(self.input_ids.shape[0])

    def mlp_input(self, layer: int) -> Float[Tensor, "pos d_model"]:
        return self.cache[block_name(layer, "ln2.hook_normalized")]

    def embedding(self) -> Float[Tensor, "pos d_model"]:
        """Token plus position embedding: what enters block 0."""
        return self.cache[block_name(0, "hook_resid_pre")]

    def token_embedding(self) -> Float[Tensor, "pos d_model"]:
        """The token embedding alone (without the position's), as circuit-tracer's embedding nodes hold it."""
        return self.cache["hook_embed"]

    def errors(self) -> Float[Tensor, "layer pos d_model"]:
        """What each transcoder misses of its MLP's real output (exactly: real output minus reconstruction)."""
        return torch.stack(
            [self.cache[block_name(l, "hook_mlp_out")] - tc(self.mlp_input(l)) for l, tc in enumerate(self.transcoders)]
        )

    def run(
        self, embedding: Float[Tensor, "... pos d_model"], mlp: MlpFn, with_bias: bool
    ) -> tuple[Float[Tensor, "... layer pos d_model"], Float[Tensor, "... pos d_model"]]:
        """The frozen model on ``embedding``, each MLP's output given by ``mlp(layer, its input)``.

        Returns every MLP input (what transcoder features read) and the final norm's output (what logits read).
        With ``with_bias=False`` and a linear ``mlp`` it is a linear map: the attribution graph's edges."""
        r = embedding
        reads = []
        for l in range(self.n_layers):
            r = r + self.ov[l](self.ln1[l](r, with_bias), self.patterns[l], with_bias)
            x2 = self.ln2[l](r, with_bias)
            reads.append(x2)
            r = r + mlp(l, x2)
        return torch.stack(reads, dim=-3), self.ln_final(r, with_bias)

    def transpose(
        self,
        reads: Float[Tensor, "batch layer pos d_model"],
        final: Float[Tensor, "batch pos d_model"],
        skips: list[Tensor | None],
        top: int | None = None,
    ) -> Float[Tensor, "batch write pos d_model"]:
        """The transpose of ``run``'s linear part (biases off, each MLP replaced by
        ``writes[l + 1] + x2 @ skip.T``, skips [d_out, d_in] as transcoders store them):
        from weights on the MLP inputs and the final norm output, the weights on every write point (embeddings
        first, then after each MLP). One pass of batched matmuls per layer: this is what makes the edges of a
        graph cheap; the tests check it against autograd's vector-Jacobian product of ``run``.

        ``top``: when only MLP inputs of layers below ``top`` carry weight (and the final output none), the layers
        from ``top`` up are skipped: their write points get zeros."""
        top = self.n_layers if top is None else top
        g = self.ln_final.transpose(final) if top == self.n_layers else torch.zeros_like(final)
        out = [g] * (self.n_layers - top + 1)
        for l in reversed(range(top)):
            skip = skips[l]
            into_x2 = reads[:, l] + (g @ skip if skip is not None else 0.0)
            g = g + self.ln2[l].transpose(into_x2)
            g = g + self.ln1[l].transpose(self.ov[l].transpose(g, self.patterns[l]))
            out.append(g)
        return torch.stack(out[::-1], dim=1)

    def unembed(self, final: Float[Tensor, "... pos d_model"]) -> Float[Tensor, "... pos vocab"]:
        return final @ self.model.unembed.weight.detach().to(DTYPE).T

    def replacement_logits(self, keep_errors: bool = True) -> Float[Tensor, "pos vocab"]:
        """Logits of the local replacement model: transcoders recompute their features from the replacement's own
        residual stream; with the error terms kept it is the real model exactly, without them it shows what the
        transcoders alone explain."""
        errors = self.errors() if keep_errors else None

        def mlp(l: int, x2: Tensor) -> Tensor:
            out = self.transcoders[l](x2)
            return out + errors[l] if errors is not None else out

        _, final = self.run(self.embedding(), mlp, with_bias=True)
        return self.unembed(final)


@torch.no_grad()
def freeze(model: TinyLM, transcoders: list[SAE], input_ids: Int[Tensor, " pos"]) -> LocalReplacement:
    """Run the real model once on ``input_ids`` and freeze what the linearisation needs."""
    L = model.cfg.n_layers
    out, cache = model.run_with_cache(input_ids[None], names=cache_names(L, model.cfg.family))
    logits = cast(Tensor, out)  # None only when the pass stops before the unembedding, which this one does not
    cache = {k: v[0].to(DTYPE) for k, v in cache.items()}
    transcoders = [copy.deepcopy(tc).to(DTYPE).eval() for tc in transcoders]
    centred = model.cfg.family == "gpt-neo"  # LayerNorm centres, RMSNorm does not

    def norm_at(module: torch.nn.Module, x_name: str, y_name: str) -> FrozenNorm:
        return frozen_norm(module, centred, cache[x_name], cache[y_name])

    blocks: Any = model.blocks
    return LocalReplacement(
        model=model,
        transcoders=transcoders,
        input_ids=input_ids,
        logits=logits[0].to(DTYPE),
        cache=cache,
        ln1=[
            norm_at(blocks[l].norm1, block_name(l, "hook_resid_pre"), block_name(l, "ln1.hook_normalized"))
            for l in range(L)
        ],
        ln2=[
            norm_at(blocks[l].norm2, block_name(l, "hook_resid_mid"), block_name(l, "ln2.hook_normalized"))
            for l in range(L)
        ],
        ln_final=norm_at(model.norm_f, block_name(L - 1, "hook_resid_post"), "ln_final.hook_normalized"),
        ov=[ov_map(model, l) for l in range(L)],
        patterns=[cache[block_name(l, "attn.hook_pattern")] for l in range(L)],
    )
