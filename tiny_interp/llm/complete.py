"""N completions per evaluation prompt from a local model, batched and seeded, into a resumable JSONL log.

The N samples of one prompt form one batch whose seed depends only on (seed, prompt id), so a resumed run makes
the same completions a full run would have made (on the same device) and never writes a done id twice.
"""

from __future__ import annotations

import dataclasses
import os
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from ..atomic import write_json_atomic
from ..errors import ConfigError
from .prompts import EvalPrompt, eval_prompts, probe_correct
from .records import AppendLog, done_ids


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


def model_shape(model: Any) -> dict[str, Any]:
    cfg = model.cfg
    return {"family": cfg.family, "d_model": cfg.d_model, "n_layers": cfg.n_layers,
            "n_params": sum(p.numel() for p in model.parameters())}


def complete(cfg: CompleteConfig, out: str | os.PathLike, prompts: Sequence[EvalPrompt] | None = None,
             progress: bool = True) -> dict[str, int]:
    """Generate what is missing from ``out``; returns counts of prompts done now and skipped."""
    from tqdm.auto import tqdm

    from ..loading import resolve_model_dir
    from ..model.checkpoint import load_tinylm, load_tokenizer
    from ..model.generate import generate_text
    from ..model.sampling import SamplingConfig

    out = Path(out)
    prompts = list(prompts) if prompts is not None else eval_prompts(cfg.kinds)
    done = done_ids(out)
    todo = [p for p in prompts
            if any(completion_id(cfg.name, p.id, k) not in done for k in range(cfg.n))]
    write_json_atomic(out.with_name(out.name + ".complete.json"), dataclasses.asdict(cfg))
    if not todo:
        return {"generated_prompts": 0, "skipped_prompts": len(prompts)}
    path = resolve_model_dir(cfg.model)
    model = load_tinylm(path, device=cfg.device)
    tokenizer = load_tokenizer(path)
    shape = model_shape(model)
    with AppendLog(out) as log:
        for p in tqdm(todo, desc=f"complete {cfg.name}", unit="prompt", disable=not progress):
            seed = prompt_seed(cfg.seed, p.id)
            sampling = SamplingConfig(max_new_tokens=cfg.max_new_tokens, temperature=cfg.temperature,
                                      top_k=cfg.top_k, top_p=cfg.top_p, seed=seed)
            texts = generate_text(model, tokenizer, [p.text] * cfg.n, sampling)
            for k, text in enumerate(texts):
                rid = completion_id(cfg.name, p.id, k)
                if rid in done:
                    continue
                log.append({
                    "id": rid, "status": "done", "model": cfg.name, "model_path": str(path), "shape": shape,
                    "prompt_id": p.id, "kind": p.kind, "prompt": p.text, "completion": text, "sample": k,
                    "seed": seed, "expected": list(p.expected), "probe_correct": probe_correct(p, text),
                    "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                })
    return {"generated_prompts": len(todo), "skipped_prompts": len(prompts) - len(todo)}
