"""The one way tiny-interp calls an LLM: a resumable, budgeted, retrying batch over an OpenAI-compatible endpoint.

Every job (synthesis, grading, summaries) is a list of ``LLMItem`` with stable ids and a ``handle`` function that
turns the endpoint's text into a result dict (or raises ``ItemFailure``). ``run_items`` appends exactly one record
per pending item to an append-only JSONL log -- ``status`` "done" with its ``result``, or "failed" with a ``cause``
(and the raw text when there was one) -- flushing each before the next. A rerun skips ids whose latest record is
done for the same request (``request_hash``: messages, model, settings) and asks the rest, so a crash or a kill
loses at most the requests in flight. One process at a time writes a log (an ``flock`` beside it).

The openai client's own retries are switched off (``max_retries=0``): retries here are counted, budgeted, logged
and honour ``Retry-After``. The API key is only ever handed to the client; anything written is redacted first.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import random
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, overload

from ..atomic import write_json_atomic
from ..errors import ConfigError
from ..locking import exclusive_lock
from .endpoint import add_endpoint_args, config_from_args, resolve_endpoint, strip_userinfo
from .faults import FATAL, RETRYABLE, classify, retry_after_s
from .jobs import Completion, Handler, ItemFailure, LLMItem, RunnerConfig, RunSummary, plan, request_hash, text_handler
from .records import AppendLog, latest_records

# the runner's public names, importable from here as before the split
__all__ = [
    "Completion",
    "Handler",
    "ItemFailure",
    "LLMItem",
    "RunSummary",
    "RunnerConfig",
    "add_endpoint_args",
    "classify",
    "config_from_args",
    "paths_for",
    "plan",
    "request_hash",
    "resolve_endpoint",
    "retry_after_s",
    "run_items",
    "run_items_async",
    "strip_userinfo",
    "text_handler",
    "token_logprobs",
]


def token_logprobs(choice: Any) -> list[dict[str, Any]] | None:
    """A chat choice's ``logprobs.content`` as plain lists (None when the endpoint sent none)."""
    content = getattr(getattr(choice, "logprobs", None), "content", None)
    if not content:
        return None
    return [
        {
            "token": t.token,
            "logprob": float(t.logprob),
            "top": [[a.token, float(a.logprob)] for a in (t.top_logprobs or [])],
        }
        for t in content
    ]


def paths_for(out: str | os.PathLike) -> dict[str, Path]:
    out = Path(out)
    return {
        "out": out,
        "config": out.with_name(out.name + ".runner.json"),
        "summary": out.with_name(out.name + ".summary.json"),
        "log": out.with_name(out.name + ".log"),
        "lock": out.with_name(out.name + ".lock"),
    }


class _Budget:
    def __init__(self, cfg: RunnerConfig):
        self.cfg = cfg
        self.requests = 0
        self.prompt_tokens = 0
        self.completion_tokens = 0

    @property
    def cost(self) -> float:
        return self.cfg.cost(self.prompt_tokens, self.completion_tokens)

    def reserve(self) -> str | None:
        """Take one request from the budget, or name the cap that forbids it."""
        c = self.cfg
        if c.max_requests is not None and self.requests >= c.max_requests:
            return "cap_requests"
        if c.max_total_tokens is not None and self.prompt_tokens + self.completion_tokens >= c.max_total_tokens:
            return "cap_tokens"
        if c.max_cost_usd is not None and self.cost >= c.max_cost_usd:
            return "cap_cost"
        self.requests += 1
        return None


class _Run:
    def __init__(
        self, cfg: RunnerConfig, client: Any, handle: Handler, log: AppendLog, textlog: Any, secret: str, progress: Any
    ):
        self.cfg, self.client, self.handle, self.log, self.textlog = cfg, client, handle, log, textlog
        self.secret = secret
        self.progress = progress
        self.budget = _Budget(cfg)
        self.rng = random.Random(cfg.jitter_seed)
        self.summary = RunSummary()
        self.failures: Counter[str] = Counter()
        self.retries: Counter[str] = Counter()
        self.fatal: str | None = None

    @overload
    def redact(self, text: str) -> str: ...
    @overload
    def redact(self, text: None) -> None: ...
    def redact(self, text: str | None) -> str | None:
        if text is None or not self.secret or len(self.secret) < 4:
            return text
        return text.replace(self.secret, "[REDACTED]")

    def note(self, line: str) -> None:
        self.textlog.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {self.redact(line)}\n")
        self.textlog.flush()

    def backoff(self, attempt: int, exc: BaseException | None) -> float:
        asked = retry_after_s(exc)
        if asked is not None:
            return min(asked, self.cfg.backoff_max_s) * (1 + 0.1 * self.rng.random())
        base = min(self.cfg.backoff_max_s, self.cfg.backoff_base_s * 2 ** (attempt - 1))
        return base * (0.5 + 0.5 * self.rng.random())  # jitter: spread clients that failed together

    async def request(self, item: LLMItem) -> Completion:
        kwargs: dict[str, Any] = {"model": self.cfg.model, "messages": item.messages}
        if self.cfg.temperature is not None:
            kwargs["temperature"] = self.cfg.temperature
        if self.cfg.max_tokens is not None:
            kwargs["max_tokens"] = self.cfg.max_tokens
        if item.response_format is not None:
            kwargs["response_format"] = item.response_format
        if item.top_logprobs is not None:
            kwargs.update(logprobs=True, top_logprobs=item.top_logprobs)
        # hard deadline too: a server trickling bytes never trips the client's per-read timeout
        resp = await asyncio.wait_for(self.client.chat.completions.create(**kwargs), self.cfg.timeout_s * 2 + 1)
        usage = getattr(resp, "usage", None)
        pt = int(getattr(usage, "prompt_tokens", 0) or 0)
        ct = int(getattr(usage, "completion_tokens", 0) or 0)
        self.budget.prompt_tokens += pt
        self.budget.completion_tokens += ct
        if not getattr(resp, "choices", None):
            raise ItemFailure("malformed_response", "the answer has no choices")
        choice = resp.choices[0]
        content = choice.message.content if choice.message is not None else None
        return Completion(content or "", choice.finish_reason, pt, ct, token_logprobs(choice))

    async def process(self, item: LLMItem) -> None:
        attempts = 0
        cause, message, raw, result = None, None, None, None
        usage = {"prompt_tokens": 0, "completion_tokens": 0}
        last_exc: BaseException | None = None
        while True:
            if self.fatal:
                cause, message = f"aborted_{self.fatal}", f"run stopped after a {self.fatal} error"
                break
            cap = self.budget.reserve()
            if cap:
                message = f"budget cap reached ({cap})" + (f"; last attempt: {cause}: {message}" if attempts else "")
                cause = cap
                break
            attempts += 1
            try:
                c = await self.request(item)
            except ItemFailure as e:
                cause, message, raw, last_exc = e.cause, e.message, e.raw, e
            except Exception as e:  # noqa: BLE001 -- classified, recorded and counted, never swallowed silently
                cause, message, raw, last_exc = classify(e), f"{type(e).__name__}: {e}", None, e
                if cause in FATAL:
                    self.fatal = cause
                    self.note(f"{item.id}: {message} -- stopping the run")
                    break
            else:
                usage["prompt_tokens"] += c.prompt_tokens
                usage["completion_tokens"] += c.completion_tokens
                try:
                    result = self.handle(item, c)
                    cause = None
                    break
                except ItemFailure as e:
                    cause, message, raw = e.cause, e.message, e.raw
                    break  # the endpoint answered: asking again is the rerun's job, not a blind retry's
            if cause not in RETRYABLE or attempts >= self.cfg.max_attempts:
                break
            delay = self.backoff(attempts, last_exc)
            self.retries[cause] += 1
            self.note(f"{item.id}: attempt {attempts} {cause} ({message}); retrying in {delay:.2f}s")
            await asyncio.sleep(delay)
        self.finish(item, result, cause, message, raw, attempts, usage)

    def finish(
        self,
        item: LLMItem,
        result: dict[str, Any] | None,
        cause: str | None,
        message: str | None,
        raw: str | None,
        attempts: int,
        usage: dict[str, int],
    ) -> None:
        rec: dict[str, Any] = {
            "id": item.id,
            "status": "done" if cause is None else "failed",
            "model": self.cfg.model,
            "request_hash": request_hash(item, self.cfg),
            "attempts": attempts,
            "usage": usage,
            "meta": item.meta,
            "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        if cause is None:
            rec["result"] = result
            self.summary.completed += 1
        else:
            rec.update(cause=cause, error=self.redact(message), raw=self.redact(raw))
            self.summary.failed += 1
            self.failures[cause] += 1
            self.note(f"{item.id}: failed ({cause}) {message}")
        self.log.append(json.loads(self.redact(json.dumps(rec, ensure_ascii=False, default=str))))
        if self.progress is not None:
            self.progress.update(1)
            if self.summary.failed:
                self.progress.set_postfix(failed=self.summary.failed, refresh=False)


async def run_items_async(
    items: Sequence[LLMItem],
    out: str | os.PathLike,
    cfg: RunnerConfig,
    handle: Handler = text_handler,
    *,
    api_key: str | None = None,
    progress: bool = True,
    desc: str = "llm",
) -> RunSummary:
    """Run every item whose latest record in ``out`` is not done, or was done for a different request; see the
    module docstring. One process at a time writes ``out`` (a second one is refused)."""
    ids = [it.id for it in items]
    if len(set(ids)) != len(ids):
        dup = next(i for i, n in Counter(ids).items() if n > 1)
        raise ConfigError(f"item ids must be unique; {dup!r} appears more than once")
    base_url, key = resolve_endpoint(cfg.base_url, api_key)
    p = paths_for(out)
    p["out"].parent.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(p["lock"], f"LLM log {p['out']}"):
        return await _run_locked(items, p, cfg, handle, base_url, key, progress, desc)


async def _run_locked(
    items: Sequence[LLMItem],
    p: dict[str, Path],
    cfg: RunnerConfig,
    handle: Handler,
    base_url: str | None,
    key: str,
    progress: bool,
    desc: str,
) -> RunSummary:
    import openai
    from tqdm.auto import tqdm

    write_json_atomic(p["config"], cfg.to_json())
    pending, changed = plan(items, latest_records(p["out"]), cfg)

    client = openai.AsyncOpenAI(base_url=base_url, api_key=key, max_retries=0, timeout=cfg.timeout_s)
    bar = tqdm(total=len(pending), desc=desc, unit="item", disable=not progress, file=sys.stderr)
    t0 = time.monotonic()
    with AppendLog(p["out"], fsync=cfg.fsync) as log, open(p["log"], "a", encoding="utf-8") as textlog:
        run = _Run(cfg, client, handle, log, textlog, key, bar)
        run.summary.total = len(items)
        run.summary.already_done = len(items) - len(pending)
        run.summary.changed = changed
        run.note(
            f"start: {len(pending)} pending ({changed} changed) of {len(items)}, model {cfg.model}, "
            f"base_url {strip_userinfo(base_url)}"
        )
        queue = iter(pending)

        async def worker() -> None:
            for item in queue:  # one shared iterator: each item goes to exactly one worker
                await run.process(item)

        try:
            await asyncio.gather(*(worker() for _ in range(min(cfg.concurrency, max(1, len(pending))))))
        finally:
            bar.close()
            await client.close()
            s = run.summary
            s.failures_by_cause = dict(run.failures)
            s.retries_by_cause = dict(run.retries)
            s.requests = run.budget.requests
            s.prompt_tokens = run.budget.prompt_tokens
            s.completion_tokens = run.budget.completion_tokens
            s.cost_usd = run.budget.cost
            s.elapsed_s = time.monotonic() - t0
            write_json_atomic(p["summary"], dataclasses.asdict(s))
            run.note("end: " + " | ".join(s.lines()))
    return run.summary


def run_items(
    items: Sequence[LLMItem], out: str | os.PathLike, cfg: RunnerConfig, handle: Handler = text_handler, **kwargs: Any
) -> RunSummary:
    """Synchronous wrapper of ``run_items_async`` (not for use inside a running event loop, e.g. Jupyter:
    there, ``await run_items_async(...)``)."""
    return asyncio.run(run_items_async(items, out, cfg, handle, **kwargs))
