"""Generation throughput of tiny-interp's batched sampler on karpathy's stories260K.

Imports ``../shared/models/llama2c/stories260K.bin`` (or uses ``--model DIR``), then samples 256 new tokens at
temperature 1 from BOS for batch sizes 1, 16, 64 and 256, and reports tokens/s per batch size and the per-token
latency at batch 1. llama2.c's C program does about 11,000 tokens/s single-stream on one core of the reference
machine; the goal is a batched throughput of at least 5x that. The last line is ``tokens_per_s=<best>``.

Variants, timed interleaved (so machine load hits them alike): ``eager`` (the eager decode step, one thread for
small tensors), ``compiled`` (the torch.compile'd step, same thread rule; its compilation is timed separately,
before the runs), and ``eager-Nt``/``compiled-Nt`` (every op on N threads).

    PYTHONPATH=. python bench/generate_throughput.py [--model DIR] [--batch-sizes 1,16,64,256] [--repeats 3]
        [--variants eager,compiled,eager-2t,compiled-2t]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
LLAMA2C = Path(os.environ.get("TINY_INTERP_SHARED", REPO.parent / "shared")) / "models" / "llama2c"


def imported_stories260k(out: Path) -> Path:
    from tiny_interp.llama2c import import_llama2c

    return import_llama2c(LLAMA2C / "stories260K.bin", LLAMA2C / "tok512.model", out)


def time_generation(model, batch: int, new_tokens: int, seed: int, variant: str = "eager") -> tuple[float, float]:
    """Wall and CPU seconds to sample ``new_tokens`` for ``batch`` stories from BOS (no early stop: fixed work).

    CPU seconds show what the sampler costs when other processes share the machine (wall time then includes
    waiting for a core)."""
    from tiny_interp.model.generate import generate_ids
    from tiny_interp.model.sampling import SamplingConfig

    sampling = SamplingConfig(max_new_tokens=new_tokens, temperature=1.0, seed=seed, stop_at_eos=False)
    prompts = [[model.cfg.bos_token_id]] * batch
    from tiny_interp.model import threads

    kind, _, n = variant.partition("-")
    previous_threads, previous_small = torch.get_num_threads(), threads.SMALL_WORK
    if n:
        torch.set_num_threads(int(n.rstrip("t")))
        threads.SMALL_WORK = 0  # no one-thread rule: every op on the N threads
    try:
        start, cpu = time.perf_counter(), time.process_time()
        out = generate_ids(model, prompts, sampling, compile=kind == "compiled")
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    finally:
        torch.set_num_threads(previous_threads)
        threads.SMALL_WORK = previous_small
    assert all(len(row) == new_tokens for row in out), "generation stopped early"
    return elapsed, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="model directory (default: import stories260K from ../shared)")
    parser.add_argument("--batch-sizes", default="1,16,64,256")
    parser.add_argument("--new-tokens", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3, help="best of N runs per batch size")
    parser.add_argument("--variants", default="eager,compiled")
    args = parser.parse_args()

    from tiny_interp.model.checkpoint import load_tinylm

    with tempfile.TemporaryDirectory() as tmp:
        model_dir = Path(args.model) if args.model else imported_stories260k(Path(tmp) / "stories260K")
        model = load_tinylm(model_dir)
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads"
    )
    print(f"model: {model_dir.name if args.model else 'stories260K (imported)'}, {model.cfg.n_params():,} params")
    print(f"load average: {', '.join(f'{x:.1f}' for x in os.getloadavg())} (other processes share the CPUs)")
    variants = args.variants.split(",")
    time_generation(model, 4, 16, seed=0)  # warm-up: allocator, kernels
    if any(v.startswith("compiled") for v in variants):
        # compile once (the attended length and batch are dynamic); batch 1 gets its own specialisation
        for batch in (4, 1):
            seconds, cpu = time_generation(model, batch, 16, seed=0, variant="compiled")
            print(f"compile (batch {batch} warm-up): {seconds:.1f} s wall, {cpu:.1f} CPU-s")
    best = 0.0
    for batch in (int(b) for b in args.batch_sizes.split(",")):
        runs: dict[str, list[tuple[float, float]]] = {v: [] for v in variants}
        for r in range(args.repeats):
            for v in variants:
                runs[v].append(time_generation(model, batch, args.new_tokens, seed=r, variant=v))
        for v in variants:
            seconds, cpu = min(runs[v])
            rate = batch * args.new_tokens / seconds
            best = max(best, rate)
            extra = f"  latency {1000 * seconds / args.new_tokens:.3f} ms/token" if batch == 1 else ""
            print(
                f"batch {batch:4d} {v:12s}: {rate:10,.0f} tokens/s  {batch * args.new_tokens / cpu:10,.0f} "
                f"tokens/CPU-s  ({seconds:.3f} s for {args.new_tokens} tokens){extra}",
                flush=True,
            )
        print(f"  load average after batch {batch}: {os.getloadavg()[0]:.1f}", flush=True)
    print(f"tokens_per_s={best:.0f}")


if __name__ == "__main__":
    main()
