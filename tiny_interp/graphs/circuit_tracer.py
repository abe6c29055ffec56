"""circuit-tracer on our files, in the peers environment: its ReplacementModel of a local model directory with our
transcoders, exported to its layout and opened by its own loader (no hub).

circuit-tracer's ``from_pretrained_and_transcoders`` accepts only TransformerLens' official hub names, so this does
what it does for a local directory: TransformerLens' own config and weight conversion read the directory (as
``HookedTransformer.from_pretrained`` would, with the same fold/centre settings circuit-tracer passes), the
tokenizer is opened with AutoTokenizer from a copy saved by the installed transformers (TransformerLens re-opens it
by path), then circuit-tracer's replacement hooks go in.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def replacement_model(
    model_dir: str | os.PathLike, transcoder_dir: str | os.PathLike, work_dir: str | os.PathLike
) -> tuple[Any, Any]:
    """(circuit-tracer's TransformerLensReplacementModel, its TranscoderSet); ``work_dir`` (a new or empty folder)
    receives the exported transcoders and the tokenizer copy."""
    import torch
    import yaml
    from circuit_tracer.replacement_model.replacement_model_transformerlens import TransformerLensReplacementModel
    from circuit_tracer.utils.hf_utils import load_transcoders
    from transformer_lens import loading_from_pretrained as loading
    from transformers import AutoTokenizer

    from ..features.export import export_run, open_for_export
    from ..loading import load_hf_model, resolve_model_dir
    from ..model.checkpoint import load_tokenizer

    model_dir, work = resolve_model_dir(model_dir), Path(work_dir)
    saes, names, model_name = open_for_export(transcoder_dir)
    out = work / "transcoders"
    export_run(saes, names, "circuit-tracer", out, scan=f"tiny-interp/{model_name}")
    config = yaml.safe_load((out / "config.yaml").read_text(encoding="utf-8"))
    config["transcoders"] = [str(out / p) for p in config["transcoders"]]
    transcoders = load_transcoders(config, device=torch.device("cpu"), dtype=torch.float32, lazy_decoder=False)
    load_tokenizer(model_dir).save_pretrained(work / "tokenizer")
    tokenizer = AutoTokenizer.from_pretrained(work / "tokenizer")
    hf = load_hf_model(model_dir)
    cfg = loading.get_pretrained_model_config(
        str(model_dir), hf_cfg=hf.config.to_dict(), fold_ln=False, device="cpu", dtype=torch.float32
    )
    model = TransformerLensReplacementModel(cfg, tokenizer=tokenizer)
    state = loading.get_pretrained_state_dict(str(model_dir), cfg, hf_model=hf)
    model.load_and_process_state_dict(state, fold_ln=False, center_writing_weights=False, center_unembed=False)
    model._configure_replacement_model(transcoders)  # what from_pretrained_and_transcoders does next
    return model, transcoders
