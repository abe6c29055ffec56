"""Learning-rate schedule: linear warmup, then cosine decay to ``min_lr_ratio * lr`` or a constant rate."""

from __future__ import annotations

import math

from .config import TrainConfig


def lr_at(step: int, cfg: TrainConfig) -> float:
    if cfg.warmup_steps and step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    if cfg.schedule == "constant":
        return cfg.lr
    span = max(1, cfg.max_steps - cfg.warmup_steps)
    progress = min(1.0, (step - cfg.warmup_steps) / span)
    floor = cfg.lr * cfg.min_lr_ratio
    return floor + 0.5 * (cfg.lr - floor) * (1 + math.cos(math.pi * progress))


def log_spaced_steps(max_steps: int, n: int) -> list[int]:
    """About ``n`` steps spread evenly in log-space between 1 and ``max_steps`` (for dynamics checkpoints)."""
    if n <= 0:
        return []
    if n == 1:
        return [max_steps]
    steps = {max(1, round(max_steps ** (i / (n - 1)))) for i in range(n)}
    return sorted(steps)
