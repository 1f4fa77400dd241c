"""Varied English sentences for the talking corpus, the same ones for the same seed.

Sentences come from templates (statements, questions, requests, exclamations,
greetings, reports) filled from word lists that are rich in every mouth shape:
bilabials (p b m), labiodentals (f v), rounded (w, oo, o) and spread (ee) vowels,
open vowels, and th / sh / ch. A mood ("calm" or "excited") leans the choice
toward statements or exclamations. Everything draws from one
``numpy.random.Generator``, so ``sentence(seed)`` and ``sentences(n, seed)`` are
reproducible.
"""
from __future__ import annotations

import numpy as np

NAMES = ("Maria", "Bob", "Pam", "Oliver", "Fiona", "Victor", "Wendy", "Theo", "Sasha", "Mike", "Ruth",
         "James", "Lucy", "Ahmed", "Nora", "Paul", "Beth", "Owen", "Grace", "Hugo", "Ivy", "Tom")
PEOPLE = ("my brother", "the teacher", "our neighbour", "the pilot", "a friendly doctor", "my mother",
          "the baker", "your cousin", "the old farmer", "the new manager", "a young musician", "the mayor")
OBJECTS = ("the blue umbrella", "a big map", "the morning paper", "some fresh bread", "a pair of boots",
           "the violin", "a bowl of soup", "the heavy box", "a photo of the beach", "the broken window",
           "a cup of coffee", "the birthday cake", "a bunch of flowers", "the phone bill", "a wooden boat",
           "the music player", "a bottle of water", "the purple shoes", "a few moving boxes", "the keys")
PLACES = ("at the market", "by the river", "in the kitchen", "on the bus", "at the museum",
          "in the park", "behind the library", "at the office", "on the beach", "in the garden",
          "near the bridge", "at the station", "up on the roof", "in the old theatre")
TIMES = ("this morning", "last Monday", "yesterday evening", "every Friday", "before breakfast",
         "after the movie", "in the summer", "tomorrow", "at midnight", "two weeks ago", "by noon")
VERBS_PAST = ("bought", "found", "moved", "borrowed", "dropped", "painted", "fixed", "brought", "wrapped",
              "carried", "photographed", "washed", "picked up", "forgot", "opened", "shipped")
VERBS = ("buy", "find", "move", "borrow", "paint", "fix", "bring", "wrap", "carry", "wash", "pick up",
         "open", "share", "check", "explain", "remember")
ADJECTIVES = ("beautiful", "amazing", "boring", "wonderful", "awful", "perfect", "peaceful", "massive",
              "tiny", "smooth", "brilliant", "simple", "foolish", "marvellous", "quiet", "huge")
TOPICS = ("the weather", "the football match", "the new menu", "your vacation", "the museum tour",
          "modern music", "the movie we saw", "the budget", "this puzzle", "the family photo",
          "the moon landing", "the fish market", "the robot", "the voice message")
FEELINGS = ("happy", "worried", "thrilled", "tired", "proud", "surprised", "calm", "bored", "furious")
REASONS = ("the shop closes soon", "it might rain", "we promised them", "the bus was late",
           "everybody will be there", "the price went up", "the boss asked for it", "it is our turn")
NUMBERS = ("two", "five", "seven", "nine", "twelve", "fifteen", "twenty", "fifty", "a hundred")

# (template, mood weight: calm, excited). Slots: {name} {person} {object} {place} {time} {verb_past}
# {verb} {adjective} {topic} {feeling} {reason} {number}.
TEMPLATES: tuple[tuple[str, float, float], ...] = (
    ("{Person} {verb_past} {object} {place} {time}.", 1.0, 0.4),
    ("I think {person} {verb_past} {object} {time}.", 1.0, 0.3),
    ("Could you please {verb} {object} before {time}?", 1.0, 0.4),
    ("Did {name} really {verb} {object} {place}?", 0.7, 0.8),
    ("What do you think about {topic}?", 1.0, 0.5),
    ("Hello {name}, how are you today?", 0.8, 0.6),
    ("We should {verb} {object} {time}, because {reason}.", 1.0, 0.4),
    ("The {adjective} view {place} made me feel {feeling}.", 0.8, 0.6),
    ("{Name} was {feeling} when {person} {verb_past} {object}.", 0.8, 0.7),
    ("There were {number} people waiting {place} {time}.", 1.0, 0.3),
    ("Please remember to {verb} {object} {place}.", 1.0, 0.3),
    ("I can't believe {person} {verb_past} {object}!", 0.2, 1.2),
    ("Wow, that was {adjective}!", 0.1, 1.2),
    ("Oh my goodness, {name}, look at {object}!", 0.1, 1.2),
    ("This is the most {adjective} thing I have ever seen!", 0.1, 1.1),
    ("Hurry up, we have to {verb} {object} {time}!", 0.1, 1.1),
    ("Yes! We finally {verb_past} {object}!", 0.1, 1.1),
    ("Maybe we could talk about {topic} {time}.", 1.0, 0.3),
    ("{Name} told me that {topic} was {adjective}.", 0.9, 0.6),
    ("Would you rather {verb} {object} or stay {place}?", 0.8, 0.6),
    ("Thank you so much for {object}, it is {adjective}.", 0.7, 0.8),
    ("Every {time_word} we walk {place} and talk about {topic}.", 1.0, 0.2),
    ("Why did {person} leave {object} {place}?", 0.8, 0.7),
    ("{Number} boats were moving slowly {place}.", 1.0, 0.3),
)
TIME_WORDS = ("morning", "evening", "weekend", "summer", "Monday", "Friday")
MOODS = ("calm", "excited")


def _fill(template: str, rng: np.random.Generator) -> str:
    pick = lambda words: str(words[int(rng.integers(len(words)))])  # noqa: E731
    slots = {
        "name": pick(NAMES), "person": pick(PEOPLE), "object": pick(OBJECTS), "place": pick(PLACES),
        "time": pick(TIMES), "verb_past": pick(VERBS_PAST), "verb": pick(VERBS),
        "adjective": pick(ADJECTIVES), "topic": pick(TOPICS), "feeling": pick(FEELINGS),
        "reason": pick(REASONS), "number": pick(NUMBERS), "time_word": pick(TIME_WORDS),
    }
    slots.update({k.capitalize(): v[:1].upper() + v[1:] for k, v in list(slots.items())})
    return template.format(**slots)


def make_sentence(rng: np.random.Generator, mood: str | None = None) -> str:
    """One sentence; ``mood`` ("calm" / "excited") weights the template choice."""
    if mood is not None and mood not in MOODS:
        raise ValueError(f"unknown mood {mood!r}; known: {', '.join(MOODS)}")
    col = {None: None, "calm": 1, "excited": 2}[mood]
    weights = np.ones(len(TEMPLATES)) if col is None else np.array([t[col] for t in TEMPLATES])
    template = TEMPLATES[int(rng.choice(len(TEMPLATES), p=weights / weights.sum()))][0]
    return _fill(template, rng)


def sentence(seed: int, mood: str | None = None) -> str:
    """The sentence of ``seed``."""
    return make_sentence(np.random.default_rng([0x5E, int(seed)]), mood)


def sentences(n: int, seed: int = 0, mood: str | None = None,
              words: tuple[int, int] | None = None) -> list[str]:
    """``n`` sentences from one seed; ``words=(lo, hi)`` joins sentences until a text has lo..hi words."""
    rng = np.random.default_rng([0x5E, int(seed), n])
    out = []
    for _ in range(n):
        text = make_sentence(rng, mood)
        if words is not None:
            lo, hi = words
            target = int(rng.integers(lo, hi + 1))
            while len(text.split()) < target:
                text += " " + make_sentence(rng, mood)
        out.append(text)
    return out
