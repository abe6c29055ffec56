"""tiny-interp sae: train, evaluate and map sparse autoencoders and transcoders of a model."""

from __future__ import annotations

import argparse

TRAIN_HELP = """\
Train sparse dictionaries on a model's activations, streamed from stories (no activation files on disk).

  SAE on ts-1L's MLP output, TopK with 16 active latents of 4096:
    tiny-interp sae train trained_models/ts-1L --hook blocks.0.hook_mlp_out --arch topk --latents 4096 --k 16 \\
        --tokens 8000000 --data ../shared/data/tinystories/train.txt --out runs/sae-1L
  Transcoders for every layer (MLP input ln2.hook_normalized -> hook_mlp_out), with a linear skip term:
    tiny-interp sae train trained_models/ts-1M-neo --arch transcoder --latents 1024 --k 16 --data ... --out runs/tc

--out holds train_config.json, metrics.jsonl, resume.safetensors while training, then one directory per dictionary
(cfg.json + sae_weights.safetensors in SAELens' layout, and our train_config.json). A killed run continues with
--resume and ends with the same weights; --force starts over, replacing only the run's own files (a same-named
file of anyone else's is refused). One process writes a run at a time. An --out inside a shipped model goes
under runs/<model>/ unless --beside-model.
"""


BESIDE_HELP = (
    "write beside a shipped model's dictionaries (default: a shipped model stays as shipped and the results go "
    "under runs/<model>/)"
)


def register(sub: argparse._SubParsersAction) -> None:
    from ..cli_args import add_config_args
    from ..features.config import SAETrainConfig

    p = sub.add_parser(
        "sae",
        help="train, evaluate and map sparse autoencoders / transcoders",
        description="Sparse dictionary features: `sae train`, `sae eval`, `sae atlas`, `sae export`.",
    )
    verbs = p.add_subparsers(dest="verb", required=True, metavar="VERB")
    t = verbs.add_parser(
        "train",
        help="train SAEs or transcoders",
        description=TRAIN_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    t.add_argument("model", help="model directory or hub id")
    t.add_argument("--data", required=True, help="training stories: .txt/.jsonl/.json/.parquet, a folder or a hub id")
    t.add_argument("--out", required=True, help="run directory to create (or resume)")
    t.add_argument("--resume", action="store_true", help="continue the run saved in --out")
    t.add_argument("--force", action="store_true", help="start over in --out, replacing the run's own files")
    t.add_argument("--beside-model", action="store_true", help="let --out lie inside a shipped model (default: runs/)")
    add_config_args(t, SAETrainConfig)
    t.add_argument(
        "--hook",
        "--hooks",
        dest="hooks",
        type=_names,
        default=("blocks.0.hook_mlp_out",),
        help="hook points to train SAEs on, comma-separated (ignored by transcoders)",
    )
    t.add_argument("--layers", type=_layers, default=(), help="transcoders: layers, comma-separated (default: all)")
    t.add_argument(
        "--skip",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="transcoders: learn a linear skip term x @ W_skip",
    )
    t.set_defaults(run=run_train)
    e = verbs.add_parser(
        "eval",
        help="held-out metrics: explained variance, L0, dead latents, CE loss recovered, KL",
        description="Evaluate every dictionary under DIR on held-out stories and write eval.json "
        "beside each and a card (README.md) in DIR. Transcoders are spliced in all at once.",
    )
    e.add_argument("dir", help="a run directory from `sae train` or one dictionary directory")
    e.add_argument("--data", required=True, help="held-out stories (e.g. valid.txt; never the test split)")
    e.add_argument("--n-stories", type=int, default=300, help="stories to evaluate on (default 300)")
    e.add_argument("--model", default=None, help="model directory (default: the one recorded at training)")
    e.add_argument("--beside-model", action="store_true", help=BESIDE_HELP)
    e.set_defaults(run=run_eval)
    a = verbs.add_parser(
        "atlas",
        help="build the feature atlas of the dictionaries under DIR",
        description="Stream stories through the model and the dictionaries and save, in DIR/atlas, "
        "every feature's top and quantile examples, histogram, density, per-token means and logit "
        "effects (the neuron atlas's machinery, for features).",
    )
    a.add_argument("dir", help="a run directory from `sae train`")
    a.add_argument("--data", required=True, help="stories to stream (e.g. valid.txt)")
    a.add_argument("--n-stories", type=int, default=None, help="use only the first N stories")
    a.add_argument("--force", action="store_true", help="rebuild, replacing only the atlas's own files")
    a.add_argument("--beside-model", action="store_true", help=BESIDE_HELP)
    a.set_defaults(run=run_atlas)
    x = verbs.add_parser(
        "export",
        help="write a run's dictionaries in SAELens' or circuit-tracer's own layout",
        description="Write the dictionaries under RUN_DIR into OUT so a peer's own loader opens them: saelens "
        "(SAE.load_from_disk per directory) or circuit-tracer (layer_L.safetensors + config.yaml). Prints which "
        "peers open the result; a dictionary a peer has no class for (TopK transcoders) is refused unless "
        "--calibrate-data converts it to JumpReLU.",
    )
    x.add_argument("dir", metavar="RUN_DIR", help="a run directory from `sae train` or one dictionary directory")
    x.add_argument("--format", required=True, choices=["saelens", "circuit-tracer"], help="the peer's layout")
    x.add_argument("--out", required=True, help="directory to create (or an earlier export to replace)")
    x.add_argument("--calibrate-data", default=None, help="training stories: export TopK transcoders as JumpReLU")
    x.add_argument("--calibrate-stories", type=int, default=400, help="stories to calibrate thresholds on")
    x.add_argument("--model", default=None, help="model directory (default: the one recorded at training)")
    x.add_argument("--force", action="store_true", help="write into OUT even if it holds other files")
    x.set_defaults(run=run_export)


def _names(text: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    if not names:
        raise argparse.ArgumentTypeError(f"{text!r} names no hook point")
    return names


def _layers(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(n) for n in text.split(",") if n.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not comma-separated int layer numbers") from None


def run_train(args: argparse.Namespace) -> int:
    from ..cli_args import config_from_args
    from ..features.config import SAETrainConfig
    from ..features.trainer import Trainer

    cfg = config_from_args(
        SAETrainConfig, args, architecture=args.architecture, hooks=args.hooks, layers=args.layers, skip=args.skip
    )
    from ..shipped import results_path

    out = results_path(args.out, args.beside_model)  # a shipped model's saes/ stays as shipped
    dirs = Trainer(args.model, args.data, out, cfg, resume=args.resume, force=args.force).run()
    for d in dirs:
        print(f"saved {d}")
    return 0


def run_eval(args: argparse.Namespace) -> int:
    from ..features.card import evaluate_run

    result = evaluate_run(
        args.dir, args.data, n_stories=args.n_stories, model=args.model, beside_model=args.beside_model
    )
    for s in result["spliced"]:
        print(f"{len(s['hooks'])} spliced: CE loss recovered {s['ce_loss_recovered']:.4f}, KL {s['kl']:.4f}")
    for hook, m in result["dictionaries"].items():
        print(
            f"{hook}: explained variance {m['explained_variance']:.4f}, L0 {m['l0']:.2f}, "
            f"dead {m['dead_fraction']:.4f}, dense {m['dense_fraction']:.4f}"
        )
    return 0


def run_atlas(args: argparse.Namespace) -> int:
    from ..features.feature_atlas import build_feature_atlas

    atlas = build_feature_atlas(
        args.dir, args.data, n_stories=args.n_stories, force=args.force, beside_model=args.beside_model
    )
    print(f"feature atlas: {atlas.meta['tokens']:,} tokens from {atlas.meta['stories']:,} stories -> {atlas.path}")
    return 0


def run_export(args: argparse.Namespace) -> int:
    from ..features.export import export_run, open_for_export

    saes, names, model_name = open_for_export(args.dir, args.calibrate_data, args.calibrate_stories, args.model)
    done = export_run(saes, names, args.format, args.out, scan=f"tiny-interp/{model_name}", force=args.force)
    print(
        f"wrote {len(done.paths)} files to {args.out}; opens natively in: {', '.join(done.peers) or 'tiny-interp only'}"
    )
    return 0
