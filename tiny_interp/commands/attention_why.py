"""tiny-interp attention-why: why a head's query attends to a key, split exactly into query-side x key-side parts."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..cli_args import add_config_args

KIND = "attention-why"


def register(sub: argparse._SubParsersAction) -> None:
    from ..qk.config import WhyConfig

    p = sub.add_parser(
        "attention-why",
        help="why a head attends to a key: its score split into pairs of query-side and key-side parts",
        description="Freeze the layer's input-norm scale and split one head's pre-softmax score for a query and a key "
        "exactly into pair terms over the parts of both residual streams: token and position embeddings, earlier "
        "heads, earlier MLP outputs (or their transcoder/SAE features, skip and error terms) and biases.",
    )
    p.add_argument("model", help="model directory or hub id")
    p.add_argument("--prompt", required=True, help="the text (read as a story: BOS first)")
    p.add_argument("--transcoders", default=None, help="directory of per-layer transcoders or hook_mlp_out SAEs")
    p.add_argument("--html", default=None, help="also write the explanation as an offline HTML page")
    p.add_argument("--json", default=None, help="also write it as JSON (score, pairs, rest, marginals, input_ids)")
    add_config_args(p, WhyConfig, required=("layer", "head"))
    p.add_argument(
        "--beside-model",
        action="store_true",
        help="let --html / --json land inside a shipped model (default: such paths go under runs/<model>/)",
    )
    p.set_defaults(run=run)


def _output(path: str, beside_model: bool) -> Path:
    """Where an output file goes (under runs/ when it would land in a shipped model): new, or this command's own
    earlier output (by the folder's manifest); checked before any work, writing nothing."""
    from ..ownership import check_output_file
    from ..shipped import results_path

    target = results_path(Path(path), beside_model)
    return check_output_file(target, KIND, make_parent=target != Path(path))


def run(args: argparse.Namespace) -> int:
    import json

    from ..atomic import write_text_atomic
    from ..cli_args import config_from_args
    from ..ownership import claim_output_file
    from ..qk.config import WhyConfig
    from ..qk.html import why_html
    from ..qk.table import why_table
    from ..qk.why import attention_why

    html = _output(args.html, args.beside_model) if args.html else None
    js = _output(args.json, args.beside_model) if args.json else None
    cfg = config_from_args(WhyConfig, args)
    why = attention_why(args.model, args.prompt, cfg.layer, cfg.head, cfg.query, cfg.key, args.transcoders, top=cfg.top)
    print(why_table(why, cfg.top))
    for path in (html, js):
        if path is not None:
            claim_output_file(path, KIND, make_parent=True)
    if html is not None:
        write_text_atomic(html, why_html(why, cfg.top))
    if js is not None:
        # names, not paths: the file travels to other machines
        data = why.to_json()
        data["model"] = Path(args.model).name
        data["transcoders"] = Path(args.transcoders).name if args.transcoders else None
        data["config"] = cfg.to_dict()
        write_text_atomic(js, json.dumps(data, ensure_ascii=False, indent=1))
    for name, path in (("HTML", html), ("JSON", js)):
        if path is not None:
            print(f"wrote {name} {path}")
    return 0
