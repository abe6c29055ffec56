"""Interpretability core: head taxonomy, neuron atlas, logit lens and attribution, patching, training dynamics.

Every function takes a ``tiny_interp.Model``, a bridge from ``tiny_interp.load`` or a model path, and reads and edits
activations only through the seam (``seam.run_with_cache`` / ``seam.run_with_hooks``, ``patterns.attention_patterns``),
which runs our own fast module (a ``tiny_interp.Model``'s) whenever it can.
"""

from ..lexicon import WORD_CLASSES, class_token_ids
from .dynamics import DynamicsConfig, list_checkpoints, training_dynamics
from .heads import TaxonomyConfig, head_labels, head_taxonomy
from .lens import direct_logit_attribution, logit_lens
from .neurons import Atlas, AtlasConfig, build_atlas, open_atlas
from .patching import activation_patching

__all__ = [
    "Atlas",
    "AtlasConfig",
    "DynamicsConfig",
    "TaxonomyConfig",
    "WORD_CLASSES",
    "activation_patching",
    "build_atlas",
    "class_token_ids",
    "direct_logit_attribution",
    "head_labels",
    "head_taxonomy",
    "list_checkpoints",
    "logit_lens",
    "open_atlas",
    "training_dynamics",
]
