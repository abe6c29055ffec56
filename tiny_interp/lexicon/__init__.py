"""The one lexicon: every word list that synthesis (``llm/``), the metrics (``eval/``) and the head and neuron
taxonomy (``interp/``) use, and their mapping onto token ids.

- ``simple``: the simple nouns, verbs, adjectives and function words, their inflected forms, word tokenization.
- ``classes``: story words by class (names, objects, pronouns, determiners).
- ``tokens``: the classes' token ids in a tokenizer's vocabulary.
"""

from .classes import DETERMINERS, NAMES, OBJECTS, PRONOUNS, WORD_CLASSES
from .simple import (
    ADJECTIVES,
    FUNCTION_WORDS,
    NOUNS,
    VERBS,
    missing_words,
    simple_vocabulary,
    tokenize_words,
    word_forms,
)
from .tokens import class_token_ids, normalize_token, word_class_of

__all__ = [
    "ADJECTIVES",
    "DETERMINERS",
    "FUNCTION_WORDS",
    "NAMES",
    "NOUNS",
    "OBJECTS",
    "PRONOUNS",
    "VERBS",
    "WORD_CLASSES",
    "class_token_ids",
    "missing_words",
    "normalize_token",
    "simple_vocabulary",
    "tokenize_words",
    "word_class_of",
    "word_forms",
]
