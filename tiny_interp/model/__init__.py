"""Story models: config, presets, the TinyLM module, checkpoint format and generation."""

from .config import ModelConfig
from .presets import PRESETS, get_preset
from .transformer import TinyLM

__all__ = ["ModelConfig", "PRESETS", "get_preset", "TinyLM"]
