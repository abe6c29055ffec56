"""TopK transcoders as JumpReLU ones: per-latent thresholds calibrated on training activations.

Neither SAELens nor circuit-tracer has a TopK transcoder. A JumpReLU keeps a latent where its pre-activation exceeds
its own threshold; choosing each threshold so that the latent fires on the calibration tokens exactly as often as
TopK let it (the latent's firing-rate quantile of its pre-activations) keeps every latent's density, so the mean L0
stays TopK's k on data like the calibration set. The encoder is unchanged; the decoder, its bias and the skip term
are then refitted by least squares to the MLP's real outputs on the same tokens (the JumpReLU codes differ from
TopK's where more or fewer than k latents clear their thresholds, and the old decoder was fitted to TopK's).
Calibrate on training stories, never on the split the result is judged on.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Sequence
from typing import Any

import torch
from jaxtyping import Float
from torch import Tensor

from .sae import SAE

# pre-activations sorted per latent in slices of this many latents: [tokens, slice] stays small for any width
_LATENT_SLICE = 256


def is_topk_transcoder(sae: SAE) -> bool:
    return sae.cfg.is_transcoder and sae.cfg.activation == "topk"


@torch.no_grad()
def jumprelu_thresholds(sae: SAE, x: Float[Tensor, "tokens d_in"]) -> Float[Tensor, " d_sae"]:
    """Each latent's threshold: the pre-activation it exceeds on as many of ``x``'s tokens as TopK kept it, and
    never below 0 (both peers' JumpReLU pass negative pre-activations above a negative threshold)."""
    pre = sae.pre_acts(x)
    counts = (sae.activate(pre) > 0).sum(0)
    out = torch.empty(pre.shape[1])
    for s in range(0, pre.shape[1], _LATENT_SLICE):
        block = pre[:, s : s + _LATENT_SLICE].sort(dim=0, descending=True).values
        # the (count + 1)-th largest value: exactly ``count`` tokens lie above it (the largest for a dead latent)
        rank = counts[s : s + _LATENT_SLICE].clamp(max=pre.shape[0] - 1)
        out[s : s + _LATENT_SLICE] = block.gather(0, rank[None]).squeeze(0)
    return out.clamp(min=0.0)


@torch.no_grad()
def refit_decoder(sae: SAE, x: Float[Tensor, "tokens d_in"], y: Float[Tensor, "tokens d_out"]) -> None:
    """``W_dec``, ``b_dec`` (and ``W_skip``) minimising the squared error of ``sae(x)`` to ``y``, codes held fixed:
    one ridge-regularised normal-equation solve in float64 over [codes, x (skip), 1]."""
    f = sae.encode(x)
    parts = [f] + ([x] if sae.W_skip is not None else []) + [torch.ones(x.shape[0], 1)]
    A = torch.cat(parts, dim=1).double()
    gram = A.T @ A
    ridge = 1e-6 * gram.diagonal().mean() * torch.eye(gram.shape[0], dtype=gram.dtype)
    theta = torch.linalg.solve(gram + ridge, A.T @ y.double()).to(sae.W_dec.dtype)
    d_sae = sae.cfg.d_sae
    sae.W_dec.copy_(theta[:d_sae])
    if sae.W_skip is not None:
        sae.W_skip.copy_(theta[d_sae : d_sae + sae.cfg.d_in].T)
    sae.b_dec.copy_(theta[-1])


def jumprelu_from_topk(
    sae: SAE, x: Float[Tensor, "tokens d_in"], y: Float[Tensor, "tokens d_out"], provenance: dict[str, Any]
) -> SAE:
    """A JumpReLU copy of a TopK transcoder with thresholds calibrated on its inputs ``x`` and the decoder refitted
    to the outputs ``y``; ``provenance`` (the calibration data, tokens) goes into the copy's cfg metadata."""
    if not is_topk_transcoder(sae):
        raise ValueError(f"{sae.cfg.hook_name}: only TopK transcoders are converted (got {sae.cfg.architecture})")
    meta = {**sae.cfg.metadata, "converted_from": f"topk (k={sae.cfg.k})", "calibration": provenance}
    cfg = dataclasses.replace(sae.cfg, activation="jumprelu", k=None, metadata=meta)
    out = SAE(cfg)
    if sae.W_skip is not None:
        out.add_skip()
    state = {k: v.detach().clone() for k, v in copy.deepcopy(sae).state_dict().items()}
    state["threshold"] = jumprelu_thresholds(sae, x.to(sae.W_enc.dtype))
    out.load_state_dict(state)
    refit_decoder(out, x.to(sae.W_enc.dtype), y.to(sae.W_enc.dtype))
    return out.eval()


def calibration_activations(
    model: Any, tokenizer: Any, saes: Sequence[SAE], stories: Sequence[str], max_len: int, batch: int = 16
) -> list[tuple[Float[Tensor, "tokens d_in"], Float[Tensor, "tokens d_out"]]]:
    """Every real token's (input, output) activations of each dictionary on ``stories``."""
    from ..interp.common import encode, pad_rows
    from .activations import batch_activations, stop_layer

    hooks = sorted({s.cfg.hook_name for s in saes} | {s.cfg.out_hook for s in saes})
    stop = stop_layer(hooks, len(getattr(model, "blocks", [])) or 10**9)
    rows = encode(tokenizer, list(stories), max_len)
    pad = getattr(tokenizer, "eos_token_id", None) or 0
    parts: dict[str, list[Tensor]] = {h: [] for h in hooks}
    with torch.inference_mode():
        for j in range(0, len(rows), batch):
            ids, valid = pad_rows(rows[j : j + batch], pad_id=pad)
            for h, a in batch_activations(model, ids, valid, hooks, stop, "float32").items():
                parts[h].append(a)
    return [(torch.cat(parts[s.cfg.hook_name]), torch.cat(parts[s.cfg.out_hook])) for s in saes]
