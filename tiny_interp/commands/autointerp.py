"""tiny-interp autointerp: explain and score a model's neurons or SAE features (any OpenAI-compatible endpoint, or
offline with the baseline explainer and rule scorer)."""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    from ..llm.runner import add_endpoint_args

    p = sub.add_parser(
        "autointerp",
        help="explain and score neurons or SAE features with an LLM (or the offline baseline)",
        description="Explain N random units from their atlas (top and quantile examples with the firing tokens "
        "marked, top tokens, logit effects for features) and score each explanation on held-out stories: "
        "detection (does a snippet make the unit fire?) and fuzzing (is the marked token the one that fires?), "
        "with balanced accuracy, F1, AUROC and 95%% bootstrap intervals. Held-out stories are read from --stories "
        "after the atlas's own (a different file is read from the start). --model baseline runs offline "
        "(top-token explanations, rule scorer). Writes <atlas>/../autointerp/<explainer>__<scorer>.json and the "
        "runner's logs (for a shipped model under runs/<model>/ instead, unless --beside-model); rerun the same "
        "command to resume (nothing done is asked again). One run writes a store at a time.",
    )
    p.add_argument("model_dir", metavar="MODEL", help="model directory")
    p.add_argument(
        "--units",
        default="neurons",
        help="'neurons' or 'features:SAE' (SAE directory or name under MODEL/saes/) (default neurons)",
    )
    p.add_argument("--atlas", default=None, help="atlas directory (default MODEL/atlas, or SAE/atlas for features)")
    p.add_argument(
        "--stories",
        required=True,
        help="TinyStories .txt to draw held-out scoring snippets from (never the test split)",
    )
    p.add_argument("--n", type=int, default=100, help="random units to explain (default 100; 0 = all)")
    p.add_argument("--seed", type=int, default=0, help="seed of the unit draw and of the snippet draws")
    p.add_argument(
        "--explainer", choices=("llm", "baseline"), default=None, help="default llm, or baseline with --model baseline"
    )
    p.add_argument(
        "--scorer", choices=("llm", "rules"), default=None, help="default llm, or rules with --model baseline"
    )
    p.add_argument("--heldout-stories", type=int, default=300, help="held-out stories to read (default 300)")
    p.add_argument(
        "--skip",
        type=int,
        default=None,
        help="stories of --stories to pass over first (default: the "
        "atlas's own when the file starts with them, else 0)",
    )
    p.add_argument("--window", type=int, default=24, help="tokens per scoring snippet (default 24)")
    p.add_argument(
        "--active-frac",
        type=float,
        default=0.25,
        help="a snippet is activating when its peak is at least this share of the unit's atlas maximum (default 0.25)",
    )
    p.add_argument(
        "--scorers",
        default="detection,fuzzing",
        help="comma-separated: detection, fuzzing, simulation (default detection,fuzzing); simulation "
        "needs an endpoint that returns logprobs, and is recorded as unavailable otherwise",
    )
    p.add_argument("--name", default=None, help="run name (default <explainer>__<scorer>)")
    p.add_argument(
        "--beside-model",
        action="store_true",
        help="write the results beside a shipped model's atlas (default: under runs/, the shipped files untouched)",
    )
    add_endpoint_args(p, concurrency=16)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..autointerp.baseline import BASELINE_MODEL
    from ..autointerp.heldout import HeldoutConfig
    from ..autointerp.pipeline import AutointerpConfig, run_autointerp
    from ..autointerp.units import open_unit_set, sample_units
    from ..data.stories import read_stories
    from ..errors import ConfigError
    from ..llm.runner import config_from_args

    if args.n < 0:
        raise ConfigError(f"--n must be >= 0 (0 = every unit), got {args.n}")
    offline = args.model == BASELINE_MODEL
    explainer = args.explainer or ("baseline" if offline else "llm")
    scorer = args.scorer or ("rules" if offline else "llm")
    if offline and "llm" in (explainer, scorer):
        raise ConfigError("--model baseline runs offline: an LLM explainer or scorer needs an endpoint's model id")
    scorers = tuple(x.strip() for x in args.scorers.split(",") if x.strip())
    cfg = AutointerpConfig(
        explainer=explainer,
        scorer=scorer,
        scorers=scorers,
        heldout=HeldoutConfig(
            n_stories=args.heldout_stories,
            skip=args.skip,
            window=args.window,
            seed=args.seed,
            active_frac=args.active_frac,
        ),
    )
    runner = None if not cfg.needs_llm else config_from_args(args)
    unit_set = open_unit_set(args.model_dir, args.units, args.atlas)
    stories = read_stories(args.stories)
    units = sample_units(unit_set.units(), args.n or None, args.seed)
    result = run_autointerp(
        unit_set,
        stories,
        units,
        cfg,
        runner,
        name=args.name,
        stories_label=str(Path(args.stories).resolve()),
        progress=not args.no_progress,
        beside_model=args.beside_model,
    )
    print("\n".join(summary_lines(result, args.beside_model)), file=sys.stderr)
    return 1 if any(result["summary"][s]["failed"] for s in result["summary"]) or result["explain_failed"] else 0


def summary_lines(result: dict, beside_model: bool = False) -> list[str]:
    from ..autointerp.store import autointerp_dir

    out = [
        f"{result['n_units']} {result['kind']}s ({result['unit_set']} of {result['model_dir']}): explained by "
        f"{result['explainer']['model']}, scored by {result['scorer']['model']}"
        + (f"; {result['explain_failed']} explanations failed (rerun to retry)" if result["explain_failed"] else "")
    ]
    for scorer, s in result["summary"].items():
        metric = "correlation" if scorer == "simulation" else "balanced_accuracy"
        b = s[metric]
        mean = "-" if b["mean"] is None else f"{b['mean']:.3f} [{b['ci95'][0]:.3f}, {b['ci95'][1]:.3f}]"
        out.append(
            f"  {scorer}: {metric.replace('_', ' ')} {mean} over {s['scored']} units; {s['failed']} failed, "
            f"{s['skipped']} not scorable"
            + (f", {s['unavailable']} unavailable (no logprobs)" if s.get("unavailable") else "")
        )
    out.append(f"  -> {autointerp_dir(result['atlas'], beside_model)}")
    return out
