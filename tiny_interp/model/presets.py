"""Named model shapes: the seven official TinyStories models and small llama shapes.

The official shapes are GPT-Neo with 16 heads, d_mlp = 4 * d_model, a 512-token training context and
alternating global/local attention (window 256), as in the paper's released configs. The vocabulary comes from
the tokenizer at training time.
"""

from __future__ import annotations

from ..errors import ConfigError
from .config import ModelConfig


def _neo(d_model: int, n_layers: int) -> ModelConfig:
    return ModelConfig(family="gpt-neo", d_model=d_model, n_layers=n_layers, n_heads=16, d_mlp=4 * d_model)


def _llama(d_model: int, n_layers: int, n_heads: int, n_kv_heads: int, d_mlp: int) -> ModelConfig:
    return ModelConfig(
        family="llama",
        d_model=d_model,
        n_layers=n_layers,
        n_heads=n_heads,
        n_kv_heads=n_kv_heads,
        d_mlp=d_mlp,
        tie_embeddings=True,
    )


PRESETS: dict[str, ModelConfig] = {
    # the paper's released shapes (names as on the hub, without the "TinyStories-" prefix)
    "1M": _neo(64, 8),
    "3M": _neo(128, 8),
    "8M": _neo(256, 8),
    "28M": _neo(512, 8),
    "33M": _neo(768, 4),
    "1L-21M": _neo(1024, 1),
    "2L-33M": _neo(1024, 2),
    # llama shapes; llama-260k is karpathy's stories260K
    "llama-260k": _llama(64, 5, 8, 4, 172),
    "llama-1M": _llama(128, 4, 8, 4, 352),
    "llama-4M": _llama(256, 5, 8, 4, 688),
    "llama-15M": _llama(288, 6, 6, 6, 768),
    # a toy shape for tests and smoke runs
    "tiny": ModelConfig(family="gpt-neo", d_model=32, n_layers=2, n_heads=4, d_mlp=128, n_ctx=128),
    "tiny-llama": _llama(32, 2, 4, 2, 96).replace(n_ctx=128),
}


def get_preset(name: str) -> ModelConfig:
    """Look a preset up by name, case-insensitively (also accepts a 'TinyStories-' prefix)."""
    key = name.removeprefix("TinyStories-").removeprefix("tinystories-").lower()
    for preset_name, cfg in PRESETS.items():
        if preset_name.lower() == key:
            return cfg
    raise ConfigError(f"unknown preset {name!r}; available presets: {', '.join(PRESETS)}")
