"""Parallel atlas builds: batches cut into shards that worker processes build and the parent merges in order.

Workers are forked with a parent-death signal (Linux ``prctl(PR_SET_PDEATHSIG)``), so a killed build (even by
SIGKILL) takes its workers with it instead of leaving them computing for ever.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ...errors import CheckpointError
from .accumulator import AtlasState

PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int) -> None:
    """Pool initializer: ask the kernel to SIGKILL this worker when its parent dies (and exit now if the parent
    already died between the fork and this call)."""
    if sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != parent_pid:
        os._exit(1)


def shard_bounds(rows: list[list[int]], plan: list[list[int]], first: int, workers: int) -> list[tuple[int, int]]:
    """Batch ranges [a, b) covering batches ``first ..`` in 2 x workers shards of about equal token count (batches
    are length-sorted, so equal batch counts would be unequal work)."""
    total = len(plan)
    n_shards = min(total - first, 2 * workers)
    cost = np.cumsum([sum(len(rows[i]) for i in batch) for batch in plan[first:]])
    cuts = np.searchsorted(cost, cost[-1] * np.arange(1, n_shards) / n_shards) + 1
    bounds = sorted({first, total, *(first + int(c) for c in cuts if 0 < c < total - first)})
    return list(zip(bounds, bounds[1:]))


def build_in_workers(
    job: Any,
    rows: list[list[int]],
    plan: list[list[int]],
    state: AtlasState,
    state_file: Path,
    bar: Any,
    add_batch: Callable[..., int],
) -> None:
    """Build batches ``state.batches_done ..`` in ``cfg.workers`` processes and merge them into ``state``.

    Batch 0 runs here first (it fixes the histogram edges every shard must share). The rest is cut into
    2 x workers contiguous shards; each finished shard is saved in the build directory, so a stopped build
    resumes with the shards still missing, and the parent merges shards in batch order.
    """
    import concurrent.futures as cf
    import multiprocessing as mp

    cfg = state.cfg
    if state.batches_done == 0:
        bar.update(add_batch(job, state, rows, plan[0], story_ids=plan[0], first_batch=True))
        state.batches_done = 1
        state.save(state_file, {"identity": job.identity})
    if state.batches_done >= len(plan):
        return
    shards = [
        (a, b, state_file.parent / f"shard-{a:06d}-{b:06d}.npz")
        for a, b in shard_bounds(rows, plan, state.batches_done, cfg.workers)
    ]
    todo = [sh for sh in shards if not sh[2].exists()]
    bar.update(sum(len(rows[i]) for a, b, f in shards if f.exists() for batch in plan[a:b] for i in batch))
    if todo:
        lo, hi = state.hist_edges()
        edges = (lo.numpy(), hi.numpy())
        # fork on Linux: no re-import, and it works from any __main__ (scripts on stdin, notebooks); spawn elsewhere
        method = "fork" if sys.platform.startswith("linux") else "spawn"
        with cf.ProcessPoolExecutor(
            min(cfg.workers, len(todo)),
            mp_context=mp.get_context(method),
            initializer=die_with_parent,
            initargs=(os.getpid(),),
        ) as pool:
            futures = {
                pool.submit(
                    _shard_worker,
                    job.for_worker(),
                    (state.L, state.d, state.V),
                    edges,
                    [(batch, [rows[i] for i in batch]) for batch in plan[a:b]],
                    str(f),
                    add_batch,
                ): f
                for a, b, f in todo
            }
            for fut in cf.as_completed(futures):
                bar.update(fut.result())
    for a, b, f in shards:
        shard, _ = AtlasState.load(f, state.L, state.d, state.V, cfg)
        if shard.batches_done != b - a:
            raise CheckpointError(f"{f} holds {shard.batches_done} batches, expected {b - a}; delete it and rebuild")
        state.merge(shard)


def _shard_worker(
    job: Any,
    shape: tuple[int, int, int],
    edges: tuple[np.ndarray, np.ndarray],
    batches: list[tuple[list[int], list[list[int]]]],
    file: str,
    add_batch: Callable[..., int],
) -> int:
    """One shard in a worker process: a fresh state with the shared histogram edges, saved to ``file``."""
    job = job.open()
    cfg = job.cfg
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    state = AtlasState(*shape, cfg)
    state.hist_lo, state.hist_hi = torch.from_numpy(edges[0].copy()), torch.from_numpy(edges[1].copy())
    tokens = 0
    with torch.inference_mode():
        for story_ids, story_rows in batches:
            tokens += add_batch(job, state, story_rows, list(range(len(story_rows))), story_ids, first_batch=False)
            state.batches_done += 1
    state.save(Path(file), {"identity": job.identity})
    return tokens
