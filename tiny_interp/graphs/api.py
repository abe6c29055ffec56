"""One call from a model and a transcoder directory to a graph: open the inputs, encode the prompt, attribute."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from jaxtyping import Int
from torch import Tensor

from ..errors import DataError
from ..features.sae import SAE
from ..model.transformer import TinyLM
from .attribute import attribute
from .config import GraphConfig
from .graph import AttributionGraph
from .interventions import FeatureEdit, intervene, next_token_table
from .pages import FeatureInfo, atlas_info
from .transcoders import load_transcoders, transcoder_dirs


@dataclass
class GraphModel:
    """A model (our fast module), its tokenizer and one transcoder per layer."""

    model: TinyLM
    tokenizer: Any
    transcoders: list[SAE]
    name: str = ""
    transcoder_names: Sequence[str] = ()
    transcoder_dir: Path | None = None

    def feature_info(self) -> FeatureInfo | None:
        """Feature pages' examples from the transcoders' feature atlas (``DIR/atlas``), when it was built."""
        if self.transcoder_dir is None:
            return None
        return atlas_info(self.transcoder_dir, self.transcoder_names)

    def encode(self, prompt: str) -> Int[Tensor, " pos"]:
        """The prompt as the model reads a story: BOS first, then its tokens. A prompt longer than the context is
        refused: cut, its traced position would no longer be the prompt's end."""
        from ..interp.common import encode

        if not isinstance(prompt, str) or not prompt.strip():
            raise DataError("the prompt is empty; pass some text to trace, e.g. --prompt 'Lily gave the ball to'")
        n_ctx = int(self.model.cfg.n_ctx)
        ids = encode(self.tokenizer, [prompt], n_ctx + 1)[0]
        if len(ids) > n_ctx:
            raise DataError(
                f"the prompt is longer than the model's context of {n_ctx} tokens (with BOS); shorten it to its "
                "last sentences: a cut prompt would trace another position than its end"
            )
        return torch.tensor(ids, dtype=torch.long)

    def token_id(self, token: str) -> int:
        """The id of a string that is exactly one token (e.g. " Tom")."""
        if not isinstance(token, str) or token == "":
            raise DataError("the target is empty; pass one token such as ' Tom', or leave the target out")
        ids = self.tokenizer(token, add_special_tokens=False)["input_ids"]
        if len(ids) != 1:
            raise DataError(f"target {token!r} is {len(ids)} tokens, not one; pass a single token such as ' Tom'")
        return int(ids[0])

    def graph(self, prompt: str, config: GraphConfig | None = None, target: str | None = None) -> AttributionGraph:
        """The graph of the next token after ``prompt``; ``target`` (one token) becomes the first output node."""
        config = GraphConfig() if config is None else config
        targets = [] if target is None else [self.token_id(target)]
        g = attribute(
            self.model, self.transcoders, self.encode(prompt), self.tokenizer, config, prompt=prompt, targets=targets
        )
        g.model_name, g.transcoder_names = self.name, list(self.transcoder_names)
        return g

    def intervene(self, prompt: str, edits: Sequence[FeatureEdit], k: int = 5) -> list[dict[str, Any]]:
        """The next-token distribution with the edits beside the one without (top ``k`` tokens)."""
        ids = self.encode(prompt)
        old = intervene(self.model, self.transcoders, ids, [])[-1]
        new = intervene(self.model, self.transcoders, ids, edits)[-1]
        return next_token_table(old, new, self.tokenizer, k)


def open_graph_model(model: str | os.PathLike | Any, transcoders: str | os.PathLike | Sequence[SAE]) -> GraphModel:
    """A model (``tiny_interp.Model``, a directory or name, a bridge or a TinyLM with a tokenizer) and a directory
    of per-layer transcoders."""
    from ..interp.seam import fast_module
    from ..model.handle import Model

    if model is None:
        raise DataError("no model given: pass a model directory (e.g. trained_models/ts-1M-neo)")
    if isinstance(model, (str, os.PathLike)):
        model = Model.from_pretrained(model)
    net, tokenizer = fast_module(model), getattr(model, "tokenizer", None)
    path = getattr(model, "model_path", None)
    name = Path(str(path)).name if path is not None else ""
    if net is None:
        raise DataError("attribution graphs need our TinyLM module; pass the model directory instead")
    cfg = net.cfg
    if isinstance(transcoders, (str, os.PathLike)):
        from ..features.validate import check_dir

        check_dir(transcoders, "transcoder directory")
        tcs = load_transcoders(transcoders, cfg.n_layers, cfg.d_model)
        names = [d.name for d in transcoder_dirs(transcoders, cfg.n_layers)]
        return GraphModel(net, tokenizer, tcs, name, names, Path(transcoders))
    return GraphModel(net, tokenizer, list(transcoders), name)
