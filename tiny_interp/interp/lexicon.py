"""A small team-written lexicon of story words, by class, and its mapping onto a tokenizer's vocabulary.

The classes are the ones the TinyStories paper reads heads and neurons against: character names, object nouns,
pronouns and determiners. Token ids belong to a class when the token, without its leading-space marker, is a
whole word of the class (case-insensitive). Sub-word pieces of longer names are not counted: small story
vocabularies keep the common names whole, and a partial match would blur the classes.
"""

from __future__ import annotations

from typing import Any

NAMES: frozenset[str] = frozenset("""
lily tom ben sue tim max mia anna sam jack lucy sara sarah amy bob mike jane zoe billy timmy sally molly kitty
spot benny emma jill joe leo lila lisa mary john jim kate ella ellie bella daisy rosie rose jenny jen joey
tommy bobby danny dan susie suzy peter paul mark luke ann annie tina nina nora olivia sophie sophia jake jay
alex andy kim kai finn fin rex buddy fluffy whiskers mittens coco lulu lola luna milo oscar charlie teddy
freddy fred harry henry jimmy johnny katie lucas mila noah liam ava grace chloe ruby hannah jess bill pip
""".split())

OBJECTS: frozenset[str] = frozenset("""
ball toy toys box tree car book cake apple hat kite boat doll bear teddy blanket bed cup bowl plate spoon
truck train bike shoe shoes sock socks shirt dress coat bag basket flower flowers rock stone stick leaf leaves
door window house home chair table cookie cookies candy pie sandwich banana carrot juice milk water bottle
balloon drum bell block blocks crayon crayons paper pencil picture puzzle rope swing slide sand castle shell
box boxes key lock jar pot pan ring necklace crown sword wand map treasure coin coins egg eggs bread cheese
clock lamp phone computer robot rocket plane ship hammer brush mirror pillow tent fence gate wall bridge
""".split())

PRONOUNS: frozenset[str] = frozenset("""
he she it they him her them his hers its their theirs i me my mine you your yours we us our ours
himself herself itself themselves myself yourself ourselves
""".split())

DETERMINERS: frozenset[str] = frozenset("""
the a an this that these those some every each any another no all both either neither
""".split())

WORD_CLASSES: dict[str, frozenset[str]] = {
    "names": NAMES,
    "objects": OBJECTS,
    "pronouns": PRONOUNS,
    "determiners": DETERMINERS,
}

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


def class_token_ids(tokenizer: Any, classes: dict[str, frozenset[str]] | None = None) -> dict[str, frozenset[int]]:
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
