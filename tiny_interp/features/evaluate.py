"""Held-out evaluation of dictionaries: reconstruction (explained variance, L0, dead and dense latents) and the
model's loss with the reconstruction spliced in through the hook seam.

Cross-entropy loss recovered is ``(CE_zero - CE_spliced) / (CE_zero - CE_clean)``, zero-ablation meaning the
dictionary's output activation set to zero. Dictionaries reading different points are spliced one at a time,
except transcoders, which replace every MLP at once (each layer's transcoder reads the MLP input of the already
replaced model, as a replacement model would).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from ..interp.common import encode, pad_rows
from ..interp.seam import run_with_cache, run_with_hooks
from .sae import SAE

DENSE_FRACTION = 0.1  # a latent firing on more than this fraction of tokens counts as dense


@dataclass(frozen=True)
class EvalConfig:
    n_stories: int = 300
    batch_size: int = 16
    max_len: int = 512


@dataclass
class _Sums:
    tokens: int = 0  # positions with a real next token (the loss's)
    rows: int = 0  # real tokens (the reconstruction's)
    ce: dict[str, float] = field(default_factory=dict)
    kl: dict[str, float] = field(default_factory=dict)
    sq_err: dict[str, float] = field(default_factory=dict)
    sq_dev: dict[str, float] = field(default_factory=dict)
    l0: dict[str, float] = field(default_factory=dict)
    fires: dict[str, Tensor] = field(default_factory=dict)

    def add(self, table: dict[str, float], key: str, value: float) -> None:
        table[key] = table.get(key, 0.0) + value


def _token_losses(logits: Tensor, ids: Tensor, valid: Tensor) -> tuple[Tensor, Tensor]:
    """(next-token cross-entropy, log-probs) at the positions whose next token is real."""
    logp = logits[:, :-1].float().log_softmax(-1)
    target_ok = valid[:, 1:]
    ce = -logp.gather(-1, ids[:, 1:, None]).squeeze(-1)
    return ce[target_ok], logp[target_ok]


def _splice_hooks(saes: Sequence[SAE], codes: dict[int, Tensor]) -> list[tuple[str, Callable]]:
    """Hooks that replace each dictionary's output point by its reconstruction of its input point."""
    hooks: list[tuple[str, Callable]] = []
    inputs: dict[int, Tensor] = {}
    for i, sae in enumerate(saes):

        def read(x: Tensor, name: str, i: int = i) -> None:
            inputs[i] = x

        def write(x: Tensor, name: str, i: int = i, sae: SAE = sae) -> Tensor:
            f = sae.encode(inputs[i])
            codes[i] = f
            return sae.decode(f, inputs[i]).to(x.dtype)

        if sae.cfg.hook_name != sae.cfg.out_hook:
            hooks.append((sae.cfg.hook_name, read))
            hooks.append((sae.cfg.out_hook, write))
        else:
            hooks.append(
                (sae.cfg.hook_name, lambda x, name, read=read, write=write: (read(x, name), write(x, name))[1])
            )
    return hooks


def _zero_hooks(saes: Sequence[SAE]) -> list[tuple[str, Callable]]:
    return [(sae.cfg.out_hook, lambda x, name: torch.zeros_like(x)) for sae in saes]


def _groups(saes: Sequence[SAE]) -> list[list[int]]:
    """Indices spliced together: every transcoder at once, every SAE alone."""
    tc = [i for i, s in enumerate(saes) if s.cfg.is_transcoder]
    return ([tc] if tc else []) + [[i] for i, s in enumerate(saes) if not s.cfg.is_transcoder]


def _batch(model: Any, saes: Sequence[SAE], ids: Tensor, valid: Tensor, sums: _Sums) -> None:
    n = int(valid[:, 1:].sum())
    sums.tokens += n
    logits, cache = run_with_cache(
        model, ids, names=sorted({s.cfg.hook_name for s in saes} | {s.cfg.out_hook for s in saes})
    )
    assert logits is not None  # no stop_at_layer: the forward runs to the logits
    ce, clean_logp = _token_losses(logits, ids, valid)
    sums.add(sums.ce, "clean", float(ce.sum()))
    mask = valid.flatten()
    sums.rows += int(mask.sum())
    for i, sae in enumerate(saes):  # reconstruction of the clean activations
        x = cache[sae.cfg.hook_name].reshape(mask.shape[0], -1)[mask].float()
        y = cache[sae.cfg.out_hook].reshape(mask.shape[0], -1)[mask].float()
        f = sae.encode(x)
        sums.add(sums.sq_err, str(i), float((sae.decode(f, x) - y).pow(2).sum()))
        sums.add(sums.sq_dev, str(i), float((y - y.mean(0)).pow(2).sum()))
        sums.add(sums.l0, str(i), float((f > 0).sum()))
        sums.fires[str(i)] = sums.fires.get(str(i), 0) + (f > 0).sum(0)
    for group in _groups(saes):
        key = ",".join(map(str, group))
        for kind, hooks in (
            ("zero", _zero_hooks([saes[i] for i in group])),
            ("spliced", _splice_hooks([saes[i] for i in group], {})),
        ):
            out = run_with_hooks(model, ids, fwd_hooks=hooks)
            ce_k, logp = _token_losses(out, ids, valid)
            sums.add(sums.ce, f"{kind}:{key}", float(ce_k.sum()))
            if kind == "spliced":
                sums.add(sums.kl, key, float((clean_logp.exp() * (clean_logp - logp)).sum()))


def evaluate(
    model: Any,
    tokenizer: Any,
    saes: Sequence[SAE],
    stories: Sequence[str],
    cfg: EvalConfig | None = None,
    n_ctx: int | None = None,
) -> dict[str, Any]:
    """Metrics per dictionary (by its hook) and per spliced group; see the module docstring. Stories are cut to
    the model's context (``n_ctx``, default the model's own)."""
    cfg = cfg or EvalConfig()
    n_ctx = n_ctx or int(model.cfg.n_ctx)
    rows = encode(tokenizer, list(stories)[: cfg.n_stories], min(cfg.max_len, n_ctx))
    sums = _Sums()
    device = next(saes[0].parameters()).device
    with torch.inference_mode():
        for j in range(0, len(rows), cfg.batch_size):
            ids, valid = pad_rows(rows[j : j + cfg.batch_size])
            _batch(model, saes, ids.to(device), valid.to(device), sums)
    return _summarise(saes, sums)


def _summarise(saes: Sequence[SAE], s: _Sums) -> dict[str, Any]:
    ce_clean = s.ce["clean"] / s.tokens
    result: dict[str, Any] = {"tokens": s.tokens, "ce_clean": ce_clean, "dictionaries": {}, "spliced": []}
    for i, sae in enumerate(saes):
        fires = s.fires[str(i)].float()
        n_rows = max(s.rows, 1)
        result["dictionaries"][sae.cfg.hook_name if not sae.cfg.is_transcoder else sae.cfg.out_hook] = {
            "explained_variance": 1 - s.sq_err[str(i)] / max(s.sq_dev[str(i)], 1e-12),
            "l0": s.l0[str(i)] / n_rows,
            "dead_fraction": float((fires == 0).float().mean()),
            "dense_fraction": float((fires / n_rows > DENSE_FRACTION).float().mean()),
        }
    for group in _groups(saes):
        key = ",".join(map(str, group))
        ce_zero, ce_spliced = s.ce[f"zero:{key}"] / s.tokens, s.ce[f"spliced:{key}"] / s.tokens
        result["spliced"].append(
            {
                "hooks": [saes[i].cfg.out_hook for i in group],
                "ce_zero_ablated": ce_zero,
                "ce_spliced": ce_spliced,
                "ce_loss_recovered": (ce_zero - ce_spliced) / max(ce_zero - ce_clean, 1e-12),
                "kl": s.kl[key] / s.tokens,
            }
        )
    return result
