"""Sparse-dictionary training speed and the shipped ts-1L SAE's quality.

1. End to end: ``Trainer`` on trained_models/ts-1L's ``blocks.0.hook_mlp_out`` (4096 latents, TopK k 16, batches
   of 4096 tokens), activations streamed from the model (forward passes included), ``--tokens`` tokens; once with
   forwards and steps in turn, once with the next buffer prefetched in a thread (the default), beside the model
   forward's own tokens/s (the ceiling of any trainer that streams its activations); then prefetched with each
   buffer used ``--reuse`` times (default 4: the shipped SAE's recipe), whose training tokens/s is the last line's.
2. Step only, ours against SAELens on the same activations, shape and batch, one after the other in this run:
   activations are collected once and saved; SAELens' TopK training SAE (its own forward/backward and Adam) runs
   in the peers environment ``.peers-venv`` (``make peers-venv``), skipped with ratio ``nan`` when it is absent.
3. Quality: the shipped SAE's held-out ``eval.json`` (``tiny-interp sae eval``).
4. Graph time, ours against circuit-tracer's ``attribute`` on the same prompt (notebook 10's), model (ts-1M-neo)
   and transcoders (exported, opened by circuit-tracer's loader), the same graph (``GraphConfig.circuit_tracer()``,
   checked equal to 1e-3 here); best of ``--graph-repeats``. Needs circuit-tracer in this interpreter: run the
   bench with ``.peers-venv/bin/python``; ``--only graph`` runs this part alone.

Every figure is printed with the 1-minute load average beside it (a shared CPU changes everything). Last line:
``ce_recovered=<x> l0=<y> sae_tokens_per_s=<z> ratio_vs_saelens=<r>`` (then ``graph_ratio_vs_circuit_tracer=<g>``).

    PYTHONPATH=. .peers-venv/bin/python bench/features_speed.py [--tokens 400000] [--steps 30] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
TRAIN = REPO.parent / "shared" / "data" / "tinystories" / "train.txt"
SAE_DIR = REPO / "trained_models" / "ts-1L" / "saes" / "blocks.0.hook_mlp_out"
SIDE_PYTHON = REPO / ".peers-venv" / "bin" / "python"
GRAPH_PROMPT = "Lily and Tom went to the park. Lily gave the ball to"
HOOK = "blocks.0.hook_mlp_out"
SAELENS_STEPS = """
import json, sys, time, torch
from sae_lens import TopKTrainingSAE, TopKTrainingSAEConfig
from sae_lens.saes.sae import TrainStepInput
torch.set_num_threads(int(sys.argv[2]))
x = torch.load(sys.argv[1])
steps, B = int(sys.argv[3]), int(sys.argv[4])
cfg = TopKTrainingSAEConfig(d_in=x.shape[1], d_sae=int(sys.argv[5]), k=int(sys.argv[6]))
sae = TopKTrainingSAE(cfg)
opt = torch.optim.Adam(sae.parameters(), lr=2e-4)
def step(i):
    batch = x[(i * B) % (len(x) - B):][:B]
    out = sae.training_forward_pass(
        TrainStepInput(
            sae_in=batch, coefficients={}, dead_neuron_mask=None, n_training_steps=i, is_logging_step=False
        )
    )
    opt.zero_grad(); out.loss.backward(); opt.step()
step(0)
t = time.perf_counter()
for i in range(1, steps + 1):
    step(i)
print(json.dumps({"tokens_per_s": steps * B / (time.perf_counter() - t)}))
"""


def load() -> float:
    return os.getloadavg()[0]


def end_to_end(tokens: int, out: Path, data: Path, threads: int, prefetch: bool = True, reuse: int = 1) -> float:
    from tiny_interp.features.config import SAETrainConfig
    from tiny_interp.features.trainer import Trainer

    cfg = SAETrainConfig(
        hooks=(HOOK,),
        latents=4096,
        k=16,
        tokens=tokens,
        buffer_stories=512,
        log_every=10**6,
        save_every=10**6,
        threads=threads,
        prefetch=prefetch,
        reuse=reuse,
    )
    t = Trainer(REPO / "trained_models" / "ts-1L", data, out, cfg, progress=False)
    t.run()
    return t.tokens_per_s


def forward_only(tokens: int, data: Path) -> float:
    """The model's share alone: tokens/s of the activation stream with no training (the end-to-end ceiling)."""
    from tiny_interp.features.activations import StreamSpec, buffer_activations, story_buffers
    from tiny_interp.features.model_access import open_model

    net, tok, L, n_ctx = open_model(REPO / "trained_models" / "ts-1L", "cpu")
    spec = StreamSpec(str(data), (HOOK,), 512, 32, 512, 0, 0, "cpu", "float32")
    have, t = 0, time.perf_counter()
    for c, stories in enumerate(story_buffers(spec)):
        have += len(buffer_activations(net, tok, spec, stories, c, n_ctx, L)[HOOK])
        if have >= tokens:
            break
    return have / (time.perf_counter() - t)


def activations(n_tokens: int, data: Path) -> torch.Tensor:
    from tiny_interp.features.activations import StreamSpec, buffer_activations, story_buffers
    from tiny_interp.features.model_access import open_model

    net, tok, L, n_ctx = open_model(REPO / "trained_models" / "ts-1L", "cpu")
    spec = StreamSpec(str(data), (HOOK,), 256, 32, 512, 0, 0, "cpu", "float32")
    parts, have = [], 0
    for c, stories in enumerate(story_buffers(spec)):
        parts.append(buffer_activations(net, tok, spec, stories, c, n_ctx, L)[HOOK])
        have += len(parts[-1])
        if have >= n_tokens:
            return torch.cat(parts)[:n_tokens]
    return torch.cat(parts)


def our_steps(x: torch.Tensor, steps: int, B: int) -> float:
    from tiny_interp.features.config import SAETrainConfig
    from tiny_interp.features.objective import topk_loss
    from tiny_interp.features.sae import SAE
    from tiny_interp.features.trainer import sae_config

    cfg = SAETrainConfig(hooks=(HOOK,), latents=4096, k=16)
    sae = SAE(sae_config(cfg, HOOK, HOOK, x.shape[1], x.shape[1], "ts-1L"))
    opt = torch.optim.Adam(sae.parameters(), lr=2e-4, fused=True)  # as the trainer
    dead = torch.zeros(4096, dtype=torch.bool)

    def step(i: int) -> None:
        batch = x[(i * B) % (len(x) - B) :][:B]
        out = topk_loss(sae, cfg, batch, batch, dead)
        opt.zero_grad(set_to_none=True)
        out.loss.backward()
        opt.step()
        with torch.no_grad():
            sae.W_dec /= sae.W_dec.norm(dim=1, keepdim=True)

    step(0)
    t = time.perf_counter()
    for i in range(1, steps + 1):
        step(i)
    return steps * B / (time.perf_counter() - t)


def saelens_steps(x: torch.Tensor, steps: int, B: int, threads: int) -> float:
    if not SIDE_PYTHON.exists():
        print(f"SAELens: no peers venv at {SIDE_PYTHON.parent.parent} (make peers-venv); ratio not measured")
        return float("nan")
    with tempfile.TemporaryDirectory() as tmp:
        torch.save(x, Path(tmp) / "x.pt")
        out = subprocess.run(
            [
                str(SIDE_PYTHON),
                "-c",
                SAELENS_STEPS,
                str(Path(tmp) / "x.pt"),
                str(threads),
                str(steps),
                str(B),
                "4096",
                "16",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
    return json.loads(out.stdout.strip().splitlines()[-1])["tokens_per_s"]


def graph_times(repeats: int) -> tuple[float, float]:
    """(ours, circuit-tracer's) best seconds for the same unpruned graph of GRAPH_PROMPT (nan without it)."""
    import importlib.util

    if importlib.util.find_spec("circuit_tracer") is None:
        print("circuit-tracer is not installed in this interpreter (run with .peers-venv/bin/python); not measured")
        return float("nan"), float("nan")
    from circuit_tracer import attribute

    from tiny_interp.graphs.api import open_graph_model
    from tiny_interp.graphs.circuit_tracer import replacement_model
    from tiny_interp.graphs.config import GraphConfig

    model_dir = REPO / "trained_models" / "ts-1M-neo"
    gm = open_graph_model(model_dir, model_dir / "saes")
    ids, cfg = gm.encode(GRAPH_PROMPT), GraphConfig.circuit_tracer()
    with tempfile.TemporaryDirectory() as tmp:
        rm, _ = replacement_model(model_dir, model_dir / "saes", tmp)
        ours, theirs = [], []
        for _ in range(repeats):
            t = time.perf_counter()
            g_ours = gm.graph(GRAPH_PROMPT, cfg)
            ours.append(time.perf_counter() - t)
            t = time.perf_counter()
            g_theirs = attribute(ids, rm, batch_size=256)
            theirs.append(time.perf_counter() - t)
    A = g_theirs.adjacency_matrix
    assert float((A - g_ours.adjacency).abs().max()) <= 1e-3 * float(A.abs().max()), "not the same graph"
    print(f"graph of {GRAPH_PROMPT!r}: {g_ours.n_nodes} nodes, {g_ours.n_features} features, the same in both")
    return min(ours), min(theirs)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tokens", type=int, default=400_000, help="end-to-end training tokens")
    p.add_argument("--steps", type=int, default=30, help="timed steps of the step-only comparison")
    p.add_argument("--batch", type=int, default=4096)
    p.add_argument("--reuse", type=int, default=4, help="passes over each buffer in the last end-to-end run")
    p.add_argument("--threads", type=int, default=2, help="torch threads (default 2: this machine's cores)")
    p.add_argument("--data", type=Path, default=TRAIN, help="training stories (default ../shared train split)")
    p.add_argument("--graph-repeats", type=int, default=5, help="timed graphs of each kind (best is kept)")
    p.add_argument("--only", choices=["all", "graph"], default="all", help="graph: the graph comparison alone")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    print(f"threads {args.threads}, {os.cpu_count()} cpus")
    if args.only == "all":
        training(args)
    before = load()
    ours_s, theirs_s = graph_times(args.graph_repeats)
    print(f"graph: ours {ours_s:.3f} s, circuit-tracer attribute {theirs_s:.3f} s (load {before:.1f} -> {load():.1f})")
    print(f"graph_ratio_vs_circuit_tracer={theirs_s / ours_s:.2f}")


def training(args: argparse.Namespace) -> None:
    before = load()
    fwd = forward_only(args.tokens // 2, args.data)
    print(f"model forward alone (the activation stream, no training): {fwd:,.0f} tokens/s (load {before:.1f})")
    with tempfile.TemporaryDirectory() as tmp:
        before = load()
        serial = end_to_end(args.tokens, Path(tmp) / "serial", args.data, args.threads, prefetch=False)
        print(f"end to end, forwards then steps in turn: {serial:,.0f} tokens/s (load {before:.1f} -> {load():.1f})")
        before = load()
        e2e = end_to_end(args.tokens, Path(tmp) / "run", args.data, args.threads)
        print(
            f"end to end, next buffer prefetched in a thread: {e2e:,.0f} tokens/s, {e2e / serial:.2f}x in turn "
            f"(load {before:.1f} -> {load():.1f})"
        )
        before = load()
        shipped = end_to_end(args.tokens, Path(tmp) / "reuse", args.data, args.threads, reuse=args.reuse)
        print(
            f"end to end, prefetched, each buffer used {args.reuse}x (the shipped SAE's recipe: this train split "
            f"holds 2.4M tokens): {shipped:,.0f} training tokens/s (load {before:.1f} -> {load():.1f})"
        )
    x = activations(args.batch * 8, args.data)
    before = load()
    ours = our_steps(x, args.steps, args.batch)
    print(f"ours, step only: {ours:,.0f} tokens/s (load {before:.1f})")
    before = load()
    theirs = saelens_steps(x, args.steps, args.batch, args.threads)
    print(f"SAELens TopKTrainingSAE, step only: {theirs:,.0f} tokens/s (load {before:.1f})")
    m = json.loads((SAE_DIR / "eval.json").read_text())
    ce = m["spliced"][0]["ce_loss_recovered"]
    print(
        f"shipped {SAE_DIR.relative_to(REPO)}: explained variance {m['explained_variance']:.4f}, "
        f"dead {m['dead_fraction']:.4f} on {m['tokens']:,} held-out tokens"
    )
    print(f"ce_recovered={ce:.4f} l0={m['l0']:.2f} sae_tokens_per_s={shipped:.0f} ratio_vs_saelens={ours / theirs:.2f}")


if __name__ == "__main__":
    main()
