"""What an LLM job is made of: the runner's settings, the items it asks, their answers and the run's summary.

``request_hash`` names what an item asked (messages, model, settings), so a rerun reuses only answers to the
same request (``plan``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError
from .endpoint import strip_userinfo


@dataclass(frozen=True)
class RunnerConfig:
    """Endpoint, concurrency, retry and budget settings of one run (saved as JSON beside the output; no key)."""

    model: str
    base_url: str | None = None
    concurrency: int = 8
    timeout_s: float = 60.0
    max_attempts: int = 6
    backoff_base_s: float = 1.0
    backoff_max_s: float = 60.0
    temperature: float | None = None
    max_tokens: int | None = None  # per request
    max_requests: int | None = None  # HTTP requests in this run, retries included
    max_total_tokens: int | None = None  # prompt + completion tokens in this run
    max_cost_usd: float | None = None
    price_input_per_1m: float = 0.0  # USD per million prompt tokens
    price_output_per_1m: float = 0.0  # USD per million completion tokens
    jitter_seed: int | None = None
    fsync: bool = True

    def __post_init__(self) -> None:
        if not self.model:
            raise ConfigError("no model name given: pass --model NAME (the endpoint's model id)")
        if self.concurrency < 1:
            raise ConfigError(f"concurrency must be >= 1, got {self.concurrency}")
        if self.max_attempts < 1:
            raise ConfigError(f"max_attempts must be >= 1, got {self.max_attempts}")
        if self.timeout_s <= 0:
            raise ConfigError(f"timeout_s must be > 0, got {self.timeout_s}")
        for name in ("max_requests", "max_total_tokens", "max_cost_usd"):
            v = getattr(self, name)
            if v is not None and v < 0:
                raise ConfigError(f"{name} must be >= 0, got {v}")

    def to_json(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["base_url"] = strip_userinfo(self.base_url)
        return d

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.price_input_per_1m + completion_tokens * self.price_output_per_1m) / 1e6


@dataclass(frozen=True)
class LLMItem:
    """One request: ``id`` must be stable across reruns (it is how a rerun knows what is done)."""

    id: str
    messages: list[dict[str, str]]
    meta: dict[str, Any] = field(default_factory=dict)
    response_format: dict[str, Any] | None = None
    # what the answer depends on, when that is less than the exact messages (e.g. a grade of one completion,
    # asked for as JSON or as free text); None: the messages and response format themselves
    job: dict[str, Any] | None = None
    top_logprobs: int | None = None  # ask for this many alternatives per generated token (Completion.logprobs)


@dataclass(frozen=True)
class Completion:
    text: str
    finish_reason: str | None
    prompt_tokens: int
    completion_tokens: int
    # per generated token: {"token", "logprob", "top": [[token, logprob], ...]}; None when not asked for or when
    # the endpoint gave none
    logprobs: list[dict[str, Any]] | None = None


class ItemFailure(Exception):
    """Raised by a handler: the endpoint answered, but the answer is unusable (kept raw in the record)."""

    def __init__(self, cause: str, message: str, raw: str | None = None):
        super().__init__(message)
        self.cause, self.message, self.raw = cause, message, raw


Handler = Callable[[LLMItem, Completion], dict[str, Any]]


def text_handler(item: LLMItem, c: Completion) -> dict[str, Any]:
    """Default handler: the answer text; an answer cut by the token limit is a failure, not a result."""
    if c.finish_reason == "length":
        raise ItemFailure("truncated", "the answer hit the max_tokens limit", raw=c.text)
    if not c.text.strip():
        raise ItemFailure("empty_response", "the endpoint returned no text", raw=c.text)
    return {"text": c.text}


@dataclass
class RunSummary:
    total: int = 0
    already_done: int = 0
    changed: int = 0  # done before, but asked again because the request changed
    completed: int = 0
    failed: int = 0
    failures_by_cause: dict[str, int] = field(default_factory=dict)
    retries_by_cause: dict[str, int] = field(default_factory=dict)
    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    elapsed_s: float = 0.0

    def lines(self) -> list[str]:
        out = [
            f"{self.completed} completed, {self.failed} failed, {self.already_done} already done "
            f"(of {self.total}); {self.requests} requests, {self.prompt_tokens}+{self.completion_tokens} tokens, "
            f"${self.cost_usd:.4f}, {self.elapsed_s:.1f}s"
        ]
        if self.changed:
            out.append(
                f"  re-asked {self.changed} item(s) done before whose request changed (prompt, model or settings)"
            )
        for cause, n in sorted(self.failures_by_cause.items(), key=lambda kv: -kv[1]):
            out.append(f"  failed: {n} x {cause}")
        if self.retries_by_cause:
            out.append("  retries: " + ", ".join(f"{c} {n}" for c, n in sorted(self.retries_by_cause.items())))
        if self.failed:
            out.append("  rerun the same command to retry the failed items (done items are kept)")
        return out


def request_hash(item: LLMItem, cfg: RunnerConfig) -> str:
    """What was asked: messages, response format, model and sampling settings (not the endpoint or budget)."""
    asked = item.job if item.job is not None else {"messages": item.messages, "response_format": item.response_format}
    request = {"model": cfg.model, "job": asked, "temperature": cfg.temperature, "max_tokens": cfg.max_tokens}
    if item.top_logprobs is not None:  # only then: requests hashed before logprobs existed keep their hash
        request["top_logprobs"] = item.top_logprobs
    return hashlib.sha256(json.dumps(request, sort_keys=True, default=str).encode()).hexdigest()[:16]


def plan(items: Sequence[LLMItem], latest: dict[str, dict[str, Any]], cfg: RunnerConfig) -> tuple[list[LLMItem], int]:
    """Items to ask now, and how many of them were done before for a different request. Records written before
    requests were hashed count as the same request when they name the same model."""
    pending, changed = [], 0
    for item in items:
        rec = latest.get(item.id, {})
        if rec.get("status") == "done":
            same = rec.get("request_hash", request_hash(item, cfg) if rec.get("model") == cfg.model else None)
            if same == request_hash(item, cfg):
                continue
            changed += 1
        pending.append(item)
    return pending, changed
