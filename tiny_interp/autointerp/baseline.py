"""The LLM-free floor: an explanation made of the unit's top tokens and their word classes, and a rule scorer that
answers the scorers' questions by looking for the explained tokens.

Baseline explanations read like ``tokens "Lily", "Tom", "Sue" (names)``. The rule scorer parses any explanation
for quoted tokens and lexicon class names, so it scores an LLM's explanation too (by the same rule), and the whole
pipeline runs offline end to end.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache

from ..lexicon import WORD_CLASSES, normalize_token, word_class_of
from .heldout import Snippet
from .units import Evidence

BASELINE_MODEL = "baseline"
_normalized = lru_cache(maxsize=1 << 16)(normalize_token)  # scoring normalises the same few thousand pieces


def baseline_explanation(ev: Evidence, n_tokens: int = 5) -> str:
    """Top tokens by mean activation, then the top examples' peak tokens, and a word class when most of them share
    one."""
    words: list[str] = []
    for token, _ in ev.top_tokens:
        w = normalize_token(token)
        if w and w not in words:
            words.append(w)
    peaks = Counter(normalize_token(ex.tokens[ex.centre]) for ex in ev.top if ex.tokens)
    for w, _ in peaks.most_common():
        if w and w not in words:
            words.append(w)
    words = words[:n_tokens]
    if not words:
        return "no clear tokens (the unit barely fires in the atlas)"
    classes = Counter(c for c in (word_class_of(w) for w in words) if c)
    cls, count = classes.most_common(1)[0] if classes else (None, 0)
    tail = f" ({cls})" if cls and count * 2 >= len(words) else ""
    return "tokens " + ", ".join(json.dumps(w, ensure_ascii=False) for w in words) + tail


def explained_terms(explanation: str) -> tuple[frozenset[str], frozenset[str]]:
    """(quoted tokens, lexicon classes) named by an explanation, both normalised."""
    quoted = re.findall(r"\"([^\"]+)\"|'([^']+)'|“([^”]+)”", explanation)
    tokens = frozenset(normalize_token(next(g for g in q if g)) for q in quoted) - {""}
    classes = frozenset(c for c in WORD_CLASSES if re.search(rf"\b{c}\b", explanation, re.I))
    return tokens, classes


def _matches(piece: str, tokens: frozenset[str], classes: frozenset[str]) -> bool:
    w = _normalized(piece)
    return bool(w) and (w in tokens or any(w in WORD_CLASSES[c] for c in classes))


def rule_detection(explanation: str, snippets: Sequence[Snippet]) -> list[float]:
    """1 when a snippet contains an explained token (or a word of an explained class), else 0."""
    tokens, classes = explained_terms(explanation)
    return [float(any(_matches(t, tokens, classes) for t in s.tokens)) for s in snippets]


def rule_fuzzing(explanation: str, snippets: Sequence[Snippet]) -> list[float]:
    """1 when the marked token is an explained token (or a word of an explained class), else 0."""
    tokens, classes = explained_terms(explanation)
    return [float(s.mark is not None and _matches(s.tokens[s.mark], tokens, classes)) for s in snippets]
