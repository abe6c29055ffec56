"""Kept only so ``interp/neurons.py`` imports keep working until its split lands: the word lists and their token
ids live in ``tiny_interp.lexicon``. New code imports from there."""

from ..lexicon import WORD_CLASSES, class_token_ids

__all__ = ["WORD_CLASSES", "class_token_ids"]
