"""QK attribution against the real model: for (head, query, strongest key) cases on held-out valid stories, remove
each of the key side's 5 largest parts (and 5 random others) from the key's residual with the norms live, and
correlate the score's change with what the frozen decomposition predicts (minus the part's key marginal). Null
control: the same changes against the predictions shuffled across cases. The live norm rescales the whole key when
a part goes (its scale s becomes s'); ``corr_top_live_scale`` applies that one measured number to the same
marginals: score' = (s / s') (score - m_bias - m_part) + m_bias.

    python bench/qk_check.py [--cases 60] [--tokens 160]

Last line: ``model=<m> corr_top=<r> corr_random=<r> corr_shuffled=<r> cases=<n>`` per model.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from tiny_interp.data.stories import read_stories
from tiny_interp.qk import explainer_for
from tiny_interp.qk.check import removals
from tiny_interp.qk.why import encode_prompt

REPO = Path(__file__).resolve().parents[1]
VALID = REPO.parent / "shared" / "data" / "tinystories" / "valid.txt"
MODELS = [("ts-1M-neo", "saes"), ("ts-best", None), ("ts-1L", None)]


def corr(p: list[float], a: list[float]) -> float:
    return float(torch.corrcoef(torch.tensor([p, a]))[0, 1])


def run_model(name: str, dicts: str | None, stories: list[str], cases: int, tokens: int) -> str:
    path = REPO / "trained_models" / name
    ex = explainer_for(path, path / dicts if dicts else None)
    g = torch.Generator().manual_seed(0)
    got: dict[str, tuple[list[float], list[float]]] = {"top": ([], []), "random": ([], []), "live": ([], [])}
    n_layers, n_heads = ex.model.cfg.n_layers, ex.model.cfg.n_heads
    start = time.perf_counter()
    for i in range(cases):
        ids = encode_prompt(ex, stories[i % len(stories)])[:tokens]
        layer = int(torch.randint(min(1, n_layers - 1), n_layers, (1,), generator=g))
        head = int(torch.randint(0, n_heads, (1,), generator=g))
        query = int(torch.randint(len(ids) // 2, len(ids), (1,), generator=g))
        # the strongest key other than the query itself (removing a part there would move the query too)
        key = int(ex.split(ids, layer).pattern[head, query, :query].argmax())
        for r in removals(ex, ids, layer, head, query, key, generator=g):
            got[r.chosen][0].append(r.predicted)
            got[r.chosen][1].append(r.actual)
            if r.chosen == "top":
                got["live"][0].append(r.predicted_live)
                got["live"][1].append(r.actual)
    p, a = got["top"]
    shuffled = [p[j] for j in torch.randperm(len(p), generator=g).tolist()]
    worst_live = max(abs(x - y) for x, y in zip(*got["live"]))
    print(f"{name}: {cases} cases in {time.perf_counter() - start:.1f} s")
    rand = f"{corr(*got['random']):.4f}" if len(got["random"][0]) > 2 else "n/a"
    return (
        f"model={name} corr_top={corr(p, a):.4f} corr_random={rand} corr_shuffled={corr(shuffled, a):.4f} "
        f"corr_top_live_scale={corr(*got['live']):.6f} max_abs_err_live_scale={worst_live:.2e} cases={cases}"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=60)
    ap.add_argument("--tokens", type=int, default=160)
    args = ap.parse_args()
    torch.set_num_threads(1)
    if not VALID.exists():
        raise SystemExit(f"needs {VALID}")
    stories = read_stories(VALID, args.cases)
    lines = [run_model(name, d, stories, args.cases, args.tokens) for name, d in MODELS]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
