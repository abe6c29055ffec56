"""tiny-interp atlas: build (or resume) a model's neuron atlas and print what fires chosen neurons."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "atlas",
        help="build or query the neuron atlas of a model",
        description="Stream stories through the model and save, beside it in <model>/atlas/, every MLP neuron's "
        "top activating contexts, quantile examples (a few from each activation band below the top), statistics, "
        "histogram and per-token means. A stopped build resumes where it stopped. With --show, print neurons' "
        "top examples (building first if there is no atlas yet).",
    )
    p.add_argument("model", help="model directory or hub id")
    p.add_argument("--stories", help="TinyStories-format .txt file to stream (needed to build)")
    p.add_argument("--n-stories", type=int, default=None, help="use only the first N stories")
    p.add_argument("--top-k", type=int, default=16, help="examples kept per neuron (default 16)")
    p.add_argument("--batch-size", type=int, default=32, help="stories per forward pass (default 32)")
    p.add_argument("--max-len", type=int, default=256, help="tokens per story at most (default 256)")
    p.add_argument(
        "--out",
        default=None,
        help="atlas directory (default <model>/atlas): new, empty, or an earlier atlas "
        "(only the atlas's own files are ever replaced)",
    )
    p.add_argument(
        "--fresh",
        "--force",
        action="store_true",
        dest="fresh",
        help="rebuild: discard a stopped build's state and replace the atlas's own files",
    )
    p.add_argument(
        "--show",
        action="append",
        default=[],
        metavar="LAYER:NEURON",
        help="print this neuron's top examples (repeatable)",
    )
    p.add_argument("--dead", action="store_true", help="list dead neurons")
    p.add_argument("--device", default="cpu")
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="build in N processes (one torch thread each; about N times faster on N free cores)",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..errors import ConfigError
    from ..interp.neurons import Atlas, AtlasConfig, build_atlas, default_atlas_dir
    from ..loading import resolve_model_dir

    if args.n_stories is not None and args.n_stories <= 0:
        raise ConfigError(f"--n-stories must be positive, got {args.n_stories}")
    config = AtlasConfig(
        top_k=args.top_k, batch_size=args.batch_size, max_len=args.max_len, device=args.device, workers=args.workers
    )  # checks every value before anything is read
    model_dir = resolve_model_dir(args.model)
    out = Path(args.out).resolve() if args.out else default_atlas_dir(model_dir)
    if args.stories:
        atlas = build_atlas(model_dir, args.stories, out=out, config=config, n_stories=args.n_stories, fresh=args.fresh)
        print(f"atlas: {atlas.meta['tokens']:,} tokens from {atlas.meta['stories']:,} stories -> {out}")
    elif not (out / "atlas.json").is_file():
        raise ConfigError(f"no atlas at {out}; build one with --stories FILE")
    atlas = Atlas.open(out)
    for spec in args.show:
        try:
            layer, neuron = (int(x) for x in spec.split(":"))
        except ValueError:
            raise ConfigError(f"--show takes LAYER:NEURON, e.g. 3:117, got {spec!r}") from None
        if not (0 <= layer < atlas.n_layers and 0 <= neuron < atlas.d_mlp):
            raise ConfigError(
                f"--show {spec}: the atlas has layers 0..{atlas.n_layers - 1} and neurons 0..{atlas.d_mlp - 1}"
            )
        print(f"\nlayer {layer} neuron {neuron}")
        for r in atlas.top_examples(layer, neuron).itertuples():
            print(f"  {r.activation:8.3f}  story {r.story:>6} pos {r.position:>4}  {r.context!r}")
    if args.dead:
        dead = atlas.dead_neurons()
        print(
            f"\n{len(dead)} dead neurons"
            + (": " + ", ".join(f"{l}:{n}" for l, n in zip(dead.layer, dead.neuron)) if len(dead) else "")
        )
    return 0
