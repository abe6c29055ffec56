"""Why a head attends where it does: exact QK attribution over residual-stream parts (Kamath et al., 2025).

The entry points load lazily, so the command line can read ``qk.config`` without importing torch."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .engine import QKExplainer
    from .shares import qk_findings, qk_kind_summary, qk_shares, qk_story_ids, qk_summary_markdown
    from .table import why_table
    from .why import AttentionWhy, attention_why, explainer_for

_WHERE = {
    "QKExplainer": "engine",
    "AttentionWhy": "why",
    "attention_why": "why",
    "explainer_for": "why",
    "why_table": "table",
    "qk_shares": "shares",
    "qk_kind_summary": "shares",
    "qk_summary_markdown": "shares",
    "qk_findings": "shares",
    "qk_story_ids": "shares",
}
__all__ = [
    "AttentionWhy",
    "QKExplainer",
    "attention_why",
    "explainer_for",
    "qk_kind_summary",
    "qk_shares",
    "qk_findings",
    "qk_story_ids",
    "qk_summary_markdown",
    "why_table",
]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'tiny_interp.qk' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
