"""Generation and atlas tokens/s through ``tiny_interp.Model`` against the module it wraps, measured alternately in
one run (so the machine's load falls on both sides alike): the handle must cost nothing measurable (within 2%).

    PYTHONPATH=$PWD python bench/handle_speed.py [--model ts-1L] [--reps 5]

Generation: ``Model.generate`` against ``generate_text`` on the handle's own module and tokenizer (same prompts,
same sampling, greedy). Atlas: ``build_atlas`` handed the handle against ``build_atlas`` handed the directory with
the model cache emptied first (so the direct side opens the weights itself, as before the handle), same stories,
fresh output each time. Sides alternate ABBA; a ratio is the median over repetitions of handle / direct tokens per
CPU-second (process time, one torch thread: on the shared 2-core machine wall time mostly measures who else ran).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VALID = REPO.parent / "shared" / "data" / "tinystories" / "valid.txt"
PROMPTS = ["Once upon a time", "Tom and Lily went to the park.", "The little dog was sad because", "One day, a bird"]


def _generation(model, reps: int, new_tokens: int) -> tuple[float, float, float]:
    from tiny_interp.model.generate import generate_text
    from tiny_interp.model.sampling import SamplingConfig

    sampling = SamplingConfig(max_new_tokens=new_tokens, temperature=0.0, stop_at_eos=False)
    prompts = PROMPTS * 2
    tokens = len(prompts) * new_tokens

    def handle() -> list[str]:
        return list(model.generate(prompts, max_new_tokens=new_tokens, temperature=0.0, stop_at_eos=False))

    def direct() -> list[str]:
        return [p + t for p, t in zip(prompts, generate_text(model.module, model.tokenizer, prompts, sampling))]

    assert handle() == direct(), "the handle generated other text"  # also the warm-up of both sides
    times: dict[str, list[float]] = {"handle": [], "direct": []}
    for rep in range(reps):
        order = [("handle", handle), ("direct", direct)]
        for side, fn in order if rep % 2 == 0 else order[::-1]:  # ABBA: a drifting load falls on both sides
            start = time.process_time()
            fn()
            times[side].append(time.process_time() - start)
    return _summary(times, tokens)


def _summary(times: dict[str, list[float]], tokens: float) -> tuple[float, float, float]:
    """(handle tok/s, direct tok/s, median of the per-repetition ratios handle / direct)."""
    ratios = [d / h for h, d in zip(times["handle"], times["direct"])]
    return (
        tokens / statistics.median(times["handle"]),
        tokens / statistics.median(times["direct"]),
        statistics.median(ratios),
    )


def _atlas(model, stories: list[str], reps: int) -> tuple[float, float, float]:
    from tiny_interp.interp.atlas import build_atlas
    from tiny_interp.model import opener

    times: dict[str, list[float]] = {"handle": [], "direct": []}
    tokens = 0
    for rep in range(reps):
        for side in ("handle", "direct") if rep % 2 == 0 else ("direct", "handle"):
            with tempfile.TemporaryDirectory() as tmp:
                if side == "direct":
                    opener.forget_all()  # the direct side opens the weights itself, as before the handle
                start = time.process_time()
                source = model if side == "handle" else model.model_path
                atlas = build_atlas(source, stories, out=Path(tmp) / "atlas", progress=False, fresh=True)
                times[side].append(time.process_time() - start)
                tokens = atlas.meta["tokens"]
            opener.remember(opener.cache_key(model.path, model.device, model.dtype), model)
    return _summary(times, tokens)


def main() -> None:
    import torch

    from tiny_interp import Model
    from tiny_interp.data.stories import read_stories

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="ts-1L", help="shipped model name or model directory")
    parser.add_argument("--reps", type=int, default=5, help="alternating repetitions per measurement")
    parser.add_argument("--new-tokens", type=int, default=96, help="tokens generated per prompt")
    parser.add_argument("--stories", type=int, default=96, help="valid stories per atlas build")
    args = parser.parse_args()
    torch.set_num_threads(1)
    model = Model.from_pretrained(args.model)
    uptime = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(f"machine: {os.cpu_count()} CPUs, torch threads 1; {uptime}")
    print(model)
    gen_h, gen_d, gen_r = _generation(model, args.reps, args.new_tokens)
    print(f"generation: handle {gen_h:,.0f} tok/s, direct {gen_d:,.0f} tok/s, ratio {gen_r:.3f}")
    if not VALID.is_file():
        print(f"atlas: skipped ({VALID} not found)")
        return
    stories = read_stories(VALID, args.stories)
    at_h, at_d, at_r = _atlas(model, stories, args.reps)
    print(f"atlas: handle {at_h:,.0f} tok/s, direct {at_d:,.0f} tok/s, ratio {at_r:.3f}")


if __name__ == "__main__":
    main()
