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


# cfg.json's metadata says which meaning its hook names have; files without the mark were written while TinyLM
# called the MLP's input (the second norm's output, after its gain and bias) ``ln2.hook_normalized``, which in
# TransformerLens is the normalised value before them
HOOK_NAMES_KEY, HOOK_NAMES = "hook_names", "transformer_lens_4"
_LEGACY_NORM_OUT = {"ln1.hook_normalized": "ln1.hook_out", "ln2.hook_normalized": "mlp.hook_in"}


def saved_hook_name(name: str, metadata: dict[str, object]) -> str:
    """The hook point a saved dictionary's ``name`` means today: the MLP's input is ``blocks.N.mlp.hook_in``
    (and the first norm's output ``blocks.N.ln1.hook_out``) whatever name an older file gave it."""
    if metadata.get(HOOK_NAMES_KEY) == HOOK_NAMES:
        return name
    if name == "ln_final.hook_normalized":
        return "ln_final.hook_out"
    head, _, point = name.partition(".")
    layer, _, point = point.partition(".")
    if head == "blocks" and layer.isdigit() and point in _LEGACY_NORM_OUT:
        return f"blocks.{layer}.{_LEGACY_NORM_OUT[point]}"
    return name
