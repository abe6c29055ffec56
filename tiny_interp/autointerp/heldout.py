"""Held-out scoring examples: windows of stories the atlas never read, with every chosen unit's activation.

The atlas is built from the first ``atlas.meta["stories"]`` stories of its file; scoring reads stories after those
(``skip``), so no scoring snippet can be an atlas example, and none ever reaches an explanation prompt. One forward
pass per batch through the seam gives, per window of ``window`` tokens and per unit, the peak activation, where it
peaks and the window's quietest token; the scorers draw their snippets from that table.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..errors import ConfigError
from .units import Evidence, Example, Unit, UnitSet


@dataclass(frozen=True)
class HeldoutConfig:
    n_stories: int = 300  # held-out stories read for scoring
    skip: int | None = None  # stories of the file to pass over first (None: as many as the atlas read)
    window: int = 24  # tokens per snippet
    batch_size: int = 16
    active_frac: float = 0.25  # a window is activating when its peak >= this share of the unit's atlas maximum
    quiet_frac: float = 0.05  # ... and non-activating when its peak <= this share,
    quiet_percentile: float = 20.0  # or (dense units that fire a little everywhere) is among the lowest this % of
    # windows; never above half the activating threshold
    n_quantiles: int = 4  # activating windows are drawn from this many activation quantiles ...
    per_quantile: int = 3  # ... this many from each
    n_hard: int = 6  # non-activating windows that contain one of the unit's top tokens
    n_random: int = 6  # other non-activating windows (more when hard negatives are short)
    min_activating: int = 2  # fewer activating held-out windows: the unit is not scored (recorded, never a zero)
    prompt_stories: int = 150  # stories after the scoring ones: the explanation prompt's quantile examples (0: none)
    seed: int = 0

    def __post_init__(self) -> None:
        checks = {
            "n_stories": self.n_stories >= 1,
            "window": 4 <= self.window <= 255,
            "batch_size": self.batch_size >= 1,
            "n_quantiles": self.n_quantiles >= 1,
            "per_quantile": self.per_quantile >= 1,
            "n_hard": self.n_hard >= 0,
            "n_random": self.n_random >= 0,
            "min_activating": self.min_activating >= 1,
            "skip": self.skip is None or self.skip >= 0,
            "prompt_stories": self.prompt_stories >= 0,
            "active_frac": 0 < self.active_frac <= 1,
            "quiet_frac": 0 <= self.quiet_frac < self.active_frac,
            "quiet_percentile": 0 <= self.quiet_percentile <= 100,
        }
        bad = [k for k, ok in checks.items() if not ok]
        if bad:
            raise ConfigError(
                f"held-out setting {bad[0]}={getattr(self, bad[0])} is out of range "
                "(window 4-255, counts >= 1, 0 <= quiet_frac < active_frac <= 1)"
            )


@dataclass(frozen=True)
class Snippet:
    """A held-out window shown to a scorer: ``label`` 1 when the unit fires (on ``mark`` for fuzzing)."""

    tokens: tuple[str, ...]
    label: int
    kind: str  # detection: q1..qN (q1 strongest), "hard", "random"; fuzzing: "peak", "decoy"
    peak: float
    mark: int | None = None
    acts: tuple[float, ...] | None = None  # simulation: the unit's activation on every token

    def text(self) -> str:
        if self.mark is None:
            return "".join(self.tokens)
        t = list(self.tokens)
        t[self.mark] = f"<<{t[self.mark]}>>"
        return "".join(t)


@dataclass
class HeldoutScan:
    """Per window (rows) and chosen unit (columns): peak activation, its position, the quietest position and value."""

    units: list[Unit]
    tokens: np.ndarray  # [windows, window] int32, -1 past a story's end
    pieces: list[str]  # decoded vocabulary
    peak: np.ndarray  # [windows, units] float32
    at_peak: np.ndarray  # [windows, units] uint8
    low: np.ndarray  # [windows, units] float32
    at_low: np.ndarray  # [windows, units] uint8
    story_index: np.ndarray  # [windows] index of the story in the file
    texts: list[str]
    window_index: np.ndarray  # [windows] which window of its story (it starts at token 1 + window * this)

    def column(self, unit: Unit) -> int:
        return self._cols[unit.key]

    def __post_init__(self) -> None:
        self._cols = {u.key: i for i, u in enumerate(self.units)}
        flat = self.tokens.ravel()
        self._order = np.argsort(flat, kind="stable")  # an inverted index: token id -> windows holding it
        self._sorted = flat[self._order]

    def rows_with(self, token_ids: Sequence[int]) -> np.ndarray:
        """Windows that contain any of these tokens."""
        width = self.tokens.shape[1]
        hits = [
            self._order[np.searchsorted(self._sorted, t) : np.searchsorted(self._sorted, t, side="right")]
            for t in token_ids
        ]
        return np.unique(np.concatenate(hits) // width) if hits else np.zeros(0, dtype=np.int64)

    def window_tokens(self, row: int) -> tuple[str, ...]:
        ids = self.tokens[row]
        return tuple(self.pieces[int(i)] for i in ids[ids >= 0])


def heldout_stories(stories: Sequence[str], atlas_meta: dict[str, Any], cfg: HeldoutConfig) -> tuple[list[str], int]:
    """The scoring stories and the index of the first. When the file starts with the atlas's own corpus (same
    fingerprint), its first ``atlas_meta["stories"]`` stories are passed over; another file is read from the start."""
    from ..interp.atlas import corpus_fingerprint

    n_atlas = int(atlas_meta.get("stories", 0))
    corpus = (atlas_meta.get("identity") or {}).get("corpus")
    same = corpus is None or corpus_fingerprint(list(stories[:n_atlas])) == corpus
    floor = n_atlas if same else 0
    skip = floor if cfg.skip is None else cfg.skip
    if skip < floor:
        raise ConfigError(
            f"skip={skip} would score on the atlas's own stories (this file starts with the "
            f"{n_atlas} it read); use skip >= {n_atlas}"
        )
    chosen = list(stories[skip : skip + cfg.n_stories])
    if not chosen:
        raise ConfigError(
            f"no held-out stories: the file has {len(stories)} stories and the first {skip} are "
            "passed over (the atlas read them); pass another story file, e.g. the train split"
        )
    return chosen, skip


def prompt_stories(stories: Sequence[str], first: int, cfg: HeldoutConfig) -> tuple[list[str], int]:
    """The stories right after the scoring ones, for the explanation prompt's quantile examples (never scored)."""
    start = first + cfg.n_stories
    return list(stories[start : start + cfg.prompt_stories]), start


def quantile_examples(
    ev: Evidence, hs: HeldoutScan, cfg: HeldoutConfig, per_quantile: int = 2
) -> tuple[tuple[str, tuple[Example, ...]], ...]:
    """Examples from each activation quantile of the unit's activating windows in ``hs`` (the prompt slice), the
    peak token carrying the window's peak activation; strongest quantile first."""
    col = hs.column(ev.unit)
    peaks = hs.peak[:, col]
    hi, _ = _thresholds(ev, peaks, cfg)
    drawn = _activating(
        peaks, hi, dataclasses.replace(cfg, per_quantile=per_quantile), unit_rng(ev.unit, cfg.seed, "prompt")
    )
    groups: dict[str, list[Example]] = {}
    for r, q in drawn:
        toks = hs.window_tokens(r)
        acts = [0.0] * len(toks)
        acts[int(hs.at_peak[r, col])] = float(peaks[r])
        groups.setdefault(q, []).append(Example(toks, tuple(acts), int(hs.at_peak[r, col])))
    return tuple((f"quantile {q[1:]} of {cfg.n_quantiles}", tuple(exs)) for q, exs in groups.items())


def scan(
    unit_set: UnitSet,
    units: Sequence[Unit],
    stories: Sequence[str],
    first_index: int,
    cfg: HeldoutConfig,
    progress: bool = False,
) -> HeldoutScan:
    """Run the held-out stories through the seam and keep the per-window table for these units."""
    from ..interp.common import encode, pad_rows

    tok = unit_set.tokenizer
    rows = encode(tok, list(stories), unit_set.model_ctx)
    by_length = sorted(range(len(rows)), key=lambda i: len(rows[i]))  # batches of similar length: little padding
    parts: list[tuple[np.ndarray, ...]] = []
    with torch.inference_mode():
        for b in _batches(by_length, cfg.batch_size, progress):
            ids, valid = pad_rows([rows[i] for i in b], pad_id=tok.eos_token_id or 0)
            acts = unit_set.activations(ids, units)
            parts.append(_windows(acts, valid, ids, np.asarray(b) + first_index, cfg.window))
    cat = [np.concatenate(p) for p in zip(*parts)]
    pieces = tok.batch_decode([[i] for i in range(len(tok))])
    return HeldoutScan(list(units), cat[0], pieces, cat[1], cat[2], cat[3], cat[4], cat[5], list(stories), cat[6])


def window_activations(
    unit_set: UnitSet, hs: HeldoutScan, wanted: Sequence[tuple[Unit, int]], first_index: int, cfg: HeldoutConfig
) -> dict[tuple[str, int], np.ndarray]:
    """Every token's activation in the wanted (unit, window row) pairs: their stories run again through the seam
    (the scan keeps only each window's peak and quietest token)."""
    from ..interp.common import encode, pad_rows

    stories = sorted({int(hs.story_index[r]) for _, r in wanted})
    units = list({u.key: u for u, _ in wanted}.values())
    col = {u.key: j for j, u in enumerate(units)}
    rows = dict(
        zip(stories, encode(unit_set.tokenizer, [hs.texts[i - first_index] for i in stories], unit_set.model_ctx))
    )
    out: dict[tuple[str, int], np.ndarray] = {}
    with torch.inference_mode():
        for s in range(0, len(stories), cfg.batch_size):
            batch = stories[s : s + cfg.batch_size]
            ids, _ = pad_rows([rows[i] for i in batch], pad_id=unit_set.tokenizer.eos_token_id or 0)
            acts = unit_set.activations(ids, units).numpy()
            at = {i: b for b, i in enumerate(batch)}
            for u, r in wanted:
                if int(hs.story_index[r]) in at:
                    start = 1 + cfg.window * int(hs.window_index[r])
                    n = int((hs.tokens[r] >= 0).sum())
                    out[(u.key, r)] = acts[at[int(hs.story_index[r])], start : start + n, col[u.key]].astype(np.float64)
    return out


def _batches(order: list[int], size: int, progress: bool) -> Any:
    from tqdm.auto import tqdm

    starts = range(0, len(order), size)
    bar = tqdm(starts, desc="held-out activations", unit="batch", disable=not progress)
    return (order[s : s + size] for s in bar)


def _windows(
    acts: torch.Tensor, valid: torch.Tensor, ids: torch.Tensor, story_ids: np.ndarray, w: int
) -> tuple[np.ndarray, ...]:
    """Cut each story after its BOS into windows of w tokens (a last short window kept when at least w/2 long)."""
    B, T, U = acts.shape
    n_win = (T - 1 + w - 1) // w
    pad = n_win * w - (T - 1)
    a = torch.nn.functional.pad(acts[:, 1:], (0, 0, 0, pad))
    ok = torch.nn.functional.pad(valid[:, 1:], (0, pad))
    t = torch.nn.functional.pad(ids[:, 1:], (0, pad))
    a, ok, t = a.reshape(B, n_win, w, U), ok.reshape(B, n_win, w), t.reshape(B, n_win, w)
    hi = a.masked_fill(~ok[..., None], float("-inf")).max(dim=2)
    lo = a.masked_fill(~ok[..., None], float("inf")).min(dim=2)
    keep = ok.sum(-1) >= max(1, w // 2)
    toks = t.masked_fill(~ok, -1)
    story = torch.as_tensor(story_ids)[:, None].expand(B, n_win)
    which = torch.arange(n_win)[None, :].expand(B, n_win)
    return (
        toks[keep].numpy().astype(np.int32),
        hi.values[keep].numpy().astype(np.float32),
        hi.indices[keep].numpy().astype(np.uint8),
        lo.values[keep].numpy().astype(np.float32),
        lo.indices[keep].numpy().astype(np.uint8),
        story[keep].numpy(),
        which[keep].numpy().astype(np.int32),
    )


def unit_rng(unit: Unit, seed: int, purpose: str) -> np.random.Generator:
    """A generator fixed by the unit, the seed and what it draws: reruns draw the same snippets."""
    h = hashlib.sha256(f"{unit.key}|{seed}|{purpose}".encode()).digest()
    return np.random.default_rng(int.from_bytes(h[:8], "little"))


def _thresholds(ev: Evidence, col_peaks: np.ndarray, cfg: HeldoutConfig) -> tuple[float, float]:
    """(activating, non-activating) peak thresholds of a unit."""
    scale = ev.scale if ev.scale > 0 else float(col_peaks.max(initial=0.0))
    if scale <= 0:
        return 0.0, 0.0
    hi = cfg.active_frac * scale
    low_share = float(np.percentile(col_peaks, cfg.quiet_percentile)) if len(col_peaks) else 0.0
    return hi, min(max(cfg.quiet_frac * scale, low_share), hi / 2)


def _activating(peaks: np.ndarray, hi: float, cfg: HeldoutConfig, rng: np.random.Generator) -> list[tuple[int, str]]:
    """(window row, quantile label) drawn from each activation quantile of the activating windows."""
    rows = np.flatnonzero(peaks >= hi) if hi > 0 else np.zeros(0, dtype=np.int64)
    rows = rows[np.argsort(-peaks[rows], kind="stable")]
    out = []
    for q, part in enumerate(np.array_split(rows, min(cfg.n_quantiles, max(len(rows), 1)))):
        take: Sequence[int] = (
            rng.choice(part, size=min(cfg.per_quantile, len(part)), replace=False).tolist() if len(part) else []
        )
        out += [(int(r), f"q{q + 1}") for r in sorted(take)]
    return out


@dataclass
class Draw:
    """A unit's column of peaks, its non-activating threshold, its generator and its activating windows."""

    col: int
    peaks: np.ndarray
    lo: float
    rng: np.random.Generator
    pos: list[tuple[int, str]]

    def too_few(self, cfg: HeldoutConfig) -> str | None:
        n = len(self.pos)
        return f"only {n} activating held-out windows (need {cfg.min_activating})" if n < cfg.min_activating else None


def draw_activating(ev: Evidence, hs: HeldoutScan, cfg: HeldoutConfig, purpose: str) -> Draw:
    col = hs.column(ev.unit)
    peaks = hs.peak[:, col]
    hi, lo = _thresholds(ev, peaks, cfg)
    rng = unit_rng(ev.unit, cfg.seed, purpose)
    return Draw(col, peaks, lo, rng, _activating(peaks, hi, cfg, rng))


def detection_set(ev: Evidence, hs: HeldoutScan, cfg: HeldoutConfig) -> tuple[list[Snippet], str | None]:
    """Activating windows from several quantiles plus non-activating ones (hard negatives share a top token),
    shuffled; or no snippets and the reason the unit cannot be scored."""
    d = draw_activating(ev, hs, cfg, "detection")
    if d.too_few(cfg):
        return [], d.too_few(cfg)
    peaks, lo, rng, pos = d.peaks, d.lo, d.rng, d.pos
    quiet = peaks <= lo
    with_top = hs.rows_with(ev.top_token_ids)
    hard_rows = with_top[quiet[with_top]]
    hard = rng.choice(hard_rows, size=min(cfg.n_hard, len(hard_rows)), replace=False)
    rest = np.setdiff1d(np.flatnonzero(quiet), hard)
    n_rand = min(cfg.n_random + cfg.n_hard - len(hard), len(rest))
    rand = rng.choice(rest, size=n_rand, replace=False)
    if len(hard) + len(rand) == 0:
        return [], "no non-activating held-out windows"
    snippets = [Snippet(hs.window_tokens(r), 1, q, float(peaks[r])) for r, q in pos]
    snippets += [Snippet(hs.window_tokens(int(r)), 0, "hard", float(peaks[r])) for r in sorted(hard)]
    snippets += [Snippet(hs.window_tokens(int(r)), 0, "random", float(peaks[r])) for r in sorted(rand)]
    return [snippets[i] for i in rng.permutation(len(snippets))], None


def fuzzing_set(ev: Evidence, hs: HeldoutScan, cfg: HeldoutConfig) -> tuple[list[Snippet], str | None]:
    """Activating windows with one token marked: the peak token (label 1) in half of them, the window's quietest
    token (label 0, only where the unit stays quiet there) in the other half."""
    d = draw_activating(ev, hs, cfg, "fuzzing")
    col, peaks, lo, rng, pos = d.col, d.peaks, d.lo, d.rng, d.pos
    snippets = []
    for j, (r, _q) in enumerate(pos):
        toks = hs.window_tokens(r)
        if j % 2 == 0:
            snippets.append(Snippet(toks, 1, "peak", float(peaks[r]), int(hs.at_peak[r, col])))
        elif hs.low[r, col] <= lo:
            snippets.append(Snippet(toks, 0, "decoy", float(hs.low[r, col]), int(hs.at_low[r, col])))
    labels = {s.label for s in snippets}
    if labels != {0, 1}:
        return [], f"fuzzing needs marked peaks and quiet decoys in activating windows; got labels {sorted(labels)}"
    return [snippets[i] for i in rng.permutation(len(snippets))], None
