"""Tokenizers: a byte-level BPE trained on the stories, or GPT-Neo's GPT-2 BPE (from the hub or local files).

Either way the result is a ``transformers`` fast tokenizer whose ``save_pretrained`` directory loads with
``AutoTokenizer.from_pretrained(dir)``, with ``<|endoftext|>`` as BOS, EOS and UNK, as GPT-Neo has it.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ConfigError, DataError

if TYPE_CHECKING:
    from transformers import GPT2Tokenizer, PreTrainedTokenizerBase, PreTrainedTokenizerFast

EOT = "<|endoftext|>"
GPT_NEO_HUB_ID = "EleutherAI/gpt-neo-125M"


def train_bpe_tokenizer(
    stories: Iterable[str], vocab_size: int = 4096, show_progress: bool = False
) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE on the stories; ``<|endoftext|>`` is token 0."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    if vocab_size < 257 + 1:
        raise ConfigError(f"vocab_size must be at least 258 (256 bytes + {EOT} + one merge), got {vocab_size}")
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOT],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=show_progress,
    )
    tok.train_from_iterator(stories, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=EOT, eos_token=EOT, unk_token=EOT, model_max_length=2048
    )


def gpt_neo_tokenizer(local_dir: str | os.PathLike | None = None) -> GPT2Tokenizer:
    """GPT-Neo's tokenizer: from a folder with ``vocab.json`` + ``merges.txt``, or else from the hub."""
    # transformers 5's GPT2Tokenizer is the tokenizers-backed class (GPT2TokenizerFast is an alias of it)
    from transformers import GPT2Tokenizer

    if local_dir is None:
        local_dir = _gpt_neo_files_from_hub()
    folder = Path(local_dir)
    vocab, merges = folder / "vocab.json", folder / "merges.txt"
    for f in (vocab, merges):
        if not f.exists():
            raise DataError(f"{f} not found: a GPT-Neo tokenizer folder needs vocab.json and merges.txt")
    try:
        vocab_dict = json.loads(vocab.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataError(f"{vocab} is not a valid vocab.json ({e})") from e
    merge_lines = [
        tuple(line.split(" "))
        for line in merges.read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#version")
    ]
    # transformers annotates merges as list[str], but hands them to tokenizers' BPE, which takes (a, b) pairs
    return GPT2Tokenizer(
        vocab=vocab_dict,
        merges=merge_lines,  # type: ignore[arg-type]
        bos_token=EOT,
        eos_token=EOT,
        unk_token=EOT,
        model_max_length=2048,
    )


def _gpt_neo_files_from_hub() -> Path:
    """A folder with GPT-Neo's vocab.json + merges.txt: the local Hugging Face cache if it has them, else the hub."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    files = ["vocab.json", "merges.txt"]
    # (AutoTokenizer with local_files_only can return an empty tokenizer instead of failing, so fetch the files.)
    try:
        folder = Path(snapshot_download(GPT_NEO_HUB_ID, allow_patterns=files, local_files_only=True))
        if all((folder / f).exists() for f in files):
            return folder
    except (LocalEntryNotFoundError, OSError):
        pass
    from ..hub import require_hub

    require_hub(
        "the GPT-Neo tokenizer",
        "Pass a local folder holding vocab.json and merges.txt (e.g. --tokenizer gpt-neo:PATH).",
    )
    return Path(snapshot_download(GPT_NEO_HUB_ID, allow_patterns=files))


def load_tokenizer_spec(spec: str) -> PreTrainedTokenizerBase:
    """A ready tokenizer from ``gpt-neo`` (hub), ``gpt-neo:DIR`` (vocab.json + merges.txt) or a saved directory.

    (``bpe`` needs training stories: see :func:`train_bpe_tokenizer`.)
    """
    if spec == "gpt-neo":
        return gpt_neo_tokenizer(None)
    if spec.startswith("gpt-neo:"):
        return gpt_neo_tokenizer(spec.split(":", 1)[1])
    folder = Path(spec).expanduser()
    if not folder.is_dir():
        raise ConfigError(
            f"unknown tokenizer {spec!r}: use 'bpe' (train one on the data), 'gpt-neo', 'gpt-neo:DIR' "
            "(a folder with vocab.json + merges.txt) or a folder saved by save_pretrained (tokenizer.json)"
        )
    if not any((folder / f).exists() for f in ("tokenizer.json", "vocab.json", "tokenizer.model")):
        raise DataError(f"{folder}: no tokenizer files (tokenizer.json, or vocab.json + merges.txt) in this folder")
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(str(folder))
    except (OSError, ValueError) as e:
        raise DataError(f"{folder}: the tokenizer could not be loaded ({e})") from e


def tokenizer_fingerprint(tokenizer: PreTrainedTokenizerBase) -> str:
    """Content hash of the tokenizer's ``tokenizer.json`` (vocabulary, merges, normalisation, special tokens)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        raise ConfigError(f"{type(tokenizer).__name__} is not a fast tokenizer; tiny-interp needs a tokenizer.json one")
    return hashlib.sha256(backend.to_str().encode("utf-8")).hexdigest()[:16]


def eot_id(tokenizer: PreTrainedTokenizerBase) -> int:
    """The id of ``<|endoftext|>``, which separates (and begins) stories in token shards."""
    tid = tokenizer.get_vocab().get(EOT)
    if tid is None:
        raise DataError(f"the tokenizer has no {EOT} token; tiny-interp uses it as BOS/EOS between stories")
    return int(tid)
