"""The endpoint's answers as records and back: parsing an explanation or a list of probabilities (a reply that does
not parse is a failure kept with its raw text, never an explanation), and reading a run's log into values and
failures."""

from __future__ import annotations

from collections.abc import Callable, Container
from pathlib import Path
from typing import Any

from ..llm.records import latest_records
from ..llm.runner import Completion, ItemFailure, LLMItem
from .heldout import Snippet
from .prompts import AnswerError, parse_explanation, parse_probabilities
from .simulation import answered_simulation


def _parsed(c: Completion, parse: Callable[[str], Any], key: str) -> dict[str, Any]:
    try:
        return {key: parse(c.text)}
    except AnswerError as e:
        raise ItemFailure("truncated" if c.finish_reason == "length" else "parse_error", str(e), raw=c.text) from None


def explain_handler(item: LLMItem, c: Completion) -> dict[str, Any]:
    return _parsed(c, parse_explanation, "explanation")


def probabilities_handler(item: LLMItem, c: Completion) -> dict[str, Any]:
    return _parsed(c, lambda text: parse_probabilities(text, len(item.meta["labels"])), "scores")


def split_records(
    log: Path, wanted: Container[str], value: Callable[[dict], Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(values of done records, failures with cause / error / raw) for the wanted ids."""
    done, failed = {}, {}
    for k, r in latest_records(log).items():
        if k not in wanted:
            continue
        if r.get("status") == "done":
            done[k] = value(r)
        else:
            failed[k] = {"cause": r.get("cause"), "error": r.get("error"), "raw": r.get("raw")}
    return done, failed


def snippet_labels(snippets: list[Snippet]) -> dict[str, list]:
    return {"labels": [s.label for s in snippets], "kinds": [s.kind for s in snippets]}


def answered(record: dict[str, Any]) -> dict[str, Any]:
    """A logged score record as the scorer's answer (labels, kinds, scores)."""
    if record["meta"].get("scorer") == "simulation":
        return answered_simulation(record["meta"], record["result"])
    return {"labels": record["meta"]["labels"], "kinds": record["meta"]["kinds"], "scores": record["result"]["scores"]}
