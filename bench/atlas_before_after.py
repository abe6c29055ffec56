"""Neuron-atlas build rate of two code trees on the same stories, interleaved (A B A B ...) so a changing machine
load hits both alike. Each build runs in its own process with one torch thread.

    python bench/atlas_before_after.py --before /work/main --after . [--model trained_models/ts-1M-neo]
        [--stories ../shared/data/tinystories/valid.txt] [--n-stories 600] [--rounds 2]

Tokens per CPU-second of the build process are printed too: on a shared machine they move far less with the
load than wall-clock rates. Last line:
``before_tokens_per_s=<a> after_tokens_per_s=<b> ratio=<b/a> load=<1-min load average>``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHILD = """
import json, sys, time, torch
torch.set_num_threads(1)
from tiny_interp.interp import build_atlas
t, c = time.perf_counter(), time.process_time()
a = build_atlas(sys.argv[1], sys.argv[2], out=sys.argv[3], n_stories=int(sys.argv[4]), progress=False)
print(json.dumps({"tokens": a.meta["tokens"], "seconds": time.perf_counter() - t, "cpu": time.process_time() - c}))
"""


def one_build(tree: Path, model: Path, stories: Path, n: int) -> tuple[float, float]:
    """(tokens per wall-clock second, tokens per CPU-second of the build process)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run(
            [sys.executable, "-c", CHILD, str(model), str(stories), str(Path(tmp) / "atlas"), str(n)],
            cwd=tree,
            env={**os.environ, "PYTHONPATH": str(tree), "HF_HUB_OFFLINE": "1"},
            capture_output=True,
            text=True,
            check=True,
        )
    r = json.loads(out.stdout.strip().splitlines()[-1])
    return r["tokens"] / r["seconds"], r["tokens"] / r["cpu"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--before", type=Path, required=True)
    p.add_argument("--after", type=Path, default=REPO)
    p.add_argument("--model", type=Path, default=REPO / "trained_models" / "ts-1M-neo")
    p.add_argument("--stories", type=Path, default=REPO.parent / "shared" / "data" / "tinystories" / "valid.txt")
    p.add_argument("--n-stories", type=int, default=600)
    p.add_argument("--rounds", type=int, default=2)
    args = p.parse_args()
    rates: dict[str, list[float]] = {"before": [], "after": []}
    cpu: dict[str, list[float]] = {"before": [], "after": []}
    loads = []
    for _ in range(args.rounds):
        for name, tree in (("before", args.before), ("after", args.after)):
            loads.append(os.getloadavg()[0])
            wall, per_cpu = one_build(tree.resolve(), args.model.resolve(), args.stories.resolve(), args.n_stories)
            rates[name].append(wall), cpu[name].append(per_cpu)
            print(f"{name}: {wall:,.0f} tokens/s, {per_cpu:,.0f} tokens/CPU-s (load {loads[-1]:.1f})", flush=True)
    a, b = statistics.median(rates["before"]), statistics.median(rates["after"])
    ca, cb = statistics.median(cpu["before"]), statistics.median(cpu["after"])
    print(f"cpu: before {ca:,.0f} after {cb:,.0f} tokens/CPU-s (ratio {cb / ca:.3f})")
    print(f"before_tokens_per_s={a:.0f} after_tokens_per_s={b:.0f} ratio={b / a:.3f} load={statistics.mean(loads):.1f}")


if __name__ == "__main__":
    main()
