"""Reading a built atlas: top examples, statistics, histograms, per-token means and selectivity queries."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import CheckpointError
from ...lexicon import class_token_ids
from .fileformat import FORMAT_VERSION, META_FILE, STAT_COLUMNS


class Atlas:
    """A built atlas, memory-mapped. Units are addressed as (block, unit): (layer, neuron) for neurons,
    (dictionary, feature) for features."""

    def __init__(self, path: Path, meta: dict[str, Any], arrays: dict[str, np.ndarray]):
        self.path, self.meta, self.a = path, meta, arrays
        self.n_layers = int(meta.get("n_blocks", meta["n_layers"]))
        self.d_mlp = int(meta.get("block_size", meta["d_mlp"]))
        self._tokenizer: Any = None

    @classmethod
    def open(cls, path: str | os.PathLike) -> "Atlas":
        path = Path(path)
        if (path / "atlas").is_dir() and not (path / "atlas.json").exists():
            path = path / "atlas"  # a model directory
        meta_file = path / META_FILE
        if not meta_file.exists():
            raise CheckpointError(
                f"{path} holds no neuron atlas (no atlas.json); build one with build_atlas(model, stories)"
            )
        meta = json.loads(meta_file.read_text())
        if meta.get("format_version") != FORMAT_VERSION:
            raise CheckpointError(
                f"{meta_file} has atlas format {meta.get('format_version')}, expected {FORMAT_VERSION}; rebuild it"
            )
        names = meta.get("files") or [f.name for f in path.glob("*.npy")]
        arrays = {Path(n).stem: np.load(path / n, mmap_mode="r") for n in names}
        return cls(path, meta, arrays)

    # ---- addressing ----
    def flat_index(self, layer: int, neuron: int) -> int:
        """The unit's row in the atlas arrays (views read those arrays directly, memory-mapped)."""
        if not (0 <= layer < self.n_layers and 0 <= neuron < self.d_mlp):
            raise IndexError(
                f"(layer {layer}, neuron {neuron}) is outside {self.n_layers} layers x {self.d_mlp} neurons"
            )
        return layer * self.d_mlp + neuron

    def _unflat(self, flat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return flat // self.d_mlp, flat % self.d_mlp

    @property
    def tokenizer(self) -> Any:
        if self._tokenizer is None:
            from ...model.checkpoint import load_tokenizer

            # an atlas saved inside its model directory travels with it (clones, copies); the recorded path (from
            # the atlas, or absolute in atlases written before that) is the fallback for atlases written elsewhere
            here = next((p for p in self.path.parents if (p / "tokenizer.json").exists()), None)
            self._tokenizer = load_tokenizer(here if here is not None else self.path / self.meta["model_dir"])
        return self._tokenizer

    def _decode(self, ids: Iterable[int]) -> list[str]:
        return [self.tokenizer.decode([int(i)]) for i in ids]

    def token_means(self, rows: Any = slice(None), cols: Any = slice(None)) -> np.ndarray:
        """Mean activation per (token, neuron) as float32: ``token_means()[t, layer * d_mlp + neuron]``. An atlas
        that kept only each unit's top tokens reads 0 for the others."""
        if "token_top_ids" in self.a:
            return self._sparse_token_means(rows, cols)
        if "token_mean_q" in self.a:
            scale = np.asarray(self.a["token_mean_scale"])[cols]
            return np.asarray(self.a["token_mean_q"][rows], dtype=np.int8)[..., cols].astype(np.float32) * scale
        return np.asarray(self.a["token_mean"][rows], dtype=np.float32)[..., cols]  # atlases built before int8

    def _sparse_token_means(self, rows: Any, cols: Any) -> np.ndarray:
        V, N = len(self.a["token_count"]), len(self.a["token_top_ids"])
        units, tokens = np.arange(N)[cols], np.arange(V)[rows]
        flat_u, flat_t = np.atleast_1d(units), np.atleast_1d(tokens)
        ids = np.asarray(self.a["token_top_ids"][flat_u])  # [units, n]
        vals = np.asarray(self.a["token_top_means"][flat_u], dtype=np.float32)
        order = np.argsort(flat_t, kind="stable")
        sorted_t = flat_t[order]
        j = np.searchsorted(sorted_t, ids).clip(max=len(sorted_t) - 1)
        hit = sorted_t[j] == ids
        out = np.zeros((len(flat_t), len(flat_u)), dtype=np.float32)
        unit_col = np.broadcast_to(np.arange(len(flat_u))[:, None], ids.shape)
        np.add.at(out, (order[j[hit]], unit_col[hit]), vals[hit])
        return out.reshape(np.shape(tokens) + np.shape(units))

    # ---- queries ----
    def top_examples(self, layer: int, neuron: int, n: int | None = None) -> Any:
        """The neuron's strongest activations: rank, activation, story, position, token, context (text with the
        top token in [[ ]]), and per-token ``tokens`` / ``acts`` lists for the window around it."""
        import pandas as pd

        f = self.flat_index(layer, neuron)
        vals = np.asarray(self.a["top_values"][f])
        vals = vals[np.isfinite(vals)]  # a unit that fired on fewer tokens than top_k has empty slots
        k = len(vals) if n is None else min(n, len(vals))
        rows = [
            (
                vals[j],
                self.a["top_story"][f, j],
                self.a["top_position"][f, j],
                self.a["top_window_tokens"][f, j],
                self.a["top_window_acts"][f, j],
            )
            for j in range(k)
        ]
        return pd.DataFrame.from_records([{"rank": j, **self._example(*r)} for j, r in enumerate(rows)])

    @property
    def has_quantiles(self) -> bool:
        """Whether the atlas keeps quantile examples (atlases built before them do not)."""
        return "quantile_values" in self.a

    def quantile_bands(self, layer: int, neuron: int) -> list[tuple[float, float]]:
        """The unit's activation bands [lo, hi), from 0 up to the band holding its maximum (none if it never
        fired above 0, or the atlas has no quantile examples)."""
        if not self.has_quantiles:
            return []
        f = self.flat_index(layer, neuron)
        scale, bands = float(self.a["quantile_scale"][f]), self.a["quantile_values"].shape[1]
        top = int(np.floor(float(self.a["neuron_stats"][f, 2]) / scale * bands)) if scale > 0 else -1
        return [(j * scale / bands, (j + 1) * scale / bands) for j in range(min(top, bands - 1) + 1)]

    def band_examples(self, layer: int, neuron: int) -> Any:
        """Examples drawn at random from each activation band below the maximum (``quantile_bands``): band, lo,
        hi, a ``quantile`` label naming the range, then the columns of ``top_examples``; strongest band first,
        each band's strongest example first. (Not named ``quantile_examples``: autointerp takes an atlas method of
        that name in place of its held-out prompt quantiles, a change of its prompts to make on purpose.)"""
        import pandas as pd

        f = self.flat_index(layer, neuron)
        records = []
        for band, (lo, hi) in reversed(list(enumerate(self.quantile_bands(layer, neuron)))):
            vals = np.asarray(self.a["quantile_values"][f, band])
            for j in np.flatnonzero(np.isfinite(vals)):
                at = (f, band, j)
                ex = self._example(
                    vals[j],
                    self.a["quantile_story"][at],
                    self.a["quantile_position"][at],
                    self.a["quantile_window_tokens"][at],
                    self.a["quantile_window_acts"][at],
                )
                records.append(
                    {
                        "band": band,
                        "lo": lo,
                        "hi": hi,
                        "quantile": f"activations {lo:.3g} to {hi:.3g}",
                        "rank": int(j),
                        **ex,
                    }
                )
        columns = [
            "band",
            "lo",
            "hi",
            "quantile",
            "rank",
            "activation",
            "story",
            "position",
            "token",
            "context",
            "tokens",
            "acts",
        ]
        return pd.DataFrame.from_records(records, columns=columns)

    def _example(self, value: float, story: int, position: int, tokens: np.ndarray, acts: np.ndarray) -> dict[str, Any]:
        """One example window as a record: the centre token in [[ ]] in ``context``, per-token lists."""
        ok = np.asarray(tokens) >= 0
        pieces = self._decode(np.asarray(tokens)[ok])
        centre = int(ok[: int(self.meta["config"]["window"])].sum())
        context = "".join(pieces[:centre]) + "[[" + pieces[centre] + "]]" + "".join(pieces[centre + 1 :])
        return {
            "activation": float(value),
            "story": int(story),
            "position": int(position),
            "token": pieces[centre],
            "context": context,
            "tokens": pieces,
            "acts": [float(x) for x in np.asarray(acts)[ok]],
        }

    def stats(self) -> Any:
        """Per-neuron statistics as a DataFrame (layer, neuron, mean, std, max, min, frac_active)."""
        import pandas as pd

        s = np.asarray(self.a["neuron_stats"])
        layer, neuron = self._unflat(np.arange(len(s)))
        return pd.DataFrame({"layer": layer, "neuron": neuron, **{c: s[:, i] for i, c in enumerate(STAT_COLUMNS)}})

    def dead_neurons(self, max_frac_active: float = 0.0) -> Any:
        """Neurons that fire (activation > the build's active_threshold) on at most this fraction of tokens."""
        df = self.stats()
        return df[df["frac_active"] <= max_frac_active].reset_index(drop=True)

    def histogram(self, layer: int, neuron: int) -> tuple[np.ndarray, np.ndarray]:
        """(edges, counts): n_bins + 1 edges over the fixed range; counts[0] / counts[-1] hold under/overflow."""
        f = self.flat_index(layer, neuron)
        lo, hi = (float(x) for x in self.a["hist_range"][f])
        nb = int(self.meta["config"]["n_bins"])
        return np.linspace(lo, hi, nb + 1), np.asarray(self.a["hist_counts"][f])

    def top_tokens(self, layer: int, neuron: int, n: int = 10, min_count: int = 3) -> Any:
        """Vocabulary tokens with the highest mean activation of this neuron (seen at least min_count times)."""
        import pandas as pd

        f = self.flat_index(layer, neuron)
        means = self.token_means(cols=f)
        counts = np.asarray(self.a["token_count"])
        means = np.where(counts >= min_count, means, -np.inf)
        top = np.argsort(-means)[:n]
        top = top[np.isfinite(means[top])]
        return pd.DataFrame(
            {"token_id": top, "token": self._decode(top), "mean_activation": means[top], "count": counts[top]}
        )

    def selective_for_tokens(self, token_ids: Iterable[int], n: int = 10) -> Any:
        """Neurons whose mean activation on these tokens stands furthest above their overall mean, in standard
        deviations (a z-score of the class mean)."""
        import pandas as pd

        ids = np.array(sorted(set(int(i) for i in token_ids)), dtype=np.int64)
        counts = np.asarray(self.a["token_count"])[ids] if len(ids) else np.zeros(0)
        if counts.sum() == 0:
            raise ValueError("none of these tokens occurs in the atlas corpus")
        means = self.token_means(rows=ids).astype(np.float64)  # [ids, N]
        class_mean = (means * counts[:, None]).sum(0) / counts.sum()
        s = np.asarray(self.a["neuron_stats"], dtype=np.float64)
        z = (class_mean - s[:, 0]) / np.maximum(s[:, 1], 1e-6)
        top = np.argsort(-z)[:n]
        layer, neuron = self._unflat(top)
        return pd.DataFrame(
            {
                "layer": layer,
                "neuron": neuron,
                "selectivity": z[top],
                "class_mean": class_mean[top],
                "overall_mean": s[top, 0],
                "occurrences": int(counts.sum()),
            }
        )

    def selective_for_token(self, token: int | str, n: int = 10) -> Any:
        """Neurons most selective for one token (an id or a string that is one token, e.g. " Lily")."""
        if isinstance(token, str):
            ids = self.tokenizer(token, add_special_tokens=False)["input_ids"]
            if len(ids) != 1:
                raise ValueError(f"{token!r} is {len(ids)} tokens; pass a single token or its id")
            token = ids[0]
        return self.selective_for_tokens([int(token)], n)

    def selective_for_class(self, word_class: str, n: int = 10) -> Any:
        """Neurons most selective for a lexicon word class: names, objects, pronouns or determiners."""
        classes = class_token_ids(self.tokenizer)
        if word_class not in classes:
            raise ValueError(f"unknown word class {word_class!r}; choose from {sorted(classes)}")
        return self.selective_for_tokens(classes[word_class], n)


def open_atlas(path: str | os.PathLike) -> Atlas:
    return Atlas.open(path)
