"""QK attribution speed on held-out valid stories, one torch thread, against the model's own forward pass on the
same tokens measured in the same run (the ratio is what moves least with the machine's load).

1. ts-1M-neo with its transcoders: one head of the last layer, the last query of a 256-token story, every key's
   decomposed score, the chosen key's pair table, marginals and contrast, labelled: from a fresh story (its model
   pass included). Target <= 0.5 s.
2. ts-1L: every head, every query, all keys of a 200-token story. Target <= 30 s.

    python bench/qk_speed.py [--rounds 5]

Last lines: ``neo_one_head_s=<median> ratio_to_forward=<x>`` and ``ts1l_all_heads_s=<s> explanations=<n>``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

from tiny_interp.data.stories import read_stories
from tiny_interp.qk import explainer_for
from tiny_interp.qk.why import encode_prompt, explain

REPO = Path(__file__).resolve().parents[1]
VALID = REPO.parent / "shared" / "data" / "tinystories" / "valid.txt"


def story_ids(ex, stories: list[str], start: int, n: int) -> torch.Tensor:
    ids: list[int] = []
    for s in stories[start:]:
        ids += encode_prompt(ex, s).tolist()
        if len(ids) >= n:
            return torch.tensor(ids[:n])
    raise SystemExit("not enough stories")


def forward_s(ex, ids: torch.Tensor) -> float:
    with torch.no_grad():
        t = time.perf_counter()
        ex.model(ids[None])
        return time.perf_counter() - t


def neo(stories: list[str], rounds: int) -> str:
    path = REPO / "trained_models" / "ts-1M-neo"
    ex = explainer_for(path, path / "saes")
    explain(ex, story_ids(ex, stories, 100, 256), 7, 0, 255)  # warm: the atlas opens once per session
    times, cpu, base = [], [], []
    for r in range(rounds):
        ids = story_ids(ex, stories, 10 * r, 256)
        base.append(min(forward_s(ex, ids) for _ in range(3)))
        t, c = time.perf_counter(), time.process_time()
        why = explain(ex, ids, 7, r % 16, 255)
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
        assert abs(why.decomposed - why.score) < 1e-4
    med, fwd = statistics.median(times), statistics.median(base)
    print(f"ts-1M-neo one head, one query, all keys, 256 tokens: {[round(x, 3) for x in times]} s; forward {fwd:.4f} s")
    return f"neo_one_head_s={med:.3f} cpu_s={statistics.median(cpu):.3f} ratio_to_forward={med / fwd:.1f}"


def one_layer(stories: list[str]) -> str:
    ex = explainer_for(REPO / "trained_models" / "ts-1L")
    ids = story_ids(ex, stories, 0, 200)
    fwd = min(forward_s(ex, ids) for _ in range(3))
    t, n = time.perf_counter(), 0
    for head in range(ex.model.cfg.n_heads):
        for query in range(len(ids)):
            explain(ex, ids, 0, head, query)
            n += 1
    s = time.perf_counter() - t
    print(f"ts-1L every head x every query (all keys each), 200 tokens: {s:.2f} s for {n}; forward {fwd:.4f} s")
    return f"ts1l_all_heads_s={s:.2f} explanations={n} ratio_to_forward={s / fwd:.0f}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(1)
    if not VALID.exists():
        raise SystemExit(f"needs {VALID}")
    stories = read_stories(VALID, 200)
    print(neo(stories, args.rounds))
    print(one_layer(stories))


if __name__ == "__main__":
    main()
