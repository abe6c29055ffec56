"""Dictionary kinds and what they imply, without torch (the CLI parser reads them)."""

from __future__ import annotations

from typing import Literal, get_args

# the one list of dictionary kinds: the configs' field type, the CLI's choices and the checks all read it
Architecture = Literal["standard", "topk", "batchtopk", "jumprelu", "transcoder"]
ARCHITECTURES: tuple[str, ...] = get_args(Architecture)


class ArchitectureTraits:
    """What an ``architecture`` / ``activation`` pair implies (shared by the saved and the training configs)."""

    architecture: str
    activation: str

    @property
    def is_transcoder(self) -> bool:
        return self.architecture == "transcoder"

    @property
    def uses_k(self) -> bool:
        """Latents chosen as the k largest (TopK, BatchTopK, transcoders with a TopK activation)."""
        return self.architecture in ("topk", "batchtopk") or (self.is_transcoder and self.activation == "topk")
