"""Building an atlas: stream stories through the model batch by batch into the accumulator, checkpoint, resume,
optionally in worker processes, and write the result."""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import json
import os
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ...atlas_config import AtlasConfig
from ...data.stories import read_stories
from ...errors import ConfigError, DataError
from ...ownership import claim_output_dir
from ...provenance import model_fingerprint, relative_path
from ..common import encode, pad_rows
from .accumulator import AtlasState
from .fileformat import BUILD_DIR, FORMAT_VERSION, META_FILE, STAT_COLUMNS, atlas_arrays, is_earlier_atlas, write_atlas
from .query import Atlas
from .units import Units, neuron_units
from .workers import build_in_workers

OUTPUT_KIND = "atlas"
STATE_FORMAT = 3  # layout of a stopped build's state.npz; a resume refuses other layouts


@dataclass
class BuildJob:
    """What every process of a build needs: the model, the units and the settings. ``units_factory`` is a
    ``"module:function"`` called as ``function(net, *units_args) -> Units`` (None: the MLP neurons), so a worker
    process can rebuild the units from plain values."""

    model_dir: Path
    cfg: AtlasConfig
    identity: dict[str, Any]
    pad_id: int
    units_factory: str | None = None
    units_args: tuple = ()
    net: Any = None
    units: Units | None = None
    out: Path = Path(".")  # the atlas folder being written (``extra`` hooks record paths relative to it)

    def open(self) -> "BuildJob":
        from ...model.opener import open_model

        net = open_model(self.model_dir, device=self.cfg.device).module
        if self.units_factory is None:
            units = neuron_units(net)
        else:
            module, name = self.units_factory.split(":")
            units = getattr(importlib.import_module(module), name)(net, *self.units_args)
        return dataclasses.replace(self, net=net, units=units)

    @property
    def live_units(self) -> Units:
        """The units of an opened job (``open`` sets them; a worker's copy has none until it opens)."""
        if self.units is None:
            raise RuntimeError("BuildJob.open() was not called")
        return self.units

    def for_worker(self) -> "BuildJob":
        return dataclasses.replace(self, net=None, units=None)


def corpus_fingerprint(stories: list[str]) -> str:
    h = hashlib.sha256()
    for s in stories:
        h.update(s.encode("utf-8"))
        h.update(b"\0")
    return h.hexdigest()[:16]


def batch_plan(rows: list[list[int]], batch_size: int) -> list[list[int]]:
    """Story indices per batch: similar lengths together (less padding), deterministic so a resume sees the same."""
    chunk = batch_size * 64
    plan = []
    for start in range(0, len(rows), chunk):
        idx = sorted(range(start, min(start + chunk, len(rows))), key=lambda i: (len(rows[i]), i))
        plan += [idx[j : j + batch_size] for j in range(0, len(idx), batch_size)]
    return plan


def default_atlas_dir(model_dir: str | os.PathLike) -> Path:
    return Path(model_dir) / "atlas"


def build_atlas(
    model: Any,
    stories: str | os.PathLike | Iterable[str],
    out: str | os.PathLike | None = None,
    config: AtlasConfig | None = None,
    n_stories: int | None = None,
    fresh: bool = False,
    progress: bool = True,
    stop_after_batches: int | None = None,
    units_factory: str | None = None,
    units_args: tuple = (),
    extra: Any = None,
    units_identity: tuple[str, ...] | None = None,
    reuse: str | os.PathLike | None = None,
    **overrides: Any,
) -> Atlas | None:
    """Build (or resume) the atlas of a model directory (or a bridge from ``tiny_interp.load``). A finished atlas
    of the same stories and settings is opened instead of rebuilt unless ``fresh``.

    ``out`` defaults to ``<model_dir>/atlas``; it must be new, empty or an earlier atlas (``fresh`` also writes into
    another directory; other files there are never touched). ``stop_after_batches`` stops early after
    checkpointing (the next call resumes); it returns None then, else the opened ``Atlas``. ``units_factory`` /
    ``units_args`` pick other units than the MLP neurons (see ``BuildJob``); ``extra(job, texts)`` may return more
    arrays and meta for the atlas. ``units_identity`` stands for ``units_args`` in the atlas's identity (e.g. a
    fingerprint for a path, which must not decide reuse). ``reuse`` names a finished atlas elsewhere (e.g. the one
    shipped with a model, when ``out`` is its place under runs/) that is opened instead when it matches.

    The atlas records its model as a path relative to itself plus a content fingerprint; a finished atlas is reused
    when the fingerprints (model, corpus) and settings match, wherever the repository was cloned or moved.
    """
    from ...model.checkpoint import load_tokenizer

    cfg = dataclasses.replace(config or AtlasConfig(), **overrides)
    if cfg.workers > 1 and stop_after_batches is not None:
        raise ConfigError("stop_after_batches works with workers=1 only (parallel builds resume by finished shard)")
    model_dir = _model_dir(model)
    out = (Path(out) if out is not None else default_atlas_dir(model_dir)).resolve()
    claim_output_dir(out, OUTPUT_KIND, force=fresh, legacy=is_earlier_atlas)
    build_dir = out / BUILD_DIR
    state_file = build_dir / "state.npz"
    tokenizer = load_tokenizer(model_dir)
    texts = _read_texts(stories, n_stories)
    job = BuildJob(model_dir, cfg, {}, tokenizer.eos_token_id or 0, units_factory, tuple(units_args), out=out).open()
    rows = encode(tokenizer, texts, min(cfg.max_len, job.net.cfg.n_ctx))
    job.identity = {
        "config": cfg.identity(),
        "corpus": corpus_fingerprint(texts),
        "n_stories": len(texts),
        "model": model_fingerprint(model_dir),
        "state_format": STATE_FORMAT,
        **({"units": [units_factory, *map(str, units_identity or units_args)]} if units_factory else {}),
    }
    if fresh and build_dir.exists():
        shutil.rmtree(build_dir)
    for done in (out, *([Path(reuse)] if reuse is not None else [])):
        if not fresh and _finished_atlas_matches(done, job.identity):
            return Atlas.open(done)  # already built from these stories with these settings
    state = _initial_state(job, state_file)
    started = time.perf_counter()
    if not _run_batches(job, rows, batch_plan(rows, cfg.batch_size), state, state_file, progress, stop_after_batches):
        return None
    meta = {
        "format_version": FORMAT_VERSION,
        "config": dataclasses.asdict(cfg),
        "identity": job.identity,
        "model_dir": relative_path(model_dir, out),
        "family": job.net.cfg.family,
        "n_layers": job.live_units.n_blocks,
        "d_mlp": job.live_units.block_size,
        "n_blocks": job.live_units.n_blocks,
        "block_size": job.live_units.block_size,
        "unit_kind": job.live_units.kind,
        "vocab_size": state.V,
        "tokens": state.count,
        "stories": len(texts),
        "build_seconds": time.perf_counter() - started,
        "stat_columns": list(STAT_COLUMNS),
    }
    more_arrays, more_meta = extra(job, texts) if extra is not None else ({}, {})
    write_atlas(out, {**atlas_arrays(state), **more_arrays}, {**meta, **more_meta})
    shutil.rmtree(build_dir, ignore_errors=True)
    return Atlas.open(out)


def _read_texts(stories: str | os.PathLike | Iterable[str], limit: int | None) -> list[str]:
    """A file or folder through the data readers (any story format, one-line errors), or a list of strings."""
    if not isinstance(stories, (str, os.PathLike)):
        return read_stories(stories, limit=limit)
    import itertools

    from ...data.stories import iter_stories

    texts = list(itertools.islice(iter_stories(stories), limit))
    if not texts:
        raise DataError(f"{stories} holds no stories")
    return texts


def _initial_state(job: BuildJob, state_file: Path) -> AtlasState:
    shape = (job.live_units.n_blocks, job.live_units.block_size, int(job.net.cfg.vocab_size))
    if not state_file.exists():
        return AtlasState(*shape, job.cfg)
    state, saved = AtlasState.load(state_file, *shape, job.cfg)
    if saved.get("identity") != job.identity:
        raise ConfigError(
            f"{state_file} belongs to a build with other settings or stories ({saved.get('identity')}); "
            "build with fresh=True (CLI: --fresh) to start over"
        )
    return state


def _run_batches(
    job: BuildJob,
    rows: list[list[int]],
    plan: list[list[int]],
    state: AtlasState,
    state_file: Path,
    progress: bool,
    stop_after_batches: int | None,
) -> bool:
    """Every batch not yet in ``state``; False when stopped early by ``stop_after_batches`` (state saved)."""
    cfg = job.cfg
    bar = _progress_bar(progress, sum(len(r) for r in rows), state.count, job.live_units.kind)
    threads_before = torch.get_num_threads()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    try:
        with torch.inference_mode():
            if cfg.workers > 1:
                build_in_workers(job, rows, plan, state, state_file, bar, add_batch)
            for b in range(state.batches_done, len(plan)):
                bar.update(add_batch(job, state, rows, plan[b], story_ids=plan[b], first_batch=b == 0))
                state.batches_done = b + 1
                done = state.batches_done == len(plan)
                stopping = stop_after_batches is not None and state.batches_done >= stop_after_batches and not done
                if stopping or (not done and state.batches_done % cfg.checkpoint_every == 0):
                    state.save(state_file, {"identity": job.identity})
                if stopping:
                    return False
    except KeyboardInterrupt:
        if 0 < state.batches_done < len(plan):
            state.save(state_file, {"identity": job.identity})  # Ctrl-C: the next call resumes from here
        raise
    finally:
        bar.close()
        torch.set_num_threads(threads_before)
    return True


def add_batch(
    job: BuildJob, state: AtlasState, rows: list[list[int]], idx: list[int], story_ids: list[int], first_batch: bool
) -> int:
    """Run one batch of stories (``rows[i]`` for i in ``idx``, recorded as ``story_ids``) into the state; returns
    its token count."""
    device = job.cfg.device
    ids, valid = pad_rows([rows[i] for i in idx], pad_id=job.pad_id)
    lengths = valid.sum(1)
    starts = torch.cumsum(lengths, 0) - lengths
    tok = ids[valid]
    real = None if bool(valid.all()) else valid.flatten().nonzero().squeeze(1).to(device)
    story_tensor = torch.tensor(story_ids, dtype=torch.long)
    state.add_tokens(tok)

    def consume(block: int, h: torch.Tensor) -> None:
        acts = h.reshape(-1, h.shape[-1])
        acts = (acts if real is None else acts.index_select(0, real)).float().cpu()
        state.add_layer(block, acts, tok, starts, lengths, story_tensor, first_batch=first_batch)

    job.live_units.stream(job.net, ids.to(device), consume)
    return int(lengths.sum())


def _finished_atlas_matches(out: Path, identity: dict[str, Any]) -> bool:
    """A finished atlas at ``out`` built with the same settings from the same stories for the same model weights
    (content fingerprints: a cloned, copied or moved atlas is reused)."""
    meta_file = out / META_FILE
    if not meta_file.is_file():
        return False
    try:
        saved = json.loads(meta_file.read_text(encoding="utf-8")).get("identity")
    except ValueError as e:
        raise DataError(f"{meta_file} is not valid JSON ({e}); rebuild with fresh=True (CLI: --fresh)") from e
    return bool(saved == identity)


def _model_dir(model: Any) -> Path:
    if isinstance(model, (str, os.PathLike)):
        from ...loading import resolve_model_dir

        return resolve_model_dir(model)
    path = getattr(model, "model_path", None)
    if path is None:
        raise TypeError(
            "build_atlas needs a model directory or a bridge from tiny_interp.load (which knows its directory)"
        )
    return Path(path)


def _progress_bar(enabled: bool, total: int, initial: int, kind: str) -> Any:
    from tqdm.auto import tqdm

    return tqdm(
        total=total,
        initial=initial,
        unit="tok",
        unit_scale=True,
        desc=f"{kind} atlas",
        disable=not enabled,
        smoothing=0.1,
    )
