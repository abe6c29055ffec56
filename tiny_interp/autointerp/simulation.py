"""The simulation scorer: given only the explanation, a simulator predicts the unit's activation (0-10) on every
token of a few held-out snippets, all tokens in one request; each prediction is the expected value of the digits
"0".."10" under the simulator's top logprobs at that answer position, and the score is the correlation between
predicted and true activations over all the snippets' tokens (the "all at once" simulation of OpenAI's
automated-interpretability). It needs an endpoint that returns logprobs: without them the score is recorded as
unavailable, never as a zero. The rule scorer simulates too (10 on an explained token, else 0), so the baseline
has a floor here as well.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..llm.runner import Completion, ItemFailure, LLMItem
from .baseline import _matches, explained_terms
from .heldout import HeldoutConfig, HeldoutScan, Snippet, draw_activating
from .units import Evidence

SIMULATE_SYSTEM = (
    "You are an interpretability researcher simulating one unit of a small language model trained on simple "
    "children's stories. Given only an explanation of the unit, you predict how strongly it fires on each token."
)
DIGITS = {str(v): v for v in range(11)}
UNAVAILABLE = "the endpoint returned no logprobs (simulation needs an endpoint that does, e.g. vLLM or OpenAI)"


@dataclass(frozen=True)
class SimulationConfig:
    n_active: int = 3  # activating held-out windows per unit (from the activation quantiles)
    n_quiet: int = 2  # non-activating ones
    top_logprobs: int = 20  # alternatives asked for per answer token (OpenAI allows at most 20)
    max_tokens: int = 1500  # the answer has one short line per token

    def __post_init__(self) -> None:
        if self.n_active < 1 or self.n_quiet < 0 or not 1 <= self.top_logprobs <= 20 or self.max_tokens < 1:
            raise ConfigError("simulation needs n_active >= 1, n_quiet >= 0, 1 <= top_logprobs <= 20, max_tokens >= 1")


def simulation_rows(
    ev: Evidence, hs: HeldoutScan, cfg: HeldoutConfig, sim: SimulationConfig
) -> tuple[list[tuple[int, str]], str | None]:
    """(window row, kind) of the snippets to simulate: activating ones spread over the quantiles, then quiet ones;
    or none and why the unit cannot be simulated."""
    d = draw_activating(ev, hs, cfg, "simulation")
    if d.too_few(cfg):
        return [], d.too_few(cfg)
    rng = d.rng
    pos = [d.pos[i] for i in sorted(rng.choice(len(d.pos), size=min(sim.n_active, len(d.pos)), replace=False))]
    quiet = np.flatnonzero(d.peaks <= d.lo)
    take = rng.choice(quiet, size=min(sim.n_quiet, len(quiet)), replace=False)
    return pos + [(int(r), "quiet") for r in sorted(take)], None


def simulation_snippets(
    rows: Sequence[tuple[int, str]], key: str, hs: HeldoutScan, acts: dict[tuple[str, int], np.ndarray]
) -> list[Snippet]:
    col = hs.column(next(u for u in hs.units if u.key == key))
    return [
        Snippet(
            hs.window_tokens(r),
            int(kind != "quiet"),
            kind,
            float(hs.peak[r, col]),
            acts=tuple(float(a) for a in acts[(key, r)]),
        )
        for r, kind in rows
    ]


def simulation_prompt(explanation: str, snippets: Sequence[Snippet]) -> str:
    """Every token numbered across the snippets, one per line, shown as a JSON string (spaces and newlines kept)."""
    lines, i = [], 0
    for j, s in enumerate(snippets):
        lines.append(f"Text {j + 1}:")
        for t in s.tokens:
            i += 1
            lines.append(f"{i}\t{json.dumps(t, ensure_ascii=False)}")
    return (
        f"Explanation of the unit: {explanation}\n\nBelow are texts split into numbered tokens, one per line as "
        "<number> <tab> <token>. For each token, predict the unit's activation on it, as a whole number from 0 "
        "(does not fire) to 10 (fires most strongly), judging only from the explanation.\n\n"
        + "\n".join(lines)
        + f'\n\nAnswer with one line per token, "<number>: <activation>", for every token '
        f"from 1 to {i} in order, and nothing else."
    )


def expected_value(top: Sequence[Sequence[Any]], chosen: str) -> float:
    """Expected 0-10 activation under the alternatives that are digit tokens (renormalised over them)."""
    mass = [(DIGITS[t.strip()], math.exp(lp)) for t, lp in top if t.strip() in DIGITS]
    total = sum(p for _, p in mass)
    if total <= 0:
        return float(DIGITS[chosen.strip()])
    return sum(v * p for v, p in mass) / total


def predictions(logprobs: Sequence[dict[str, Any]], n: int) -> list[float]:
    """Predicted activation of tokens 1..n, read at the answer positions that follow a ``<number>:`` line start."""
    found: dict[int, float] = {}
    line = ""
    for t in logprobs:
        text = t["token"]
        m = re.fullmatch(r"\s*(\d+)\s*:\s*", line)
        if m and text.strip() in DIGITS and int(m.group(1)) not in found:
            found[int(m.group(1))] = expected_value(t["top"], text)
        line = (line + text).rsplit("\n", 1)[-1]
    missing = [i for i in range(1, n + 1) if i not in found]
    if missing:
        raise ItemFailure("parse_error", f"no prediction for {len(missing)} of {n} tokens (first: {missing[0]})")
    return [found[i] for i in range(1, n + 1)]


def simulation_handler(item: LLMItem, c: Completion) -> dict[str, Any]:
    if c.finish_reason == "length":
        raise ItemFailure("truncated", "the answer hit the max_tokens limit", raw=c.text)
    if not c.logprobs:
        return {"unavailable": UNAVAILABLE}
    try:
        return {"predicted": predictions(c.logprobs, item.meta["n_tokens"])}
    except ItemFailure as e:
        raise ItemFailure(e.cause, e.message, raw=c.text) from None


def simulation_item(
    sid: str, key: str, explanation: str, snippets: Sequence[Snippet], sim: SimulationConfig
) -> LLMItem:
    acts = [a for s in snippets for a in s.acts or ()]
    return LLMItem(
        id=sid,
        top_logprobs=sim.top_logprobs,
        meta={
            "unit": key,
            "scorer": "simulation",
            "n_tokens": len(acts),
            "acts": acts,
            "kinds": [s.kind for s in snippets],
        },
        messages=[
            {"role": "system", "content": SIMULATE_SYSTEM},
            {"role": "user", "content": simulation_prompt(explanation, snippets)},
        ],
    )


def rule_simulation(explanation: str, snippets: Sequence[Snippet]) -> list[float]:
    """10 on a token the explanation names (or of a class it names), else 0."""
    tokens, classes = explained_terms(explanation)
    return [10.0 * _matches(t, tokens, classes) for s in snippets for t in s.tokens]


def simulation_score(true: Sequence[float], predicted: Sequence[float], kinds: Sequence[str]) -> dict[str, Any]:
    """Pearson correlation over all tokens (None, with the reason, when either side is constant)."""
    y, p = np.asarray(true, dtype=np.float64), np.asarray(predicted, dtype=np.float64)
    out: dict[str, Any] = {"n_tokens": int(len(y)), "n_snippets": len(kinds)}
    if y.std() == 0 or p.std() == 0:
        return {
            **out,
            "correlation": None,
            "note": "constant " + ("true activations" if y.std() == 0 else "predictions") + ": no correlation",
        }
    return {**out, "correlation": float(np.corrcoef(y, p)[0, 1])}


def answered_simulation(meta: dict[str, Any], result: dict[str, Any]) -> dict[str, Any]:
    """A done simulation record as its score, or ``unavailable`` (the endpoint gave no logprobs)."""
    if "unavailable" in result:
        return {"unavailable": result["unavailable"]}
    return simulation_score(meta["acts"], result["predicted"], meta["kinds"])
