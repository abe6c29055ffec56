"""Training objectives of every architecture, on an ``SAE`` module.

TopK-style latents are selected block by block of rows (:func:`select_topk`), decoded by gathering their decoder
rows (``embedding_bag``), and their encoder gradient is formed only for the chosen latents (:class:`_SparseCodes`),
so a step costs one dense encoder matmul and sparse work for the rest. Losses are normalised by the batch variance
of the target, so ``fvu`` reads as 1 - explained variance.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from jaxtyping import Float, Int
from torch import Tensor

from .config import SAETrainConfig
from .sae import SAE


class _SparseCodes(torch.autograd.Function):
    """The chosen latents' pre-activations ``vals[b, j] = (x @ W_enc + b_enc)[b, idx[b, j]]``, selected without
    autograd; the backward pass fills only the chosen latents' columns of the encoder gradient (a sparse
    [d_sae, batch] @ [batch, d_in] product) and never forms a dense [batch, d_sae] gradient."""

    @staticmethod
    def forward(ctx, x: Tensor, W_enc: Tensor, b_enc: Tensor, vals: Tensor, idx: Tensor) -> Tensor:
        ctx.save_for_backward(x, idx)
        ctx.d_sae = W_enc.shape[1]
        return vals.clone()

    @staticmethod
    def backward(ctx, g: Tensor):
        x, idx = ctx.saved_tensors
        B, k = idx.shape
        flat_idx, flat_g = idx.reshape(-1), g.reshape(-1).to(x.dtype)
        grad_b = torch.zeros(ctx.d_sae, dtype=x.dtype, device=x.device).index_add_(0, flat_idx, flat_g)
        rows = torch.arange(B, device=x.device).repeat_interleave(k)
        S = torch.sparse_coo_tensor(torch.stack([flat_idx, rows]), flat_g, (ctx.d_sae, B), check_invariants=False)
        grad_w = torch.sparse.mm(S, x).t()
        return None, grad_w, grad_b, None, None


@dataclass
class Selection:
    """The top ``k`` pre-activations per row (and, when asked, the top ``k_aux`` among the dead latents)."""

    vals: Float[Tensor, "b k"]
    idx: Int[Tensor, "b k"]
    aux_vals: Float[Tensor, "b k_aux"] | None = None
    aux_idx: Int[Tensor, "b k_aux"] | None = None


# rows per encoder block: a [rows, d_sae] block of pre-activations stays in cache between the matmul writing it and
# the top-k reading it; one [batch, d_sae] matmul is memory-bound on its output at d_in = 256 (one 4096-row block
# measured 14% slower, min of 12)
_ROWS_PER_BLOCK = 512


@torch.no_grad()
def select_topk(
    W_enc: Tensor, b_enc: Tensor, x_in: Float[Tensor, "b d_in"], k: int, dead: Tensor | None = None, k_aux: int = 0
) -> Selection:
    """TopK selection by blocks of rows; with ``dead`` ids and ``k_aux``, the AuxK selection among those columns
    only (a dead latent's column of the block, not a masked copy of all of it). Values keep the product's dtype
    (bfloat16 under autocast)."""
    aux = dead is not None and k_aux > 0
    if dead is not None and aux:
        W_dead, b_dead = W_enc.index_select(1, dead), b_enc.index_select(0, dead)
    main, extra = [], []
    for start in range(0, x_in.shape[0], _ROWS_PER_BLOCK):
        rows = x_in[start : start + _ROWS_PER_BLOCK]
        main.append(torch.addmm(b_enc, rows, W_enc).topk(k, dim=-1))
        if aux:
            extra.append(torch.addmm(b_dead, rows, W_dead).topk(k_aux, dim=-1))
    vals, idx = torch.cat([t.values for t in main]), torch.cat([t.indices for t in main])
    if dead is None or not aux:
        return Selection(vals, idx)
    aux_pos = torch.cat([t.indices for t in extra])
    return Selection(vals, idx, torch.cat([t.values for t in extra]), dead[aux_pos])


class _Step(torch.autograd.Function):
    """Heaviside ``pre > theta`` with the straight-through gradient of JumpReLU training (a rectangle kernel of
    width ``eps`` around the threshold) for ``theta``; no gradient to ``pre``."""

    @staticmethod
    def forward(ctx, pre: Tensor, theta: Tensor, eps: float) -> Tensor:
        ctx.save_for_backward(pre, theta)
        ctx.eps = eps
        return (pre > theta).to(pre.dtype)

    @staticmethod
    def backward(ctx, g: Tensor):
        pre, theta = ctx.saved_tensors
        near = ((pre - theta).abs() < ctx.eps / 2).to(g.dtype)
        return None, -(g * near).sum(0) / ctx.eps, None


@dataclass
class StepOutput:
    loss: Tensor
    fvu: Tensor
    l0: Tensor
    fired: Int[Tensor, " n"]  # latent ids that fired in this batch (with repeats)
    aux: Tensor | None = None


def _variance(y: Float[Tensor, "b d"]) -> Tensor:
    return (y - y.mean(0)).pow(2).sum(-1).mean().clamp(min=1e-8)


def sae_input(sae: SAE, x: Tensor) -> Tensor:
    return x - sae.b_dec if sae.cfg.apply_b_dec_to_input else x


def _sparse_codes(sae: SAE, x_in: Tensor, vals: Tensor, idx: Tensor) -> Tensor:
    return _SparseCodes.apply(x_in, sae.W_enc, sae.b_enc, vals, idx).relu()


def _gather_decode(sae: SAE, idx: Tensor, vals: Tensor, bias: bool = True) -> Tensor:
    # embedding_bag has no autocast rule: bf16 codes join the float32 decoder rows as float32
    out = F.embedding_bag(idx, sae.W_dec, per_sample_weights=vals.to(sae.W_dec.dtype), mode="sum")
    return out + sae.b_dec if bias else out


def topk_loss(sae: SAE, cfg: SAETrainConfig, x: Tensor, y: Tensor, dead: Tensor) -> StepOutput:
    """TopK (and transcoders with TopK activation), plus the AuxK loss of Gao et al. on dead latents."""
    x_in = sae_input(sae, x).detach()
    dead_ids = dead.nonzero().flatten() if cfg.aux_k else dead.new_zeros(0, dtype=torch.long)
    select_aux = dead_ids.numel() > cfg.aux_k  # fewer dead latents than aux_k: every one of them takes part
    sel = select_topk(sae.W_enc, sae.b_enc, x_in, cfg.k, dead_ids if select_aux else None, cfg.aux_k)
    vals = _sparse_codes(sae, x_in, sel.vals, sel.idx)
    recon = _gather_decode(sae, sel.idx, vals)
    recon = recon + sae.skip(x)
    var = _variance(y)
    fvu = (recon - y).pow(2).sum(-1).mean() / var
    out = StepOutput(loss=fvu, fvu=fvu.detach(), l0=(vals > 0).sum(-1).float().mean(), fired=sel.idx[vals > 0])
    if dead_ids.numel():
        residual = (y - recon).detach()
        aux = (_aux_recon(sae, x_in, dead_ids, sel) - residual).pow(2).sum(-1).mean() / _variance(residual)
        out.aux = aux.detach()
        out.loss = out.loss + cfg.aux_coeff * aux.nan_to_num(0.0)
    return out


def _aux_recon(sae: SAE, x_in: Tensor, dead_ids: Int[Tensor, " n_dead"], sel: Selection) -> Float[Tensor, "b d"]:
    """The dead latents' model of the residual: the selected ``aux_k`` of them, or, when there are no more dead
    latents than that, all of them as a small dense dictionary (cheaper than gathering ``n_dead`` rows per token)."""
    if sel.aux_idx is not None and sel.aux_vals is not None:
        return _gather_decode(sae, sel.aux_idx, _sparse_codes(sae, x_in, sel.aux_vals, sel.aux_idx), bias=False)
    codes = torch.addmm(sae.b_enc[dead_ids], x_in, sae.W_enc[:, dead_ids]).relu()
    return codes @ sae.W_dec[dead_ids]


def dense_loss(sae: SAE, cfg: SAETrainConfig, x: Tensor, y: Tensor, state: dict[str, Tensor]) -> StepOutput:
    """Standard (ReLU + L1), BatchTopK and JumpReLU, with dense latents."""
    pre = sae_input(sae, x) @ sae.W_enc + sae.b_enc
    arch = "jumprelu" if cfg.is_transcoder and cfg.activation == "jumprelu" else cfg.architecture
    var = _variance(y)
    penalty = torch.zeros((), device=x.device)
    if arch == "batchtopk":
        f = pre.relu()
        flat = f.flatten()
        keep = flat.topk(cfg.k * f.shape[0]).indices
        f = torch.zeros_like(flat).scatter(0, keep, flat[keep]).view_as(f)
        with torch.no_grad():  # the inference threshold: a running mean of the smallest kept activation
            smallest = flat[keep].min()
            state["threshold"] = 0.99 * state.get("threshold", smallest) + 0.01 * smallest
    elif arch == "jumprelu":
        if sae.threshold is None:
            raise ValueError("a JumpReLU dictionary has a threshold parameter; this one was built without it")
        theta = sae.threshold.clamp(min=1e-4)
        gate = _Step.apply(pre, theta, cfg.jump_bandwidth)
        f = pre * gate  # the threshold learns from the reconstruction through the gate's straight-through gradient
        penalty = cfg.l0_coeff * gate.sum(-1).mean()
    else:  # standard, or a transcoder with ReLU latents
        f = pre.relu()
        penalty = cfg.l1_coeff * f.sum(-1).mean() / var.sqrt()
    recon = f @ sae.W_dec + sae.b_dec
    recon = recon + sae.skip(x)
    fvu = (recon - y).pow(2).sum(-1).mean() / var
    return StepOutput(
        loss=fvu + penalty, fvu=fvu.detach(), l0=(f > 0).sum(-1).float().mean().detach(), fired=(f > 0).nonzero()[:, 1]
    )
