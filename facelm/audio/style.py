"""``--style TEXT`` for the talking head: a speaking style the model learned, an emotion it did not.

Two different mechanisms, kept apart on purpose:

- speaking style (calm / excited) is a *learned* style embedding of the audio
  model: the talking corpus has both styles with different articulation sizes
  (calm speech moves the jaw about half as far), so the model learned what
  each word does to the mouth;
- an emotion word (happy, sad, angry, surprised, fearful, disgusted, contempt,
  neutral) is *not learned* from audio: its prototype action units
  (``facelm.face_units.EMOTION_UNITS``) are added to the face through the unit
  basis, leaving out the units the mouth model drives, the same rule the talking
  corpus uses to put a speaking mouth over an emotion. Without a style word an
  aroused emotion (happy, angry, surprised, fearful) implies excited speech
  and sad implies calm.

Words are matched by stem ("calmly", "excitedly", "happily"; stems under four
letters only as whole words); "slightly" / "a bit" and "very" / "extremely" set
the emotion's intensity (0.4, 1.0; else 0.7).
Text with no known word is an error listing them.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from facelm.errors import FacelmError
from facelm.face_units import UNIT_INDEX, UnitBasis, emotion_vector

# Units the audio model drives (the speaking mouth: training.phonemes.MOUTH_UNITS).
MOUTH_UNITS: tuple[str, ...] = ("AU10", "AU17", "AU20", "AU23", "AU24", "AU25", "AU26")

SPEAKING_STEMS: dict[str, tuple[str, ...]] = {
    "calm": ("calm", "relax", "quiet", "soft", "gentl", "slow", "sleep", "tired", "bored", "boring",
             "whisper", "mellow"),
    "excited": ("excit", "energ", "loud", "lively", "animat", "enthusias", "fast", "shout", "passion", "eager"),
}
EMOTION_STEMS: dict[str, tuple[str, ...]] = {
    "happy": ("happ", "joy", "joyful", "joyous", "cheer", "smil", "glad", "delight"),
    "sad": ("sad", "sadly", "sadness", "unhapp", "sorrow", "gloom", "melanchol", "upset"),
    "angry": ("angr", "mad", "furious", "annoy", "irrit", "rage"),
    "surprised": ("surpris", "amaz", "astonish", "shock"),
    "fearful": ("fear", "afraid", "scare", "fright", "nervous", "anxious"),
    "disgusted": ("disgust", "gross", "revolt"),
    "contempt": ("contempt", "smug", "scorn", "disdain"),
    "neutral": ("neutral", "plain", "flat"),
}
AROUSAL = {"happy": "excited", "angry": "excited", "surprised": "excited", "fearful": "excited", "sad": "calm"}
WEAK = frozenset({"slight", "slightly", "bit", "little", "mild", "mildly", "somewhat"})
STRONG = frozenset({"very", "extremely", "extreme", "really", "super", "intensely"})
DEFAULT_INTENSITY = 0.7


@dataclass(frozen=True)
class Style:
    speaking: str | None = None  # a style the model knows, or None (its "none")
    emotion: str | None = None
    intensity: float = 0.0

    def style_id(self, styles: list[str]) -> int:
        """Index into the model's style table (0 = none)."""
        if self.speaking is None:
            return 0
        if self.speaking not in styles:
            raise FacelmError(f"this audio model has no {self.speaking!r} style (it has {', '.join(styles[1:])})")
        return styles.index(self.speaking)

    def expression_offset(self, num_expression: int) -> np.ndarray:
        """(num_expression,) emotion added to every frame (zeros for none / neutral)."""
        if not self.emotion or self.emotion == "neutral":
            return np.zeros(num_expression, np.float32)
        units = emotion_vector(self.emotion, self.intensity)
        units[[UNIT_INDEX[u] for u in MOUTH_UNITS]] = 0.0
        basis = UnitBasis(num_expression=num_expression)
        expression, _ = basis.to_expression(units[None])
        return expression[0].astype(np.float32)

    def as_dict(self) -> dict:
        return {"speaking": self.speaking or "none", "emotion": self.emotion or "none",
                "intensity": round(self.intensity, 2)}


def _match(word: str, table: dict[str, tuple[str, ...]]) -> str | None:
    """Stems of 4+ letters match as prefixes ("calmly"); shorter ones only whole ("mad", not "made")."""
    for name, stems in table.items():
        if any(word == s or (len(s) >= 4 and word.startswith(s)) for s in stems):
            return name
    return None


def parse_style(text: str | None) -> Style:
    """Free text ("calm", "excitedly happy", "a bit sad") -> Style; None / "" -> no style."""
    if text is None or not text.strip():
        return Style()
    words = re.findall(r"[a-z]+", text.lower())
    speaking = {w for w in (_match(x, SPEAKING_STEMS) for x in words) if w}
    emotions = [e for e in (_match(x, EMOTION_STEMS) for x in words) if e]
    if len(speaking) > 1:
        raise FacelmError(f"--style {text!r}: says both calm and excited")
    if len(set(emotions)) > 1:
        raise FacelmError(f"--style {text!r}: names several emotions ({', '.join(sorted(set(emotions)))}); give one")
    if not speaking and not emotions:
        known = ", ".join(list(SPEAKING_STEMS) + list(EMOTION_STEMS))
        raise FacelmError(f"--style {text!r}: no known style word (known: {known})")
    emotion = emotions[0] if emotions else None
    intensity = 0.0
    if emotion:
        intensity = DEFAULT_INTENSITY
        if WEAK & set(words):
            intensity = 0.4
        if STRONG & set(words):
            intensity = 1.0
    sp = next(iter(speaking)) if speaking else AROUSAL.get(emotion or "")
    return Style(sp, emotion, intensity)
