"""Third-party log lines that say nothing to a workbench user are dropped where they are emitted (their logger),
so they reach neither notebook cells nor published reports; everything else those libraries log still shows."""

from __future__ import annotations

import logging

# logger name -> message prefixes to drop
NOISE = {
    # TransformerLens 4 asks the `kernels` package for attention kernels; offline it says so once per kernel repo,
    # for kernels we never use (the models here run the plain attention path)
    "kernels._internals.hf_hub": ("Skipping publisher trust check for ",),
}


class _DropPrefixes(logging.Filter):
    def __init__(self, prefixes: tuple[str, ...]) -> None:
        super().__init__()
        self.prefixes = prefixes

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(self.prefixes)


def install() -> None:
    """Attach the filters (idempotent: a logger gets ours once)."""
    for name, prefixes in NOISE.items():
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropPrefixes) for f in logger.filters):
            logger.addFilter(_DropPrefixes(prefixes))
