"""Auto-interpretation speed: 1,000 units explained and scored through the shared runner against a loopback
OpenAI-compatible server that answers every request in 200 ms (concurrency 16), and the offline baseline over every
unit of a unit set (goal: every feature of the shipped ts-1L SAE in <= 2 minutes).

The endpoint runs in its own process. The LLM part's floor is requests x 0.2 s / concurrency; the shared runner
alone (same endpoint, as many trivial requests) shows what any job through it costs; the pipeline's own overhead
is the rest (atlas reads, held-out forward passes, snippet draws, prompts, parsing, metrics with bootstrap
intervals).

    PYTHONPATH=. python bench/autointerp_speed.py [--model trained_models/ts-1L] [--units neurons] [--n 1000]
        [--stories ../shared/data/tinystories/train.txt] [--baseline-units features:NAME]

The model directory is copied to a temporary folder first (results are written beside its atlas). Last line:
``llm_units=<n> llm_wall_s=<x> overhead_s=<y> baseline_units=<m> baseline_wall_s=<z>``.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
TRAIN = REPO.parent / "shared" / "data" / "tinystories" / "train.txt"
sys.path.insert(0, str(REPO / "tests"))


def answer(delay_s: float, body: dict, n: int) -> tuple[str, str]:
    """A scripted endpoint: ``delay_s`` per answer; explanations, and one probability per numbered snippet."""
    from llm_stub import last_text

    time.sleep(delay_s)
    text = last_text(body)
    if not text.startswith("Explanation of the unit"):
        return ("ok", 'Explanation: words about feelings and the word "happy"')
    lines = re.findall(r"^\d+\. ", text, re.M)
    return ("ok", json.dumps({"answers": [round((i % 5) / 4, 2) for i in range(len(lines))]}))


def serve(delay_s: float, urls: Any, stop: Any) -> None:
    """The endpoint in its own process, as a real one would be (its threads never share our interpreter)."""
    sys.path.insert(0, str(REPO / "tests"))
    from llm_stub import StubServer

    with StubServer(functools.partial(answer, delay_s)) as server:
        urls.put(server.base_url)
        stop.wait()


class Endpoint:
    def __init__(self, delay_s: float):
        import multiprocessing as mp

        ctx = mp.get_context("spawn")
        self.urls, self.stop = ctx.Queue(), ctx.Event()
        self.proc = ctx.Process(target=serve, args=(delay_s, self.urls, self.stop), daemon=True)

    def __enter__(self) -> str:
        self.proc.start()
        return self.urls.get(timeout=60)

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.proc.join(10)


def runner_only(url: str, n: int, concurrency: int) -> float:
    """The shared runner alone on n trivial requests to the same endpoint: the floor any job through it has."""
    from tiny_interp.llm.runner import LLMItem, RunnerConfig, run_items

    items = [LLMItem(id=str(i), messages=[{"role": "user", "content": "Explain. " * 200}]) for i in range(n)]
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        run_items(
            items,
            Path(tmp) / "o.jsonl",
            RunnerConfig(model="bench-llm", base_url=url, concurrency=concurrency),
            progress=False,
        )
        return time.perf_counter() - t0


def copy_model(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("checkpoints", "autointerp"))
    return dst


def llm_run(model: Path, spec: str, n: int, stories: list[str], delay_s: float, concurrency: int) -> dict:
    from tiny_interp.autointerp import AutointerpConfig, run_autointerp, sample_units
    from tiny_interp.autointerp.units import open_unit_set
    from tiny_interp.llm.records import iter_records
    from tiny_interp.llm.runner import RunnerConfig

    unit_set = open_unit_set(model, spec)
    units = sample_units(unit_set.units(), n, 0)
    with Endpoint(delay_s) as url:
        runner = RunnerConfig(model="bench-llm", base_url=url, concurrency=concurrency)
        t0 = time.perf_counter()
        result = run_autointerp(unit_set, stories, units, AutointerpConfig(), runner, api_key="bench", progress=False)
        wall = time.perf_counter() - t0
        logs = Path(result["atlas"]).parent / "autointerp" / "bench-llm__bench-llm"
        requests = sum(r["attempts"] for step in ("explain", "score") for r in iter_records(logs / f"{step}.jsonl"))
        alone = runner_only(url, requests, concurrency)
    floor = requests * delay_s / concurrency
    return {
        "units": len(units),
        "requests": requests,
        "wall_s": wall,
        "floor_s": floor,
        "runner_alone_s": alone,
        "overhead_s": wall - alone,
        "scored": result["summary"]["detection"]["scored"],
        "failed": sum(s["failed"] for s in result["summary"].values()) + result["explain_failed"],
    }


def baseline_run(model: Path, spec: str, stories: list[str]) -> dict:
    from tiny_interp.autointerp import AutointerpConfig, run_autointerp
    from tiny_interp.autointerp.units import open_unit_set

    t0 = time.perf_counter()
    unit_set = open_unit_set(model, spec)
    units = unit_set.units()
    result = run_autointerp(
        unit_set, stories, units, AutointerpConfig(explainer="baseline", scorer="rules"), progress=False
    )
    wall = time.perf_counter() - t0
    s = result["summary"]
    return {
        "units": len(units),
        "wall_s": wall,
        "scored": s["detection"]["scored"],
        "skipped": s["detection"]["skipped"],
        "detection": s["detection"]["balanced_accuracy"]["mean"],
        "fuzzing": s["fuzzing"]["balanced_accuracy"]["mean"],
    }


def main() -> None:
    import torch

    from tiny_interp.data.stories import read_stories

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=str(REPO / "trained_models" / "ts-1L"))
    ap.add_argument("--units", default="neurons")
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--stories", default=str(TRAIN))
    ap.add_argument("--delay", type=float, default=0.2)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--baseline-units", default=None, help="unit set for the all-units baseline run (default --units)")
    ap.add_argument("--skip-llm", action="store_true")
    ap.add_argument("--skip-baseline", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(1)
    stories = read_stories(args.stories)
    load = os.getloadavg()
    print(f"machine: {os.cpu_count()} cpus, load average {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} at start")
    with tempfile.TemporaryDirectory() as tmp:
        model = copy_model(Path(args.model), Path(tmp) / "model")
        llm = {} if args.skip_llm else llm_run(model, args.units, args.n, stories, args.delay, args.concurrency)
        if llm:
            print(
                f"LLM pipeline: {llm['units']} units, {llm['requests']} requests in {llm['wall_s']:.1f} s; the "
                f"runner alone on as many trivial requests: {llm['runner_alone_s']:.1f} s (floor "
                f"{llm['floor_s']:.1f} s at {args.delay * 1000:.0f} ms x {args.concurrency}); pipeline overhead "
                f"{llm['overhead_s']:.1f} s; {llm['failed']} failed"
            )
        base = (
            {"units": 0, "wall_s": 0.0}
            if args.skip_baseline
            else baseline_run(model, args.baseline_units or args.units, stories)
        )
        if base["units"]:
            print(
                f"baseline: {base['units']} units in {base['wall_s']:.1f} s ({base['scored']} scored, "
                f"{base['skipped']} not scorable; mean balanced accuracy: detection {base['detection']:.3f}, "
                f"fuzzing {base['fuzzing']:.3f})"
            )
    load = os.getloadavg()
    print(f"load average {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} at end")
    print(
        f"llm_units={llm.get('units', 0)} llm_wall_s={llm.get('wall_s', 0):.1f} "
        f"overhead_s={llm.get('overhead_s', 0):.1f} baseline_units={base['units']} "
        f"baseline_wall_s={base['wall_s']:.1f}"
    )


if __name__ == "__main__":
    main()
