"""The lab's kernels start at the repository root (JupyterLab would start them in the notebook's folder), so a path
in a notebook means what it means in a terminal at the root and in the README. Imported by jupyter server only."""

from __future__ import annotations

from typing import Any

from jupyter_server.services.kernels.kernelmanager import AsyncMappingKernelManager

from ..defaults import REPO_ROOT


class RepoRootKernelManager(AsyncMappingKernelManager):
    def cwd_for_path(self, path: Any, **kwargs: Any) -> str:
        return str(REPO_ROOT)
