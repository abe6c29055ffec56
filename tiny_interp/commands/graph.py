"""tiny-interp graph: the attribution graph of a prompt's next token, as an offline page and circuit-tracer JSON."""

from __future__ import annotations

import argparse
import dataclasses

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
    p.add_argument(
        "--qk-paths",
        type=int,
        default=4,
        help="explain why the heads on this many strongest attention paths attend "
        "where they do (qk_tracing_results; 0: none; default 4)",
    )
    for f in dataclasses.fields(GraphConfig):
        p.add_argument(
            f"--{f.name.replace('_', '-')}", type=type(f.default), default=f.default, help=f"(default {f.default})"
        )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import time

    from ..graphs.api import open_graph_model
    from ..graphs.export import graph_json, write_graph_json
    from ..graphs.prune import fidelity, prune
    from ..ownership import check_output_file
    from ..qk.graph_qk import graph_qk_outputs
    from ..widgets.graph import graph_view_data, save_graph_html

    out = check_output_file(args.out, HTML_MARK, "graph")
    js = check_output_file(args.json, JSON_MARK, "graph") if args.json else None
    config = GraphConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(GraphConfig)})
    start = time.perf_counter()
    gm = open_graph_model(args.model, args.transcoders)
    graph = gm.graph(args.prompt, config, args.target)
    pruned = prune(graph, only_top=args.target is not None)
    data = graph_view_data(graph, pruned, gm.model, gm.transcoders, gm.tokenizer, gm.feature_info())
    qk, data["qk"] = graph_qk_outputs(gm, graph, pruned, args.qk_paths)
    save_graph_html(out, data)
    if js is not None:
        exported = graph_json(graph, pruned, slug=out.stem, qk=qk)
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
