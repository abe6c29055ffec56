"""How a failed request is classified (retry, give up, stop the run) and how long the server asked us to wait."""

from __future__ import annotations

import asyncio
import email.utils
import json
import time

RETRYABLE = ("rate_limit", "server_error", "timeout", "connection", "malformed_response")


def retry_after_s(exc: BaseException | None) -> float | None:
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
