"""SentencePiece BPE vocabularies (``.model`` files and llama2.c ``tok*.bin`` exports) as Hugging Face fast
tokenizers that encode exactly like SentencePiece.

SentencePiece's BPE encoder repeatedly merges the adjacent pair whose concatenation is the highest-scoring piece
of the vocabulary. A ``tokenizers`` BPE model does the same when its merge list holds every split of every
multi-character piece into two vocabulary pieces, ranked by the merged piece's score. Around it sit the
normaliser SentencePiece applies with the "identity" rule (collapse runs of spaces, strip spaces at both ends,
prepend one space, spaces become U+2581) and byte fallback for characters outside the vocabulary.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import CheckpointError

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerFast

SPACE = "\u2581"  # SentencePiece's visible space
NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6


@dataclass(frozen=True)
class SpVocab:
    """The parts of a SentencePiece model that decide how text is encoded."""

    pieces: tuple[str, ...]
    scores: tuple[float, ...]
    kinds: tuple[int, ...]  # SentencePiece piece types (NORMAL, BYTE, CONTROL, ...)
    add_dummy_prefix: bool = True
    remove_extra_whitespaces: bool = True
    source: str = ""

    def __len__(self) -> int:
        return len(self.pieces)

    def id_of(self, piece: str) -> int | None:
        try:
            return self.pieces.index(piece)
        except ValueError:
            return None


def read_sentencepiece_model(path: str | os.PathLike) -> SpVocab:
    """Pieces, scores and normaliser flags of a SentencePiece ``.model`` (BPE models only)."""
    from google.protobuf.message import DecodeError
    from sentencepiece import sentencepiece_model_pb2 as pb

    path = Path(path)
    proto = pb.ModelProto()
    try:
        proto.ParseFromString(path.read_bytes())
    except (DecodeError, OSError) as e:
        raise CheckpointError(f"{path} is not a readable SentencePiece model ({e})") from e
    if not proto.pieces:
        raise CheckpointError(f"{path} holds no vocabulary: is it a SentencePiece .model file?")
    if proto.trainer_spec.model_type != pb.TrainerSpec.BPE:
        raise CheckpointError(
            f"{path} is a SentencePiece {pb.TrainerSpec.ModelType.Name(proto.trainer_spec.model_type)} "
            "model; llama2.c models use BPE"
        )
    norm = proto.normalizer_spec
    if norm.name not in ("identity", "") or norm.precompiled_charsmap:
        raise CheckpointError(
            f"{path} uses SentencePiece normalisation {norm.name!r}; only 'identity' (llama2.c's choice) is supported"
        )
    return SpVocab(
        pieces=tuple(p.piece for p in proto.pieces),
        scores=tuple(p.score for p in proto.pieces),
        kinds=tuple(p.type for p in proto.pieces),
        add_dummy_prefix=norm.add_dummy_prefix,
        remove_extra_whitespaces=norm.remove_extra_whitespaces,
        source=str(path),
    )


def read_llama2c_tokenizer(path: str | os.PathLike) -> SpVocab:
    """A llama2.c ``tok*.bin`` export: int max_token_length, then per token float score, int length, bytes.

    The export replaces U+2581 with a space and wraps ``<s>``/``</s>`` in newlines; both are undone here. It keeps
    no normaliser flags, so llama2.c's training settings (identity rule, dummy prefix, whitespace collapsing) apply.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise CheckpointError(f"cannot read tokenizer {path} ({e})") from e
    if len(data) < 4:
        raise CheckpointError(f"{path} is too short to be a llama2.c tokenizer")
    (max_len,) = struct.unpack_from("<i", data, 0)
    pieces: list[str] = []
    scores: list[float] = []
    kinds: list[int] = []
    offset = 4
    while offset < len(data):
        if offset + 8 > len(data):
            raise CheckpointError(f"{path} ends inside a token record (byte {offset}): the file is truncated")
        score, length = struct.unpack_from("<fi", data, offset)
        offset += 8
        if length < 0 or length > max(max_len, 64) * 4 or offset + length > len(data):
            raise CheckpointError(
                f"{path} has a bad token length {length} at byte {offset - 4}: "
                "not a llama2.c tokenizer export, or truncated"
            )
        try:
            text = data[offset : offset + length].decode("utf-8")
        except UnicodeDecodeError as e:
            raise CheckpointError(f"{path}: token {len(pieces)} is not valid UTF-8 ({e})") from e
        offset += length
        piece, kind = _undo_export(text, len(pieces))
        pieces.append(piece)
        scores.append(score)
        kinds.append(kind)
    if not pieces:
        raise CheckpointError(f"{path} holds no tokens")
    return SpVocab(tuple(pieces), tuple(scores), tuple(kinds), source=str(path))


def _undo_export(text: str, index: int) -> tuple[str, int]:
    stripped = text.strip("\n")
    if stripped in ("<s>", "</s>") and text != stripped:
        return stripped, CONTROL
    if index == 0 and text == "<unk>":
        return text, UNKNOWN
    if len(text) == 6 and text.startswith("<0x") and text.endswith(">"):
        return text, BYTE
    return text.replace(" ", SPACE), NORMAL


def read_tokenizer_vocab(path: str | os.PathLike) -> SpVocab:
    """A SentencePiece ``.model`` or a llama2.c ``tok*.bin``, told apart by content (protobuf vs. int header)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"tokenizer file {path} does not exist; pass a SentencePiece .model or llama2.c tok*.bin")
    if path.suffix == ".model":
        return read_sentencepiece_model(path)
    if path.suffix == ".bin":
        return read_llama2c_tokenizer(path)
    try:
        return read_sentencepiece_model(path)
    except CheckpointError:
        return read_llama2c_tokenizer(path)


def bpe_merges(vocab: SpVocab) -> list[tuple[str, str]]:
    """Every split of every mergeable piece into two vocabulary pieces, best-scoring merged piece first."""
    ids = {p: i for i, p in enumerate(vocab.pieces) if vocab.kinds[i] in (NORMAL, USER_DEFINED)}
    ranked = []
    for piece, i in ids.items():
        for cut in range(1, len(piece)):
            left, right = piece[:cut], piece[cut:]
            if left in ids and right in ids:
                ranked.append((-vocab.scores[i], i, ids[left], ids[right], left, right))
    ranked.sort()
    return [(left, right) for *_, left, right in ranked]


def build_fast_tokenizer(vocab: SpVocab, model_max_length: int = 2048) -> PreTrainedTokenizerFast:
    """A ``transformers`` fast tokenizer with SentencePiece's encoding of this vocabulary.

    ``<s>`` serves as both BOS and EOS (see ``tiny_interp.llama2c``); ``add_special_tokens=True`` prepends it.
    """
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, processors
    from transformers import PreTrainedTokenizerFast

    bos = "<s>" if "<s>" in vocab.pieces else None
    unk = vocab.pieces[vocab.kinds.index(UNKNOWN)] if UNKNOWN in vocab.kinds else None
    model = models.BPE(
        vocab={p: i for i, p in enumerate(vocab.pieces)},
        merges=bpe_merges(vocab),
        unk_token=unk,
        byte_fallback=BYTE in vocab.kinds,
        fuse_unk=True,
    )
    tok = Tokenizer(model)
    steps: list[normalizers.Normalizer] = []
    if vocab.remove_extra_whitespaces:
        steps += [normalizers.Replace(Regex(" {2,}"), " "), normalizers.Replace(Regex(r"\A | \z"), "")]
    if vocab.add_dummy_prefix:
        steps.append(normalizers.Prepend(SPACE))
    steps.append(normalizers.Replace(" ", SPACE))
    tok.normalizer = normalizers.Sequence(steps)
    tok.pre_tokenizer = None
    decode_steps = [decoders.Replace(SPACE, " "), decoders.ByteFallback(), decoders.Fuse()]
    if vocab.add_dummy_prefix:
        decode_steps.append(decoders.Strip(" ", 1, 0))
    tok.decoder = decoders.Sequence(decode_steps)
    specials = [p for p, k in zip(vocab.pieces, vocab.kinds) if k in (CONTROL, UNKNOWN)]
    tok.add_special_tokens([AddedToken(p, special=True, normalized=False) for p in specials])
    if bos is not None:
        tok.post_processor = processors.TemplateProcessing(
            single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, vocab.pieces.index(bos))]
        )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=bos,
        eos_token=bos,
        unk_token=unk,
        pad_token=bos,
        model_max_length=model_max_length,
        clean_up_tokenization_spaces=False,
    )
