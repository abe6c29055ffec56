"""Dataset synthesis with the TinyStories protocol: one verb, one noun, one adjective and a random subset of features.

``synth_items`` builds the requests (deterministic in ``seed`` and the item index, so a rerun asks for the same
stories); ``story_handler`` turns an answer into a record of the released dataset's schema (``story``,
``instruction{prompt, words, features}``, ``summary``, ``source``) plus ``missing_words`` from the required-word
check. ``summary_items`` asks for the one-line summaries that TinyStories-Instruct needs; ``export_dataset`` merges
both logs into a JSON array like the released files, and ``instruct_text`` formats a record for instruct training.

The prompt wording is ours; the protocol (word triple, feature subset, "3-5 paragraphs", "only very simple words a
3-year-old understands") follows Eldan & Li (2023), section 2.
"""

from __future__ import annotations

import dataclasses
import os
import random
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..atomic import write_json_atomic, write_text_atomic
from ..data.tokenizer import EOT
from ..errors import ConfigError
from ..lexicon import ADJECTIVES, NOUNS, VERBS, missing_words
from .records import latest_records
from .runner import Completion, ItemFailure, LLMItem

# feature name as in the released dataset -> the sentence our prompt adds for it
FEATURES: dict[str, str] = {
    "Dialogue": "Some of the characters should talk to each other, with their words in quotation marks.",
    "BadEnding": "The story should end badly: things do not turn out well for the main character.",
    "MoralValue": "The story should teach a simple lesson about right and wrong.",
    "Twist": "Something unexpected should happen that changes the direction of the story.",
    "Foreshadowing": "Early in the story, give a small hint of something that happens later.",
    "Conflict": "The characters should face a problem or disagree about something, and deal with it.",
}


@dataclass(frozen=True)
class SynthConfig:
    """What to ask for: ``n`` stories, each feature included independently with ``feature_prob``."""

    n: int
    seed: int = 0
    feature_prob: float = 0.3
    source: str = ""  # the generating model's name, written into each record's ``source``

    def __post_init__(self) -> None:
        if self.n < 0:
            raise ConfigError(f"n must be >= 0, got {self.n}")
        if not 0 <= self.feature_prob <= 1:
            raise ConfigError(f"feature_prob must be in [0, 1], got {self.feature_prob}")


@dataclass(frozen=True)
class StorySpec:
    verb: str
    noun: str
    adjective: str
    features: tuple[str, ...]

    @property
    def words(self) -> list[str]:
        return [self.verb, self.noun, self.adjective]


def sample_spec(rng: random.Random, feature_prob: float) -> StorySpec:
    features = tuple(f for f in FEATURES if rng.random() < feature_prob)
    return StorySpec(rng.choice(VERBS), rng.choice(NOUNS), rng.choice(ADJECTIVES), features)


def build_prompt(spec: StorySpec) -> str:
    lines = [
        "Please write a short story of 3 to 5 paragraphs for a small child.",
        "Use only very simple words that a 3-year-old would understand.",
        f'The story must use the verb "{spec.verb}", the noun "{spec.noun}" and the adjective "{spec.adjective}" '
        '(other forms of these words are fine, like "jumped" for "jump").',
    ]
    lines += [FEATURES[f] for f in spec.features]
    lines.append("Write only the story: no title and no notes before or after it.")
    return "\n".join(lines)


def item_id(seed: int, index: int) -> str:
    return f"story-s{seed}-{index:07d}"


def synth_items(cfg: SynthConfig) -> list[LLMItem]:
    """One request per story; item ``i`` depends only on (seed, i), so growing ``n`` keeps earlier items."""
    items = []
    for i in range(cfg.n):
        spec = sample_spec(random.Random(f"tiny-interp-synth:{cfg.seed}:{i}"), cfg.feature_prob)
        prompt = build_prompt(spec)
        items.append(
            LLMItem(
                id=item_id(cfg.seed, i),
                messages=[{"role": "user", "content": prompt}],
                meta={"words": spec.words, "features": list(spec.features), "prompt": prompt, "source": cfg.source},
            )
        )
    return items


_TITLE = re.compile(r"^\s*(?:#+\s*.*|\*\*[^*\n]+\*\*|title:.*|story:)\s*\n", re.IGNORECASE)


def clean_story(text: str) -> str:
    """The story without a leading title/heading line that chat models like to add."""
    text = text.strip()
    while True:
        new = _TITLE.sub("", text, count=1).strip()
        if new == text:
            return text
        text = new


def story_handler(item: LLMItem, c: Completion) -> dict[str, Any]:
    if c.finish_reason == "length":
        raise ItemFailure("truncated", "the story hit the max_tokens limit", raw=c.text)
    story = clean_story(c.text)
    if not story:
        raise ItemFailure("empty_response", "the endpoint returned no story", raw=c.text)
    m = item.meta
    return {
        "story": story,
        "instruction": {"prompt": m["prompt"], "words": m["words"], "features": m["features"]},
        "summary": "",
        "source": m.get("source", ""),
        "missing_words": missing_words(story, m["words"]),
    }


SUMMARY_PROMPT = (
    "Summarize the following children's story in one or two short sentences, using simple words.\n\nStory:\n{story}"
)


def summary_items(stories_log: str | os.PathLike) -> list[LLMItem]:
    """A summary request per finished story (same id as the story)."""
    return [
        LLMItem(id=rid, messages=[{"role": "user", "content": SUMMARY_PROMPT.format(story=r["result"]["story"])}])
        for rid, r in sorted(latest_records(stories_log).items())
        if r.get("status") == "done"
    ]


def summary_handler(item: LLMItem, c: Completion) -> dict[str, Any]:
    if c.finish_reason == "length":
        raise ItemFailure("truncated", "the summary hit the max_tokens limit", raw=c.text)
    text = " ".join(c.text.split())
    text = re.sub(r"^summary:\s*", "", text, flags=re.IGNORECASE)
    if not text:
        raise ItemFailure("empty_response", "the endpoint returned no summary", raw=c.text)
    return {"summary": text}


def dataset_records(
    stories_log: str | os.PathLike, summaries_log: str | os.PathLike | None = None
) -> list[dict[str, Any]]:
    """Finished stories (id order) in the released schema, with summaries merged in where present."""
    summaries = latest_records(summaries_log) if summaries_log and Path(summaries_log).exists() else {}
    out = []
    for rid, r in sorted(latest_records(stories_log).items()):
        if r.get("status") != "done":
            continue
        res = r["result"]
        s = summaries.get(rid)
        out.append(
            {
                "story": res["story"],
                "instruction": dict(res["instruction"]),
                "summary": s["result"]["summary"] if s and s.get("status") == "done" else res.get("summary", ""),
                "source": res.get("source", ""),
            }
        )
    return out


def export_dataset(
    stories_log: str | os.PathLike, out_json: str | os.PathLike, summaries_log: str | os.PathLike | None = None
) -> int:
    """Write the finished stories as one JSON array (the released files' layout); returns the count."""
    recs = dataset_records(stories_log, summaries_log)
    write_json_atomic(out_json, recs)
    return len(recs)


_SENT = re.compile(r"[^.!?]+[.!?]+[\"']?")


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENT.findall(text) if len(s.split()) >= 3]


def instruct_text(record: dict[str, Any], rng: random.Random | None = None) -> str:
    """A TinyStories-Instruct example: Summary / Features / Sentence / Words lines, then ``Story:`` and the story.

    Without ``rng`` every available line is given in that order. With ``rng`` a random non-empty subset is given in
    random order, as the paper does so an instruct model learns to follow any combination of instructions.
    """
    story = record["story"].strip()
    ins = record.get("instruction", {})
    lines: list[str] = []
    if record.get("summary"):
        lines.append(f"Summary: {record['summary'].strip()}")
    if ins.get("features"):
        lines.append("Features: " + ", ".join(ins["features"]))
    sents = sentences(story)
    if sents:
        lines.append("Sentence: " + (rng.choice(sents) if rng else sents[len(sents) // 2]))
    if ins.get("words"):
        lines.append("Words: " + ", ".join(ins["words"]))
    if rng is not None and lines:
        lines = rng.sample(lines, rng.randint(1, len(lines)))
    return "\n".join(lines + ["Story: ", story])


def write_instruct_txt(records: Iterable[dict[str, Any]], path: str | os.PathLike, seed: int | None = None) -> int:
    """Instruct examples in the TinyStories text format (each followed by an end-of-text line) for the trainer."""
    rng = random.Random(seed) if seed is not None else None
    parts = [instruct_text(r, rng) + "\n" + EOT + "\n" for r in records]
    write_text_atomic(path, "".join(parts))
    return len(parts)


def synth_config_json(cfg: SynthConfig) -> dict[str, Any]:
    return dataclasses.asdict(cfg)
