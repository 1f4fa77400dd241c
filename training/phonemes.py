"""eSpeak NG's English phonemes -> visemes (mouth shapes as action-unit targets), and timed segments.

A viseme is a mouth target on the units the mouth owns (``MOUTH_UNITS``) plus
how strongly it holds that target against its neighbours (dominance, separately
for the lips and the jaw) and how far its influence reaches before and after
its own interval (``reach_ms``): this is what ``training.mouth`` blends with
overlapping dominance functions (Cohen & Massaro's coarticulation model).

The table covers every phoneme mnemonic of eSpeak NG 1.51's English phoneme
tables (en, en-us, en-us-nyc, en-rp, en-sc, en-n, en-wi, en-wm) and the
``base1`` phonemes they inherit (read from its ``phontab``). Main choices:

- bilabials p b m (and syllabic m-): lips pressed shut (AU24), lips part off
  (AU25 = 0), jaw nearly closed; the strongest lip dominance, so closure is
  reached whatever surrounds it;
- labiodentals f v: lower lip raised to the upper teeth (AU17 chin raiser lifts
  the lower lip, AU10 lifts the upper lip off the teeth), lips slightly apart;
- rounded vowels, w, and the protruded post-alveolars S Z tS dZ: rounding.
  face_units has no lip pucker / funneler (AU18 / AU22), so rounding is carried
  by AU23 (lip tightener: narrows the mouth opening) with AU25 reduced;
  a basis with a real pucker unit would express it better;
- spread vowels (i:, I, eI) and s z j: AU20 (lip stretcher);
- open vowels: wide jaw (AU26 up to 0.6 = 0.21 rad) and lips well apart;
- alveolars, velars, h: tongue sounds with weak lip dominance, so the lips take
  the shape of the neighbouring vowels (anticipatory rounding in "two", "soon");
- pauses: the mouth relaxes shut (all units 0).

Timing facts used by ``segments`` (measured on eSpeak NG 1.51 audio): a PHONEME
event marks where that phoneme's audio starts; for a voiceless stop (p) that is
the release burst, its closure silence lies at the end of the previous phoneme;
for a voiced stop (b) the closure (a weak voice bar) lies inside its own
interval when a voiced sound precedes it, else before it. So bilabial stops get
their closure interval from the audio: the quiet run that ends at the release.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facelm.face_units import UNIT_INDEX

# Units the mouth drives. AU26 is the jaw (x JAW_DROP_RADIANS = jaw_pose x).
MOUTH_UNITS: tuple[str, ...] = ("AU10", "AU17", "AU20", "AU23", "AU24", "AU25", "AU26")
LIP_UNITS: tuple[str, ...] = MOUTH_UNITS[:-1]
MOUTH_INDEX = np.array([UNIT_INDEX[u] for u in MOUTH_UNITS])
BILABIALS: frozenset[str] = frozenset({"p", "b", "m", "m-"})
VOICELESS_STOPS: frozenset[str] = frozenset({"p"})


@dataclass(frozen=True)
class Viseme:
    """A mouth target: unit intensities, lip and jaw dominance, reach before / after (ms)."""

    name: str
    targets: dict[str, float]
    lips: float  # dominance of the lip units
    jaw: float  # dominance of the jaw (AU26)
    reach_ms: tuple[float, float] = (30.0, 25.0)

    def vector(self) -> np.ndarray:
        """Targets in MOUTH_UNITS order (unnamed units 0: the viseme wants them relaxed)."""
        return np.array([self.targets.get(u, 0.0) for u in MOUTH_UNITS], np.float64)


_V = Viseme
_VOWEL = dict(lips=2.5, jaw=3.0, reach_ms=(40.0, 30.0))
VISEMES: dict[str, Viseme] = {v.name: v for v in (
    _V("rest", {}, lips=1.5, jaw=1.5, reach_ms=(60.0, 60.0)),
    # Consonants, front of the mouth to the back.
    _V("bilabial_stop", {"AU24": 0.6, "AU23": 0.1, "AU26": 0.03}, lips=80.0, jaw=40.0, reach_ms=(14.0, 12.0)),
    _V("bilabial_nasal", {"AU24": 0.45, "AU26": 0.04}, lips=80.0, jaw=40.0, reach_ms=(14.0, 12.0)),
    _V("labiodental", {"AU17": 0.35, "AU10": 0.3, "AU25": 0.25, "AU26": 0.07}, lips=15.0, jaw=5.0,
       reach_ms=(18.0, 15.0)),
    _V("dental", {"AU25": 0.45, "AU10": 0.1, "AU26": 0.13}, lips=1.5, jaw=4.0, reach_ms=(20.0, 20.0)),
    _V("alveolar", {"AU25": 0.35, "AU26": 0.1}, lips=0.6, jaw=3.0, reach_ms=(20.0, 20.0)),
    _V("sibilant", {"AU25": 0.3, "AU20": 0.25, "AU26": 0.05}, lips=1.5, jaw=6.0, reach_ms=(18.0, 18.0)),
    _V("postalveolar", {"AU25": 0.35, "AU23": 0.45, "AU26": 0.07}, lips=4.0, jaw=5.0, reach_ms=(25.0, 20.0)),
    _V("palatal", {"AU25": 0.3, "AU20": 0.3, "AU26": 0.08}, lips=1.0, jaw=2.0, reach_ms=(20.0, 20.0)),
    _V("velar", {"AU25": 0.4, "AU26": 0.2}, lips=0.3, jaw=1.2, reach_ms=(20.0, 20.0)),
    _V("glottal", {"AU25": 0.45, "AU26": 0.25}, lips=0.1, jaw=0.1, reach_ms=(25.0, 25.0)),
    _V("rhotic", {"AU25": 0.3, "AU23": 0.35, "AU26": 0.1}, lips=2.0, jaw=2.0, reach_ms=(25.0, 20.0)),
    _V("labiovelar", {"AU25": 0.15, "AU23": 0.8, "AU26": 0.06}, lips=8.0, jaw=3.0, reach_ms=(40.0, 25.0)),
    # Vowels: jaw height and lip shape.
    _V("open", {"AU25": 0.9, "AU26": 0.6}, **_VOWEL),
    _V("open_spread", {"AU25": 0.85, "AU20": 0.2, "AU26": 0.55}, **_VOWEL),
    _V("open_mid", {"AU25": 0.75, "AU26": 0.45}, **_VOWEL),
    _V("open_rounded", {"AU25": 0.7, "AU23": 0.45, "AU26": 0.5}, **_VOWEL),
    _V("mid_spread", {"AU25": 0.7, "AU20": 0.25, "AU26": 0.38}, **_VOWEL),
    _V("mid_rounded", {"AU25": 0.55, "AU23": 0.6, "AU26": 0.32}, **_VOWEL),
    _V("schwa", {"AU25": 0.55, "AU26": 0.28}, lips=1.0, jaw=1.5, reach_ms=(30.0, 25.0)),
    _V("rhotic_vowel", {"AU25": 0.5, "AU23": 0.35, "AU26": 0.25}, **_VOWEL),
    _V("close_spread", {"AU25": 0.5, "AU20": 0.45, "AU26": 0.14}, **_VOWEL),
    _V("close_rounded", {"AU25": 0.35, "AU23": 0.8, "AU26": 0.14}, lips=4.0, jaw=3.0, reach_ms=(45.0, 30.0)),
)}

# eSpeak mnemonic -> viseme(s). Several: the interval is split evenly (diphthongs, r-coloured vowels).
_TABLE: dict[str, tuple[str, ...] | str] = {
    # pauses
    **{p: "rest" for p in ("_", "_:", "_!", "_|", "_::", "_;_", "_^_", "_X1", "||")},
    # bilabial, labiodental, dental
    "p": "bilabial_stop", "b": "bilabial_stop", "m": "bilabial_nasal", "m-": "bilabial_nasal",
    "B": "labiodental", "f": "labiodental", "v": "labiodental", "v#": "labiodental",
    "T": "dental", "D": "dental",
    # alveolar (tongue tip; lips free)
    **{p: "alveolar" for p in ("t", "d", "n", "l", "t#", "t2", "d#", "t[", "d[", "n-", "l-", "l/", "l/2",
                               "l/3", "L", "L/", "l.", "n.", "l#", "*")},
    **{p: "sibilant" for p in ("s", "z", "z#", "z/2", "s.", "z.", "s;", "z;")},
    **{p: "postalveolar" for p in ("S", "Z", "tS", "dZ", "S;", "Z;", "tS;", "dZ;")},
    **{p: "palatal" for p in ("j", ";", "J", "c", "C", "J^", "n^", "l^")},
    **{p: "velar" for p in ("k", "g", "N", "N-", "x", "q", "Q", "Q^", "Q\"", "X", "#X1")},
    "h": "glottal", "?": "glottal",
    **{p: "rhotic" for p in ("r", "r/", "R", "R2", "R3", "r.", "r\"", "**")},
    "r-": "rhotic_vowel", "w": "labiovelar", "w#": "labiovelar",
    # monophthongs
    **{p: "schwa" for p in ("@", "@-", "@2", "@5", "@#", "a#2")},
    "3": "rhotic_vowel", "3:": "rhotic_vowel",
    **{p: "open" for p in ("aa", "A:", "A#", "A~")},
    "a": "open_spread", "a/": "open_spread", "a2": "open_mid", "a#": "open_mid", "V": "open_mid",
    **{p: "mid_spread" for p in ("E", "E#", "E2", "e", "e:", "e#")},
    **{p: "close_spread" for p in ("i", "i:", "I", "I#", "I2", "I2#")},
    **{p: "open_rounded" for p in ("0", "0#", "02", "O", "O:", "O2", "O~")},
    **{p: "mid_rounded" for p in ("o", "o:")},
    **{p: "close_rounded" for p in ("u", "u:", "U")},
    # diphthongs and vowel + r / schwa / l
    "aI": ("open", "close_spread"), "aI2": ("open_mid", "close_spread"),
    "aI@": ("open", "close_spread", "schwa"),
    "aI3": ("open", "close_spread", "rhotic_vowel"), "aU": ("open", "close_rounded"),
    "aU@": ("open", "close_rounded", "schwa"), "eI": ("mid_spread", "close_spread"),
    "OI": ("open_rounded", "close_spread"), "oU": ("mid_rounded", "close_rounded"),
    "oU#": ("schwa", "close_rounded"), "e@": ("mid_spread", "schwa"), "i@": ("close_spread", "schwa"),
    "i@3": ("close_spread", "rhotic_vowel"), "U@": ("close_rounded", "schwa"),
    "A@": ("open", "rhotic_vowel"), "O@": ("open_rounded", "rhotic_vowel"),
    "o@": ("mid_rounded", "rhotic_vowel"), "IR": ("close_spread", "rhotic_vowel"),
    "VR": ("open_mid", "rhotic_vowel"), "@L": ("schwa", "alveolar"),
}
PHONEME_VISEMES: dict[str, tuple[str, ...]] = {
    k: (v,) if isinstance(v, str) else v for k, v in _TABLE.items()}
# A mnemonic not in the table: strip eSpeak's variant marks, then try its first letter.
_VARIANT_MARKS = "0123456789#;/.\"-[^~"


def visemes_for(phoneme: str) -> tuple[tuple[str, ...], bool]:
    """(viseme names, known?) of an eSpeak mnemonic; unknown ones fall back by their base letter."""
    if phoneme in PHONEME_VISEMES:
        return PHONEME_VISEMES[phoneme], True
    stripped = phoneme.rstrip(_VARIANT_MARKS)
    if stripped in PHONEME_VISEMES:
        return PHONEME_VISEMES[stripped], False
    if phoneme[:1] in PHONEME_VISEMES:
        return PHONEME_VISEMES[phoneme[:1]], False
    return ("schwa",), False


@dataclass(frozen=True)
class Segment:
    """A phoneme over [start, end) seconds; ``closure``: the lips-shut interval of a bilabial."""

    phoneme: str
    start: float
    end: float
    visemes: tuple[str, ...]
    known: bool = True
    closure: tuple[float, float] | None = None

    def as_dict(self) -> dict:
        out = {"phoneme": self.phoneme, "start": round(self.start, 5), "end": round(self.end, 5),
               "visemes": list(self.visemes)}
        if self.closure is not None:
            out["closure"] = [round(self.closure[0], 5), round(self.closure[1], 5)]
        if not self.known:
            out["known"] = False
        return out


# -- closure timing from the audio -------------------------------------------------

ENVELOPE_HOP_S = 0.0025
ENVELOPE_WIN_S = 0.010
QUIET_SHARE = 0.15  # quiet = envelope below this share of the utterance's loud level
MAX_CLOSURE_S = 0.15
MIN_CLOSURE_S = 0.015
DEFAULT_STOP_CLOSURE_S = 0.04


def envelope(samples: np.ndarray, rate: int) -> np.ndarray:
    """RMS over ENVELOPE_WIN_S windows every ENVELOPE_HOP_S (window centred on each hop time)."""
    x = np.asarray(samples, np.float64) / 32768.0
    hop, win = max(1, int(round(ENVELOPE_HOP_S * rate))), max(2, int(round(ENVELOPE_WIN_S * rate)))
    power = np.concatenate([[0.0], np.cumsum(x * x)])
    centres = np.arange(0, x.size, hop)
    lo, hi = np.clip(centres - win // 2, 0, x.size), np.clip(centres + win // 2, 0, x.size)
    return np.sqrt((power[hi] - power[lo]) / np.maximum(hi - lo, 1))


def _quiet_run_before(quiet: np.ndarray, end_i: int, floor_i: int) -> int:
    """First index of the run of quiet hops ending just before ``end_i`` (>= floor_i)."""
    i = end_i
    while i - 1 >= floor_i and quiet[i - 1]:
        i -= 1
    return i


def _stop_closure(seg_start: float, seg_end: float, prev_start: float, voiceless: bool,
                  quiet: np.ndarray) -> tuple[float, float]:
    """Lips-shut interval of a bilabial stop: the quiet run that ends at its release."""
    hop = ENVELOPE_HOP_S
    n = quiet.size
    s_i = min(int(round(seg_start / hop)), n)
    e_i = min(int(round(seg_end / hop)), n)
    if voiceless:
        release_i = s_i  # the event is the burst
    else:
        release_i = s_i
        while release_i < e_i and quiet[min(release_i, n - 1)]:
            release_i += 1
    floor_i = max(int(round(prev_start / hop)), release_i - int(round(MAX_CLOSURE_S / hop)), 0)
    start_i = _quiet_run_before(quiet, release_i, floor_i)
    if (release_i - start_i) * hop >= MIN_CLOSURE_S:
        return start_i * hop, release_i * hop
    if voiceless:  # no silence found (fast speech): a short closure before the burst
        return max(prev_start, seg_start - DEFAULT_STOP_CLOSURE_S), seg_start
    return seg_start, seg_end


def segments(marks, duration: float, samples: np.ndarray | None = None, rate: int = 22050) -> list[Segment]:
    """Phoneme marks (``.phoneme``, ``.time``) -> segments tiling [0, duration).

    Silence before the first mark is a rest segment. With ``samples`` (the
    utterance audio), bilabial stops get their closure interval from it;
    without, a voiceless stop's closure is the 40 ms before its burst and a
    voiced one's is its own interval. Nasals close over their whole interval.
    """
    marks = [m for m in marks if m.phoneme]
    out: list[Segment] = []
    if not marks or marks[0].time > 0:
        first = marks[0].time if marks else duration
        out.append(Segment("_", 0.0, float(first), ("rest",)))
    quiet = None
    if samples is not None and np.asarray(samples).size:
        env = envelope(samples, rate)
        loud = float(np.percentile(env, 95)) if env.size else 0.0
        quiet = env < max(QUIET_SHARE * loud, 1e-4)
    for i, m in enumerate(marks):
        start = float(m.time)
        end = float(marks[i + 1].time) if i + 1 < len(marks) else float(duration)
        end = max(end, start)
        names, known = visemes_for(m.phoneme)
        closure = None
        if m.phoneme in BILABIALS:
            prev_start = out[-1].start if out else 0.0
            if m.phoneme in ("m", "m-"):
                closure = (start, end)
            elif quiet is not None:
                closure = _stop_closure(start, end, prev_start, m.phoneme in VOICELESS_STOPS, quiet)
            elif m.phoneme in VOICELESS_STOPS:
                closure = (max(prev_start, start - DEFAULT_STOP_CLOSURE_S), start)
            else:
                closure = (start, end)
        out.append(Segment(m.phoneme, start, end, names, known, closure))
    return out
