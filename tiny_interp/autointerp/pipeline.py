"""Explain and score a set of units, resumably: LLM calls go through the shared runner (one JSONL log per step, done
items never asked again), the baseline explainer and rule scorer run in-process, and one small JSON per run lands
beside the atlas (``store``).

Steps: evidence from the atlas -> explanations (LLM or baseline) -> held-out scoring sets (stories the atlas never
read) -> detection and fuzzing answers (LLM or rules), and optionally simulations (``simulation``) -> metrics with
bootstrap intervals -> result JSON.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..llm.records import latest_records
from ..llm.runner import LLMItem, RunnerConfig
from .answers import answered, explain_handler, probabilities_handler, snippet_labels, split_records
from .baseline import BASELINE_MODEL, baseline_explanation, rule_detection, rule_fuzzing
from .heldout import (
    HeldoutConfig,
    HeldoutScan,
    Snippet,
    detection_set,
    fuzzing_set,
    heldout_stories,
    prompt_stories,
    quantile_examples,
    scan,
    window_activations,
)
from .metrics import scorer_summary, unit_metrics
from .prompts import (
    EXPLAIN_SYSTEM,
    PROMPT_VERSION,
    SCORE_SYSTEM,
    detection_prompt,
    explain_prompt,
    fuzzing_prompt,
)
from .simulation import (
    SimulationConfig,
    rule_simulation,
    simulation_handler,
    simulation_item,
    simulation_rows,
    simulation_score,
    simulation_snippets,
)
from .store import RunPaths, export_for_feature_explorer, write_result
from .units import Evidence, Unit, UnitSet

TEMPERATURE = 0.0  # explanations and scores are asked greedily: a rerun of a failed item asks the same way
SCORERS: dict[str, tuple[Callable, Callable, Callable]] = {
    # name: (snippet set, LLM prompt, rule answers)
    "detection": (detection_set, detection_prompt, rule_detection),
    "fuzzing": (fuzzing_set, fuzzing_prompt, rule_fuzzing),
}
ALL_SCORERS = (*SCORERS, "simulation")  # simulation: per-token predictions, scored by correlation


@dataclass(frozen=True)
class AutointerpConfig:
    explainer: str = "llm"  # "llm" or "baseline"
    scorer: str = "llm"  # "llm" or "rules"
    n_top: int = 10  # top atlas examples in the explanation prompt
    n_tokens: int = 10  # top tokens in the prompt (and the baseline's candidates)
    n_logits: int = 8  # promoted / suppressed tokens shown for features
    mark_frac: float = 0.5  # tokens at >= this share of an example's peak are marked in the prompt
    explain_max_tokens: int = 200
    score_max_tokens: int = 600
    n_bootstrap: int = 1000
    heldout: HeldoutConfig = field(default_factory=HeldoutConfig)
    scorers: tuple[str, ...] = tuple(SCORERS)
    simulation: SimulationConfig = field(default_factory=SimulationConfig)

    def __post_init__(self) -> None:
        bad = [x for x in self.scorers if x not in ALL_SCORERS]
        if bad or not self.scorers:
            raise ConfigError(f"scorers are {', '.join(ALL_SCORERS)} (one or more), got {bad or 'none'}")
        if self.explainer not in ("llm", "baseline"):
            raise ConfigError(f"explainer must be 'llm' or 'baseline', got {self.explainer!r}")
        if self.scorer not in ("llm", "rules"):
            raise ConfigError(f"scorer must be 'llm' or 'rules', got {self.scorer!r}")
        if not (
            self.n_top >= 1
            and self.n_tokens >= 1
            and self.n_logits >= 0
            and 0 < self.mark_frac <= 1
            and self.n_bootstrap >= 0
        ):
            raise ConfigError("n_top and n_tokens must be >= 1, n_logits and n_bootstrap >= 0, 0 < mark_frac <= 1")

    @property
    def needs_llm(self) -> bool:
        return self.explainer == "llm" or self.scorer == "llm"


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "x"


def run_name(cfg: AutointerpConfig, runner: RunnerConfig | None) -> str:
    """``<explainer>__<scorer>``: baseline / rules, or the endpoint's model id."""
    llm = slug(runner.model) if runner is not None else None
    return f"{llm if cfg.explainer == 'llm' else BASELINE_MODEL}__{llm if cfg.scorer == 'llm' else 'rules'}"


def run_autointerp(
    unit_set: UnitSet,
    stories: Sequence[str],
    units: Sequence[Unit],
    cfg: AutointerpConfig = AutointerpConfig(),
    runner: RunnerConfig | None = None,
    *,
    name: str | None = None,
    stories_label: str = "",
    api_key: str | None = None,
    progress: bool = True,
    beside_model: bool = False,
) -> dict[str, Any]:
    """Explain and score ``units``; rerunning the same call asks nothing already done. Returns the result dict
    that was written to ``RunPaths.result`` (see ``store``): beside the atlas, or under ``runs/`` for a shipped
    model's atlas unless ``beside_model``. One process writes a store at a time."""
    from ..shipped import record_source

    if cfg.needs_llm and runner is None:
        raise ConfigError("an LLM explainer or scorer needs an endpoint (RunnerConfig / --base-url and --model)")
    paths = RunPaths.of(unit_set.atlas_dir, name or run_name(cfg, runner), beside_model)
    paths.check_store()  # someone else's folder or file, or a live run: refused before anything is read or written
    held, first = heldout_stories(stories, unit_set.atlas.meta, cfg.heldout)
    record_source(unit_set.atlas_dir)
    with paths.locked():
        return _explain_and_score(
            unit_set, stories, units, cfg, runner, paths, (held, first), stories_label, api_key, progress
        )


def _explain_and_score(
    unit_set: UnitSet,
    stories: Sequence[str],
    units: Sequence[Unit],
    cfg: AutointerpConfig,
    runner: RunnerConfig | None,
    paths: RunPaths,
    heldout: tuple[list[str], int],
    stories_label: str,
    api_key: str | None,
    progress: bool,
) -> dict[str, Any]:
    held, first = heldout
    settings = {
        "unit_set": unit_set.name,
        "prompt_version": PROMPT_VERSION,
        "stories": stories_label,
        "first_heldout_story": first,
        "config": _config_identity(cfg),
    }
    paths.claim(settings, resumable=cfg.needs_llm)
    n_logits = cfg.n_logits if cfg.explainer == "llm" else 0  # only an LLM's prompt shows them
    evidence = unit_set.evidence_many(units, cfg.n_top, cfg.n_tokens, n_logits)
    if cfg.explainer == "llm":
        evidence = _with_prompt_quantiles(unit_set, evidence, stories, first, cfg.heldout, progress)
    call = _Caller(runner, api_key, progress)
    done = _done_scores(paths, cfg)
    pending = [u for u in units if any(score_id(s, u.key) not in done for s in cfg.scorers)]
    with ThreadPoolExecutor(1) as pool:
        # the held-out passes and snippet draws run while the explanation requests are in flight
        sets = pool.submit(_scoring_sets, unit_set, pending, evidence, done, held, first, cfg, progress)
        explanations, explain_failures = _explain(evidence, cfg, call, paths)
        scores = _score(explanations, sets.result(), done, cfg, call, paths)
    result = _assemble(unit_set, units, cfg, runner, explanations, explain_failures, scores, settings)
    write_result(paths.result, result)
    if unit_set.kind == "feature":
        export_for_feature_explorer(unit_set.atlas_dir, paths.store)
    return result


def _with_prompt_quantiles(
    unit_set: UnitSet,
    evidence: dict[str, Evidence],
    stories: Sequence[str],
    first: int,
    cfg: HeldoutConfig,
    progress: bool,
) -> dict[str, Evidence]:
    """Evidence with quantile examples from the stories after the scoring ones, where the atlas keeps none."""
    todo = [ev.unit for ev in evidence.values() if not ev.quantiles]
    texts, start = prompt_stories(stories, first, cfg)
    if not todo or not texts:
        return evidence
    hs = scan(unit_set, todo, texts, start, cfg, progress)
    return {
        k: ev if ev.quantiles else dataclasses.replace(ev, quantiles=quantile_examples(ev, hs, cfg))
        for k, ev in evidence.items()
    }


def _config_identity(cfg: AutointerpConfig) -> dict[str, Any]:
    d = dataclasses.asdict(cfg)
    d.pop("n_bootstrap")  # only the summary depends on it
    d.pop("scorers")  # each scorer's answers are logged under their own ids: adding one asks only for it
    if "simulation" not in cfg.scorers:
        d.pop("simulation")  # runs made before simulation existed keep their identity
    return d


class _Caller:
    """Runs items through the shared runner, from plain code or from inside a running event loop (Jupyter)."""

    def __init__(self, runner: RunnerConfig | None, api_key: str | None, progress: bool):
        self.runner, self.api_key, self.progress = runner, api_key, progress
        self.summaries: dict[str, Any] = {}

    def __call__(self, step: str, items: list[LLMItem], out: Path, handle: Callable, max_tokens: int) -> None:
        from ..llm.runner import run_items_async

        if self.runner is None:
            raise ConfigError("an LLM explainer or scorer needs an endpoint (RunnerConfig / --base-url and --model)")
        cfg = dataclasses.replace(self.runner, max_tokens=max_tokens, temperature=TEMPERATURE)
        coro = run_items_async(items, out, cfg, handle, api_key=self.api_key, progress=self.progress, desc=step)
        self.summaries[step] = _run_coroutine(coro)


def _run_coroutine(coro: Any) -> Any:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with ThreadPoolExecutor(1) as pool:  # a notebook's loop is running in this thread: use a fresh one
        return pool.submit(asyncio.run, coro).result()


def _explain(
    evidence: dict[str, Evidence], cfg: AutointerpConfig, call: _Caller, paths: RunPaths
) -> tuple[dict[str, str], dict[str, dict[str, Any]]]:
    if cfg.explainer == "baseline":
        return {k: baseline_explanation(ev) for k, ev in evidence.items()}, {}
    items = [
        LLMItem(
            id=k,
            messages=[
                {"role": "system", "content": EXPLAIN_SYSTEM},
                {"role": "user", "content": explain_prompt(ev, cfg.mark_frac)},
            ],
            meta={"unit": k},
        )
        for k, ev in evidence.items()
    ]
    call("explain", items, paths.log("explain"), explain_handler, cfg.explain_max_tokens)
    return split_records(paths.log("explain"), evidence, lambda r: r["result"]["explanation"])


def score_id(scorer: str, key: str) -> str:
    return f"{scorer}:{key}"


def _done_scores(paths: RunPaths, cfg: AutointerpConfig) -> dict[str, dict[str, Any]]:
    if cfg.scorer != "llm":
        return {}  # rules are recomputed, never logged
    return {
        k: r
        for step in ("score", "simulate")
        for k, r in latest_records(paths.log(step)).items()
        if r.get("status") == "done"
    }


def _scoring_sets(
    unit_set: UnitSet,
    pending: list[Unit],
    evidence: dict[str, Evidence],
    done: dict[str, dict[str, Any]],
    stories: list[str],
    first: int,
    cfg: AutointerpConfig,
    progress: bool,
) -> dict[str, tuple[list[Snippet], str | None]]:
    """score id -> (snippets, problem) for every pending unit and scorer (none when all are done)."""
    if not pending:
        return {}
    hs = scan(unit_set, pending, stories, first, cfg.heldout, progress)
    sets = {
        score_id(s, u.key): SCORERS[s][0](evidence[u.key], hs, cfg.heldout)
        for u in pending
        for s in cfg.scorers
        if s in SCORERS and score_id(s, u.key) not in done
    }
    if "simulation" in cfg.scorers:
        sets |= _simulation_sets(
            unit_set, [u for u in pending if score_id("simulation", u.key) not in done], evidence, hs, first, cfg
        )
    return sets


def _simulation_sets(
    unit_set: UnitSet,
    units: list[Unit],
    evidence: dict[str, Evidence],
    hs: HeldoutScan,
    first: int,
    cfg: AutointerpConfig,
) -> dict[str, tuple[list[Snippet], str | None]]:
    """Simulation snippets with every token's true activation (one more pass over just their stories)."""
    rows = {u.key: simulation_rows(evidence[u.key], hs, cfg.heldout, cfg.simulation) for u in units}
    wanted = [(u, r) for u in units for r, _ in rows[u.key][0]]
    acts = window_activations(unit_set, hs, wanted, first, cfg.heldout) if wanted else {}
    return {
        score_id("simulation", k): (simulation_snippets(picked, k, hs, acts), problem)
        for k, (picked, problem) in rows.items()
    }


def _score(
    explanations: dict[str, str],
    sets: dict[str, tuple[list[Snippet], str | None]],
    done: dict[str, dict[str, Any]],
    cfg: AutointerpConfig,
    call: _Caller,
    paths: RunPaths,
) -> dict[str, dict[str, dict[str, Any]]]:
    """scorer -> unit key -> {"labels", "kinds", "scores"} (simulation: its score) | {"failure": ...} |
    {"skipped": reason}; detection and fuzzing requests go out as one batch, simulations as another."""
    out: dict[str, dict[str, dict[str, Any]]] = {s: {} for s in cfg.scorers}
    items: dict[str, list[LLMItem]] = {"score": [], "simulate": []}
    for k, explanation in explanations.items():
        for s in cfg.scorers:
            sid = score_id(s, k)
            if sid in done:
                out[s][k] = answered(done[sid])
                continue
            snippets, problem = sets[sid]
            if problem:
                out[s][k] = {"skipped": problem}
            elif cfg.scorer == "rules":
                out[s][k] = _rule_answer(s, explanation, snippets)
            elif s == "simulation":
                items["simulate"].append(simulation_item(sid, k, explanation, snippets, cfg.simulation))
            else:
                items["score"].append(
                    LLMItem(
                        id=sid,
                        meta={"unit": k, "scorer": s, **snippet_labels(snippets)},
                        messages=[
                            {"role": "system", "content": SCORE_SYSTEM},
                            {"role": "user", "content": SCORERS[s][1](explanation, snippets)},
                        ],
                    )
                )
    handlers = {
        "score": (probabilities_handler, cfg.score_max_tokens),
        "simulate": (simulation_handler, cfg.simulation.max_tokens),
    }
    for step, batch in items.items():
        if batch:
            call(step, batch, paths.log(step), *handlers[step])
            recs = latest_records(paths.log(step))
            for it in batch:
                r = recs[it.id]
                out[it.meta["scorer"]][it.meta["unit"]] = (
                    answered(r)
                    if r.get("status") == "done"
                    else {"failure": {"cause": r.get("cause"), "error": r.get("error"), "raw": r.get("raw")}}
                )
    return out


def _rule_answer(scorer: str, explanation: str, snippets: list[Snippet]) -> dict[str, Any]:
    if scorer == "simulation":
        acts = [a for s in snippets for a in s.acts or ()]
        return simulation_score(acts, rule_simulation(explanation, snippets), [s.kind for s in snippets])
    return {**snippet_labels(snippets), "scores": SCORERS[scorer][2](explanation, snippets)}


def _assemble(
    unit_set: UnitSet,
    units: Sequence[Unit],
    cfg: AutointerpConfig,
    runner: RunnerConfig | None,
    explanations: dict[str, str],
    explain_failures: dict[str, Any],
    scores: dict[str, dict[str, Any]],
    settings: dict[str, Any],
) -> dict[str, Any]:
    metrics = unit_metrics(scores, cfg.n_bootstrap, tuple(SCORERS))
    per_unit = {}
    for u in units:
        entry: dict[str, Any] = {
            "kind": u.kind,
            "layer": u.layer,
            "index": u.index,
            "explanation": explanations.get(u.key),
        }
        if u.key in explain_failures:
            entry["explain_failure"] = explain_failures[u.key]
        for s in cfg.scorers:
            entry[s] = metrics[s].get(u.key)  # None: not explained, so not scored
        per_unit[u.key] = entry
    summary = {s: scorer_summary([e[s] for e in per_unit.values() if e[s]], s, cfg.n_bootstrap) for s in cfg.scorers}
    llm: dict[str, Any] = runner.to_json() if runner is not None else {}
    return {
        "format": "tiny-interp-autointerp-1",
        "prompt_version": PROMPT_VERSION,
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "unit_set": unit_set.name,
        "kind": unit_set.kind,
        "model_dir": str(unit_set.model_dir),
        "atlas": str(unit_set.atlas_dir),
        "explainer": {"kind": cfg.explainer, "model": llm["model"] if cfg.explainer == "llm" else BASELINE_MODEL},
        "scorer": {"kind": cfg.scorer, "model": llm["model"] if cfg.scorer == "llm" else "rules"},
        "endpoint": {"base_url": llm["base_url"], "temperature": TEMPERATURE} if llm else None,
        "settings": settings,
        "n_units": len(per_unit),
        "summary": summary,
        "units": per_unit,
        "explain_failed": len(explain_failures),
    }
