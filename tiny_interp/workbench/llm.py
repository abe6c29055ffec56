"""LLM notebooks without an endpoint: what would be asked, as a table (dry run), and the runner when there is one."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def items_table(items: Sequence[Any], n: int = 10) -> Any:
    """The first ``n`` requests as a DataFrame: id, required words and features (when present), and the prompt."""
    import pandas as pd

    rows = []
    for it in list(items)[:n]:
        rows.append(
            {
                "id": it.id,
                "words": ", ".join(it.meta.get("words", [])) or None,
                "features": ", ".join(it.meta.get("features", [])) or None,
                "prompt": it.messages[-1]["content"],
            }
        )
    return pd.DataFrame(rows).dropna(axis=1, how="all")


def endpoint_mode(base_url: str | None, dry_run: bool) -> str:
    """'dry-run' (show prompts only, no network) or 'live'; live needs a base URL or $OPENAI_API_KEY."""
    import os

    from ..errors import ConfigError

    if dry_run:
        return "dry-run"
    if not (base_url or os.environ.get("OPENAI_BASE_URL") or os.environ.get("OPENAI_API_KEY")):
        raise ConfigError(
            "DRY_RUN is False but there is no endpoint: set BASE_URL (e.g. a local vLLM/Ollama server) "
            "or export OPENAI_API_KEY, or keep DRY_RUN = True to only see the prompts"
        )
    return "live"
