"""tiny-interp graph: the attribution graph of a prompt's next token, as an offline page and circuit-tracer JSON."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from ..cli_args import add_config_args, config_from_args
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
    add_config_args(p, GraphConfig)
    p.add_argument(
        "--qk-paths",
        type=int,
        default=4,
        help="explain why the heads on this many strongest attention paths attend where they do "
        "(qk_tracing_results in the JSON, a panel in the page; 0: none; default 4)",
    )
    p.add_argument(
        "--beside-model",
        action="store_true",
        help="let --out / --json land inside a shipped model (default: such paths go under runs/<model>/)",
    )
    p.set_defaults(run=run)


KIND = "graph"


def _legacy(mark: str) -> Callable[[Path], bool]:
    """A page or JSON this command wrote before manifests existed (it carries our mark near its start)."""

    def ours(path: Path) -> bool:
        with path.open(encoding="utf-8", errors="replace") as fh:
            return mark in fh.read(200000)

    return ours


def _output(path: str, mark: str, beside_model: bool) -> Path:
    """Where an output file goes (under runs/ when it would land in a shipped model), checked, writing nothing:
    new, or this command's own earlier output (by the folder's manifest)."""
    from ..ownership import check_output_file
    from ..shipped import results_path

    target = results_path(Path(path), beside_model)
    # a folder under runs/ is made for it; a folder the user named must exist
    return check_output_file(target, KIND, legacy=_legacy(mark), make_parent=target != Path(path))


def run(args: argparse.Namespace) -> int:
    import time

    from ..errors import ConfigError
    from ..graphs.api import open_graph_model
    from ..graphs.export import graph_json, write_graph_json
    from ..graphs.prune import fidelity, prune
    from ..ownership import claim_output_file
    from ..qk.graph_qk import graph_qk_outputs
    from ..widgets.graph import graph_view_data, save_graph_html

    if args.target == "":
        raise ConfigError("--target '' names no token; pass one token such as ' Tom', or leave --target out")
    out = _output(args.out, HTML_MARK, args.beside_model)
    js = _output(args.json, JSON_MARK, args.beside_model) if args.json else None
    config = config_from_args(GraphConfig, args)
    start = time.perf_counter()
    gm = open_graph_model(args.model, args.transcoders)
    gm.encode(args.prompt)  # a prompt longer than the context is refused before any work
    graph = gm.graph(args.prompt, config, args.target)
    pruned = prune(graph, only_top=args.target is not None)
    data = graph_view_data(graph, pruned, gm.model, gm.transcoders, gm.tokenizer, gm.feature_info())
    qk, data["qk"] = graph_qk_outputs(gm, graph, pruned, args.qk_paths)
    for path, mark in ((out, HTML_MARK), (js, JSON_MARK)):
        if path is not None:
            claim_output_file(path, KIND, legacy=_legacy(mark), make_parent=True)
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
