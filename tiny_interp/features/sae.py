"""Sparse dictionaries: sparse autoencoders and transcoders in SAELens' file layout.

One module serves every architecture. Shapes and names follow SAELens: ``W_enc`` [d_in, d_sae], ``b_enc`` [d_sae],
``W_dec`` [d_sae, d_out], ``b_dec`` [d_out], ``threshold`` [d_sae] for JumpReLU (and BatchTopK at inference, which
is a JumpReLU with one shared threshold), and for transcoders an optional ``W_skip`` [d_out, d_in] applied as
``x @ W_skip.T`` (SAELens' ``SkipTranscoder``). An SAE reads and writes the same hook point (d_out = d_in); a
transcoder reads the MLP's input and predicts its output (files say ``blocks.{l}.mlp.hook_in`` /
``blocks.{l}.mlp.hook_out``; in memory the config holds the model's names for them, see ``hook_names``).

A directory holds ``cfg.json`` + ``sae_weights.safetensors`` (SAELens) and our own JSON beside them. The
``architecture`` in cfg.json is SAELens' name for what the weights compute (``kinds.file_architecture``); older
transcoder files (``"architecture": "transcoder"`` with an ``activation`` key, ``W_skip`` [d_in, d_out]) still open.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch
from jaxtyping import Float
from torch import Tensor, nn

from ..config_keys import build_config, unknown_keys_message
from ..errors import CheckpointError, ConfigError
from ..jsontypes import JSONObject, JSONValue
from .hook_names import MARK, MARK_KEY, file_hook, model_hook
from .kinds import ARCHITECTURES, ArchitectureTraits, file_architecture, kind_of_file, legacy_file

CFG_FILE = "cfg.json"
WEIGHTS_FILE = "sae_weights.safetensors"
# SAELens settings that change what encode computes; files using them are refused rather than misread
_SAELENS_OPTIONS = ("rescale_acts_by_decoder_norm", "reshape_activations", "normalize_activations")
# the other keys SAELens 6.54 writes in a cfg.json: the fields of its inference configs (``SAE_CLASS_REGISTRY``,
# e.g. the temporal and matching-pursuit SAEs, whose architectures are then refused by name) and, in training
# checkpoints, of its training configs (loss settings: they do not change what the weights compute)
_SAELENS_KEYS = (
    "architecture",
    *("n_heads", "n_attn_layers", "bottleneck_factor", "sae_diff_type", "kval_topk", "tied_weights"),
    *("activation_normalization_factor", "residual_threshold", "max_iterations", "stop_on_duplicate_support"),
    *("aux_loss_coefficient", "decoder_init_norm", "l0_coefficient", "l0_warm_up_steps", "l1_coefficient"),
    *("l1_warm_up_steps", "lp_norm", "matryoshka_widths", "pre_act_loss_coefficient", "target_l0"),
    *("topk_threshold_lr", "use_matryoshka_aux_loss", "use_sparse_activations", "jumprelu_bandwidth"),
    *("jumprelu_init_threshold", "jumprelu_sparsity_loss_mode", "jumprelu_ste_to_input", "jumprelu_tanh_scale"),
)


@dataclass(frozen=True)
class SAEConfig(ArchitectureTraits):
    """What a saved dictionary is; field names are SAELens' so its loader reads our ``cfg.json``."""

    architecture: str
    d_in: int
    d_sae: int
    hook_name: str
    d_out: int | None = None  # transcoders: width of hook_name_out (None: d_in)
    hook_name_out: str | None = None  # transcoders only
    k: int | None = None  # topk / batchtopk
    activation: str = "relu"  # transcoders: "relu", "topk" or "jumprelu"
    apply_b_dec_to_input: bool = False
    normalize_activations: str = "none"
    dtype: str = "float32"
    device: str = "cpu"
    model_name: str = ""
    metadata: JSONObject = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.architecture not in ARCHITECTURES:
            raise ValueError(f"architecture {self.architecture!r} is not one of {', '.join(ARCHITECTURES)}")
        if self.d_in <= 0 or self.d_sae <= 0:
            raise ValueError(f"d_in and d_sae must be positive (got {self.d_in}, {self.d_sae})")
        if self.uses_k and not (self.k and 0 < self.k <= self.d_sae):
            raise ValueError(f"{self.architecture} needs 0 < k <= d_sae (got k={self.k}, d_sae={self.d_sae})")
        if self.is_transcoder and not self.hook_name_out:
            raise ValueError("a transcoder needs hook_name_out (the activation it predicts)")

    @property
    def out_dim(self) -> int:
        return self.d_out or self.d_in

    @property
    def out_hook(self) -> str:
        return self.hook_name_out or self.hook_name

    @property
    def has_threshold(self) -> bool:
        return self.architecture in ("jumprelu", "batchtopk") or (self.is_transcoder and self.activation == "jumprelu")

    def to_dict(self) -> JSONObject:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, JSONValue], source: str | os.PathLike | None = None) -> "SAEConfig":
        """Our config from a cfg.json (ours, older ours, or SAELens'); the skip term is the weights' business. A
        key neither we nor SAELens write is a ConfigError naming it and ``source``."""
        known = [f.name for f in dataclasses.fields(cls)]
        accepted = [*known, *_SAELENS_OPTIONS, *_SAELENS_KEYS]
        unknown = [k for k in d if k not in accepted]
        if unknown:
            also = " (and the other keys SAELens 6 writes)"
            raise ConfigError(unknown_keys_message(cls.__name__, unknown, known, source, also))
        meta = d.get("metadata") or {}
        if not isinstance(meta, dict):
            raise ValueError(f"metadata is {type(meta).__name__}, not a JSON object")
        values: dict[str, JSONValue] = {k: v for k, v in d.items() if k in known}
        # SAELens 6 keeps hook_name, hook_name_out and model_name inside metadata
        for name in ("hook_name", "hook_name_out", "model_name"):
            if values.get(name) is None and meta.get(name) is not None:
                values[name] = meta[name]
        unsupported = [k for k in _SAELENS_OPTIONS if d.get(k) not in (None, False, "none")]
        if unsupported:
            raise ValueError(f"SAELens options {unsupported} are not supported here")
        activation = d.get("activation")  # older transcoder files only
        if activation is not None and not isinstance(activation, str):
            raise ValueError(f"activation is {activation!r}, expected a string")
        kind, activation, _ = kind_of_file(_text(d, "architecture", "standard"), activation)
        values.update(architecture=kind, activation=activation)
        # SAELens writes no hook_name for a dictionary made outside a training run
        values["hook_name"] = model_hook(_text(values, "hook_name", ""), meta)  # older files' names included
        if kind == "transcoder":
            values["hook_name_out"] = model_hook(_text(values, "hook_name_out", ""), meta)
        values["metadata"] = {**meta, MARK_KEY: MARK}  # the names are today's now
        return build_config(cls, values)

    def file_dict(self, skip: bool) -> JSONObject:
        """cfg.json: SAELens' architecture name and fields (hook names as the peers call them), no ``activation``
        key (the architecture says it); ``metadata`` keeps what SAELens' loader expects there."""
        d = self.to_dict()
        d.pop("activation")
        d["architecture"] = file_architecture(self.architecture, self.activation, skip)
        if self.is_transcoder:
            d.update(hook_name=file_hook(self.hook_name), hook_name_out=file_hook(self.out_hook))
        else:
            d.pop("hook_name_out")
        if not self.uses_k:
            d.pop("k")
        meta: JSONObject = {**self.metadata, "model_name": self.model_name, "hook_name": d["hook_name"], MARK_KEY: MARK}
        if self.is_transcoder:
            meta["hook_name_out"] = d["hook_name_out"]
        if self.architecture == "batchtopk":
            meta["trained_as"] = "batchtopk"  # saved as its inference form, a JumpReLU
        d["metadata"] = meta
        return d


def _text(d: Mapping[str, JSONValue], name: str, default: str) -> str:
    """A setting that must be a string (``default`` when absent or null)."""
    value = d.get(name)
    if value is None:
        return default
    if not isinstance(value, str):
        raise ValueError(f"{name} is {value!r}, expected a string")
    return value


class SAE(nn.Module):
    def __init__(self, cfg: SAEConfig):
        super().__init__()
        self.cfg = cfg
        d_in, d_sae, d_out = cfg.d_in, cfg.d_sae, cfg.out_dim
        self.W_enc = nn.Parameter(torch.empty(d_in, d_sae))
        self.b_enc = nn.Parameter(torch.zeros(d_sae))
        self.W_dec = nn.Parameter(torch.empty(d_sae, d_out))
        self.b_dec = nn.Parameter(torch.zeros(d_out))
        self.threshold = nn.Parameter(torch.zeros(d_sae)) if cfg.has_threshold else None
        self.W_skip: nn.Parameter | None = None
        nn.init.kaiming_uniform_(self.W_dec)
        with torch.no_grad():
            self.W_dec.div_(self.W_dec.norm(dim=1, keepdim=True))
            if d_in == d_out:
                self.W_enc.copy_(self.W_dec.T)
            else:
                nn.init.kaiming_uniform_(self.W_enc)

    def add_skip(self) -> None:
        """Give a transcoder the linear skip term ``x @ W_skip.T`` (W_skip [d_out, d_in], as SAELens and
        circuit-tracer store it), zero-initialised."""
        self.W_skip = nn.Parameter(torch.zeros(self.cfg.out_dim, self.cfg.d_in, device=self.W_enc.device))

    def skip(self, x: Float[Tensor, "... d_in"]) -> Float[Tensor, "... d_out"] | float:
        """The skip term's contribution (0.0 without one)."""
        return x @ self.W_skip.T if self.W_skip is not None else 0.0

    def pre_acts(self, x: Float[Tensor, "... d_in"]) -> Float[Tensor, "... d_sae"]:
        if self.cfg.apply_b_dec_to_input:
            x = x - self.b_dec
        return x @ self.W_enc + self.b_enc

    def activate(self, pre: Float[Tensor, "... d_sae"]) -> Float[Tensor, "... d_sae"]:
        """Latent activations from pre-activations, by architecture (BatchTopK as its inference JumpReLU)."""
        if self.threshold is not None:
            return pre.relu() * (pre > self.threshold)
        if self.cfg.uses_k:
            top = pre.topk(int(self.cfg.k or 0), dim=-1)  # k is validated for every architecture using it
            return torch.zeros_like(pre).scatter(-1, top.indices, top.values.relu())
        return pre.relu()

    def encode(self, x: Float[Tensor, "... d_in"]) -> Float[Tensor, "... d_sae"]:
        return self.activate(self.pre_acts(x))

    def decode(
        self, f: Float[Tensor, "... d_sae"], x: Float[Tensor, "... d_in"] | None = None
    ) -> Float[Tensor, "... d_out"]:
        """The reconstruction from the latents; with the input ``x`` it adds the skip term. ``decode(f)`` alone is
        what SAELens' ``decode`` computes (its skip transcoders add the skip in ``forward``)."""
        out = f @ self.W_dec + self.b_dec
        return out + self.skip(x) if x is not None else out

    def forward(self, x: Float[Tensor, "... d_in"]) -> Float[Tensor, "... d_out"]:
        return self.decode(self.encode(x), x)

    def save(
        self,
        directory: str | os.PathLike,
        extra: Mapping[str, JSONValue] | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> Path:
        """Write ``cfg.json`` and the weights atomically (our own JSON, e.g. metrics, lives beside them). ``extra``
        goes into cfg.json's ``metadata``, where SAELens keeps what it has no field for. A float16 ``dtype``
        halves the file; loading casts back to float32."""
        from safetensors.torch import save as save_bytes

        from ..atomic import write_bytes_atomic, write_json_atomic

        directory = Path(directory)
        tensors = {name: p.detach().to(dtype).cpu().contiguous() for name, p in self.named_parameters()}
        write_bytes_atomic(directory / WEIGHTS_FILE, save_bytes(tensors))
        cfg = dataclasses.replace(self.cfg, metadata={**self.cfg.metadata, **(extra or {})})
        write_json_atomic(directory / CFG_FILE, cfg.file_dict(self.W_skip is not None))
        return directory


def load_sae(directory: str | os.PathLike, device: str | torch.device = "cpu") -> SAE:
    """A dictionary saved by us or by SAELens (``cfg.json`` + ``sae_weights.safetensors``)."""
    from .validate import check_sae_cfg, read_weights

    directory = Path(directory)
    for name in (CFG_FILE, WEIGHTS_FILE):
        if not (directory / name).is_file():
            raise CheckpointError(f"{directory} has no {name}: not a saved SAE or transcoder directory")
    try:
        raw = json.loads((directory / CFG_FILE).read_text(encoding="utf-8"))
        check_sae_cfg(raw, directory / CFG_FILE)
        cfg = SAEConfig.from_dict(raw, directory / CFG_FILE)
    except (json.JSONDecodeError, UnicodeDecodeError, TypeError, ValueError) as e:
        raise CheckpointError(f"{directory / CFG_FILE} is not a valid SAE config ({e})") from e
    state = read_weights(directory / WEIGHTS_FILE, cfg.d_in, cfg.d_sae, cfg.out_dim)
    _, _, skip = kind_of_file(str(raw.get("architecture", "standard")), raw.get("activation"))
    if "W_skip" in state and legacy_file(raw):
        state["W_skip"] = state["W_skip"].T.contiguous()  # older files applied x @ W_skip
    if skip is not None and skip != ("W_skip" in state):
        raise CheckpointError(
            f"{directory}: architecture {raw.get('architecture')!r} {'needs' if skip else 'has no'} W_skip, "
            f"but the weights {'lack' if skip else 'hold'} one"
        )
    sae = SAE(cfg)
    if "W_skip" in state:
        sae.add_skip()
    if "threshold" in state and sae.threshold is None:
        raise CheckpointError(f"{directory}: a threshold is saved but architecture {cfg.architecture!r} has none")
    missing, unexpected = sae.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise CheckpointError(
            f"{directory / WEIGHTS_FILE} does not match cfg.json: missing {missing}, unexpected {unexpected}"
        )
    return sae.to(device).eval()
