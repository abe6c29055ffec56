"""Where an LLM job sends its requests: the endpoint and key, and the options every LLM command shares."""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from ..errors import ConfigError

if TYPE_CHECKING:  # jobs imports strip_userinfo from here
    from .jobs import RunnerConfig


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


def add_endpoint_args(p: argparse.ArgumentParser, concurrency: int = 8) -> None:
    """The endpoint/budget options every LLM command shares."""
    p.add_argument("--base-url", default=None, help="OpenAI-compatible endpoint (default: $OPENAI_BASE_URL or OpenAI)")
    p.add_argument("--model", required=True, help="model id at the endpoint (e.g. gpt-4o, or a vLLM model name)")
    from ..cli_args import nonneg_float, positive_float, positive_int

    p.add_argument(
        "--concurrency", type=positive_int, default=concurrency, help=f"requests in flight (default {concurrency})"
    )
    p.add_argument("--timeout", type=positive_float, default=60.0, help="seconds per request (default 60)")
    p.add_argument(
        "--max-attempts", type=positive_int, default=6, help="attempts per item on 429/5xx/timeouts (default 6)"
    )
    p.add_argument(
        "--max-requests", type=positive_int, default=None, help="stop after this many requests (retries count)"
    )
    p.add_argument("--max-total-tokens", type=positive_int, default=None, help="stop after this many tokens in and out")
    p.add_argument(
        "--max-cost", type=positive_float, default=None, help="stop after this many USD (needs --price-in/--price-out)"
    )
    p.add_argument("--price-in", type=nonneg_float, default=0.0, help="USD per 1M prompt tokens (for --max-cost)")
    p.add_argument("--price-out", type=nonneg_float, default=0.0, help="USD per 1M completion tokens (for --max-cost)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def config_from_args(args: argparse.Namespace, **overrides: Any) -> RunnerConfig:
    from .jobs import RunnerConfig

    if args.max_cost is not None and not (args.price_in or args.price_out):
        raise ConfigError("--max-cost needs --price-in and/or --price-out (USD per 1M tokens) to count cost")
    kw = dict(
        model=args.model,
        base_url=args.base_url,
        concurrency=args.concurrency,
        timeout_s=args.timeout,
        max_attempts=args.max_attempts,
        max_requests=args.max_requests,
        max_total_tokens=args.max_total_tokens,
        max_cost_usd=args.max_cost,
        price_input_per_1m=args.price_in,
        price_output_per_1m=args.price_out,
    )
    kw.update(overrides)
    return RunnerConfig(**kw)
