"""Auto-interpretation: explain MLP neurons and SAE features from their atlas, and score the explanations on
held-out stories (detection and fuzzing), through any OpenAI-compatible endpoint or fully offline with the
baseline explainer and rule scorer. Neurons and features look the same to every step (``units``)."""

from .heldout import HeldoutConfig
from .pipeline import AutointerpConfig, run_autointerp
from .store import explanations_for, load_results, search
from .units import FeatureSet, NeuronSet, Unit, sample_units

__all__ = [
    "AutointerpConfig",
    "FeatureSet",
    "HeldoutConfig",
    "NeuronSet",
    "Unit",
    "explanations_for",
    "load_results",
    "run_autointerp",
    "sample_units",
    "search",
]
