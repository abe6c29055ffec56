"""tiny-interp atlas: build (or resume) a model's neuron atlas and print what fires chosen neurons."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from ..atlas_config import AtlasConfig
from ..cli_args import add_config_args, config_from_args

if TYPE_CHECKING:
    from ..interp.neurons import Atlas


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "atlas",
        help="build or query the neuron atlas of a model",
        description="Stream stories through the model and save, beside it in <model>/atlas/, every MLP neuron's "
        "top activating contexts, quantile examples (a few from each activation band below the top), statistics, "
        "histogram and per-token means. A stopped build resumes where it stopped. "
        "With --show, print neurons' top examples (building first if there is no atlas yet). A shipped model stays "
        "as shipped: its rebuilt atlas goes under runs/<model>/ unless --beside-model.",
    )
    p.add_argument("model", help="model directory or hub id")
    p.add_argument("--stories", help="TinyStories-format .txt file to stream (needed to build)")
    p.add_argument("--n-stories", type=int, default=None, help="use only the first N stories")
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
    p.add_argument(
        "--beside-model",
        action="store_true",
        help="build a shipped model's atlas beside it (default: a shipped model stays as shipped and its rebuilt "
        "atlas goes under runs/<model>/atlas, where the explorers find it)",
    )
    add_config_args(p, AtlasConfig)  # the build's settings, one option per field
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..errors import ConfigError
    from ..features.validate import check_count, check_device
    from ..interp.neurons import Atlas, default_atlas_dir
    from ..loading import resolve_model_dir
    from ..shipped import find_results, results_path

    check_count(args.n_stories, "--n-stories")
    check_device(args.device)
    shows = [_show_spec(spec) for spec in args.show]  # a typo is refused before a build, not after it
    config = config_from_args(AtlasConfig, args)  # checks every value before anything is read
    model_dir = resolve_model_dir(args.model)
    default = default_atlas_dir(model_dir)
    out = Path(args.out).resolve() if args.out else None
    if args.stories:
        out = results_path(out or default, args.beside_model)  # never into a shipped model unless asked
        atlas = _build(model_dir, args, out, config)
        print(f"atlas: {atlas.meta['tokens']:,} tokens from {atlas.meta['stories']:,} stories -> {out}")
    out = out or find_results(default, "atlas.json")
    if not (out / "atlas.json").is_file():
        raise ConfigError(f"no atlas at {out}; build one with --stories FILE")
    atlas = Atlas.open(out)
    for spec, (layer, neuron) in zip(args.show, shows):
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


def _show_spec(spec: str) -> tuple[int, int]:
    from ..errors import ConfigError

    parts = spec.split(":")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise ConfigError(f"--show takes LAYER:NEURON, e.g. 3:117, got {spec!r}")
    return int(parts[0]), int(parts[1])


def _build(model_dir: Path, args: argparse.Namespace, out: Path, config: AtlasConfig) -> "Atlas":
    """One build writes an atlas at a time: a second one beside a live build is refused with the builder's pid."""
    from ..errors import ConfigError
    from ..features.feature_atlas import check_atlas_dir, story_texts
    from ..interp.atlas.build import OUTPUT_KIND
    from ..interp.neurons import build_atlas
    from ..locking import check_unlocked, exclusive_lock, lock_path

    check_unlocked(lock_path(out, OUTPUT_KIND), f"atlas {out}")
    check_atlas_dir(out, args.fresh)
    texts = story_texts(args.stories, args.n_stories)  # a bad story file is refused before the folder is claimed
    out.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(lock_path(out, OUTPUT_KIND), f"atlas {out}"):
        atlas = build_atlas(model_dir, texts, out=out, config=config, fresh=args.fresh)
    if atlas is None:  # only a build asked to stop early returns none
        raise ConfigError(f"the atlas build in {out} stopped before it finished; run the command again to resume")
    return atlas
