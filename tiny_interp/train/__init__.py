"""Training: config, schedule, data windows, the loop, resumable state, DDP."""

from .config import TrainConfig
from .loop import TrainData, read_metrics, train

__all__ = ["TrainConfig", "TrainData", "read_metrics", "train"]
