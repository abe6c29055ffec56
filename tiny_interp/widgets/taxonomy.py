"""The head-taxonomy map's data: which text the heads are measured on, and the map as compact JSON for the view.

Measured on one story, a head's label is noise, so by default the map is measured on 48 stories the model itself
writes (seeded, so the map is reproducible; on ts-1L three seeds gave the same 16 labels) or on the explorer's
``stories``; "Measure heads again" draws fresh samples."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any


@dataclass(frozen=True)
class TaxonomySource:
    """How many stories to measure heads on, and how long the sampled ones are."""

    n_stories: int = 48
    max_new_tokens: int = 160
    temperature: float = 1.0
    max_len: int = 160
    induction_seqs: int = 16


def sampled_stories(bridge: Any, source: TaxonomySource, seed: int) -> list[str]:
    """``source.n_stories`` stories the model writes from its beginning-of-story token (our module, KV cache);
    remembered per model directory, settings and seed, so re-running a notebook cell does not sample again."""
    path = getattr(bridge, "model_path", None)  # set by tiny_interp.load on every bridge it opens from a directory
    return [] if path is None else list(_sample(str(path), source, seed))


@lru_cache(maxsize=8)
def _sample(path: str, source: TaxonomySource, seed: int) -> tuple[str, ...]:
    from ..model.generate import generate_text
    from ..model.opener import open_model
    from ..model.sampling import SamplingConfig

    handle = open_model(path)
    net, tok = handle.module, handle.tokenizer
    sampling = SamplingConfig(max_new_tokens=source.max_new_tokens, temperature=source.temperature, seed=seed)
    return tuple(s for s in generate_text(net, tok, [""] * source.n_stories, sampling) if s.strip())


def measure(bridge: Any, stories: list[str], fallback: str, source: TaxonomySource, seed: int) -> tuple[Any, str]:
    """(head_taxonomy table, a line saying what it was measured on)."""
    from ..interp.heads import head_taxonomy

    if stories:
        texts, what = stories[: source.n_stories], "of the given stories"
    else:
        texts, what = sampled_stories(bridge, source, seed), f"sampled from the model (seed {seed})"
    if not texts:
        texts, what = [fallback], "(only the shown story: the model could not be sampled)"
    table = head_taxonomy(
        bridge, texts, n_stories=len(texts), max_len=source.max_len, induction_seqs=source.induction_seqs
    )
    return table, f"measured on {len(texts)} stories {what}"


def taxonomy_data(table: Any, note: str = "") -> dict[str, Any]:
    """The map's JSON: one label per (layer, head) and a one-line score summary for its tooltip."""
    L, H = int(table["layer"].max()) + 1, int(table["head"].max()) + 1
    labels = [["" for _ in range(H)] for _ in range(L)]
    detail = [["" for _ in range(H)] for _ in range(L)]
    for r in table.itertuples():
        labels[r.layer][r.head] = str(r.label)
        detail[r.layer][r.head] = (
            f"prev {r.prev_token:.2f} · induction {r.induction:.2f} · sink {r.sink:.2f} · entropy {r.entropy:.2f}"
        )
    return {"n_layers": L, "n_heads": H, "labels": labels, "detail": detail, "source": note}


def changed_labels(before: Any, after: Any) -> int:
    """How many heads got another label."""
    a = {(int(r.layer), int(r.head)): r.label for r in before.itertuples()}
    return sum(a.get((int(r.layer), int(r.head))) != r.label for r in after.itertuples())
