"""Head taxonomy: what every attention head does, scored on stories and on repeated random tokens.

Scores (all attention masses in [0, 1], averaged over query positions):

- ``prev_token``: mass on the previous token.
- ``dominant_offset`` / ``offset_share``: the relative offset (0 = the token itself, 1 = previous, ...) up to
  ``max_offset`` that gets the most mass, and that mass (distance-based heads of the paper's section 5).
- ``local_mass`` / ``local_lift``: mass on the nearest ``distance_window + 1`` keys (offsets 0..window), and that
  mass over what uniform attention would put there. The paper's distance-based heads spread their attention over
  the last few tokens with a decaying profile rather than one fixed offset, so a single-offset score misses them.
- ``sink``: mass on the first token (BOS).
- ``duplicate_token``: mass on earlier occurrences of the query's own token (queries whose token occurred before).
- ``induction``: on ``[BOS] r r`` with r random tokens, mass from each token of the second copy on the token after
  its first occurrence.
- ``sem_<class>``: mass on earlier tokens of a word class (names, objects, pronouns, determiners);
  ``lift_<class>`` divides it by the share those tokens would get from uniform attention.
- ``entropy``: attention entropy divided by its maximum log(number of visible keys), so 0 = one key, 1 = uniform.

Positional scores use queries at positions > ``max_offset`` so every offset is available to them.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from jaxtyping import Bool, Float, Int
from torch import Tensor

from ..data.stories import read_stories
from ..lexicon import WORD_CLASSES, class_token_ids
from .common import as_model, bos_id, context_length, device_of, encode, pad_rows
from .patterns import attention_patterns


@dataclass(frozen=True)
class TaxonomyConfig:
    n_stories: int = 200
    # the first 128 tokens of each story: thousands of query positions already, at a quarter of the T^2 cost
    max_len: int = 128
    batch_size: int = 16
    max_offset: int = 10
    induction_seqs: int = 16
    induction_len: int = 24
    seed: int = 0
    # labelling thresholds
    induction_min: float = 0.3
    offset_min: float = 0.5
    duplicate_min: float = 0.3
    sink_min: float = 0.5
    # names are sparse in stories: a head that puts a quarter of its mass on them is strongly name-seeking, so the
    # lift over uniform attention carries the decision and the absolute mass only has to be non-trivial
    semantic_min: float = 0.1
    semantic_lift_min: float = 2.0
    distance_window: int = 8
    distance_min: float = 0.5
    distance_lift_min: float = 2.0
    diffuse_entropy_min: float = 0.8


SCORE_COLUMNS = (
    "prev_token",
    "dominant_offset",
    "offset_share",
    "local_mass",
    "local_lift",
    "induction",
    "sink",
    "duplicate_token",
    "entropy",
)


def head_taxonomy(model: Any, stories: Any, config: TaxonomyConfig | None = None, **overrides: Any) -> "Any":
    """A pandas DataFrame with one row per (layer, head): the scores above and a ``label``.

    ``model`` is a bridge from ``tiny_interp.load`` or a model path; ``stories`` a list of strings or a
    TinyStories .txt file (the first ``n_stories`` are used).
    """
    cfg = dataclasses.replace(config or TaxonomyConfig(), **overrides)
    bridge = as_model(model)
    texts = read_stories(stories, limit=cfg.n_stories)
    scores = measure_head_scores(bridge, texts, cfg)
    return scores_table(scores, cfg)


def measure_head_scores(bridge: Any, texts: list[str], cfg: TaxonomyConfig) -> dict[str, np.ndarray]:
    """Raw scores as [layers, heads] arrays (``offsets``: [layers, heads, max_offset + 1])."""
    tok = bridge.tokenizer
    classes = class_token_ids(tok)
    rows = encode(tok, texts, min(cfg.max_len, context_length(bridge)))
    acc = _Accumulator(bridge.cfg.n_layers, bridge.cfg.n_heads, cfg.max_offset, list(classes))
    class_ids = {k: torch.tensor(sorted(v), dtype=torch.long) for k, v in classes.items()}
    with torch.no_grad():
        for start in range(0, len(rows), cfg.batch_size):
            ids, valid = pad_rows(rows[start : start + cfg.batch_size], pad_id=bos_id(tok) or 0)
            patterns = _patterns(bridge, ids)
            acc.add_stories(patterns, ids, valid, class_ids)
        ids = induction_tokens(bridge, cfg)
        for start in range(0, len(ids), cfg.batch_size):
            acc.add_induction(_patterns(bridge, ids[start : start + cfg.batch_size]))
    return acc.result()


def induction_tokens(bridge: Any, cfg: TaxonomyConfig) -> Int[Tensor, "seqs seq"]:
    """``[BOS] r r`` rows of random ordinary tokens (special tokens excluded)."""
    tok = bridge.tokenizer
    special = set(getattr(tok, "all_special_ids", []) or [])
    vocab = torch.tensor([i for i in range(len(tok)) if i not in special], dtype=torch.long)
    g = torch.Generator().manual_seed(cfg.seed)
    half = min(cfg.induction_len, (context_length(bridge) - 1) // 2)
    r = vocab[torch.randint(len(vocab), (cfg.induction_seqs, half), generator=g)]
    bos = torch.full((cfg.induction_seqs, 1), bos_id(tok) or 0, dtype=torch.long)
    return torch.cat([bos, r, r], dim=1)


def _patterns(bridge: Any, ids: Tensor) -> list[Float[Tensor, "batch heads q k"]]:
    by_layer = attention_patterns(bridge, ids.to(device_of(bridge)))
    return [by_layer[l] for l in sorted(by_layer)]


class _Accumulator:
    """Sums of attention masses and their query counts, per layer and head."""

    def __init__(self, n_layers: int, n_heads: int, max_offset: int, class_names: list[str]):
        self.L, self.H, self.K = n_layers, n_heads, max_offset
        z = lambda *s: torch.zeros(n_layers, n_heads, *s, dtype=torch.float64)  # noqa: E731
        self.offsets, self.late_n = z(max_offset + 1), 0.0
        self.late_inv_visible = 0.0  # sum over late queries of 1 / visible keys: uniform attention's mass per key
        self.sink = z()
        self.entropy, self.ent_n = z(), 0.0
        self.dup, self.dup_n = z(), 0.0
        self.ind, self.ind_n = z(), 0.0
        self.classes = class_names
        self.sem = {c: z() for c in class_names}
        self.sem_base = {c: 0.0 for c in class_names}
        self.sem_n = {c: 0.0 for c in class_names}

    def add_stories(
        self, patterns: list[Tensor], ids: Int[Tensor, "b t"], valid: Bool[Tensor, "b t"], class_ids: dict[str, Tensor]
    ) -> None:
        B, T = ids.shape
        pos = torch.arange(T)
        late = valid & (pos > self.K)  # [b, t]
        anyq = valid & (pos >= 1)
        earlier = pos[None, :] < pos[:, None]  # [q, k]: strictly earlier keys
        same = (ids[:, :, None] == ids[:, None, :]) & earlier & valid[:, None, :]  # [b, q, k]
        dup_q = anyq & same.any(-1)
        self.late_n += late.sum().item()
        self.late_inv_visible += (late.float() / (pos + 1).float()[None, :]).sum().item()
        self.ent_n += anyq.sum().item()
        self.dup_n += dup_q.sum().item()
        names = list(class_ids)
        in_class = torch.stack([torch.isin(ids, class_ids[c]) & valid for c in names], -1).float()  # [b, k, c]
        before_n = in_class.cumsum(1) - in_class  # class keys strictly before each query: [b, q, c]
        q_has = anyq[..., None] & (before_n > 0)  # [b, q, c]
        uniform = before_n / (pos + 1).float()[None, :, None]  # share of visible keys in the class
        for i, c in enumerate(names):
            self.sem_n[c] += q_has[..., i].sum().item()
            self.sem_base[c] += (uniform[..., i] * q_has[..., i]).sum().item()
        q_has_f, anyq_f, late_f = q_has.float(), anyq.float(), late.float()
        log_visible = torch.log((pos + 1).float()).clamp(min=1e-9)
        for l, p in enumerate(patterns):
            p = p[:, :, :T, :T]
            for d in range(self.K + 1):
                diag = torch.diagonal(p, offset=-d, dim1=-2, dim2=-1)  # [b, h, T-d], queries d..T-1
                self.offsets[l, :, d] += torch.einsum("bhq,bq->h", diag, late_f[:, d:]).double()
            self.sink[l] += torch.einsum("bhq,bq->h", p[..., 0], late_f).double()
            ent = torch.special.entr(p).sum(-1) / log_visible  # [b, h, q]
            self.entropy[l] += torch.einsum("bhq,bq->h", ent, anyq_f).double()
            self.dup[l] += _masked_mass(p, same, dup_q)
            # the pattern is causal, so mass on strictly earlier class keys = all class mass - the query's own
            own = torch.diagonal(p, dim1=-2, dim2=-1)[..., None] * in_class[:, None]  # [b, h, q, c]
            mass = torch.matmul(p, in_class[:, None]) - own  # [b, h, q, c]
            per_class = torch.einsum("bhqc,bqc->hc", mass, q_has_f).double()
            for i, c in enumerate(names):
                self.sem[c][l] += per_class[:, i]

    def add_induction(self, patterns: list[Tensor]) -> None:
        """Rows are [BOS] r r: the token at q in the second copy should attend to q - half + 1."""
        T = patterns[0].shape[-1]
        half = (T - 1) // 2
        q = torch.arange(half + 1, T)
        k = q - half + 1
        for l, p in enumerate(patterns):
            self.ind[l] += p[:, :, q, k].sum((0, 2)).double()
        self.ind_n += patterns[0].shape[0] * len(q)

    def result(self) -> dict[str, np.ndarray]:
        div = lambda x, n: (x / n).numpy() if n else np.full(tuple(x.shape), np.nan)  # noqa: E731
        out: dict[str, np.ndarray] = {
            "offsets": div(self.offsets, self.late_n),
            "uniform_key_share": np.asarray(self.late_inv_visible / self.late_n if self.late_n else np.nan),
            "sink": div(self.sink, self.late_n),
            "entropy": div(self.entropy, self.ent_n),
            "duplicate_token": div(self.dup, self.dup_n),
            "induction": div(self.ind, self.ind_n),
        }
        for c in self.classes:
            out[f"sem_{c}"] = div(self.sem[c], self.sem_n[c])
            base = self.sem_base[c] / self.sem_n[c] if self.sem_n[c] else float("nan")
            out[f"lift_{c}"] = (
                out[f"sem_{c}"] / base if base and not math.isnan(base) else np.full_like(out["sink"], np.nan)
            )
        return out


def _masked_mass(p: Float[Tensor, "b h q k"], keys: Bool[Tensor, "b q k"], queries: Bool[Tensor, "b q"]) -> Tensor:
    """Per head: the summed (over chosen queries) attention mass on the chosen keys."""
    mass = torch.einsum("bhqk,bqk->bhq", p, keys.to(p.dtype))
    return torch.einsum("bhq,bq->h", mass, queries.to(p.dtype)).double()


def scores_table(scores: dict[str, np.ndarray], cfg: TaxonomyConfig) -> Any:
    import pandas as pd

    L, H = scores["sink"].shape
    offsets = scores["offsets"]
    dominant = np.nan_to_num(offsets, nan=-1).argmax(-1)
    window = min(cfg.distance_window, offsets.shape[-1] - 1)
    local = offsets[..., : window + 1].sum(-1)
    local_uniform = (window + 1) * float(scores.get("uniform_key_share", np.nan))
    records = []
    for l in range(L):
        for h in range(H):
            r: dict[str, Any] = {
                "layer": l,
                "head": h,
                "prev_token": float(offsets[l, h, 1]) if offsets.shape[-1] > 1 else float("nan"),
                "dominant_offset": int(dominant[l, h]),
                "offset_share": float(offsets[l, h, dominant[l, h]]),
                "local_mass": float(local[l, h]),
                "local_lift": float(local[l, h] / local_uniform) if local_uniform > 0 else float("nan"),
                "induction": float(scores["induction"][l, h]),
                "sink": float(scores["sink"][l, h]),
                "duplicate_token": float(scores["duplicate_token"][l, h]),
            }
            for key in scores:
                if key.startswith(("sem_", "lift_")):
                    r[key] = float(scores[key][l, h])
            r["entropy"] = float(scores["entropy"][l, h])
            r["label"] = label_head(r, cfg)
            records.append(r)
    return pd.DataFrame.from_records(records)


def label_head(r: dict[str, Any], cfg: TaxonomyConfig) -> str:
    """One label per head; the first rule that fits wins (most specific mechanisms first)."""
    ge = lambda key, t: r.get(key) is not None and not math.isnan(r[key]) and r[key] >= t  # noqa: E731
    if ge("induction", cfg.induction_min):
        return "induction"
    if ge("offset_share", cfg.offset_min):
        d = r["dominant_offset"]
        return {0: "current-token", 1: "previous-token"}.get(d, f"offset-{d}")
    if ge("sink", cfg.sink_min):
        return "sink"
    if ge("duplicate_token", cfg.duplicate_min):
        return "duplicate-token"
    if ge("local_mass", cfg.distance_min) and ge("local_lift", cfg.distance_lift_min):
        return "distance"
    semantic = [
        (r[f"lift_{c}"], c)
        for c in WORD_CLASSES
        if ge(f"sem_{c}", cfg.semantic_min) and ge(f"lift_{c}", cfg.semantic_lift_min)
    ]
    if semantic:
        return f"semantic:{max(semantic)[1]}"
    if ge("entropy", cfg.diffuse_entropy_min):
        return "diffuse"
    return "mixed"


def head_labels(table: Any) -> dict[tuple[int, int], str]:
    return {(int(r.layer), int(r.head)): str(r.label) for r in table.itertuples()}
