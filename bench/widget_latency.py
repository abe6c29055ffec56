"""Widget latency: new text -> ready view data, and the bytes one attention view adds to a page.

For a 256-token story on the 1M and 1L-21M presets (random weights, vocab 4096, a BPE trained on ../shared
valid.txt when present, else synthetic stories) it times, on CPU:
  attention: tokenise + one forward pass (patterns at the seam) + top-k sparsify + JSON for every layer (what the
             explorer sends: head and layer changes then happen in the browser)
  story:     the StoryInspector's data for every position (lens, attributions, neurons)
and measures the JSON bytes of the attention view (all layers, bundle excluded) against a dense float dump like
circuitsvis writes. With Chromium at /usr/bin/chromium it also opens the view and times, in the page, a hover over
a cell of the large head (crosshair, labels, token strip, info line) and a head change (thumbnail click: redraw of
the large head and all thumbnails). Median of --repeats runs after one warm-up.
Last line: latency_ms=<attention, worst preset> view_kb=<worst preset> hover_ms=<worst> head_change_ms=<worst>.
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
    worst_ms, worst_kb, worst_hover, worst_switch = 0.0, 0.0, 0.0, 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.presets:
            cfg = get_preset(name).replace(vocab_size=len(tok))
            torch.manual_seed(0)
            path = save_model(Path(tmp) / name, TinyLM(cfg), tok)
            bridge = tiny_interp.load(path)

            def attention_view(bridge=bridge) -> str:
                return safe_json(story_attention(bridge, story).view_data())

            ms, view = timed(attention_view, args.repeats)
            T = len(story_attention(bridge, story).tokens)
            story_ms, sdata = timed(lambda bridge=bridge: safe_json(story_data(bridge, story)), args.repeats)
            kb = len(view.encode()) / 1024
            dense_kb = cfg.n_layers * cfg.n_heads * T * T * len(json.dumps(0.123456789)) / 1024  # full floats
            hover_ms, switch_ms = browser_latency(json.loads(view), Path(tmp) / f"{name}.html", args.repeats)
            print(
                f"{name:7s} tokens={T} layers={cfg.n_layers} heads={cfg.n_heads} attention_ms={ms:.1f} "
                f"view_kb={kb:.1f} (dense floats ~{dense_kb:.0f} KB, {dense_kb / kb:.0f}x) "
                f"story_inspector_ms={story_ms:.1f} story_kb={len(sdata.encode()) / 1024:.1f} "
                f"hover_ms={hover_ms:.2f} head_change_ms={switch_ms:.1f}"
            )
            worst_ms, worst_kb = max(worst_ms, ms), max(worst_kb, kb)
            worst_hover, worst_switch = max(worst_hover, hover_ms), max(worst_switch, switch_ms)
    print(
        f"latency_ms={worst_ms:.1f} view_kb={worst_kb:.1f} hover_ms={worst_hover:.2f} head_change_ms={worst_switch:.1f}"
    )


HOVER_JS = """(n) => { const c = document.querySelector('.ti-big'), r = c.getBoundingClientRect(), out = [];
  for (let i = 0; i < n; i++) { const t = performance.now();
    c.parentNode.dispatchEvent(new MouseEvent('mousemove', {bubbles: true,
      clientX: r.left + r.width * (0.2 + 0.6 * i / n), clientY: r.top + r.height * (0.9 - 0.5 * i / n)}));
    out.push(performance.now() - t); }
  out.sort((a, b) => a - b); return out[out.length >> 1]; }"""
SWITCH_JS = """(n) => { const th = document.querySelectorAll('.ti-thumb'), out = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now(); th[(i + 1) % th.length].click(); out.push(performance.now() - t); }
  out.sort((a, b) => a - b); return out[out.length >> 1]; }"""


def browser_latency(data: dict, page_file: Path, repeats: int) -> tuple[float, float]:
    """Median ms of one hover over the large head and of one head change, measured inside Chromium (nan without)."""
    chromium = Path("/usr/bin/chromium")
    if not chromium.exists():
        return float("nan"), float("nan")
    from playwright.sync_api import sync_playwright

    from tiny_interp.widgets import save_html

    save_html(page_file, data)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium), args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1300, "height": 1100})
        page.goto(page_file.as_uri())
        page.wait_for_selector(".ti-big")
        hover = page.evaluate(HOVER_JS, 40 * repeats)
        switch = page.evaluate(SWITCH_JS, 4 * repeats)
        browser.close()
    return hover, switch


if __name__ == "__main__":
    main()
