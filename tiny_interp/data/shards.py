"""Pre-tokenized shards: stories -> one uint16 token file per split, cached by a fingerprint of data and tokenizer.

Layout of ``<cache_dir>/<fingerprint>/``::

    tokenizer/            the tokenizer (AutoTokenizer.from_pretrained loads it)
    train.bin             uint16 tokens: for each story [EOT] + story tokens, then one final EOT
    train.starts.npy      int64: index in train.bin of each story's leading EOT
    train.json            metadata (counts, sources, fingerprints, dtype)
    val.bin / val.starts.npy / val.json   the same for the validation data, when given
    prepared.json         what was asked for (sources, tokenizer, limits)

EOT is ``<|endoftext|>``, the BOS and EOS of GPT-Neo-style tokenizers, so a window cut anywhere in the stream reads
like the training data of the TinyStories models. A second :func:`prepare_data` with the same inputs finds the
directory and returns it without reading or tokenizing anything; a trained BPE tokenizer is cached the same way.
Directories appear atomically (built under a temporary name, then renamed).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..atomic import atomic_directory, write_json_atomic
from ..errors import ConfigError, DataError
from .stories import StoryStats, check_hub_source, iter_stories, resolve_source
from .tokenizer import eot_id, load_tokenizer_spec, tokenizer_fingerprint, train_bpe_tokenizer

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

FORMAT_VERSION = 1
DTYPE = np.uint16
MAX_VOCAB = int(np.iinfo(DTYPE).max) + 1
ENCODE_BATCH = 1024
_SAMPLE_BYTES = 1 << 20


@dataclass(frozen=True)
class TokenShard:
    """One split's tokens on disk; ``tokens`` is a read-only memmap, loaded on first use."""

    path: Path  # <dir>/<split> without suffix

    @property
    def bin_path(self) -> Path:
        return self.path.with_name(self.path.name + ".bin")

    @property
    def starts_path(self) -> Path:
        return self.path.with_name(self.path.name + ".starts.npy")

    @property
    def meta_path(self) -> Path:
        return self.path.with_name(self.path.name + ".json")

    @cached_property
    def meta(self) -> dict[str, Any]:
        return json.loads(self.meta_path.read_text(encoding="utf-8"))

    @cached_property
    def tokens(self) -> np.memmap:
        return np.memmap(self.bin_path, dtype=DTYPE, mode="r")

    @cached_property
    def story_starts(self) -> np.ndarray:
        return np.load(self.starts_path)

    @property
    def n_stories(self) -> int:
        return int(self.meta["n_stories"])

    def __len__(self) -> int:
        return int(self.meta["n_tokens"])

    def story(self, i: int) -> np.ndarray:
        """Token ids of story ``i`` (without the EOT around it)."""
        starts = self.story_starts
        end = int(starts[i + 1]) if i + 1 < len(starts) else len(self.tokens) - 1
        return np.asarray(self.tokens[int(starts[i]) + 1 : end])

    def exists(self) -> bool:
        return self.bin_path.exists() and self.starts_path.exists() and self.meta_path.exists()


@dataclass(frozen=True)
class PreparedData:
    """Tokenizer + token shards of a training run, as returned by :func:`prepare_data`."""

    tokenizer_dir: Path
    train: TokenShard
    val: TokenShard | None
    fingerprint: str
    directory: Path = field(default=Path("."), compare=False)
    reused: bool = field(default=False, compare=False)  # True when the cache already held these shards

    @cached_property
    def tokenizer(self) -> PreTrainedTokenizerBase:
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(str(self.tokenizer_dir))

    @property
    def eot_id(self) -> int:
        return int(self.train.meta["eot_id"])

    @property
    def vocab_size(self) -> int:
        return int(self.train.meta["vocab_size"])


def load_prepared(directory: str | os.PathLike, reused: bool = False) -> PreparedData:
    """Open a directory written by :func:`prepare_data` (e.g. one named in a run's metadata)."""
    directory = Path(directory)
    info_path = directory / "prepared.json"
    if not info_path.exists():
        raise DataError(f"{directory}: not a prepared-data directory (no prepared.json); run `tiny-interp prepare`")
    info = json.loads(info_path.read_text(encoding="utf-8"))
    train = TokenShard(directory / "train")
    val = TokenShard(directory / "val") if info.get("val") is not None else None
    for shard in (train, val):
        if shard is not None and not shard.exists():
            raise DataError(f"{shard.bin_path}: shard files are missing; delete {directory} and prepare again")
    return PreparedData(directory / "tokenizer", train, val, info["fingerprint"], directory, reused)


def prepare_data(
    train: str | Path,
    val: str | Path | None = None,
    tokenizer: str = "bpe",
    vocab_size: int = 4096,
    cache_dir: str | Path = ".cache/tiny-interp",
    max_stories: int | None = None,
    progress: bool = True,
) -> PreparedData:
    """Tokenize ``train`` (and ``val``) into cached uint16 shards; reuse them when nothing changed.

    ``tokenizer``: ``bpe`` trains a byte-level BPE of ``vocab_size`` on the training stories; ``gpt-neo`` (hub),
    ``gpt-neo:DIR`` (vocab.json + merges.txt) and a saved tokenizer directory are used as they are.
    ``max_stories`` caps each split (for quick runs); the BPE is then trained on the capped train stories too.
    """
    if max_stories is not None and max_stories < 1:
        raise ConfigError(f"max_stories must be at least 1, got {max_stories}")
    cache = Path(cache_dir).expanduser()
    train_id = source_identity(train, "train")
    val_id = source_identity(val, "validation") if val is not None else None
    tok = _get_tokenizer(tokenizer, train, train_id, vocab_size, max_stories, cache, progress)
    if len(tok) > MAX_VOCAB:
        raise ConfigError(
            f"the tokenizer has {len(tok)} tokens but shards store uint16 ids (at most {MAX_VOCAB}); "
            "use a smaller vocabulary"
        )
    eot = eot_id(tok)
    tok_fp = tokenizer_fingerprint(tok)
    fingerprint = _hash(
        {
            "format": FORMAT_VERSION,
            "train": train_id,
            "val": val_id,
            "tokenizer": tok_fp,
            "vocab_size": len(tok),
            "max_stories": max_stories,
        }
    )
    out = cache / fingerprint
    with _lock(cache / f".{fingerprint}.lock"):
        if (out / "prepared.json").exists():
            return load_prepared(out, reused=True)
        common = {
            "fingerprint": fingerprint,
            "tokenizer_fingerprint": tok_fp,
            "tokenizer": tokenizer,
            "vocab_size": len(tok),
            "eot_id": eot,
            "dtype": np.dtype(DTYPE).name,
            "format_version": FORMAT_VERSION,
            "max_stories": max_stories,
        }
        with atomic_directory(out) as tmp:
            tok.save_pretrained(str(tmp / "tokenizer"))
            _write_shard(tok, eot, train, "train", tmp / "train", max_stories, progress, common)
            if val is not None:
                _write_shard(tok, eot, val, "validation", tmp / "val", max_stories, progress, common)
            write_json_atomic(
                tmp / "prepared.json",
                {
                    **common,
                    "train": str(train),
                    "val": None if val is None else str(val),
                    "train_identity": train_id,
                    "val_identity": val_id,
                    "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
                },
            )
    return load_prepared(out)


def source_identity(source: str | os.PathLike, split: str) -> dict[str, Any]:
    """What the cache keys on: path, size, mtime and a hash of the first/last MB; or the hub id and split."""
    kind, where, split = resolve_source(source, split)
    if kind == "hub":
        check_hub_source(where, split)
        return {"hub": where, "split": split}
    if kind == "dir":
        folder = Path(where)
        files = sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))
        return {"dir": str(folder.resolve()), "files": [_file_identity(p) for p in files]}
    return _file_identity(Path(where))


def _file_identity(path: Path) -> dict[str, Any]:
    st = path.stat()
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        h.update(fh.read(_SAMPLE_BYTES))
        if st.st_size > _SAMPLE_BYTES:
            fh.seek(max(_SAMPLE_BYTES, st.st_size - _SAMPLE_BYTES))
            h.update(fh.read())
    return {"path": str(path.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256_ends": h.hexdigest()}


def _hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode("utf-8")).hexdigest()[:16]


@contextlib.contextmanager
def _lock(path: Path) -> Iterator[None]:
    """Serialise builders of one cache entry (e.g. several DDP ranks preparing at once)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # no advisory locks here: the atomic rename still keeps readers safe
        yield
        return
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _get_tokenizer(
    spec: str,
    train: str | Path,
    train_id: dict,
    vocab_size: int,
    max_stories: int | None,
    cache: Path,
    progress: bool,
) -> Any:
    if spec != "bpe":
        return load_tokenizer_spec(spec)
    if not 258 <= vocab_size <= MAX_VOCAB:
        raise ConfigError(f"--vocab-size must be between 258 and {MAX_VOCAB} (uint16 shards), got {vocab_size}")
    key = _hash({"format": FORMAT_VERSION, "train": train_id, "vocab_size": vocab_size, "max_stories": max_stories})
    folder = cache / "tokenizers" / f"bpe-{vocab_size}-{key}"
    with _lock(cache / "tokenizers" / f".bpe-{key}.lock"):
        if not (folder / "tokenizer.json").exists():
            stories: Iterable[str] = iter_stories(train, "train")
            if max_stories is not None:
                stories = islice(stories, max_stories)
            tok = train_bpe_tokenizer(stories, vocab_size, show_progress=progress)
            with atomic_directory(folder) as tmp:
                tok.save_pretrained(str(tmp))
    # Always the saved copy, so the first run and later runs fingerprint the very same tokenizer.
    return load_tokenizer_spec(str(folder))


def _batched(items: Iterable[str], n: int) -> Iterator[list[str]]:
    it = iter(items)
    while batch := list(islice(it, n)):
        yield batch


def _encode_batch(tok: PreTrainedTokenizerBase, batch: list[str]) -> list[list[int]]:
    backend = getattr(tok, "backend_tokenizer", None)
    if backend is not None:  # Rust, parallel over the batch; no BOS/EOS templates
        return [e.ids for e in backend.encode_batch(batch, add_special_tokens=False)]
    return tok(batch, add_special_tokens=False)["input_ids"]


def _write_shard(
    tok: Any,
    eot: int,
    source: str | Path,
    split: str,
    base: Path,
    max_stories: int | None,
    progress: bool,
    common: dict[str, Any],
) -> None:
    from tqdm.auto import tqdm

    stats = StoryStats()
    stories: Iterable[str] = iter_stories(source, split, stats)
    if max_stories is not None:
        stories = islice(stories, max_stories)
    shard = TokenShard(base)
    starts: list[int] = []
    n_tokens = 0
    with (
        open(shard.bin_path, "wb") as fh,
        tqdm(
            desc=f"tokenizing {base.name}",
            unit=" stories",
            total=max_stories,
            disable=not progress,
            smoothing=0.1,
        ) as bar,
    ):
        for batch in _batched(stories, ENCODE_BATCH):
            flat: list[int] = []
            for ids in _encode_batch(tok, batch):
                starts.append(n_tokens + len(flat))
                flat.append(eot)
                flat.extend(ids)
            fh.write(np.asarray(flat, dtype=DTYPE).tobytes())
            n_tokens += len(flat)
            bar.set_postfix(tokens=f"{n_tokens:,}", refresh=False)
            bar.update(len(batch))
        fh.write(np.asarray([eot], dtype=DTYPE).tobytes())
        n_tokens += 1
    np.save(shard.starts_path, np.asarray(starts, dtype=np.int64))
    n_story_tokens = n_tokens - len(starts) - 1
    write_json_atomic(
        shard.meta_path,
        {
            **common,
            "split": base.name,
            "source": stats.source,
            "n_stories": stats.n_stories,
            "n_blank_dropped": stats.n_blank_dropped,
            "n_bytes": stats.n_bytes,
            "n_tokens": n_tokens,
            "n_story_tokens": n_story_tokens,
            "bytes_per_token": stats.n_bytes / max(n_story_tokens, 1),
        },
    )
