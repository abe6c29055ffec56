"""An independent measurement of an attribution edge: perturb one source in the real model, every other path frozen.

The real TinyLM runs with hooks that hold its attention patterns and norm scales at their cached values and its
MLP outputs at their cached values (plus the transcoder's linear skip term, which is part of the direct path). The
change of the target's input when the source is removed is the source's direct effect: it must equal the edge.
"""

from __future__ import annotations

import torch

from tiny_interp.graphs.frozen import LocalReplacement, block_name


def _frozen_hooks(rep: LocalReplacement, inject: dict, reads: dict):
    """Hooks for the frozen real pass; ``inject[(point, pos)]`` is added to that activation, ``reads`` gets the
    MLP inputs and the final norm output."""
    c, L = rep.cache, rep.n_layers
    seen: dict[str, torch.Tensor] = {}

    def add(x, name):
        for (point, pos), v in inject.items():
            if point == name:
                x = x.clone()
                x[0, pos] += v.to(x.dtype)
        return x

    def keep(x, name):
        x = add(x, name)
        seen[name] = x[0].double()
        return x

    def norm(frozen, resid_name):
        def fn(x, name):
            y = c[name] + frozen.linear(seen[resid_name] - c[resid_name])
            reads[name] = y
            return y[None].to(x.dtype)

        return fn

    def mlp_out(l):
        def fn(x, name):
            x2 = reads[block_name(l, "ln2.hook_normalized")]
            tc = rep.transcoders[l]
            y = c[name] + ((x2 - c[block_name(l, "ln2.hook_normalized")]) @ tc.W_skip.T if tc.W_skip is not None else 0)
            return add(y[None].to(x.dtype), name)

        return fn

    hooks = []
    for l in range(L):
        hooks += [
            (block_name(l, "hook_resid_pre"), keep),
            (block_name(l, "hook_resid_mid"), keep),
            (block_name(l, "attn.hook_pattern"), lambda x, name: c[name][None].to(x.dtype)),
            (block_name(l, "ln1.hook_normalized"), norm(rep.ln1[l], block_name(l, "hook_resid_pre"))),
            (block_name(l, "ln2.hook_normalized"), norm(rep.ln2[l], block_name(l, "hook_resid_mid"))),
            (block_name(l, "hook_mlp_out"), mlp_out(l)),
        ]
    hooks += [
        (block_name(L - 1, "hook_resid_post"), keep),
        ("ln_final.hook_normalized", norm(rep.ln_final, block_name(L - 1, "hook_resid_post"))),
    ]
    return hooks


def target_input(rep: LocalReplacement, reads: dict, target) -> float:
    """``target``: ("feature", layer, pos, index) or ("logit", token)."""
    if target[0] == "feature":
        _, l, p, i = target
        return float(rep.transcoders[l].pre_acts(reads[block_name(l, "ln2.hook_normalized")][p])[i])
    final = reads["ln_final.hook_normalized"][-1]
    return float(final @ rep.model.unembed.weight.double()[target[1]])


def linear_map(rep: LocalReplacement):
    """Writes [layer + 1, pos, d] (embeddings first, then after each MLP) -> (MLP inputs, final norm output), every
    bias off: the linear part of the local replacement model, whose vector-Jacobian product autograd computes."""
    skips = [tc.W_skip.detach() if tc.W_skip is not None else None for tc in rep.transcoders]

    def f(writes):
        def mlp(l, x2):
            return writes[l + 1] + x2 @ skips[l].T if skips[l] is not None else writes[l + 1]

        return rep.run(writes[0], mlp, with_bias=False)

    return f


def autograd_transpose(rep: LocalReplacement, reads, final):
    """Weights on the write points by ``torch.func.vjp`` of the linear map, one cotangent batch at a time."""
    L, T, d = rep.n_layers, rep.n_pos, rep.model.cfg.d_model
    _, vjp = torch.func.vjp(linear_map(rep), torch.zeros(L + 1, T, d, dtype=reads.dtype))
    return torch.func.vmap(vjp)((reads, final))[0]


@torch.no_grad()
def measured_edge(rep: LocalReplacement, source, target) -> float:
    """``source``: ("embedding", pos), ("error", layer, pos) or ("feature", layer, pos, index, activation)."""
    if source[0] == "embedding":
        point, pos, vec = block_name(0, "hook_resid_pre"), source[1], rep.embedding()[source[1]]
    elif source[0] == "error":
        point, pos, vec = block_name(source[1], "hook_mlp_out"), source[2], rep.errors()[source[1], source[2]]
    else:
        _, l, pos, i, a = source
        point, vec = block_name(l, "hook_mlp_out"), a * rep.transcoders[l].W_dec[i].double()
    values = []
    for inject in ({}, {(point, pos): -vec}):
        reads: dict = {}
        rep.model.run_with_hooks(rep.input_ids[None], fwd_hooks=_frozen_hooks(rep, inject, reads))
        values.append(target_input(rep, reads, target))
    return values[0] - values[1]
