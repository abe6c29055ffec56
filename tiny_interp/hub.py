"""Access to the Hugging Face hub that fails fast and clearly when it cannot be reached."""

from __future__ import annotations

import functools
import os
import socket

from .errors import TinyInterpError

HUB_HOST = "huggingface.co"


def offline_by_env() -> bool:
    return any(
        os.environ.get(v, "").lower() in ("1", "true", "yes", "on")
        for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


@functools.lru_cache(maxsize=1)
def hub_reachable(timeout: float = 3.0) -> bool:
    """One quick TCP probe, so a machine without network fails at once instead of after minutes of retries."""
    if offline_by_env():
        return False
    try:
        with socket.create_connection((HUB_HOST, 443), timeout=timeout):
            return True
    except OSError:
        return False


def looks_like_hub_id(name: str) -> bool:
    parts = name.split("/")
    return len(parts) == 2 and all(parts) and not name.startswith((".", "/", "~")) and not os.path.exists(name)


def require_hub(what: str, how_to_fix: str) -> None:
    """Raise a clear error when the hub cannot be used right now."""
    if hub_reachable():
        return
    reason = "HF_HUB_OFFLINE is set" if offline_by_env() else f"{HUB_HOST} cannot be reached"
    raise TinyInterpError(f"cannot fetch {what} from the Hugging Face hub: {reason}. {how_to_fix}")
