"""Attribution graph speed and fidelity: a 64-token prompt on ts-1M-neo graphed, pruned and rendered.

The prompt is the first 63 tokens (after BOS) of the first story of ../shared/data/tinystories/valid.txt (a fixed
sentence when the data is absent). Transcoders: ``trained_models/ts-1M-neo/saes`` (one per layer), or
``--random D_SAE`` for random ones of that width (speed only: the fidelity of random transcoders means nothing).
Last line: ``graph_s=<x> page_kb=<y> error_share=<z>``, where ``graph_s`` covers attribution + pruning + the page
(feature pages and their interventions included) after the model and transcoders are open, and ``error_share`` is
the error nodes' share of the pruned graph's influence on the top logit.

    PYTHONPATH=. python bench/graph_speed.py [--model trained_models/ts-1M-neo] [--transcoders DIR] [--tokens 64]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from tiny_interp.graphs.config import GraphConfig  # noqa: E402  (light: no torch)

REPO = Path(__file__).resolve().parents[1]
VALID = REPO.parent / "shared" / "data" / "tinystories" / "valid.txt"
FALLBACK = (
    "Once upon a time, there was a little girl named Lily. She loved to play in the park with her friend "
    "Tom. One day, Lily and Tom went to the park. Lily had a big red ball. She gave the ball to Tom, and Tom "
    "threw it high in the sky. They laughed and played all day. When the sun went down, they"
)


def prompt_of(tokenizer, n_tokens: int) -> str:
    text = FALLBACK
    if VALID.exists():
        from tiny_interp.data.stories import read_stories

        text = read_stories(VALID, limit=1)[0]
    ids = tokenizer(text, add_special_tokens=False)["input_ids"][: n_tokens - 1]
    return tokenizer.decode(ids)


def random_transcoders(model, d_sae: int):
    import torch

    from tiny_interp.features.sae import SAE, SAEConfig

    torch.manual_seed(0)
    d = model.cfg.d_model
    out = []
    for l in range(model.cfg.n_layers):
        # TopK with k 16: as many active features per token as a trained sparse dictionary of that kind
        tc = SAE(
            SAEConfig(
                "transcoder",
                d,
                d_sae,
                f"blocks.{l}.mlp.hook_in",
                hook_name_out=f"blocks.{l}.hook_mlp_out",
                activation="topk",
                k=16,
            )
        )
        with torch.no_grad():
            tc.W_dec.mul_(0.1)
        out.append(tc.eval())
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=str(REPO / "trained_models" / "ts-1M-neo"))
    ap.add_argument("--transcoders", default=None, help="default: MODEL/saes")
    ap.add_argument("--random", type=int, default=0, help="random transcoders of this width instead")
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--max-feature-nodes", type=int, default=GraphConfig().max_feature_nodes)
    args = ap.parse_args()

    import torch

    from tiny_interp.graphs.api import open_graph_model
    from tiny_interp.graphs.prune import fidelity, prune
    from tiny_interp.model.checkpoint import load_tinylm
    from tiny_interp.widgets.graph import graph_view_data, save_graph_html

    torch.set_num_threads(args.threads)
    tcs = (
        random_transcoders(load_tinylm(args.model), args.random)
        if args.random
        else (args.transcoders or Path(args.model) / "saes")
    )
    gm = open_graph_model(args.model, tcs)
    prompt = prompt_of(gm.tokenizer, args.tokens)
    gm.graph("Once upon a time")  # first-call set-up (lazy imports, allocator), not part of a graph's cost
    start = time.perf_counter()
    graph = gm.graph(prompt, GraphConfig(max_feature_nodes=args.max_feature_nodes))
    t_attr = time.perf_counter() - start
    pruned = prune(graph)
    t_prune = time.perf_counter() - start - t_attr
    with tempfile.TemporaryDirectory() as tmp:
        page = save_graph_html(
            Path(tmp) / "graph.html",
            graph_view_data(graph, pruned, gm.model, gm.transcoders, gm.tokenizer, gm.feature_info()),
        )
        graph_s = time.perf_counter() - start
        page_kb = page.stat().st_size / 1024
    fid = fidelity(graph, pruned)
    load = os.getloadavg()[0]
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cpus, load average {load:.1f}, "
        f"torch threads {args.threads}"
    )
    print(
        f"prompt: {graph.n_pos} tokens; {graph.n_active} active features, {graph.n_features} attributed; "
        f"{graph.n_logits} output nodes; kept {pruned.n_nodes} nodes, {pruned.n_edges} edges"
    )
    print(f"attribution {t_attr:.2f} s, pruning {t_prune:.2f} s, page {graph_s - t_attr - t_prune:.2f} s")
    print(
        f"fidelity: error share {fid.error_share:.3f} (top logit {fid.error_share_top:.3f}), completeness "
        f"{fid.completeness:.3f}, KL without errors {fid.kl_without_errors:.3f} nats"
    )
    print(f"graph_s={graph_s:.2f} page_kb={page_kb:.0f} error_share={fid.error_share_top:.3f}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
