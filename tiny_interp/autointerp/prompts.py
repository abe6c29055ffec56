"""The prompts an LLM explainer and scorers see, and the parsers of their answers.

``PROMPT_VERSION`` is stored with every result: change it whenever a prompt's wording or format changes, so
explanations and scores from different prompts are never mixed up. Parsers raise ``AnswerError``; the pipeline
records the raw answer as a failure, never as a zero.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from .heldout import Snippet
from .units import Evidence, Example

PROMPT_VERSION = "autointerp-1"
MAX_EXPLANATION_CHARS = 300

EXPLAIN_SYSTEM = (
    "You are an interpretability researcher studying a small language model trained on simple children's stories. "
    "You explain what one unit of the model responds to, in a short phrase."
)
SCORE_SYSTEM = (
    "You are an interpretability researcher testing an explanation of one unit of a small language model trained "
    "on simple children's stories. You predict where the unit fires, given only the explanation."
)


class AnswerError(ValueError):
    pass


def one_line(text: str) -> str:
    """A snippet on one prompt line: newlines shown as ↵ (numbered lists stay one item per line)."""
    return text.replace("\r", "").replace("\n", "↵")


def mark_example(ex: Example, frac: float) -> str:
    """The example's text with every token at or above ``frac`` of its peak marked <<like this>>."""
    peak = ex.peak
    cut = frac * peak if peak > 0 else float("inf")
    return one_line("".join(f"<<{t}>>" if a >= cut else t for t, a in zip(ex.tokens, ex.acts)))


def _token_list(pairs: Sequence[tuple[str, float]]) -> str:
    return ", ".join(f"{json.dumps(t)} ({v:+.2f})" for t, v in pairs)


def explain_prompt(ev: Evidence, mark_frac: float = 0.5) -> str:
    """The explanation request: top examples, quantile examples, top tokens and, for features, logit effects."""
    kind = "MLP neuron" if ev.unit.kind == "neuron" else "sparse-autoencoder feature"
    lines = [
        f"Here is evidence about one {kind}. In each example the tokens where it fires most strongly are "
        "marked <<like this>>; the number is its peak activation.",
        "",
        "Top activating examples:",
    ]
    lines += [f"{i + 1}. ({ex.peak:.2f}) {mark_example(ex, mark_frac)}" for i, ex in enumerate(ev.top)]
    for label, group in ev.quantiles:
        lines += ["", f"Examples from {label} of its activating texts (1 = strongest; peak token marked):"]
        lines += [f"- ({ex.peak:.2f}) {mark_example(ex, mark_frac)}" for ex in group]
    if ev.top_tokens:
        lines += ["", "Tokens with the highest mean activation: " + _token_list(ev.top_tokens)]
    if ev.logits_up:
        lines += ["", "Tokens its output direction promotes: " + _token_list(ev.logits_up)]
    if ev.logits_down:
        lines += ["Tokens its output direction suppresses: " + _token_list(ev.logits_down)]
    lines += [
        "",
        "What does this unit respond to? Reply with exactly one line of the form",
        "Explanation: <a short phrase, at most 15 words>",
    ]
    return "\n".join(lines)


# an answer that speaks about itself ("I refuse to answer in JSON", "Sorry, ...") explains nothing; the second
# pattern applies only to a bare line without the asked-for "Explanation:" prefix
_NON_ANSWER = re.compile(r"^(i|i'm|i’m|sorry|as an ai|unfortunately)\b", re.I)
_REFUSAL = re.compile(r"\b(refuse|cannot|can't|can’t|unable|won't|not able|json|as an ai)\b", re.I)


def parse_explanation(text: str) -> str:
    """The phrase after ``Explanation:`` (else a single non-empty line); refused when empty or too long."""
    hits = re.findall(r"explanation\s*[:\-]\s*(.+)", text, re.I)
    lines = [l.strip() for l in text.strip().splitlines() if l.strip()]
    if hits:
        phrase = hits[-1]
    elif len(lines) == 1:
        phrase = lines[0]
    else:
        raise AnswerError("no 'Explanation:' line in the answer")
    phrase = phrase.strip().strip('"').strip("*").strip()
    if not phrase:
        raise AnswerError("the explanation is empty")
    if _NON_ANSWER.search(phrase) or (not hits and _REFUSAL.search(phrase)):
        raise AnswerError("the answer is a refusal or a remark, not an explanation")
    if len(phrase) > MAX_EXPLANATION_CHARS:
        raise AnswerError(f"the explanation is {len(phrase)} characters (at most {MAX_EXPLANATION_CHARS})")
    return phrase


def numbered(snippets: Sequence[Snippet]) -> str:
    return "\n".join(f"{i + 1}. {one_line(s.text())}" for i, s in enumerate(snippets))


def detection_prompt(explanation: str, snippets: Sequence[Snippet]) -> str:
    body = numbered(snippets)
    return (
        f"Explanation of the unit: {explanation}\n\nFor each numbered text below, give the probability (0 to 1) "
        "that the unit fires strongly somewhere in it, judging only from the explanation.\n\n"
        f'{body}\n\nAnswer with JSON only: {{"answers": [p1, ..., p{len(snippets)}]}}, one number per text, '
        "in order."
    )


def fuzzing_prompt(explanation: str, snippets: Sequence[Snippet]) -> str:
    body = numbered(snippets)
    return (
        f"Explanation of the unit: {explanation}\n\nIn each numbered text below one token is marked <<like "
        "this>>. For each text, give the probability (0 to 1) that the marked token is one on which the unit "
        f"fires strongly, judging only from the explanation.\n\n{body}\n\nAnswer with JSON only: "
        f'{{"answers": [p1, ..., p{len(snippets)}]}}, one number per text, in order.'
    )


_YES = {"yes": 1.0, "true": 1.0, "fires": 1.0, "no": 0.0, "false": 0.0}


def _number(v: object) -> float:
    if isinstance(v, bool):
        return float(v)
    if isinstance(v, (int, float)):
        x = float(v)
    elif isinstance(v, str) and v.strip().lower() in _YES:
        x = _YES[v.strip().lower()]
    else:
        try:
            x = float(str(v).strip().rstrip("%")) / (100 if str(v).strip().endswith("%") else 1)
        except ValueError:
            raise AnswerError(f"answer {v!r} is not a probability") from None
    if not 0 <= x <= 1:
        raise AnswerError(f"answer {v!r} is not between 0 and 1")
    return x


def parse_probabilities(text: str, n: int) -> list[float]:
    """``n`` probabilities from ``{"answers": [...]}``, a bare JSON list, or the same inside prose / code fences."""
    found = None
    for m in re.finditer(r"\{.*\}|\[.*\]", text, re.S):
        try:
            found = json.loads(m.group(0))
            break
        except json.JSONDecodeError:
            continue
    if isinstance(found, dict):
        found = next((v for k, v in found.items() if str(k).lower() in ("answers", "answer", "probabilities")), None)
    if not isinstance(found, list):
        raise AnswerError("no JSON list of answers in the reply")
    if len(found) != n:
        raise AnswerError(f"{len(found)} answers for {n} texts")
    return [_number(v) for v in found]
