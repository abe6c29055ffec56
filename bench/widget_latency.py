"""Widget latency: new text -> ready view data, and the bytes one attention view adds to a page.

For a 256-token story on the 1M and 1L-21M presets (random weights, vocab 4096, a BPE trained on ../shared
valid.txt when present, else synthetic stories) it times, on CPU:
  attention: tokenise + one forward pass with the pattern hooks + top-k sparsify + JSON for one layer (16 heads)
  story:     the StoryInspector's data for every position (lens, attributions, neurons)
and measures the JSON bytes of one attention view (16 heads x 256 tokens, bundle excluded) against a dense
float dump like circuitsvis writes. Median of --repeats runs after one warm-up.
Last line: latency_ms=<attention, worst preset> view_kb=<worst preset>.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

VALID = ROOT.parent / "shared" / "data" / "tinystories" / "valid.txt"


def corpus(n: int) -> list[str]:
    if VALID.exists():
        from tiny_interp.data.stories import read_stories

        return read_stories(VALID, limit=n)
    from storygen import stories

    return stories(n)


def story_of(tokenizer, texts: list[str], n_tokens: int) -> str:
    """Whole stories joined until the text is at least n_tokens long, then cut to n_tokens - 1 (+ BOS)."""
    ids: list[int] = []
    for t in texts:
        ids += tokenizer(t + "\n", add_special_tokens=False)["input_ids"]
        if len(ids) >= n_tokens:
            break
    return tokenizer.decode(ids[: n_tokens - 1])


def timed(fn, repeats: int) -> tuple[float, object]:
    out = fn()  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", nargs="+", default=["1M", "1L-21M"])
    ap.add_argument("--tokens", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (1: steadiest on a shared machine)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    import tiny_interp
    from tiny_interp.data.tokenizer import train_bpe_tokenizer
    from tiny_interp.model import TinyLM, get_preset
    from tiny_interp.model.checkpoint import save_model
    from tiny_interp.widgets.attention import story_attention
    from tiny_interp.widgets.render import safe_json
    from tiny_interp.widgets.story import story_data

    texts = corpus(2000)
    tok = train_bpe_tokenizer(texts, vocab_size=4096)
    story = story_of(tok, texts[100:], args.tokens)
    print(f"corpus: {'../shared valid.txt' if VALID.exists() else 'synthetic'}; threads: {torch.get_num_threads()}")
    worst_ms, worst_kb = 0.0, 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.presets:
            cfg = get_preset(name).replace(vocab_size=len(tok))
            torch.manual_seed(0)
            path = save_model(Path(tmp) / name, TinyLM(cfg), tok)
            bridge = tiny_interp.load(path)

            def attention_view() -> str:
                return safe_json(story_attention(bridge, story).view_data([0], 0, 0))

            ms, view = timed(attention_view, args.repeats)
            T = len(story_attention(bridge, story).tokens)
            story_ms, sdata = timed(lambda: safe_json(story_data(bridge, story)), args.repeats)
            kb = len(view.encode()) / 1024
            dense_kb = cfg.n_heads * T * T * len(json.dumps(0.123456789)) / 1024  # full-precision floats, one layer
            print(f"{name:7s} tokens={T} heads={cfg.n_heads} attention_ms={ms:.1f} view_kb={kb:.1f} "
                  f"(dense floats ~{dense_kb:.0f} KB, {dense_kb / kb:.0f}x) story_inspector_ms={story_ms:.1f} "
                  f"story_kb={len(sdata.encode()) / 1024:.1f}")
            worst_ms, worst_kb = max(worst_ms, ms), max(worst_kb, kb)
    print(f"latency_ms={worst_ms:.1f} view_kb={worst_kb:.1f}")


if __name__ == "__main__":
    main()
