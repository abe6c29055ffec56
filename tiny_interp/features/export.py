"""Dictionaries in the peers' own layouts: SAELens' directories and circuit-tracer's transcoder set.

``saelens``: one directory per dictionary, ``cfg.json`` + ``sae_weights.safetensors``, read by
``sae_lens.SAE.load_from_disk``. ``circuit-tracer``: ``layer_{l}.safetensors`` per layer (``W_enc`` [d_sae, d_in],
``W_dec`` [d_sae, d_out], ``b_enc``, ``b_dec``, ``activation_function.threshold`` for JumpReLU, ``W_skip``
[d_out, d_in]) and a ``config.yaml`` (``model_kind: transcoder_set``, the hooks, the files), read by
``circuit_tracer.utils.hf_utils.load_transcoders``. Both hold exactly the weights tiny-interp computes with; a
dictionary a peer has no class for is refused by name, never written in a form it would misread.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError
from .hook_names import block_suffix, file_hook
from .kinds import PEERS_OF, file_architecture
from .sae import SAE

FORMATS = ("saelens", "circuit-tracer")
CT_CONFIG = "config.yaml"
EXPORT_KIND = "export"


@dataclass(frozen=True)
class Export:
    paths: list[Path]
    peers: tuple[str, ...]  # who opens every exported dictionary natively


def saved_architecture(sae: SAE) -> str:
    return file_architecture(sae.cfg.architecture, sae.cfg.activation, sae.W_skip is not None)


def peers_of(sae: SAE) -> tuple[str, ...]:
    """The peers whose own loaders open this dictionary's files (empty: tiny-interp alone)."""
    return PEERS_OF.get(saved_architecture(sae), ())


def check_exportable(saes: list[SAE], names: list[str], fmt: str) -> None:
    """Refuse (one line) what the format's peer could not open: before anything is written."""
    if fmt not in FORMATS:
        raise ConfigError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if fmt == "circuit-tracer" and not all(s.cfg.is_transcoder for s in saes):
        sae_names = [n for n, s in zip(names, saes) if not s.cfg.is_transcoder]
        raise ConfigError(f"{', '.join(sae_names)}: circuit-tracer reads transcoders only; export SAEs as saelens")
    peer = "SAELens" if fmt == "saelens" else "circuit-tracer"
    bad = [n for n, s in zip(names, saes) if peer not in peers_of(s)]
    if bad:
        arch = saved_architecture(saes[names.index(bad[0])])
        raise ConfigError(
            f"{', '.join(bad)}: {arch} opens in tiny-interp only ({peer} has no class for it; SAELens and "
            "circuit-tracer read ReLU and JumpReLU transcoders); convert TopK transcoders with "
            "`tiny-interp sae export ... --calibrate-data TRAIN.txt` or train with --activation jumprelu"
        )


def export_saelens(saes: list[SAE], names: list[str], out: Path) -> list[Path]:
    return [sae.save(out / name) for sae, name in zip(saes, names)]


def _ct_layer(sae: SAE) -> dict[str, object]:
    tensors = {
        "W_enc": sae.W_enc.detach().T.contiguous(),
        "W_dec": sae.W_dec.detach().contiguous(),
        "b_enc": sae.b_enc.detach().contiguous(),
        "b_dec": sae.b_dec.detach().contiguous(),
    }
    if sae.threshold is not None:
        tensors["activation_function.threshold"] = sae.threshold.detach().contiguous()
    if sae.W_skip is not None:
        tensors["W_skip"] = sae.W_skip.detach().contiguous()
    return {k: v.float().cpu() for k, v in tensors.items()}


def ct_config_text(saes: list[SAE], scan: str) -> str:
    """circuit-tracer's config.yaml (JSON-quoted scalars are valid YAML)."""
    first = saes[0].cfg
    lines = [
        "model_kind: transcoder_set",
        f"scan: {json.dumps(scan)}",
        f"feature_input_hook: {json.dumps(block_suffix(file_hook(first.hook_name)))}",
        f"feature_output_hook: {json.dumps(block_suffix(file_hook(first.out_hook)))}",
        "transcoders:",
    ]
    lines += [f"  - {json.dumps(f'layer_{l}.safetensors')}" for l in range(len(saes))]
    return "\n".join(lines) + "\n"


def export_circuit_tracer(saes: list[SAE], names: list[str], out: Path, scan: str) -> list[Path]:
    """Layer files in the order given: ``saes[l]`` replaces layer ``l``'s MLP."""
    from safetensors.torch import save as save_bytes

    from ..atomic import write_bytes_atomic, write_text_atomic

    paths = []
    for l, sae in enumerate(saes):
        path = out / f"layer_{l}.safetensors"
        write_bytes_atomic(path, save_bytes(_ct_layer(sae)))  # type: ignore[arg-type]
        paths.append(path)
    write_text_atomic(out / CT_CONFIG, ct_config_text(saes, scan))
    return paths + [out / CT_CONFIG]


def export_run(
    saes: list[SAE], names: list[str], fmt: str, out: str | os.PathLike, scan: str, force: bool = False
) -> Export:
    """Write ``saes`` (named by their directories) in ``fmt`` into ``out``, a directory this command owns."""
    from ..ownership import claim_output_dir

    check_exportable(saes, names, fmt)
    target = claim_output_dir(out, EXPORT_KIND, force=force)
    if fmt == "saelens":
        paths = export_saelens(saes, names, target)
    else:
        paths = export_circuit_tracer(saes, names, target, scan)
    common = set.intersection(*(set(peers_of(s)) for s in saes)) if saes else set()
    return Export(paths, tuple(sorted(common)))


def open_for_export(
    run_dir: str | os.PathLike,
    calibrate_data: str | os.PathLike | None = None,
    n_stories: int = 400,
    model: str | os.PathLike | None = None,
) -> tuple[list[SAE], list[str], str]:
    """(dictionaries, their directory names, the model's name as they record it) of a run, transcoders in layer
    order; with ``calibrate_data`` (training stories) TopK transcoders become JumpReLU ones (``calibrate``)."""
    import itertools

    from .card import dictionary_dirs, model_dir_for
    from .sae import load_sae

    dirs = dictionary_dirs(run_dir)
    pairs = sorted(((load_sae(d), d.name) for d in dirs), key=lambda p: _layer_key(p[0]))
    saes, names = [p[0] for p in pairs], [p[1] for p in pairs]
    model_name = saes[0].cfg.model_name if saes else ""
    topk = [i for i, s in enumerate(saes) if s.cfg.is_transcoder and s.cfg.activation == "topk"]
    if calibrate_data is None or not topk:
        return saes, names, model_name
    model_dir = model_dir_for(Path(run_dir), model)
    from ..data.stories import iter_stories
    from .calibrate import calibration_activations, jumprelu_from_topk
    from .model_access import open_model

    net, tokenizer, _, n_ctx = open_model(model_dir, "cpu")
    stories = list(itertools.islice(iter_stories(calibrate_data), n_stories))
    acts = calibration_activations(net, tokenizer, [saes[i] for i in topk], stories, n_ctx)
    for i, (x, y) in zip(topk, acts):
        provenance = {"data": Path(calibrate_data).name, "stories": len(stories), "tokens": int(x.shape[0])}
        saes[i] = jumprelu_from_topk(saes[i], x, y, provenance)
    return saes, names, model_name or model_dir.name


def _layer_key(sae: SAE) -> tuple[int, str]:
    """Transcoders by layer (circuit-tracer's order), SAEs after them by hook name."""
    parts = sae.cfg.hook_name.split(".")
    if sae.cfg.is_transcoder and len(parts) > 1 and parts[1].isdigit():
        return int(parts[1]), ""
    return 10**6, sae.cfg.hook_name
