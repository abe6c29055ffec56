"""Synthetic children's stories for tests that must run without ../shared (templated, deterministic)."""

from __future__ import annotations

import random

NAMES = ["Lily", "Tom", "Ben", "Mia", "Sam", "Anna", "Max", "Lucy"]
ANIMALS = ["cat", "dog", "bird", "frog", "bunny", "duck"]
OBJECTS = ["ball", "box", "kite", "hat", "cake", "toy", "tree", "boat"]
ADJS = ["big", "red", "happy", "little", "shiny", "soft", "blue", "funny"]
VERBS = ["play", "run", "jump", "share", "look", "help", "sing", "swim"]


def story(rng: random.Random) -> str:
    name, friend = rng.sample(NAMES, 2)
    animal, obj, adj, verb = rng.choice(ANIMALS), rng.choice(OBJECTS), rng.choice(ADJS), rng.choice(VERBS)
    return (
        f"Once upon a time, there was a {adj} {animal} named {name}. {name} liked to {verb} with a {obj}.\n\n"
        f'One day, {name} met {friend}. "Can I {verb} with your {obj}?" asked {friend}. '
        f'{name} said, "Yes, let us {verb} together!"\n\n'
        f"They were very happy. {name} and {friend} became best friends and played with the {adj} {obj} every day."
    )


def stories(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [story(rng) for _ in range(n)]


def write_txt(path, texts: list[str]) -> None:
    """Write stories in the TinyStories .txt format: each story followed by a line <|endoftext|>."""
    with open(path, "w", encoding="utf-8") as fh:
        for t in texts:
            fh.write(t + "\n<|endoftext|>\n")
