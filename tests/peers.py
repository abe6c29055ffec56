"""The peers (SAELens, circuit-tracer) for the interop tests: present in the peers environment (`make peers-venv`,
`make test-peers`); missing, a test is skipped on a developer's machine and FAILS in CI (CI=true), so the interop
checks can never pass by not running."""

from __future__ import annotations

import importlib
import importlib.util
import os
from types import ModuleType

import pytest


def need(module: str) -> ModuleType:
    """``module`` imported, or the test skipped (failed when CI=true) with how to get it."""
    if importlib.util.find_spec(module.split(".")[0]) is None:
        message = f"{module} is not installed here: run the interop tests with `make test-peers` (.peers-venv)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return importlib.import_module(module)


def circuit_tracer_model(model_dir, transcoder_dir, work_dir):
    """circuit-tracer's ReplacementModel of our model with our exported transcoders (skipped/failed without it)."""
    need("circuit_tracer")
    from tiny_interp.graphs.circuit_tracer import replacement_model

    return replacement_model(model_dir, transcoder_dir, work_dir)
