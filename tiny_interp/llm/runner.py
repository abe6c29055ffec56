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
import email.utils
import hashlib
import json
import os
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence
from urllib.parse import urlsplit, urlunsplit

from ..atomic import write_json_atomic
from ..errors import ConfigError
from ..locking import exclusive_lock
from .records import AppendLog, latest_records

RETRYABLE = ("rate_limit", "server_error", "timeout", "connection", "malformed_response")


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
            out.append(f"  re-asked {self.changed} item(s) done before whose request changed (prompt, model or "
                       "settings)")
        for cause, n in sorted(self.failures_by_cause.items(), key=lambda kv: -kv[1]):
            out.append(f"  failed: {n} x {cause}")
        if self.retries_by_cause:
            out.append("  retries: " + ", ".join(f"{c} {n}" for c, n in sorted(self.retries_by_cause.items())))
        if self.failed:
            out.append("  rerun the same command to retry the failed items (done items are kept)")
        return out


def strip_userinfo(url: str | None) -> str | None:
    """A base URL without ``user:password@`` (never write credentials embedded in a URL)."""
    if not url:
        return url
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


def resolve_endpoint(base_url: str | None, api_key: str | None) -> tuple[str | None, str]:
    """Base URL and key from the arguments, else ``OPENAI_BASE_URL`` / ``OPENAI_API_KEY``."""
    base_url = base_url or os.environ.get("OPENAI_BASE_URL") or None
    api_key = api_key or os.environ.get("OPENAI_API_KEY") or None
    if api_key is None:
        if base_url is None:
            raise ConfigError(
                "no API key: set OPENAI_API_KEY (or pass --base-url for a local server that needs no key)"
            )
        api_key = "no-key"  # local servers (vLLM, Ollama, llama.cpp) accept any key
    return base_url, api_key


def request_hash(item: LLMItem, cfg: RunnerConfig) -> str:
    """What was asked: messages, response format, model and sampling settings (not the endpoint or budget)."""
    asked = item.job if item.job is not None else {"messages": item.messages, "response_format": item.response_format}
    request = {"model": cfg.model, "job": asked, "temperature": cfg.temperature, "max_tokens": cfg.max_tokens}
    if item.top_logprobs is not None:  # only then: requests hashed before logprobs existed keep their hash
        request["top_logprobs"] = item.top_logprobs
    return hashlib.sha256(json.dumps(request, sort_keys=True, default=str).encode()).hexdigest()[:16]


def plan(items: Sequence[LLMItem], latest: dict[str, dict[str, Any]], cfg: RunnerConfig
         ) -> tuple[list[LLMItem], int]:
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


def token_logprobs(choice: Any) -> list[dict[str, Any]] | None:
    """A chat choice's ``logprobs.content`` as plain lists (None when the endpoint sent none)."""
    content = getattr(getattr(choice, "logprobs", None), "content", None)
    if not content:
        return None
    return [{"token": t.token, "logprob": float(t.logprob),
             "top": [[a.token, float(a.logprob)] for a in (t.top_logprobs or [])]} for t in content]


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


def retry_after_s(exc: BaseException) -> float | None:
    """Seconds the server asked us to wait (``retry-after-ms``, ``retry-after`` seconds or HTTP date)."""
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if headers is None:
        return None
    ms = headers.get("retry-after-ms")
    if ms is not None:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, when.timestamp() - time.time())


def classify(exc: BaseException) -> str:
    """The failure cause of an exception raised by the client call."""
    import openai
    import pydantic

    if isinstance(exc, (asyncio.TimeoutError, openai.APITimeoutError)):
        return "timeout"
    if isinstance(exc, openai.APIConnectionError):
        return "connection"  # includes bodies cut off mid-transfer
    if isinstance(exc, openai.RateLimitError):
        return "rate_limit"
    if isinstance(exc, openai.APIStatusError):
        code = exc.status_code
        if code >= 500:
            return "server_error"
        if code in (401, 403):
            return "auth"
        if code == 404:
            return "not_found"
        if code == 408:
            return "timeout"
        return f"client_error_{code}"
    if isinstance(exc, (json.JSONDecodeError, openai.APIResponseValidationError, pydantic.ValidationError)):
        return "malformed_response"
    return f"unexpected_{type(exc).__name__}"


FATAL = ("auth", "not_found")  # every other item would fail the same way: stop asking


class _Run:
    def __init__(self, cfg: RunnerConfig, client: Any, handle: Handler, log: AppendLog, textlog: Any,
                 secret: str, progress: Any):
        self.cfg, self.client, self.handle, self.log, self.textlog = cfg, client, handle, log, textlog
        self.secret = secret
        self.progress = progress
        self.budget = _Budget(cfg)
        self.rng = random.Random(cfg.jitter_seed)
        self.summary = RunSummary()
        self.failures: Counter[str] = Counter()
        self.retries: Counter[str] = Counter()
        self.fatal: str | None = None

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

    def finish(self, item: LLMItem, result: dict[str, Any] | None, cause: str | None, message: str | None,
               raw: str | None, attempts: int, usage: dict[str, int]) -> None:
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


async def _run_locked(items: Sequence[LLMItem], p: dict[str, Path], cfg: RunnerConfig, handle: Handler,
                      base_url: str | None, key: str, progress: bool, desc: str) -> RunSummary:
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
        run.note(f"start: {len(pending)} pending ({changed} changed) of {len(items)}, model {cfg.model}, base_url {strip_userinfo(base_url)}")
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


def run_items(items: Sequence[LLMItem], out: str | os.PathLike, cfg: RunnerConfig, handle: Handler = text_handler,
              **kwargs: Any) -> RunSummary:
    """Synchronous wrapper of ``run_items_async`` (not for use inside a running event loop, e.g. Jupyter:
    there, ``await run_items_async(...)``)."""
    return asyncio.run(run_items_async(items, out, cfg, handle, **kwargs))


def add_endpoint_args(p: Any, concurrency: int = 8) -> None:
    """The endpoint/budget options every LLM command shares."""
    p.add_argument("--base-url", default=None, help="OpenAI-compatible endpoint (default: $OPENAI_BASE_URL or OpenAI)")
    p.add_argument("--model", required=True, help="model id at the endpoint (e.g. gpt-4o, or a vLLM model name)")
    from ..cli_args import nonneg_float, positive_float, positive_int

    p.add_argument("--concurrency", type=positive_int, default=concurrency,
                   help=f"requests in flight (default {concurrency})")
    p.add_argument("--timeout", type=positive_float, default=60.0, help="seconds per request (default 60)")
    p.add_argument("--max-attempts", type=positive_int, default=6, help="attempts per item on 429/5xx/timeouts (default 6)")
    p.add_argument("--max-requests", type=positive_int, default=None, help="stop after this many requests (retries count)")
    p.add_argument("--max-total-tokens", type=positive_int, default=None, help="stop after this many tokens in and out")
    p.add_argument("--max-cost", type=positive_float, default=None,
                   help="stop after this many USD (needs --price-in/--price-out)")
    p.add_argument("--price-in", type=nonneg_float, default=0.0, help="USD per 1M prompt tokens (for --max-cost)")
    p.add_argument("--price-out", type=nonneg_float, default=0.0, help="USD per 1M completion tokens (for --max-cost)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def config_from_args(args: Any, **overrides: Any) -> RunnerConfig:
    if args.max_cost is not None and not (args.price_in or args.price_out):
        raise ConfigError("--max-cost needs --price-in and/or --price-out (USD per 1M tokens) to count cost")
    kw = dict(
        model=args.model, base_url=args.base_url, concurrency=args.concurrency, timeout_s=args.timeout,
        max_attempts=args.max_attempts, max_requests=args.max_requests, max_total_tokens=args.max_total_tokens,
        max_cost_usd=args.max_cost, price_input_per_1m=args.price_in, price_output_per_1m=args.price_out,
    )
    kw.update(overrides)
    return RunnerConfig(**kw)
