"""A run directory's dictionaries, their held-out evaluation (``eval.json`` each) and the run's card (README.md:
metrics, tokens, time and the command that reproduces it)."""

from __future__ import annotations

import itertools
import json
import os
import shlex
from pathlib import Path
from typing import Any

from ..atomic import write_json_atomic, write_text_atomic
from ..errors import CheckpointError, DataError, utf8_input
from .sae import CFG_FILE, SAE, load_sae

EVAL_FILE = "eval.json"
EVAL_KIND = "sae-eval"
CARD_FILE = "README.md"
CARD_TITLE = "# Sparse dictionaries of "
TRAIN_RECORD = "train_config.json"


def dictionary_dirs(directory: str | os.PathLike) -> list[Path]:
    """One dictionary directory, or every one inside a run directory (in training order when recorded)."""
    directory = Path(directory)
    if (directory / CFG_FILE).is_file():
        return [directory]
    record = _json(directory / TRAIN_RECORD)
    names = record.get("dictionaries") or sorted(p.name for p in directory.iterdir() if (p / CFG_FILE).is_file())
    dirs = [directory / n for n in names if (directory / n / CFG_FILE).is_file()]
    if not dirs:
        raise CheckpointError(
            f"{directory} holds no dictionary (no */{CFG_FILE}); train one with `tiny-interp sae train`"
        )
    return dirs


def model_dir_for(directory: Path, model: str | os.PathLike | None = None) -> Path:
    """The model a dictionary belongs to: given, the directory holding ``saes/`` (shipped layout), or recorded."""
    from ..loading import resolve_model_dir

    if model is not None:
        return resolve_model_dir(model)
    for up in (directory.parent, directory.parent.parent, directory.parent.parent.parent):
        if up.name and (up / "config.json").is_file() and (up / "model.safetensors").is_file():
            return up
    first = dictionary_dirs(directory)[0]
    recorded = _json(first / TRAIN_RECORD).get("model_dir")
    if not recorded:
        raise CheckpointError(f"{directory}: cannot tell which model it belongs to; pass --model")
    # recorded relative to the dictionary (older records: as given on the command line)
    beside = first / recorded
    return resolve_model_dir(beside if beside.is_dir() else recorded)


def load_dictionaries(directory: str | os.PathLike, device: str = "cpu") -> list[SAE]:
    return [load_sae(d, device=device) for d in dictionary_dirs(directory)]


def evaluate_run(
    directory: str | os.PathLike,
    data: str | os.PathLike,
    n_stories: int = 300,
    model: str | os.PathLike | None = None,
    beside_model: bool = False,
) -> dict[str, Any]:
    """Evaluate every dictionary of ``directory`` on held-out ``data``; write ``eval.json`` beside each and the
    run's card (README.md), claimed as ``sae-eval`` output (a same-named file of anyone else's is refused). For a
    shipped model's dictionaries they go to ``runs/`` unless ``beside_model``."""
    from ..data.stories import iter_stories
    from ..ownership import check_files, claim_files
    from ..shipped import record_source, results_path
    from .evaluate import EvalConfig, evaluate
    from .model_access import open_model
    from .validate import check_count, check_dir, check_fits

    check_count(n_stories, "--n-stories")
    directory = check_dir(directory, "dictionary directory")
    dirs = dictionary_dirs(directory)
    net, tokenizer, _, n_ctx = open_model(model_dir_for(directory, model), "cpu")
    saes = [load_sae(d) for d in dirs]
    check_fits(saes, dirs, net)
    # a shipped model's dictionaries stay as shipped: their evaluation goes to runs/
    outs = [results_path(d, beside_model) for d in dirs]
    card_dir = results_path(directory, beside_model) if len(dirs) > 1 or dirs[0] != directory else None
    for o in outs:
        check_files(o, EVAL_KIND, [EVAL_FILE], legacy=_is_earlier_eval)
    if card_dir is not None:
        check_files(card_dir, EVAL_KIND, [CARD_FILE], legacy=_is_earlier_card)
    with utf8_input(data):
        stories = list(itertools.islice(iter_stories(data), n_stories))
    if not stories:
        raise DataError(f"{data} holds no stories to evaluate on")
    result = evaluate(net, tokenizer, saes, stories, EvalConfig(n_stories=n_stories), n_ctx)
    result["data"], result["n_stories"] = str(data), n_stories
    record_source(directory)
    for o, sae in zip(outs, saes):
        key = sae.cfg.out_hook if sae.cfg.is_transcoder else sae.cfg.hook_name
        spliced = [s for s in result["spliced"] if key in s["hooks"]]
        o.mkdir(parents=True, exist_ok=True)
        claim_files(o, EVAL_KIND, [EVAL_FILE], legacy=_is_earlier_eval)
        write_json_atomic(
            o / EVAL_FILE,
            {
                **result["dictionaries"][key],
                "spliced": spliced,
                "tokens": result["tokens"],
                "ce_clean": result["ce_clean"],
                "data": str(data),
            },
        )
    if card_dir is not None:
        claim_files(card_dir, EVAL_KIND, [CARD_FILE], legacy=_is_earlier_card)
        write_text_atomic(card_dir / CARD_FILE, card_markdown(directory, dirs, result, outs))
    return result


def _is_earlier_eval(path: Path) -> bool:
    """An ``eval.json`` this command wrote before manifests existed (it holds the held-out metrics)."""
    record = _json(path) if path.is_file() else {}
    return {"explained_variance", "ce_clean", "spliced"} <= set(record)


def _is_earlier_card(path: Path) -> bool:
    """A run card this command wrote before manifests existed."""
    if not path.is_file():
        return False
    with path.open(encoding="utf-8", errors="replace") as fh:
        return fh.readline().startswith(CARD_TITLE)


def reproduce_command(record: dict[str, Any], out: str) -> str:
    """The `tiny-interp sae train` command line that trains the recorded run again."""
    from ..cli_args import config_argv
    from .config import SAETrainConfig

    cfg = SAETrainConfig.from_dict(record["config"])
    parts = [
        "tiny-interp",
        "sae",
        "train",
        str(record.get("model_dir", "MODEL")),
        "--data",
        str(record.get("data", "DATA")),
        "--out",
        out,
        "--arch",
        cfg.architecture,
    ]
    if cfg.is_transcoder:
        parts += ["--layers", ",".join(map(str, cfg.layers))] if cfg.layers else []
        parts += [] if cfg.skip else ["--no-skip"]
    else:
        parts += ["--hook", ",".join(cfg.hooks)]
    # threads stays: the recorded time depends on it
    return shlex.join(parts + config_argv(cfg, skip=("architecture", "device")))


def card_markdown(directory: Path, dirs: list[Path], result: dict[str, Any], evals: list[Path] | None = None) -> str:
    record = _json(dirs[0] / TRAIN_RECORD)
    cfg = record.get("config", {})
    model = escape_markdown(Path(str(record.get("model_dir", directory.parent))).name)
    lines = [
        f"{CARD_TITLE}{model}",
        "",
        f"{len(dirs)} {escape_markdown(str(cfg.get('architecture', '?')))} dictionaries of "
        f"{cfg.get('latents', '?')} latents (k = {cfg.get('k', '?')}), trained on {record.get('tokens', 0):,} "
        f"tokens in {record.get('seconds', 0) / 60:.1f} min ({escape_markdown(str(record.get('hardware', '')))}"
        f"{'; 1-minute load average ' + format(record['load_avg'], '.1f') if 'load_avg' in record else ''}).",
        "",
        f"Held-out: {result['tokens']:,} tokens of {escape_markdown(result['data'])}; clean CE "
        f"{result['ce_clean']:.4f}.",
        "",
        "| spliced | CE zero-ablated | CE spliced | CE loss recovered | KL |",
        "|---|---|---|---|---|",
    ]
    for s in result["spliced"]:
        what = "all " + str(len(s["hooks"])) + " at once" if len(s["hooks"]) > 1 else escape_markdown(s["hooks"][0])
        lines.append(
            f"| {what} | {s['ce_zero_ablated']:.4f} | {s['ce_spliced']:.4f} | {s['ce_loss_recovered']:.4f} "
            f"| {s['kl']:.4f} |"
        )
    lines += ["", "| dictionary | explained variance | L0 | dead | dense |", "|---|---|---|---|---|"]
    for d, e in zip(dirs, evals or dirs):
        m = _json(e / EVAL_FILE)
        lines.append(
            f"| {escape_markdown(d.name)} | {m['explained_variance']:.4f} | {m['l0']:.2f} | "
            f"{m['dead_fraction']:.4f} | {m['dense_fraction']:.4f} |"
        )
    # dictionaries made elsewhere (SAELens, by hand) carry no training record: only the evaluation is reproducible
    trained = [reproduce_command(record, str(directory))] if isinstance(record.get("config"), dict) else []
    lines += ["", "Reproduce:", "", "```bash", *trained]
    if "n_stories" in result:
        lines.append(
            shlex.join(
                [
                    "tiny-interp",
                    "sae",
                    "eval",
                    str(directory),
                    "--data",
                    result["data"],
                    "--n-stories",
                    str(result["n_stories"]),
                ]
            )
        )
    lines += ["```", ""]
    return "\n".join(lines)


def escape_markdown(text: str) -> str:
    """Names and paths as plain text in a markdown table: no raw HTML, no column breaks."""
    import html

    return html.escape(text).replace("|", "\\|")


def _json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise CheckpointError(f"{path} is unreadable ({e})") from e
    return value if isinstance(value, dict) else {}
