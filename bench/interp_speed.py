"""Interpretability speed: neuron-atlas build rate on the 1M preset, atlas query latency, head taxonomy time.

Random 1M-preset weights (the rate does not depend on training) with a 4096-token BPE trained on the stories;
stories from ../shared/data/tinystories/valid.txt when present, else synthetic ones. Last line:
``atlas_tokens_per_s=<x> query_ms=<y>``.

    PYTHONPATH=. python bench/interp_speed.py [--stories 600] [--batch-size 32] [--workers N]

The build is measured in one process and with ``--workers`` processes (default: every cpu); the last line
reports the faster.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
VALID = REPO.parent / "shared" / "data" / "tinystories" / "valid.txt"


def load_stories(n: int) -> tuple[list[str], str]:
    if VALID.exists():
        from tiny_interp.data.stories import read_stories

        return read_stories(VALID, limit=n), "../shared valid.txt"
    sys.path.insert(0, str(REPO / "tests"))
    from storygen import stories

    return stories(n), "synthetic"


def bare_forward_rate(path: Path, texts: list[str], batch_size: int, threads: int) -> float:
    """Tokens/s of the activations alone (the atlas's own per-layer forward, real tokens selected, no
    bookkeeping): the ceiling the atlas bookkeeping is measured against."""
    import torch

    from tiny_interp.interp.common import encode, pad_rows
    from tiny_interp.interp.neurons import batch_plan, layer_activations
    from tiny_interp.model.checkpoint import load_tinylm, load_tokenizer

    net, tok = load_tinylm(path), load_tokenizer(path)
    rows = encode(tok, texts, 256)
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    t0, c0, n = time.perf_counter(), time.process_time(), 0
    with torch.inference_mode():
        for idx in batch_plan(rows, batch_size):
            ids, valid = pad_rows([rows[i] for i in idx])
            real = valid.flatten().nonzero().squeeze(1)
            for _, h in layer_activations(net, ids):
                h.reshape(-1, h.shape[-1]).index_select(0, real)
            n += len(real)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    torch.set_num_threads(before)
    print(f"bare forward: {n / cpu:,.0f} tokens per CPU-second")
    return n / wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stories", type=int, default=600, help="stories streamed through the atlas build")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--queries", type=int, default=50)
    ap.add_argument("--threads", type=int, default=1, help="torch threads per build process (0: torch's default)")
    ap.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="worker processes of the parallel build, measured against one process (default: all cpus)",
    )
    args = ap.parse_args()

    import numpy as np
    import torch

    import tiny_interp
    from tiny_interp.data.tokenizer import train_bpe_tokenizer
    from tiny_interp.interp import Atlas, build_atlas, head_taxonomy
    from tiny_interp.model import TinyLM, get_preset
    from tiny_interp.model.checkpoint import save_model

    texts, source = load_stories(max(args.stories, 200))
    tokenizer = train_bpe_tokenizer(texts, vocab_size=4096)
    cfg = get_preset("1M").replace(vocab_size=len(tokenizer))
    torch.manual_seed(0)
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cpus, "
        f"torch threads {torch.get_num_threads()} "
        f"(build: {args.threads or torch.get_num_threads()}), load average {os.getloadavg()[0]:.1f}"
    )
    print(f"stories: {source}; model: 1M preset ({cfg.n_layers} layers x {cfg.d_mlp} neurons, vocab {cfg.vocab_size})")
    with tempfile.TemporaryDirectory() as tmp:
        path = save_model(Path(tmp) / "1M", TinyLM(cfg), tokenizer)
        t0, c0 = time.perf_counter(), time.process_time()
        atlas = build_atlas(
            path, texts[: args.stories], batch_size=args.batch_size, threads=args.threads, progress=False
        )
        build_s, build_cpu = time.perf_counter() - t0, time.process_time() - c0
        tokens = atlas.meta["tokens"]
        one_rate = tokens / build_s
        # CPU seconds are steadier than wall time on a shared machine
        print(
            f"atlas build, 1 process: {tokens:,} tokens in {build_s:.1f} s = {one_rate:,.0f} tokens/s "
            f"({tokens / build_cpu:,.0f} tokens per CPU-second, {build_cpu / build_s:.2f} cores busy) "
            f"(size on disk {sum(f.stat().st_size for f in (path / 'atlas').iterdir()) / 1e6:.1f} MB)"
        )
        rate = one_rate
        if args.workers > 1:
            t0 = time.perf_counter()
            build_atlas(
                path,
                texts[: args.stories],
                out=Path(tmp) / "atlas-parallel",
                batch_size=args.batch_size,
                threads=args.threads,
                workers=args.workers,
                progress=False,
            )
            par_rate = tokens / (time.perf_counter() - t0)
            print(
                f"atlas build, {args.workers} worker processes: {par_rate:,.0f} tokens/s "
                f"= {par_rate / one_rate:.2f}x one process (process start and merge included)"
            )
            rate = max(rate, par_rate)

        fwd_rate = bare_forward_rate(path, texts[: args.stories], args.batch_size, args.threads)
        print(
            f"bare forward to the last MLP (same batches, no bookkeeping, 1 process): {fwd_rate:,.0f} tokens/s; "
            f"atlas / bare = {one_rate / fwd_rate:.2f}"
        )

        t0 = time.perf_counter()
        atlas = Atlas.open(path)
        open_ms = (time.perf_counter() - t0) * 1e3
        _ = atlas.tokenizer  # loaded once per session, like a notebook does
        rng = np.random.default_rng(0)
        lat: dict[str, list[float]] = {"top_examples": [], "top_tokens": [], "selective_for_class": []}
        for _ in range(args.queries):
            layer, neuron = int(rng.integers(cfg.n_layers)), int(rng.integers(cfg.d_mlp))
            for name, call in (
                ("top_examples", lambda layer=layer, neuron=neuron: atlas.top_examples(layer, neuron)),
                ("top_tokens", lambda layer=layer, neuron=neuron: atlas.top_tokens(layer, neuron)),
                ("selective_for_class", lambda: atlas.selective_for_class("names")),
            ):
                t0 = time.perf_counter()
                call()
                lat[name].append((time.perf_counter() - t0) * 1e3)
        medians = {k: statistics.median(v) for k, v in lat.items()}
        print(
            f"atlas open: {open_ms:.1f} ms; median query ms: " + ", ".join(f"{k} {v:.2f}" for k, v in medians.items())
        )

        bridge = tiny_interp.load(path)
        t0 = time.perf_counter()
        table = head_taxonomy(bridge, texts[:200])
        tax_s = time.perf_counter() - t0
        print(f"head taxonomy: {len(table)} heads on 200 stories in {tax_s:.1f} s")
    query_ms = max(medians.values())
    print(f"atlas_tokens_per_s={rate:.0f} query_ms={query_ms:.2f}")


if __name__ == "__main__":
    main()
