"""The activation seam's cost, before against after, measured in one run (issue 12, point 5).

"Before" is the commit before the seam (04c2d9a, checked out with ``git worktree`` into a temp folder), "after"
this checkout (or ``--after DIR``). Each round starts one worker process per tree, in ABBA order so drifting
machine load hits both alike; a worker imports ``tiny_interp`` from its tree (PYTHONPATH) and measures, on one
torch thread and on models and stories prepared once for both:

- training: our trainer's tokens/s over a minimal reference GPT's in the same process (the logic of
  ``train_throughput.py``: 1M preset, 20 steps of 8 x 128 tokens, the trainer's own tokens/s after its first 10
  steps), and the same ratio per CPU-second of each whole call, with ours in tokens per CPU-second.
- atlas: neuron-atlas build tokens/s (wall and per CPU-second), 1M preset, 60 stories.
- widgets: attention view and StoryInspector data latency for a 128-token story (what ``widget_latency.py``
  times), wall and CPU milliseconds.
- generation: eager sampling tokens/s (wall and per CPU-second), batch 16 x 64 new tokens, on stories260K when
  ``../shared`` has it (the call ``generate_throughput.py`` times).

Within a worker each figure is the best of a few runs (contention only adds time); the table gives the median
over rounds and after/before (higher is better for rates, lower for latencies). On a shared machine the CPU-time
figures are the steadier ones. The whole run takes about 3 minutes on 2 idle cores.

    python bench/seam_before_after.py [--before 04c2d9a] [--after .] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("TINY_INTERP_SHARED", ROOT.parent / "shared"))
VALID = SHARED / "data" / "tinystories" / "valid.txt"
LLAMA2C = SHARED / "models" / "llama2c"
# (name, unit, higher is better)
FIGURES = [
    ("train_ratio_vs_reference", "x", True),
    ("train_cpu_ratio_vs_reference", "x", True),
    ("train_ratio_vs_hf_gptneo", "x", True),
    ("train_cpu_ratio_vs_hf_gptneo", "x", True),
    ("train_tokens_per_cpu_s", "tok/CPU-s", True),
    ("atlas_tokens_per_s", "tok/s", True),
    ("atlas_tokens_per_cpu_s", "tok/CPU-s", True),
    ("attention_view_ms", "ms", False),
    ("attention_view_cpu_ms", "CPU-ms", False),
    ("story_inspector_ms", "ms", False),
    ("story_inspector_cpu_ms", "CPU-ms", False),
    ("generate_tokens_per_s", "tok/s", True),
    ("generate_tokens_per_cpu_s", "tok/CPU-s", True),
]


GROUPS = ("train", "atlas", "widgets", "generate")


def prepare(tmp: Path, groups: list[str], train: dict) -> dict:
    """Stories, a BPE, a 1M model and stories260K, made once with this checkout for both trees."""
    import torch

    from tiny_interp.data.stories import read_stories
    from tiny_interp.data.tokenizer import train_bpe_tokenizer
    from tiny_interp.model import TinyLM, get_preset
    from tiny_interp.model.checkpoint import save_model

    if VALID.exists():
        texts = read_stories(VALID, 400)
    else:
        sys.path.insert(0, str(ROOT / "tests"))
        from storygen import stories

        texts = stories(400)
    tok = train_bpe_tokenizer(texts, vocab_size=4096)
    torch.manual_seed(0)
    model = save_model(tmp / "1M", TinyLM(get_preset("1M").replace(vocab_size=len(tok))), tok)
    sys.path.insert(0, str(ROOT / "bench"))
    from widget_latency import story_of

    setup = {"texts": texts[:60], "story": story_of(tok, texts[200:], 128), "model": str(model), "gen_model": None}
    setup.update(groups=groups, train=train)
    if "generate" in groups and (LLAMA2C / "stories260K.bin").exists():
        from tiny_interp.llama2c import import_llama2c

        setup["gen_model"] = str(import_llama2c(LLAMA2C / "stories260K.bin", LLAMA2C / "tok512.model", tmp / "260K"))
    return setup


def worker(setup_file: str, out_dir: str) -> None:
    """Measure every figure with the tiny_interp that PYTHONPATH points at; print one JSON line."""
    import torch

    import tiny_interp  # first, so the bench helpers below cannot pull in another tree's package

    torch.set_num_threads(1)
    setup = json.loads(Path(setup_file).read_text())
    sys.path.insert(1, str(ROOT / "bench"))
    result = {"tree": str(Path(tiny_interp.__file__).parents[1])}
    groups = setup["groups"]
    if "train" in groups:
        result.update(train_figures(**setup["train"]))
    if "atlas" in groups:
        result.update(atlas_figures(setup, Path(out_dir)))
    if "widgets" in groups:
        result.update(widget_figures(setup))
    if setup["gen_model"]:
        result.update(generate_figures(setup["gen_model"]))
    print(json.dumps(result))


def best_of(n: int, fn) -> tuple[float, float]:
    """The least (wall, CPU) seconds of n calls: contention only ever adds time, so the least is the steadiest."""
    runs = []
    for _ in range(n):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        runs.append((time.perf_counter() - t0, time.process_time() - c0))
    return min(w for w, _ in runs), min(c for _, c in runs)


def train_figures(preset: str, seq: int, hf: bool, steps: int = 20, batch: int = 8) -> dict:
    import numpy as np
    import torch
    from train_throughput import VOCAB, RefGPT, time_ours, time_plain

    from tiny_interp.model import get_preset

    cfg = get_preset(preset).replace(vocab_size=VOCAB, n_ctx=max(seq, 256))
    tokens = np.random.default_rng(0).integers(0, VOCAB, size=batch * (seq + 1) * (steps + 5) * 2, dtype=np.uint16)
    batches = [
        torch.from_numpy(tokens[i * batch * (seq + 1) : (i + 1) * batch * (seq + 1)].astype(np.int64)).view(
            batch, seq + 1
        )
        for i in range(steps)
    ]
    n_tokens = steps * batch * seq
    rates: dict[str, list[float]] = {"ours": [], "reference": [], "hf_gptneo": []}
    cpu_rates: dict[str, list[float]] = {k: [] for k in rates}

    def reference_model() -> torch.nn.Module:
        return RefGPT(cfg.d_model, cfg.n_layers, cfg.n_heads, cfg.n_ctx)

    def hf_model() -> torch.nn.Module:
        from transformers import GPTNeoForCausalLM

        from tiny_interp.model.hf_format import to_hf_config

        return GPTNeoForCausalLM(to_hf_config(cfg))

    runs = {
        "ours": lambda: time_ours(preset, steps, batch, seq, tokens),
        "reference": lambda: time_plain(reference_model(), batches, hf=False),
        "hf_gptneo": lambda: time_plain(hf_model(), batches, hf=True),
    }
    for _ in range(2 if not hf else 1):  # interleaved, best of each
        for name, run in runs.items():
            if name == "hf_gptneo" and not hf:
                continue
            torch.manual_seed(0)
            c0 = time.process_time()
            rates[name].append(run())
            cpu_rates[name].append(n_tokens / (time.process_time() - c0))  # the whole call, set-up included
    out = {
        "train_ratio_vs_reference": max(rates["ours"]) / max(rates["reference"]),
        "train_cpu_ratio_vs_reference": max(cpu_rates["ours"]) / max(cpu_rates["reference"]),
        "train_tokens_per_cpu_s": max(cpu_rates["ours"]),
    }
    if hf:
        out["train_ratio_vs_hf_gptneo"] = max(rates["ours"]) / max(rates["hf_gptneo"])
        out["train_cpu_ratio_vs_hf_gptneo"] = max(cpu_rates["ours"]) / max(cpu_rates["hf_gptneo"])
    return out


def atlas_figures(setup: dict, out: Path) -> dict:
    from tiny_interp.interp.neurons import build_atlas

    made = []

    def build():  # a fresh folder each time: an existing finished atlas would just be opened
        made.append(out / f"atlas-{len(made)}")
        return build_atlas(setup["model"], setup["texts"], out=made[-1], batch_size=32, threads=1, progress=False)

    tokens = build().meta["tokens"]  # warm-up: first-call allocations, tokenizer load
    wall, cpu = best_of(2, build)
    return {"atlas_tokens_per_s": tokens / wall, "atlas_tokens_per_cpu_s": tokens / cpu}


def widget_figures(setup: dict) -> dict:
    import tiny_interp
    from tiny_interp.widgets.attention import story_attention
    from tiny_interp.widgets.render import safe_json
    from tiny_interp.widgets.story import story_data

    bridge, story = tiny_interp.load(setup["model"]), setup["story"]
    out = {}
    for name, view in (
        ("attention_view", lambda: safe_json(story_attention(bridge, story).view_data([0], 0, 0))),
        ("story_inspector", lambda: safe_json(story_data(bridge, story))),
    ):
        view()  # warm-up
        wall, cpu = best_of(5, view)
        out.update({f"{name}_ms": 1000 * wall, f"{name}_cpu_ms": 1000 * cpu})
    return out


def generate_figures(model_dir: str) -> dict:
    from generate_throughput import time_generation

    from tiny_interp.model.checkpoint import load_tinylm

    model = load_tinylm(model_dir)
    batch, new = 16, 64
    time_generation(model, 4, 8, seed=0)  # warm-up
    runs = [time_generation(model, batch, new, seed=r) for r in range(3)]
    wall, cpu = min(w for w, _ in runs), min(c for _, c in runs)
    return {"generate_tokens_per_s": batch * new / wall, "generate_tokens_per_cpu_s": batch * new / cpu}


def run_worker(tree: Path, setup_file: Path, tmp: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(tree), "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    out = Path(tempfile.mkdtemp(dir=tmp))
    proc = subprocess.run(
        [sys.executable, __file__, "--worker", str(setup_file), str(out)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"worker for {tree} failed:\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    if Path(result["tree"]).resolve() != tree.resolve():
        raise SystemExit(f"worker imported tiny_interp from {result['tree']}, not {tree}")
    return result


def table(results: dict[str, list[dict]]) -> str:
    lines = ["| figure | before | after | after / before |", "|---|---:|---:|---:|"]
    for name, unit, higher in FIGURES:
        if not all(name in r for runs in results.values() for r in runs):
            continue
        b, a = (statistics.median(r[name] for r in results[k]) for k in ("before", "after"))
        verdict = a / b if higher else b / a
        lines.append(
            f"| {name} ({unit}) | {b:,.2f} | {a:,.2f} | {a / b:.3f} ({'better' if verdict >= 1 else 'worse'}"
            f" by {abs(verdict - 1):.1%}) |"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", default="04c2d9a", help="the commit before the seam")
    ap.add_argument("--after", default=str(ROOT), help="the tree to compare (default: this checkout)")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--figures", default=",".join(GROUPS), help=f"which figures, comma-separated: {GROUPS}")
    ap.add_argument("--train-preset", default="1M", help="the trainer's model shape for the training figures")
    ap.add_argument("--train-seq", type=int, default=128)
    ap.add_argument("--train-steps", type=int, default=20, help="steps per training run (the first 10 warm up)")
    ap.add_argument("--hf", action="store_true", help="also train Hugging Face GPTNeo (slow) for its ratio")
    args = ap.parse_args()
    groups = [g for g in args.figures.split(",") if g]
    unknown = sorted(set(groups) - set(GROUPS))
    if unknown:
        ap.error(f"unknown figures {unknown}; choose from {GROUPS}")
    train = {"preset": args.train_preset, "seq": args.train_seq, "hf": args.hf, "steps": args.train_steps}
    started = time.perf_counter()
    # a stopped run (timeout, Ctrl-C) still removes its temporary worktree of the old commit
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        before = tmp / "before"
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(before), args.before],
            check=True,
            capture_output=True,
        )
        try:
            setup_file = tmp / "setup.json"
            setup_file.write_text(json.dumps(prepare(tmp, groups, train)))
            trees = {"before": before, "after": Path(args.after)}
            results: dict[str, list[dict]] = {"before": [], "after": []}
            loads = [os.getloadavg()[0]]
            for r in range(args.rounds):
                for name in ("before", "after") if r % 2 == 0 else ("after", "before"):
                    results[name].append(run_worker(trees[name], setup_file, tmp))
                    loads.append(os.getloadavg()[0])
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(before)], check=False)
    print(
        f"before {args.before}, after {args.after}; figures {groups}, training {train}; "
        f"{args.rounds} rounds, ABBA order, medians; {os.cpu_count()} CPUs, load average during the run "
        f"{min(loads):.1f}-{max(loads):.1f}; {time.perf_counter() - started:.0f} s in all"
    )
    print(table(results))
    print(json.dumps(results))


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--worker":
        worker(sys.argv[2], sys.argv[3])
    else:
        sys.path.insert(0, str(ROOT))
        main()
