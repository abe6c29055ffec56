"""Shipping trained models: half-precision export and model cards (README.md + loss curve) with measured figures."""

from .card import CardConfig, write_card
from .export import export_model

__all__ = ["CardConfig", "export_model", "write_card"]
