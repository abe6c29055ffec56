"""Bits per byte: a loss that compares models whatever their tokenizer.

Each story is scored as the model sees stories in training: ``BOS story EOS`` (the model config's ids; for GPT-Neo
tokenizers both are ``<|endoftext|>``, for llama2.c models both are ``<s>``). Every story token and the final EOS
are predicted once, each given everything before it in the story; the sum of their negative log-likelihoods
(nats) is divided by ln 2 and by the UTF-8 bytes of the story text. Predicting the end of the story is included:
it is part of modelling the text (where a story stops), and every tokenizer pays for exactly one such event per
story, so figures stay comparable across tokenizers.

``stream_bits_per_byte`` is the llama2.c-style alternative, kept for comparison with figures computed that way
(e.g. the 0.965 quoted for stories260K): the stories are joined into one stream ``BOS s1 BOS s2 ... BOS`` and cut
into consecutive chunks of ``chunk`` tokens, each token predicted from the earlier tokens of its chunk only, so
tokens early in a chunk get little context and the figure comes out higher.

Stories longer than the context are scored with a sliding window: the first window scores all its tokens; each
next window ends ``stride`` tokens later (default: half the context) and scores only its new tokens, so every
token is scored exactly once and with at least ``n_ctx - stride`` tokens of left context.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F

from ..errors import ConfigError
from ..model.threads import threads_for
from ..model.transformer import TinyLM

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

STORIES_PER_CHUNK = 512  # stories tokenized and sorted together; bounds memory on streams of any length
LOGIT_ELEMENTS = 1 << 24  # at most this many logits (64 MB) alive at once, whatever the vocabulary


@dataclass(frozen=True)
class BpbResult:
    bpb: float
    nats: float  # total negative log-likelihood of all scored tokens
    n_bytes: int  # UTF-8 bytes of all stories
    n_tokens: int  # scored tokens: story tokens plus one end-of-story token per story
    n_stories: int

    @property
    def nats_per_token(self) -> float:
        return self.nats / self.n_tokens if self.n_tokens else float("nan")

    @property
    def bytes_per_token(self) -> float:
        return self.n_bytes / self.n_tokens if self.n_tokens else float("nan")


@dataclass(frozen=True)
class Window:
    ids: list[int]
    n_scored: int  # the last n_scored tokens of ids are targets


def story_windows(ids: list[int], n_ctx: int, stride: int) -> list[Window]:
    """Windows of at most ``n_ctx`` tokens that together score ids[1:] exactly once."""
    if len(ids) <= n_ctx:
        return [Window(ids, len(ids) - 1)]
    windows = [Window(ids[:n_ctx], n_ctx - 1)]
    end = n_ctx
    while end < len(ids):
        new_end = min(end + stride, len(ids))
        windows.append(Window(ids[new_end - n_ctx : new_end], new_end - end))
        end = new_end
    return windows


def encode_stories(tokenizer: PreTrainedTokenizerBase, stories: list[str], bos: int, eos: int) -> list[list[int]]:
    encoded = tokenizer(stories, add_special_tokens=False, verbose=False)["input_ids"]
    return [[bos, *ids, eos] for ids in encoded]


def _batch_nats(model: TinyLM, batch: list[Window], device: torch.device) -> float:
    T = max(len(w.ids) for w in batch)
    ids = torch.zeros((len(batch), T), dtype=torch.long)
    rows: list[int] = []
    positions: list[int] = []
    targets: list[int] = []
    for r, w in enumerate(batch):
        n = len(w.ids)
        ids[r, :n] = torch.tensor(w.ids)
        # right padding: causal attention keeps real tokens blind to it
        rows += [r] * w.n_scored
        positions += range(n - 1 - w.n_scored, n - 1)
        targets += w.ids[n - w.n_scored :]
    # the final residual only; the readout (final norm + unembedding) then runs on the scored rows, in slices
    hidden = model(ids.to(device), stop_at_layer=model.cfg.n_layers)
    picked = hidden[torch.tensor(rows, device=device), torch.tensor(positions, device=device)]
    target = torch.tensor(targets, device=device)
    step = max(1, LOGIT_ELEMENTS // model.cfg.vocab_size)
    total = 0.0
    for i in range(0, len(targets), step):
        logits = model.readout(picked[None, i : i + step])[0].float()  # [1, rows, d]: the hooks see [batch, pos, d]
        total += F.cross_entropy(logits, target[i : i + step], reduction="sum").double().item()
    return total


def _chunks(it: Iterable[str], n: int) -> Iterator[list[str]]:
    it = iter(it)
    while chunk := list(islice(it, n)):
        yield chunk


@torch.inference_mode()
def bits_per_byte(
    model: TinyLM,
    tokenizer: Any,
    stories: Iterable[str],
    *,
    batch_size: int = 16,
    stride: int | None = None,
    progress: bool = False,
) -> BpbResult:
    """Bits per UTF-8 byte of ``stories`` under ``model`` (see the module docstring for what is scored)."""
    cfg = model.cfg
    stride = stride or max(1, cfg.n_ctx // 2)
    if not 1 <= stride <= cfg.n_ctx - 1:
        raise ConfigError(f"stride must be between 1 and n_ctx - 1 = {cfg.n_ctx - 1}, got {stride}")
    if batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(unit="story", desc="bits per byte")
    was_training = model.training
    model.eval()
    nats, n_bytes, n_tokens, n_stories = 0.0, 0, 0, 0
    try:
        with threads_for(batch_size * cfg.n_ctx * cfg.d_model, model.device):
            for chunk in _chunks(stories, STORIES_PER_CHUNK):
                n_bytes += sum(len(s.encode("utf-8")) for s in chunk)
                n_stories += len(chunk)
                windows = [
                    w
                    for ids in encode_stories(tokenizer, chunk, cfg.bos_token_id, cfg.eos_token_id)
                    for w in story_windows(ids, cfg.n_ctx, stride)
                ]
                n_tokens += sum(w.n_scored for w in windows)
                windows.sort(key=lambda w: len(w.ids), reverse=True)  # similar lengths share a batch: little padding
                for i in range(0, len(windows), batch_size):
                    nats += _batch_nats(model, windows[i : i + batch_size], model.device)
                if bar is not None:
                    bar.update(len(chunk))
    finally:
        model.train(was_training)
        if bar is not None:
            bar.close()
    bpb = nats / math.log(2) / n_bytes if n_bytes else float("nan")
    return BpbResult(bpb=bpb, nats=nats, n_bytes=n_bytes, n_tokens=n_tokens, n_stories=n_stories)


@torch.inference_mode()
def stream_bits_per_byte(
    model: TinyLM,
    tokenizer: Any,
    stories: Iterable[str],
    *,
    chunk: int = 256,
    batch_size: int = 16,
) -> BpbResult:
    """Bits per byte with llama2.c-style chunked scoring of the joined stream (see the module docstring)."""
    cfg = model.cfg
    if not 1 <= chunk <= cfg.n_ctx:
        raise ConfigError(f"chunk must be between 1 and the context {cfg.n_ctx}, got {chunk}")
    stories = list(stories)
    n_bytes = sum(len(s.encode("utf-8")) for s in stories)
    stream = [t for ids in encode_stories(tokenizer, stories, cfg.bos_token_id, cfg.eos_token_id) for t in ids[:-1]]
    stream.append(cfg.eos_token_id)
    # chunk i predicts stream[i*chunk + 1 : (i+1)*chunk + 1] from stream[i*chunk : (i+1)*chunk]
    windows = [
        Window(stream[i : i + chunk + 1], len(stream[i : i + chunk + 1]) - 1) for i in range(0, len(stream) - 1, chunk)
    ]
    was_training = model.training
    model.eval()
    nats = 0.0
    try:
        with threads_for(batch_size * chunk * cfg.d_model, model.device):
            windows.sort(key=lambda w: len(w.ids), reverse=True)
            for i in range(0, len(windows), batch_size):
                nats += _batch_nats(model, windows[i : i + batch_size], model.device)
    finally:
        model.train(was_training)
    n_tokens = len(stream) - 1
    bpb = nats / math.log(2) / n_bytes if n_bytes else float("nan")
    return BpbResult(bpb=bpb, nats=nats, n_bytes=n_bytes, n_tokens=n_tokens, n_stories=len(stories))
