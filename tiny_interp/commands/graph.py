"""tiny-interp graph: the attribution graph of a prompt's next token, as an offline page and circuit-tracer JSON."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from ..graphs.config import GraphConfig

HTML_MARK = 'data-tiny-interp="graph"'
JSON_MARK = '"generator": "tiny-interp"'


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "graph",
        help="attribution graph of a prompt through per-layer transcoders (offline HTML, circuit-tracer JSON)",
        description="Replace every MLP by its transcoder, freeze attention and norms at the prompt's values, and "
        "draw the direct linear effects between token embeddings, active features, error nodes and the top logits.",
    )
    p.add_argument("model", help="model directory or hub id")
    p.add_argument("--prompt", required=True, help="text whose next token is traced")
    p.add_argument(
        "--target",
        default=None,
        help="one token to trace whatever its probability, e.g. ' Tom' "
        "(the first output node; pruning keeps what matters to it)",
    )
    p.add_argument("--transcoders", required=True, help="directory with one transcoder per layer (cfg.json each)")
    p.add_argument("--out", required=True, help="HTML page to write")
    p.add_argument("--json", default=None, help="also write the graph JSON that circuit-tracer / Neuronpedia read")
    for f in dataclasses.fields(GraphConfig):
        flag = f"--{f.name.replace('_', '-')}"
        if isinstance(f.default, bool):  # circuit-tracer's conventions, each on or off
            p.add_argument(flag, action=argparse.BooleanOptionalAction, default=f.default, help="(default off)")
            continue
        p.add_argument(flag, type=type(f.default), default=f.default, help=f"(default {f.default})")
    p.set_defaults(run=run)


def _check_target(path: Path, mark: str) -> None:
    """Write only new files or this command's own earlier output."""
    from ..errors import ConfigError

    if path.is_dir():
        raise ConfigError(f"{path} is a directory; pass a file name")
    if path.exists() and mark not in path.read_text(encoding="utf-8", errors="replace")[:200000]:
        raise ConfigError(f"{path} exists and was not written by tiny-interp graph; choose another file name")
    if not path.parent.is_dir():
        raise ConfigError(f"the folder of {path} does not exist; create it first")


def run(args: argparse.Namespace) -> int:
    import time

    from ..graphs.api import open_graph_model
    from ..graphs.export import graph_json, write_graph_json
    from ..graphs.prune import fidelity, prune
    from ..widgets.graph import graph_view_data, save_graph_html

    out, js = Path(args.out), Path(args.json) if args.json else None
    _check_target(out, HTML_MARK)
    if js is not None:
        _check_target(js, JSON_MARK)
    config = GraphConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(GraphConfig)})
    start = time.perf_counter()
    gm = open_graph_model(args.model, args.transcoders)
    graph = gm.graph(args.prompt, config, args.target)
    pruned = prune(graph, only_top=args.target is not None)
    data = graph_view_data(graph, pruned, gm.model, gm.transcoders, gm.tokenizer, gm.feature_info())
    save_graph_html(out, data)
    if js is not None:
        exported = graph_json(graph, pruned, slug=out.stem)
        exported["metadata"]["generator"] = "tiny-interp"
        write_graph_json(js, exported)
    fid = fidelity(graph, pruned)
    print(
        f"{graph.n_pos} tokens, {graph.n_active} active features; kept {pruned.n_nodes} nodes and "
        f"{pruned.n_edges} edges; error share {fid.error_share:.3f} (top logit {fid.error_share_top:.3f}); "
        f"KL without errors {fid.kl_without_errors:.3f} nats; {time.perf_counter() - start:.1f} s"
    )
    print(f"wrote {out}" + (f" and {js}" if js else ""))
    return 0
