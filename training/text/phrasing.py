"""Pick phrasings from the lexicon with an rng, keeping the held-out pool apart.

``Phrasing(rng, split)`` is handed to every text function. With split "train",
"val" or "test" it only ever picks train phrasings. With split "paraphrase" it picks a
held-out phrasing with probability ``HELDOUT_SHARE`` wherever the fact has one
(a train phrasing otherwise) and counts how many it used, so callers can insist
on at least one: paraphrase prompts then differ from anything seen in training
in their wording while saying the same thing.
"""
from __future__ import annotations

import numpy as np

from training.text.lexicon import LEXICON, inflect

SPLITS = ("train", "val", "test", "paraphrase")  # all but paraphrase use the train pool
HELDOUT_SHARE = 0.6


class Phrasing:
    def __init__(self, rng: np.random.Generator | int | None = None, split: str = "train") -> None:
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        self.rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        self.split = split
        self.heldout_used = 0

    def pick(self, key: str) -> str:
        """One phrasing of ``key`` (verb keys come back in the base form)."""
        opts = LEXICON[key]
        pool = opts.train
        if self.split == "paraphrase" and opts.heldout and (not opts.train or self.rng.random() < HELDOUT_SHARE):
            pool = opts.heldout
            self.heldout_used += 1
        return pool[int(self.rng.integers(len(pool)))]

    def verb(self, key: str, form: str = "3sg", possessive: str = "their", **slots: str) -> str:
        """A verb phrase of ``key`` inflected ('base', '3sg', 'ing')."""
        phrase = self.pick(key).replace("{p}", possessive)
        if slots:
            phrase = phrase.format(**slots)
        return inflect(phrase, form)

    def choice(self, items):
        """Pick one of the caller's own alternatives (templates), by the same rng."""
        return items[int(self.rng.integers(len(items)))]

    def chance(self, p: float) -> bool:
        return bool(self.rng.random() < p)


def join_clauses(clauses: list[str], ph: Phrasing) -> str:
    """'a', 'a and b', 'a, b and c' (with an occasional serial comma)."""
    clauses = [c for c in clauses if c]
    if len(clauses) <= 1:
        return "".join(clauses)
    head = ", ".join(clauses[:-1])
    comma = "," if len(clauses) > 2 and ph.chance(0.3) else ""
    return f"{head}{comma} and {clauses[-1]}"


def sentence(text: str) -> str:
    """Capitalise the first letter, tidy spaces and end with one full stop."""
    text = " ".join(text.split()).replace(" ,", ",")
    text = text.rstrip(" ,.")
    if not text:
        return ""
    return text[0].upper() + text[1:] + "."


def word_count(text: str) -> int:
    return len(text.split())
