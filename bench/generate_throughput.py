"""Generation throughput of tiny-interp's batched sampler on karpathy's stories260K.

Imports ``../shared/models/llama2c/stories260K.bin`` (or uses ``--model DIR``), then samples 256 new tokens at
temperature 1 from BOS for batch sizes 1, 16, 64 and 256, and reports tokens/s per batch size and the per-token
latency at batch 1. llama2.c's C program does about 11,000 tokens/s single-stream on one core of the reference
machine; the goal is a batched throughput of at least 5x that. The last line is ``tokens_per_s=<best>``.

    PYTHONPATH=. python bench/generate_throughput.py [--model DIR] [--batch-sizes 1,16,64,256] [--repeats 3]
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


def time_generation(model, batch: int, new_tokens: int, seed: int) -> tuple[float, float]:
    """Wall and CPU seconds to sample ``new_tokens`` for ``batch`` stories from BOS (no early stop: fixed work).

    CPU seconds show what the sampler costs when other processes share the machine (wall time then includes
    waiting for a core)."""
    from tiny_interp.model.generate import generate_ids
    from tiny_interp.model.sampling import SamplingConfig

    sampling = SamplingConfig(max_new_tokens=new_tokens, temperature=1.0, seed=seed, stop_at_eos=False)
    prompts = [[model.cfg.bos_token_id]] * batch
    start, cpu = time.perf_counter(), time.process_time()
    out = generate_ids(model, prompts, sampling)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    assert all(len(row) == new_tokens for row in out), "generation stopped early"
    return elapsed, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="model directory (default: import stories260K from ../shared)")
    parser.add_argument("--batch-sizes", default="1,16,64,256")
    parser.add_argument("--new-tokens", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3, help="best of N runs per batch size")
    args = parser.parse_args()

    from tiny_interp.model.checkpoint import load_tinylm

    with tempfile.TemporaryDirectory() as tmp:
        model_dir = Path(args.model) if args.model else imported_stories260k(Path(tmp) / "stories260K")
        model = load_tinylm(model_dir)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"model: {model_dir.name if args.model else 'stories260K (imported)'}, {model.cfg.n_params():,} params")
    print(f"load average: {', '.join(f'{x:.1f}' for x in os.getloadavg())} (other processes share the CPUs)")
    time_generation(model, 4, 16, seed=0)  # warm-up: allocator, kernels
    best = 0.0
    for batch in (int(b) for b in args.batch_sizes.split(",")):
        seconds, cpu = min(time_generation(model, batch, args.new_tokens, seed=r) for r in range(args.repeats))
        rate = batch * args.new_tokens / seconds
        best = max(best, rate)
        extra = f"  latency {1000 * seconds / args.new_tokens:.3f} ms/token" if batch == 1 else ""
        print(f"batch {batch:4d}: {rate:10,.0f} tokens/s  {batch * args.new_tokens / cpu:10,.0f} tokens/CPU-s  "
              f"({seconds:.3f} s for {args.new_tokens} tokens){extra}")
    print(f"tokens_per_s={best:.0f}")


if __name__ == "__main__":
    main()
