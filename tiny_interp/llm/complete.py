"""N completions per evaluation prompt from a local model, batched and seeded, into a resumable JSONL log.

The N samples of one prompt form one batch whose seed depends only on (seed, prompt id), so a resumed run makes
the same completions a full run would have made (on the same device) and never writes a done id twice.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..atomic import write_json_atomic
from ..errors import ConfigError
from ..locking import exclusive_lock
from .prompts import EvalPrompt, eval_prompts, probe_correct
from .records import AppendLog, latest_records

if TYPE_CHECKING:
    from ..model.transformer import TinyLM


@dataclass(frozen=True)
class CompleteConfig:
    model: str
    name: str
    n: int = 10
    max_new_tokens: int = 200
    temperature: float = 1.0
    top_k: int | None = None
    top_p: float | None = None
    seed: int = 0
    kinds: tuple[str, ...] = ("story", "knowledge", "reasoning", "context")
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.n < 1:
            raise ConfigError(f"n (completions per prompt) must be >= 1, got {self.n}")
        bad = set(self.kinds) - {"story", "knowledge", "reasoning", "context"}
        if bad:
            raise ConfigError(f"unknown prompt kinds {sorted(bad)}: use story, knowledge, reasoning, context")


def prompt_seed(seed: int, prompt_id: str) -> int:
    return zlib.crc32(f"{seed}:{prompt_id}".encode())


def completion_id(name: str, prompt_id: str, sample: int) -> str:
    return f"{name}/{prompt_id}/{sample}"


def request_hash(cfg: CompleteConfig, prompt: EvalPrompt) -> str:
    """What a completion was made from: the prompt, the model and the sampling settings."""
    job = {
        "prompt": prompt.text,
        "model": cfg.model,
        "max_new_tokens": cfg.max_new_tokens,
        "temperature": cfg.temperature,
        "top_k": cfg.top_k,
        "top_p": cfg.top_p,
        "seed": cfg.seed,
    }
    return hashlib.sha256(json.dumps(job, sort_keys=True).encode()).hexdigest()[:16]


def finished_ids(cfg: CompleteConfig, prompts: Sequence[EvalPrompt], out: Path) -> tuple[set[str], int]:
    """Ids done for the same request, and how many done ones are stale (made with other settings). Records
    written before requests were hashed count as the same request."""
    latest = latest_records(out)
    done, stale = set(), 0
    for p in prompts:
        want = request_hash(cfg, p)
        for k in range(cfg.n):
            rec = latest.get(completion_id(cfg.name, p.id, k), {})
            if rec.get("status") != "done":
                continue
            if rec.get("request_hash", want) == want:
                done.add(completion_id(cfg.name, p.id, k))
            else:
                stale += 1
    return done, stale


def model_shape(model: TinyLM) -> dict[str, str | int]:
    cfg = model.cfg
    return {
        "family": cfg.family,
        "d_model": cfg.d_model,
        "n_layers": cfg.n_layers,
        "n_params": sum(p.numel() for p in model.parameters()),
    }


def complete(
    cfg: CompleteConfig, out: str | os.PathLike, prompts: Sequence[EvalPrompt] | None = None, progress: bool = True
) -> dict[str, int]:
    """Generate what is missing from ``out`` (or was made with other settings); returns counts of prompts done
    now and skipped, and of completions redone because their settings changed."""
    out = Path(out)
    prompts = list(prompts) if prompts is not None else eval_prompts(cfg.kinds)
    with exclusive_lock(out.with_name(out.name + ".lock"), f"completions log {out}"):
        done, stale = finished_ids(cfg, prompts, out)
        todo = [p for p in prompts if any(completion_id(cfg.name, p.id, k) not in done for k in range(cfg.n))]
        write_json_atomic(out.with_name(out.name + ".complete.json"), dataclasses.asdict(cfg))
        if todo:
            _generate(cfg, todo, done, out, progress)
    return {"generated_prompts": len(todo), "skipped_prompts": len(prompts) - len(todo), "redone": stale}


def _generate(cfg: CompleteConfig, todo: list[EvalPrompt], done: set[str], out: Path, progress: bool) -> None:
    from tqdm.auto import tqdm

    from ..model.generate import generate_text
    from ..model.opener import open_model
    from ..model.sampling import SamplingConfig

    handle = open_model(cfg.model, device=cfg.device)
    path, model, tokenizer = handle.path, handle.module, handle.tokenizer
    shape = model_shape(model)
    with AppendLog(out) as log:
        for p in tqdm(todo, desc=f"complete {cfg.name}", unit="prompt", disable=not progress):
            seed = prompt_seed(cfg.seed, p.id)
            sampling = SamplingConfig(
                max_new_tokens=cfg.max_new_tokens,
                temperature=cfg.temperature,
                top_k=cfg.top_k,
                top_p=cfg.top_p,
                seed=seed,
            )
            texts = generate_text(model, tokenizer, [p.text] * cfg.n, sampling)
            for k, text in enumerate(texts):
                rid = completion_id(cfg.name, p.id, k)
                if rid in done:
                    continue
                log.append(
                    {
                        "id": rid,
                        "status": "done",
                        "model": cfg.name,
                        "model_path": str(path),
                        "shape": shape,
                        "request_hash": request_hash(cfg, p),
                        "prompt_id": p.id,
                        "kind": p.kind,
                        "prompt": p.text,
                        "completion": text,
                        "sample": k,
                        "seed": seed,
                        "expected": list(p.expected),
                        "probe_correct": probe_correct(p, text),
                        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    }
                )
