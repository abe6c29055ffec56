"""Sparse dictionary features: sparse autoencoders and transcoders, their training, evaluation and atlas."""

from .sae import SAE, SAEConfig, load_sae

__all__ = ["SAE", "SAEConfig", "load_sae"]
