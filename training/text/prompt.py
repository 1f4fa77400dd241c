"""The prompt that asked for a clip, realised from its behaviour spec (3DMM-LM style).

"A person nods slowly while smiling", "Someone turns their head to the left,
looking sad", "Talk excitedly with a happy face": short commands or
descriptions a user would type, built from the spec's labels only (emotions
with intensity, head moves with speed, speaking style), never from the motion.
Each call draws a fresh wording from the rng; ``split="paraphrase"`` draws the
held-out wording.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from training.text.phrasing import Phrasing, sentence

# An emotion at the start or end of a clip shorter than this is a lead-in or a
# release, not something the prompt asked for.
EDGE_EMOTION_S = 1.5
PARAPHRASE_TRIES = 10


@dataclass
class PromptFacts:
    """What a prompt may say: emotions [(label, intensity level)], head moves [(kind, speed)], speaking."""

    emotions: list[tuple[str, str]]
    head: list[tuple[str, str]]
    speaking: str


def spec_dict(spec: Any) -> dict:
    """A spec as a plain dict (``BehaviourSpec`` or its ``to_dict()`` form)."""
    return spec.to_dict() if hasattr(spec, "to_dict") else dict(spec)


def prompt_facts(spec: Any) -> PromptFacts:
    d = spec_dict(spec)
    segs = [s for s in d.get("emotions", [])]
    kept = []
    for i, s in enumerate(segs):
        edge = i in (0, len(segs) - 1) and len(segs) > 1
        if s["emotion"] == "neutral" and edge and s["end"] - s["start"] < EDGE_EMOTION_S:
            continue
        if kept and kept[-1][0] == s["emotion"]:
            continue
        kept.append((s["emotion"], s.get("intensity", "moderate")))
    if not kept:
        kept = [("neutral", "none")]
    head = [(h["kind"], h.get("speed", "normal")) for h in d.get("head", []) if h["kind"] != "still"]
    speech = d.get("speech", [])
    speaking = speech[0]["style"] if speech else "none"
    return PromptFacts(kept, head, speaking)


# ---------------------------------------------------------------------------
# pieces
# ---------------------------------------------------------------------------
def _adj(label: str, level: str, ph: Phrasing) -> str:
    adj = ph.pick(f"adj.{label}")
    if label != "neutral" and ph.chance(0.7):
        if level == "strong":
            return f"{ph.pick('emo.strong')} {adj}"
        if level == "slight":
            return f"{ph.pick('emo.weak')} {adj}"
    return adj


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def _head_moves(moves: list[tuple[str, str]], form: str, ph: Phrasing, possessive: str = "their") -> str:
    """'nods slowly, then turns the head to the left' in the given verb form."""
    parts = []
    for kind, speed in moves:
        verb = ph.verb(f"v.head.{kind}", form, possessive)
        adverb = ph.pick(f"speed.{speed}") if ph.chance(0.85) else ""
        parts.append(f"{verb} {adverb}".strip())
    if len(parts) == 1:
        return parts[0]
    joins = [", then ", " and then ", ", and then ", " and after that "]
    text = parts[0]
    for p in parts[1:]:
        text += ph.choice(joins) + p
    return text


def _emotion_modifier(emotions: list[tuple[str, str]], ph: Phrasing, possessive: str = "their") -> str:
    """A trailing phrase for the face: ' while smiling', ', looking sad', ' with a happy face'.

    Templates are chosen before any word is drawn, so only words that appear are drawn.
    """
    if len(emotions) == 1:
        label, level = emotions[0]
        if ph.chance(0.2):
            return f" while {ph.verb(f'v.{label}', 'ing', possessive)}"
        adj = _adj(label, level, ph)
        noun = ph.choice(["face", "expression", "mood" if label != "neutral" else "look"])
        return ph.choice([f", looking {adj}", f" with {_article(adj)} {adj} {noun}",
                          f" in {_article(adj)} {adj} mood" if label != "neutral" else f", looking {adj}"])
    adjs = [_adj(lab, lev, ph) for lab, lev in emotions]
    chain = " to ".join(adjs) if len(adjs) == 2 else f"{adjs[0]} to {adjs[1]} and then {adjs[2]}"
    options = [f", going from {chain}", f" as the mood shifts from {chain}",
               f", first {adjs[0]} and then {' and then '.join(adjs[1:])}",
               f" while turning from {chain}"]
    return ph.choice(options)


def _speech(style: str, form: str, ph: Phrasing) -> str:
    verb = ph.verb("v.speak", form)
    adverb = ph.pick(f"speak.{style}") if ph.chance(0.9) else ""
    return f"{verb} {adverb}".strip()


def _emotion_only(emotions: list[tuple[str, str]], ph: Phrasing, imperative: bool) -> str:
    form = "base" if imperative else "3sg"
    if len(emotions) == 1:
        label, level = emotions[0]
        if ph.chance(0.3):
            return ph.verb(f"v.{label}", form)
        adj = _adj(label, level, ph)
        if imperative:
            return ph.choice([f"look {adj}", f"make {_article(adj)} {adj} face", f"show {_article(adj)} {adj} expression"])
        return ph.choice([f"looks {adj}", f"has {_article(adj)} {adj} expression", f"appears {adj}"])
    adjs = [_adj(lab, lev, ph) for lab, lev in emotions]
    rest = " and then ".join(adjs[1:])
    if imperative:
        return ph.choice([f"look {adjs[0]}, then become {rest}", f"go from {adjs[0]} to {rest}",
                          f"start {adjs[0]} and turn {rest}"])
    return ph.choice([f"goes from {adjs[0]} to {rest}", f"starts {adjs[0]} and becomes {rest}",
                      f"looks {adjs[0]} at first, then {rest}", f"changes from {adjs[0]} to {rest}"])


# ---------------------------------------------------------------------------
# the prompt
# ---------------------------------------------------------------------------
def realise_prompt(spec: Any, rng: np.random.Generator | int | None = None, split: str = "train") -> str:
    """One prompt for ``spec`` (a ``BehaviourSpec`` or its dict), worded by ``rng``.

    With ``split="paraphrase"`` the prompt uses at least one held-out phrasing.
    """
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    f = prompt_facts(spec)
    text = ""
    for _ in range(PARAPHRASE_TRIES):
        ph = Phrasing(rng, split)
        text = _realise(f, ph)
        if split != "paraphrase" or ph.heldout_used:
            break
    return text


def _realise(f: PromptFacts, ph: Phrasing) -> str:
    imperative = ph.chance(0.35)
    neutral_face = f.emotions == [("neutral", "none")]
    say_face = not neutral_face or ph.chance(0.25)
    subject = "" if imperative else ph.pick("subj.speaker" if f.speaking != "none" else "subj.prompt")
    form = "base" if imperative else "3sg"
    poss = "your" if imperative else "their"

    if f.speaking != "none":
        main = _speech(f.speaking, form, ph)
        extras = []
        if f.head:
            extras.append(f" {ph.pick('conn.while')} {_head_moves(f.head, 'ing', ph, poss)}" if ph.chance(0.5)
                          else f" {ph.choice(['and', 'and then', 'then'])} {_head_moves(f.head, form, ph, poss)}")
        if say_face:
            extras.append(_emotion_modifier(f.emotions, ph, poss))
        if len(extras) == 2 and ph.chance(0.5):
            extras.reverse()
        text = main + "".join(extras)
    elif f.head:
        moves = _head_moves(f.head, form, ph, poss)
        if say_face and ph.chance(0.3) and len(f.emotions) == 1 and not neutral_face:
            # Face first: "Smile and nod slowly" / "Someone smiles and nods slowly"
            text = f"{_emotion_only(f.emotions, ph, imperative)} and {moves}"
        else:
            text = moves + (_emotion_modifier(f.emotions, ph, poss) if say_face else "")
    elif not neutral_face:
        text = _emotion_only(f.emotions, ph, imperative)
    else:  # an idle clip
        still = ph.verb("v.head.still", form, poss)
        text = still + (_emotion_modifier(f.emotions, ph, poss) if ph.chance(0.5) else "")
    return sentence(f"{subject} {text}" if subject else text)
