"""Why a head attends where it does: exact QK attribution over residual-stream parts (Kamath et al., 2025)."""

from .engine import QKExplainer
from .why import AttentionWhy, attention_why, explainer_for

__all__ = ["AttentionWhy", "QKExplainer", "attention_why", "explainer_for"]
