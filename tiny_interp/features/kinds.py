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


# What each (our kind, latent activation, skip term) is called in a saved cfg.json: SAELens 6's registered names where
# SAELens has the class (BatchTopK is a training architecture there, saved for inference as JumpReLU with its
# threshold), and our own "topk_transcoder" / "topk_skip_transcoder" where it has none (SAELens then refuses the
# file by name instead of misreading it).
_FILE_NAMES = {
    ("standard", "relu", False): "standard",
    ("topk", "relu", False): "topk",
    ("batchtopk", "relu", False): "jumprelu",
    ("jumprelu", "relu", False): "jumprelu",
    ("transcoder", "relu", False): "transcoder",
    ("transcoder", "relu", True): "skip_transcoder",
    ("transcoder", "jumprelu", False): "jumprelu_transcoder",
    ("transcoder", "jumprelu", True): "jumprelu_skip_transcoder",
    ("transcoder", "topk", False): "topk_transcoder",
    ("transcoder", "topk", True): "topk_skip_transcoder",
}
# a file's name back to (kind, activation, skip); "jumprelu" reads as our jumprelu (what BatchTopK infers as)
_FROM_FILE = {name: kind for kind, name in _FILE_NAMES.items() if kind[0] != "batchtopk"}
SAELENS_ARCHITECTURES = frozenset(name for name in _FROM_FILE if not name.startswith("topk_"))
_FROM_FILE["batchtopk"] = ("batchtopk", "relu", False)  # our files before the names followed SAELens
# which peers open a saved architecture natively (circuit-tracer's loader reads ReLU and JumpReLU transcoders)
PEERS_OF = {name: ("SAELens",) for name in ("standard", "topk", "jumprelu")} | {
    name: ("SAELens", "circuit-tracer") for name in SAELENS_ARCHITECTURES if "transcoder" in name
}


def file_architecture(architecture: str, activation: str, skip: bool) -> str:
    """The ``architecture`` a cfg.json gets for our kind, latent activation and skip term."""
    key = (architecture, activation if architecture == "transcoder" else "relu", skip and architecture == "transcoder")
    return _FILE_NAMES[key]


def kind_of_file(name: str, activation: str | None) -> tuple[str, str, bool | None]:
    """(our kind, latent activation, skip term or None when the weights decide) of a cfg.json ``architecture``.

    Files written before the names followed SAELens say "transcoder" with an ``activation`` key beside it; their
    skip term is decided by the weights (and stored transposed: see ``sae.load_sae``)."""
    if name == "transcoder" and activation is not None:
        return "transcoder", activation, None
    if name not in _FROM_FILE:
        known = ", ".join(sorted(_FROM_FILE) + ["batchtopk"])
        raise ValueError(f"architecture {name!r} is not one of {known}")
    return _FROM_FILE[name]


def legacy_file(cfg: dict) -> bool:
    """A transcoder saved before the names followed SAELens: TopK/ReLU/JumpReLU told by an ``activation`` key, the
    skip weight stored [d_in, d_out] and applied ``x @ W_skip``."""
    return cfg.get("architecture") == "transcoder" and "activation" in cfg
