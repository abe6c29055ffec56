"""The word classes mapped onto a tokenizer's vocabulary.

Token ids belong to a class when the token, without its leading-space marker, is a whole word of the class
(case-insensitive). Sub-word pieces of longer names are not counted: small story vocabularies keep the common
names whole, and a partial match would blur the classes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .classes import WORD_CLASSES

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

# leading-space markers of byte-level BPE (GPT-2/GPT-Neo) and SentencePiece (llama2.c) vocabularies
_SPACE_MARKERS = ("Ġ", "▁", " ")


def normalize_token(piece: str) -> str:
    for marker in _SPACE_MARKERS:
        piece = piece.replace(marker, "")
    return piece.strip().lower()


def word_class_of(word: str) -> str | None:
    w = normalize_token(word)
    for name, words in WORD_CLASSES.items():
        if w in words:
            return name
    return None


_CACHE: dict[tuple[int, int], dict[str, frozenset[int]]] = {}


def class_token_ids(
    tokenizer: PreTrainedTokenizerBase, classes: dict[str, frozenset[str]] | None = None
) -> dict[str, frozenset[int]]:
    """Token ids of each word class in this tokenizer's vocabulary (cached per tokenizer for the default classes)."""
    key = (id(tokenizer), len(tokenizer))
    if classes is None and key in _CACHE:
        return _CACHE[key]
    table = classes or WORD_CLASSES
    # decode each id on its own: byte-level pieces like "Ġtom" decode to " tom"
    pieces = tokenizer.batch_decode([[i] for i in range(len(tokenizer))])
    normalized = [normalize_token(p) for p in pieces]
    out = {name: frozenset(i for i, w in enumerate(normalized) if w in words) for name, words in table.items()}
    if classes is None:
        _CACHE[key] = out
    return out
