"""Model cards: a README.md beside a shipped model with its config, data, training, measured bits per byte (next
to every other shipped model and the paper's models), samples, head taxonomy and the command that reproduces it."""

from __future__ import annotations

import json
import os
import re
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..atomic import write_json_atomic, write_text_atomic
from ..markdown import escape_html, escape_md
from ..model.checkpoint import META_FILE, model_config_of, read_meta
from ..model.opener import open_model
from .command import train_command
from .svg import line_chart

SAMPLE_PROMPTS = (
    "Once upon a time",
    "Lily and Tom went to the park. They saw",
    "The little dog was sad because",
    "One day, a girl named Sue found a shiny",
    "Ben wanted to build a big tower, but",
)

# The paper's validation losses (GPT-Neo tokenizer, nats/token) converted with the 4.04 bytes per GPT-Neo token
# measured on this valid.txt: bpb = loss / ln 2 / 4.04 (../shared/README.md).
PAPER_BPB = (
    ("TinyStories-1M (paper)", 0.74),
    ("TinyStories-8M (paper)", 0.49),
    ("TinyStories-33M (paper)", 0.43),
)
# karpathy's stories260K: the shared README's reference (stories joined, 256-token chunks) and our eval-bpb protocol
STORIES260K_BPB = (("stories260K (llama2.c), reference protocol", 0.965), ("stories260K (llama2.c), eval-bpb", 0.916))


@dataclass(frozen=True)
class CardConfig:
    name: str
    summary: str = ""
    valid_data: str | None = None
    test_data: str | None = None
    temperature: float = 0.8
    max_new_tokens: int = 160
    seed: int = 0
    taxonomy_stories: int = 64
    what_worked: str = ""


CARD_CONFIG_FILE = "card_config.json"


def evaluate(model_dir: Path, cfg: CardConfig, force: bool = True) -> dict[str, Any]:
    """Bits per byte on the validation and test files (all stories), stored in tiny_interp.json. Without
    ``force``, a split already measured on a file of the same name keeps its stored figure."""
    from ..data.stories import iter_stories
    from ..eval.bpb import bits_per_byte

    meta = read_meta(model_dir)
    evaluation = dict(meta.get("evaluation", {}))
    handle = open_model(model_dir)
    model, tok = handle.module, handle.tokenizer
    for split, path in (("valid", cfg.valid_data), ("test", cfg.test_data)):
        stored = evaluation.get(f"{split}_file") == (os.path.basename(path) if path else None)
        if path and (force or not stored or f"{split}_bpb" not in evaluation):
            result = bits_per_byte(model, tok, iter_stories(path), batch_size=32, progress=True)
            evaluation[f"{split}_bpb"] = round(result.bpb, 4)
            evaluation[f"{split}_stories"] = result.n_stories
            evaluation[f"{split}_file"] = os.path.basename(path)
    meta["evaluation"] = evaluation
    write_json_atomic(model_dir / META_FILE, meta)
    return evaluation


def samples(model_dir: Path, cfg: CardConfig) -> list[str]:
    from ..model.generate import generate_text
    from ..model.sampling import SamplingConfig

    handle = open_model(model_dir)
    model, tok = handle.module, handle.tokenizer
    sampling = SamplingConfig(max_new_tokens=cfg.max_new_tokens, temperature=cfg.temperature, seed=cfg.seed)
    return [p + t for p, t in zip(SAMPLE_PROMPTS, generate_text(model, tok, list(SAMPLE_PROMPTS), sampling))]


def taxonomy_summary(model_dir: Path, cfg: CardConfig) -> str:
    from ..interp.heads import TaxonomyConfig, head_taxonomy

    if not cfg.valid_data:
        return "_no stories given for the head taxonomy_"
    table = head_taxonomy(str(model_dir), cfg.valid_data, n_stories=cfg.taxonomy_stories)
    counts = table["label"].value_counts()
    lines = ["| label | heads |", "|---|---|"] + [f"| {label} | {n} |" for label, n in counts.items()]
    window = TaxonomyConfig().distance_window + 1
    best = table.sort_values("local_mass", ascending=False).head(4)
    lines += [
        "",
        "Most positional heads: "
        + ", ".join(
            f"L{r.layer}H{r.head} ({r.label}, {r.local_mass:.0%} on the last {window} tokens, "
            f"{r.offset_share:.0%} at offset {r.dominant_offset})"
            for r in best.itertuples()
        ),
    ]
    lifts = [c for c in table.columns if c.startswith("lift_")]
    if lifts:
        semantic = table.assign(best_lift=table[lifts].max(axis=1), best_class=table[lifts].fillna(-1.0).idxmax(axis=1))
        semantic = semantic.sort_values("best_lift", ascending=False).head(4)
        lines += [
            "",
            "Most semantic heads: "
            + ", ".join(
                f"L{r.layer}H{r.head} ({r.label}, {r.best_lift:.1f}x uniform attention on "
                f"{r.best_class.removeprefix('lift_')})"
                for r in semantic.itertuples()
            ),
        ]
    return "\n".join(lines)


def neuron_summary(model_dir: Path, per_class: int = 2) -> str | None:
    """The paper's neuron reading (names, actions, adjectives) from the atlas shipped beside the model, if any."""
    from ..interp.neurons import Atlas
    from ..workbench.paper import class_neurons

    if not (model_dir / "atlas" / "atlas.json").exists():
        return None
    atlas = Atlas.open(model_dir)
    table = class_neurons(atlas, per_class)
    lines = [
        f"From the atlas in `atlas/` ({atlas.meta['tokens']:,} tokens of {atlas.meta['stories']:,} validation stories; "
        "`tiny_interp.interp.Atlas`): per word class of the paper's section 5, the neurons whose mean activation on "
        "the class's tokens stands furthest above their overall mean (in standard deviations), with the tokens "
        "that fire them most.",
        "",
        "| class | neuron | selectivity | tokens it fires on most |",
        "|---|---|---|---|",
    ]
    if table.empty:
        return lines[0] + "\n\nNo word of these classes is a single token of this model's vocabulary."
    lines += [
        f"| {r['class']} | L{r['layer']}N{r['neuron']} | {r['selectivity']:.1f} | {escape_md(r['top_tokens'])} |"
        for _, r in table.iterrows()
    ]
    return "\n".join(lines)


def loss_curve(model_dir: Path) -> str | None:
    from ..train import read_metrics

    rows = read_metrics(model_dir)
    if not rows:
        return None
    series = {"train loss": [(r["tokens"], r["loss"]) for r in rows]}
    val = [(r["tokens"], r["val_loss"]) for r in rows if r.get("val_loss") is not None]
    if val:
        series["validation loss"] = val
    write_text_atomic(model_dir / "loss.svg", line_chart(series, "loss (nats/token)", "tokens seen", "loss"))
    return "loss.svg"


def shipped_figures(root: Path) -> list[tuple[str, dict[str, Any]]]:
    """Measured bits per byte of every model shipped in ``root``; one that cannot be read is skipped, with a
    warning, so a broken sibling never stops a card from being written."""
    out = []
    for meta_file in sorted(root.glob(f"*/{META_FILE}")):
        try:
            meta = json.loads(meta_file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            warnings.warn(
                f"skipped {meta_file.parent} in the card's bits-per-byte table: {meta_file} is unreadable ({e})",
                stacklevel=2,
            )
            continue
        evaluation = meta.get("evaluation") if isinstance(meta, dict) else None
        if isinstance(evaluation, dict):
            out.append((meta_file.parent.name, evaluation))
    return out


def bpb_table(root: Path) -> str:
    lines = ["| model | valid.txt bpb | test.txt bpb |", "|---|---|---|"]
    for name, ev in shipped_figures(root):
        lines.append(
            f"| {escape_md(name)} (shipped) | {escape_md(ev.get('valid_bpb', '–'))} | "
            f"{escape_md(ev.get('test_bpb', '–'))} |"
        )
    for name, bpb in PAPER_BPB:
        lines.append(f"| {name}, val loss converted | {bpb} | – |")
    for name, bpb in STORIES260K_BPB:
        lines.append(f"| {name}, first 600 stories | {bpb} | – |")
    return "\n".join(lines)


def ship_command(cfg: CardConfig, with_checkpoints: bool) -> str:
    import shlex

    args = ["tiny-interp", "ship", f"runs/{cfg.name}", "--name", cfg.name]
    for flag, value in (("--valid-data", cfg.valid_data), ("--test-data", cfg.test_data)):
        if value:
            args += [flag, value]
    return shlex.join(args + (["--with-checkpoints"] if with_checkpoints else []))


def read_card_config(model_dir: str | os.PathLike) -> dict[str, Any]:
    """The settings the model's card was last written with ({} before the first card)."""
    path = Path(model_dir) / CARD_CONFIG_FILE
    return json.loads(path.read_text()) if path.exists() else {}


def write_card(
    model_dir: str | os.PathLike, cfg: CardConfig, evaluate_now: bool = True, force_eval: bool = True
) -> Path:
    model_dir = Path(model_dir)
    if evaluate_now:
        evaluate(model_dir, cfg, force=force_eval)
    write_json_atomic(model_dir / CARD_CONFIG_FILE, asdict(cfg))
    meta = read_meta(model_dir)
    model_cfg = model_config_of(model_dir)
    train_config = (
        json.loads((model_dir / "train_config.json").read_text())
        if (model_dir / "train_config.json").exists()
        else None
    )
    n_params = model_cfg.n_params()
    hours = meta.get("train_seconds", 0) / 3600
    curve = loss_curve(model_dir)
    lines = [
        f"# {escape_md(cfg.name)}",
        "",
        escape_html(cfg.summary),
        "",
        "## Model",
        "",
        "| family | d_model | layers | heads | kv heads | d_mlp | context | vocab | parameters |",
        "|---|---|---|---|---|---|---|---|---|",
        f"| {model_cfg.family} | {model_cfg.d_model} | {model_cfg.n_layers} | {model_cfg.n_heads} "
        f"| {model_cfg.kv_heads} | {model_cfg.d_mlp} | {model_cfg.n_ctx} | {model_cfg.vocab_size} | {n_params:,} |",
        "",
        f"Weights: `model.safetensors` in {meta.get('weights_dtype', 'float32')}; Hugging Face "
        f"`{'GPTNeoForCausalLM' if model_cfg.family == 'gpt-neo' else 'LlamaForCausalLM'}`; open with "
        f'`tiny_interp.load("trained_models/{cfg.name}")`.',
        "",
        "## Data and training",
        "",
    ]
    if train_config:
        td = train_config.get("train_data", {})
        lines += [
            f"- Training data: `{td.get('source')}` ({td.get('n_stories', 0):,} stories, "
            f"{td.get('n_tokens', 0):,} tokens with the shared {td.get('vocab_size')}-token BPE), "
            f"validated on `{train_config.get('val_data', {}).get('source')}`.",
        ]
    lines += [
        f"- Tokens seen: {meta.get('tokens_seen', 0):,} ({meta.get('epochs', 0):.2f} epochs) "
        f"in {meta.get('step', 0):,} steps.",
        f"- Training time: {hours:.2f} h on {meta.get('hardware', 'unknown hardware')}.",
    ]
    if cfg.what_worked:
        lines += ["", escape_html(cfg.what_worked)]
    if curve:
        lines += ["", f"![loss curve]({curve})"]
    lines += [
        "",
        "## Bits per byte",
        "",
        "Measured with `tiny-interp eval-bpb` (every byte of every story, end of story included; see the main "
        "README). Paper figures: the paper's validation losses converted with 4.04 bytes per GPT-Neo token.",
        "",
        bpb_table(model_dir.parent),
        "",
        "## Samples",
        "",
        f"Temperature {cfg.temperature}, seed {cfg.seed}, fixed prompts (bold).",
        "",
    ]
    for prompt, text in zip(SAMPLE_PROMPTS, samples(model_dir, cfg)):
        lines += [f"> **{escape_md(prompt)}**{escape_md(text[len(prompt) :])}", ""]
    lines += [
        "## Head taxonomy",
        "",
        f"On the first {cfg.taxonomy_stories} stories of the validation file (`tiny_interp.interp.head_taxonomy`).",
        "",
        taxonomy_summary(model_dir, cfg),
        "",
    ]
    neurons = neuron_summary(model_dir)
    if neurons:
        lines += ["## Neurons", "", neurons, ""]
    if train_config:
        lines += [
            "## Reproduce",
            "",
            "```bash",
            train_command(train_config, f"runs/{cfg.name}"),
            ship_command(cfg, with_checkpoints=(model_dir / "checkpoints").is_dir()),
            "```",
            "",
            "On a GPU add `--device cuda` (bf16 autocast); on a CPU it runs as is.",
            "",
        ]
    settings = json.dumps(asdict(cfg), indent=2)
    fence = "`" * max(3, 1 + max((len(run) for run in re.findall("`+", settings)), default=0))  # never closed early
    lines += ["## Card settings", "", fence + "json", settings, fence, ""]
    write_text_atomic(model_dir / "README.md", "\n".join(lines))
    return model_dir / "README.md"
