"""The attributes evaluation compares: emotion, head motion and speaking, from labels or from text.

A clip's attributes (``clip_attributes``), from the corpus ground truth (``labels`` in
the clip metadata) or from what the annotator reads off any motion
(``training.annotate`` labels), both formats accepted:

- ``emotion``: the non-neutral emotions in time order, repeats collapsed, segments
  shorter than ``MIN_EMOTION_S`` left out (the describer's threshold: a passing
  blend is not an emotion); () for a neutral face.
- ``head``: the head moves other than 'still' in time order (turn_left, nod, ...),
  repeats collapsed; () for a still head.
- ``speaking``: none | calm | excited.
- ``head_directions``: the set of held-pose moves (turns, tilts, looking up/down),
  sorted; nods and shakes left out.

Each attribute of a clip's motion is right only when it equals the truth exactly
(order included).
On real test motions the annotator's reading matches the ground truth for about 99 %
of clips per attribute under these definitions: that is the ceiling for
Language2Motion, where the annotator judges generated motion.

``text_attributes`` reads the same attributes out of Motion2Language text with the
annotator's own lexicon (``training.text.lexicon``, train and held-out phrasings):
emotion words from the ``emotion`` text, head moves from ``detail_head_pose``,
speaking from ``action``; phrases are matched longest first, left to right, and a
"without ..." clause ("without tilting, turning or nodding") names nothing. A text
may leave out part of a long chain (the describer keeps the start, the end and one
emotion between; at most nine head clauses), so ``compare(..., named=True)`` counts
emotion and head right when the text names a non-empty subsequence of the truth in
order (nothing when the truth is empty): nothing wrong, nothing out of order.
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, Mapping, Sequence

from training.metrics.text import words
from training.text.lexicon import LEXICON, inflect

MIN_EMOTION_S = 0.6
_NEGATED = re.compile(r"\bwithout\b[^.;]*", re.IGNORECASE)
ATTRIBUTES = ("emotion", "head", "speaking")
EXTRA_ATTRIBUTES = ("head_directions", "speaking_binary")
EMOTIONS = ("happy", "sad", "angry", "surprised", "fearful", "disgusted", "contempt", "neutral")
HEAD_KINDS = ("look_up", "look_down", "turn_right", "turn_left", "tilt_left", "tilt_right", "nod", "shake", "still")
HELD_KINDS = ("look_up", "look_down", "turn_right", "turn_left", "tilt_left", "tilt_right")


# ---------------------------------------------------------------------------
# from labels
# ---------------------------------------------------------------------------
def _segments(rows: Sequence[Sequence[Any]]) -> list[tuple[str, float, float]]:
    """(label, start, end) from ground-truth rows [label, level, start, end] or
    [label, start, end] and annotator rows [label, start, end, value]."""
    out = []
    for row in rows:
        if len(row) >= 4 and isinstance(row[1], str):
            out.append((row[0], float(row[2]), float(row[3])))
        else:
            out.append((row[0], float(row[1]), float(row[2])))
    return out


def _chain(segments: list[tuple[str, float, float]], skip: str, min_s: float = 0.0) -> tuple[str, ...]:
    out: list[str] = []
    for label, start, end in segments:
        if label == skip or end - start < min_s:
            continue
        if not out or out[-1] != label:
            out.append(label)
    return tuple(out)


def clip_attributes(labels: Mapping[str, Any]) -> dict[str, Any]:
    head = _chain(_segments(labels["head"]), "still")
    return {
        "emotion": _chain(_segments(labels["emotion_segments"]), "neutral", MIN_EMOTION_S),
        "head": head,
        "speaking": labels["speaking"],
        "head_directions": tuple(sorted({k for k in head if k in HELD_KINDS})),
        "speaking_binary": labels["speaking"] != "none",
    }


def is_named_subsequence(named: Sequence[str], truth: Sequence[str]) -> bool:
    """``named`` lists some of ``truth`` in order, and is empty only when ``truth`` is."""
    if not truth or not named:
        return not truth and not named
    it = iter(truth)
    return all(any(x == y for y in it) for x in named)


def compare(truth: Mapping[str, Any], read: Mapping[str, Any], keys: Sequence[str] = ATTRIBUTES + EXTRA_ATTRIBUTES,
            named: bool = False) -> dict[str, bool]:
    """Per attribute whether ``read`` equals ``truth``, plus ``all`` (every primary attribute right).

    ``named``: ``read`` comes from text; emotion and head chains may be shortened (see module doc)."""
    def right(k: str) -> bool:
        if named and k in ("emotion", "head"):
            return is_named_subsequence(read[k], truth[k])
        if named and k == "head_directions":
            return set(read[k]) <= set(truth[k]) and bool(read[k]) == bool(truth[k])
        return truth[k] == read[k]

    hits = {k: right(k) for k in keys if k in truth and k in read}
    hits["all"] = all(hits[k] for k in ATTRIBUTES if k in hits)
    return hits


def accuracy(hit_rows: Sequence[Mapping[str, bool]]) -> dict[str, Any]:
    """Per attribute the share of rows right, ``mean`` over the primary attributes, and ``n``."""
    if not hit_rows:
        return {"n": 0}
    keys = [k for k in hit_rows[0]]
    out: dict[str, Any] = {k: sum(bool(r[k]) for r in hit_rows) / len(hit_rows) for k in keys}
    primary = [out[k] for k in ATTRIBUTES if k in out]
    out["mean"] = sum(primary) / len(primary) if primary else float("nan")
    out["n"] = len(hit_rows)
    return out


# ---------------------------------------------------------------------------
# from text
# ---------------------------------------------------------------------------
def _forms(key: str, phrase: str) -> set[str]:
    phrase = phrase.replace("{part}", "")
    variants = {phrase.replace("{p}", p) for p in ("their", "your", "the", "his", "her")}
    if key.startswith("v."):
        return {inflect(v, f) for v in variants for f in ("base", "3sg", "ing")}
    return variants


def _matcher(prefixes: Sequence[str], label_of) -> dict[tuple[str, ...], str]:
    """Word tuple -> label for every phrasing (both pools) of the lexicon keys under ``prefixes``."""
    table: dict[tuple[str, ...], str] = {}
    for key, opts in LEXICON.items():
        for prefix in prefixes:
            if key.startswith(prefix):
                label = label_of(key[len(prefix):])
                for phrase in opts.train + opts.heldout:
                    for form in _forms(key, phrase):
                        toks = tuple(words(form))
                        if toks:
                            table.setdefault(toks, label)
    return table


@lru_cache(maxsize=None)
def _emotion_table() -> dict[tuple[str, ...], str]:
    return _matcher(("adj.", "noun.", "v."), lambda rest: rest if rest in EMOTIONS else "")


@lru_cache(maxsize=None)
def _head_table() -> dict[tuple[str, ...], str]:
    # the head as subject (detailed head pose) and as object (actions); return/settle read as still
    kinds = lambda rest: rest if rest in HEAD_KINDS else "still" if rest in ("return", "settle") else ""  # noqa: E731
    return _matcher(("hs.", "v.head."), kinds)


@lru_cache(maxsize=None)
def _speech_table() -> dict[tuple[str, ...], str]:
    table = _matcher(("speak.",), lambda rest: rest)
    for toks in _matcher(("v.speak",), lambda rest: "talk"):
        table.setdefault(toks, "talk")
    return table


@lru_cache(maxsize=None)
def _degree_words() -> frozenset[tuple[str, ...]]:
    """Degree phrases the describer puts inside a head phrase ('turns far to the left')."""
    out = set()
    for key in ("hs.slight", "hs.far"):
        for phrase in LEXICON[key].train + LEXICON[key].heldout:
            out.add(tuple(words(phrase)))
    return frozenset(out)


def find_phrases(text: str, table: Mapping[tuple[str, ...], str], skip: frozenset = frozenset()) -> list[str]:
    """Labels of the phrases of ``table`` in ``text``, left to right, longest match first;
    word groups in ``skip`` are removed first."""
    toks = words(_NEGATED.sub(".", text))
    if skip:
        longest_skip = max(len(s) for s in skip)
        kept, i = [], 0
        while i < len(toks):
            n = next((n for n in range(longest_skip, 0, -1) if tuple(toks[i: i + n]) in skip), 0)
            if n:
                i += n
            else:
                kept.append(toks[i])
                i += 1
        toks = kept
    longest = max(len(k) for k in table)
    found, i = [], 0
    while i < len(toks):
        for n in range(min(longest, len(toks) - i), 0, -1):
            label = table.get(tuple(toks[i: i + n]))
            if label is not None:
                if label:
                    found.append(label)
                i += n
                break
        else:
            i += 1
    return found


def _collapse(labels: Sequence[str], skip: str) -> tuple[str, ...]:
    out: list[str] = []
    for lab in labels:
        if lab != skip and (not out or out[-1] != lab):
            out.append(lab)
    return tuple(out)


def emotion_from_text(text: str) -> tuple[str, ...]:
    return _collapse(find_phrases(text, _emotion_table()), "neutral")


def head_from_text(text: str) -> tuple[str, ...]:
    return _collapse(find_phrases(text, _head_table(), _degree_words()), "still")


def speaking_from_text(text: str) -> str:
    found = find_phrases(text, _speech_table())
    if "talk" not in found:
        return "none"
    styles = [f for f in found if f in ("calm", "excited")]
    return styles[0] if styles else "calm"


def text_attributes(texts: Mapping[str, str]) -> dict[str, Any]:
    """Attributes named by Motion2Language texts of the categories present in ``texts``."""
    out: dict[str, Any] = {}
    if "emotion" in texts:
        out["emotion"] = emotion_from_text(texts["emotion"])
    if "detail_head_pose" in texts:
        out["head"] = head_from_text(texts["detail_head_pose"])
        out["head_directions"] = tuple(sorted({k for k in out["head"] if k in HELD_KINDS}))
    if "action" in texts:
        out["speaking"] = speaking_from_text(texts["action"])
        out["speaking_binary"] = out["speaking"] != "none"
    return out
