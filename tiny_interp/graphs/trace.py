"""One prompt traced end to end, for notebooks: the graph, its fidelity, its strongest paths through named features,
and the interventions in the real model that test them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from .api import GraphModel
from .config import GraphConfig
from .graph import AttributionGraph
from .interventions import FeatureEdit, intervene, next_token_table
from .pages import decoder_logits
from .paths import Path, best_paths
from .prune import Fidelity, Pruned, fidelity, prune
from .validate import AblationCheck, ablation_check


@dataclass
class Trace:
    gm: GraphModel
    graph: AttributionGraph
    pruned: Pruned
    fidelity: Fidelity
    paths: list[Path]

    def name(self, node: int) -> str:
        """A feature by what its decoder writes (its top logits); other nodes by their label."""
        d = self.graph.describe(node)
        if d["kind"] == "embedding":
            return repr(d["label"])
        if d["kind"] != "feature":
            return repr(d["label"]) if d["kind"] == "logit" else f"{d['label']}@{d['pos']}"
        ups = decoder_logits(self.gm.model, self.gm.transcoders[d["layer"]], d["feature"], self.gm.tokenizer, 3)["up"]
        return f"L{d['layer']}/{d['feature']}@{d['pos']}[+{'|'.join(repr(t)[1:-1] for t, _ in ups)}]"

    def summary(self) -> str:
        g, f = self.graph, self.fidelity
        outs = ", ".join(f"{t!r} {p:.2f}" for t, p in zip(g.logit_tokens, g.logit_probs.tolist()))
        lines = [
            f"prompt: {g.prompt!r} ({g.n_pos} tokens); next token: {outs}",
            f"{g.n_active} active features, {self.pruned.n_nodes} nodes and {self.pruned.n_edges} edges kept; "
            f"error share {f.error_share:.3f} (top logit {f.error_share_top:.3f}), completeness "
            f"{f.completeness:.3f}, KL without errors {f.kl_without_errors:.3f} nats",
            "strongest paths into the top logit (share of its input carried):",
        ]
        lines += [f"  {' -> '.join(self.name(n) for n in p.nodes)}  ({p.share:.3g})" for p in self.paths]
        return "\n".join(lines)

    def path_features(self, i: int = 0) -> list[FeatureEdit]:
        """Ablations of the features on path ``i``."""
        return [
            FeatureEdit(int(l), int(f), 0.0, int(p))
            for n in self.paths[i].nodes
            if self.graph.kind(n) == "feature"
            for l, p, f in [self.graph.features[n].tolist()]
        ]

    def ablate_path(self, i: int = 0, k: int = 5) -> list[dict[str, Any]]:
        """The next-token distribution with path ``i``'s features ablated in the real model, beside the real one
        (the traced output token always listed)."""
        ids = torch.tensor(self.graph.input_ids)
        old = intervene(self.gm.model, self.gm.transcoders, ids, [])[-1]
        new = intervene(self.gm.model, self.gm.transcoders, ids, self.path_features(i))[-1]
        return next_token_table(old, new, self.gm.tokenizer, k, also=self.graph.logit_ids[:1])

    def check(self, k: int = 10) -> AblationCheck:
        return ablation_check(self.gm.model, self.gm.transcoders, self.graph, k=k)

    def view(self) -> Any:
        from ..widgets.graph import GraphView, graph_view_data

        gm = self.gm
        return GraphView(
            graph_view_data(self.graph, self.pruned, gm.model, gm.transcoders, gm.tokenizer, gm.feature_info())
        )


def trace(
    gm: GraphModel, prompt: str, target: str | None = None, n_paths: int = 3, config: GraphConfig = GraphConfig()
) -> Trace:
    """Graph, prune (for ``target`` alone when given, else for the probable outputs) and read the paths."""
    graph = gm.graph(prompt, config, target)
    pruned = prune(graph, only_top=target is not None)
    paths = best_paths(graph, pruned, n_paths)
    return Trace(gm, graph, pruned, fidelity(graph, pruned), paths)
