"""Behaviour specs: what a synthetic clip shows, as timed, labelled segments.

A ``BehaviourSpec`` is the prompt-side truth of one corpus clip: emotions (with
intensity and timed transitions), head motions (nod, shake, turn, tilt, look up
or down, hold still; in sequence, at a speed), speaking (none / calm / excited),
blinks, gaze shifts and idle micro-motion, performed by a seeded ``Identity``
(its own expressiveness, head-motion amplitude, blink rate, jaw amplitude,
asymmetry). The composer turns a spec into motion; the annotator turns a spec
(and the motion) into text; evaluation checks generated motion against the
labels here. Specs are plain JSON (``to_dict`` / ``from_dict``).

Amplitudes and timings stored in a spec are the *realised* ones (identity gains
on head and jaw amplitude already applied), so the spec is the ground truth of
the motion. Emotion intensity is stored as a label; the composer multiplies its
value by the identity's expressiveness.

Head directions follow MMHead's table on the neck rotation r = (rx, ry, rz):
rx < 0 head up, rx > 0 head down, ry < 0 turns right, ry > 0 turns left,
rz < 0 tilts left, rz > 0 tilts right. A nod is rx going down and back up
(rx >= 0), a shake is ry swinging to both sides (zero mean).
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from facelm.errors import FacelmError
from facelm.face_units import EMOTIONS

SPEC_VERSION = 1
FPS = 25.0

# -- vocabularies ------------------------------------------------------------------

INTENSITY_LEVELS: dict[str, float] = {"none": 0.0, "slight": 0.4, "moderate": 0.7, "strong": 1.0}
EXPRESSIVE_EMOTIONS: tuple[str, ...] = tuple(e for e in EMOTIONS if e != "neutral")

# Directional head motions: kind -> (axis of r, sign of r, MMHead head-pose words).
HEAD_DIRECTIONS: dict[str, tuple[int, int, str]] = {
    "look_up": (0, -1, "Head up"), "look_down": (0, +1, "Head down"),
    "turn_right": (1, -1, "Head turns right"), "turn_left": (1, +1, "Head turns left"),
    "tilt_left": (2, -1, "Head tilts left"), "tilt_right": (2, +1, "Head tilts right"),
}
OSCILLATIONS: tuple[str, ...] = ("nod", "shake")
HEAD_KINDS: tuple[str, ...] = tuple(HEAD_DIRECTIONS) + OSCILLATIONS + ("still",)
MOVING_HEAD_KINDS: tuple[str, ...] = tuple(HEAD_DIRECTIONS) + OSCILLATIONS
SPEEDS: tuple[str, ...] = ("slow", "normal", "fast")
SPEAKING_STYLES: tuple[str, ...] = ("none", "calm", "excited")

# Realistic peak amplitudes (radians) after identity gain.
HEAD_AMPLITUDE_RANGE: dict[str, tuple[float, float]] = {
    "turn_left": (0.2, 0.6), "turn_right": (0.2, 0.6),
    "look_up": (0.12, 0.35), "look_down": (0.12, 0.35),
    "tilt_left": (0.1, 0.3), "tilt_right": (0.1, 0.3),
    "nod": (0.1, 0.25), "shake": (0.1, 0.3),
}
# Seconds to reach a directional pose; oscillation frequency (Hz) of nod / shake.
SPEED_TRANSITION_S: dict[str, tuple[float, float]] = {
    "slow": (0.9, 1.2), "normal": (0.5, 0.7), "fast": (0.3, 0.4)}
SPEED_FREQUENCY_HZ: dict[str, dict[str, float]] = {
    "nod": {"slow": 1.0, "normal": 1.6, "fast": 2.3},
    "shake": {"slow": 0.9, "normal": 1.3, "fast": 1.8},
}
# Peak angular speed (rad/s) and acceleration (rad/s^2) of the neck: they bound the
# amplitude of fast nods / shakes and the length of transitions to what a neck does.
HEAD_MAX_SPEED = {"nod": 2.5, "shake": 3.5, "move": 3.5}
HEAD_MAX_ACCEL = 50.0
MINJERK_PEAK_SPEED, MINJERK_PEAK_ACCEL = 1.875, 5.774  # per (distance / duration^k)
SPEECH_RATE_RANGE = {"calm": (3.0, 4.5), "excited": (4.5, 6.0)}  # syllables / s
SPEECH_JAW_RANGE = {"calm": (0.05, 0.14), "excited": (0.12, 0.25)}  # radians
# Jaw pulses last ~1.2 syllable intervals: at high rates the amplitude is capped so
# the jaw never opens faster than this (rad/s).
JAW_MAX_SPEED = 3.0

# Ground-truth action words (CelebV-Text / MMHead style label set), by what the clip shows.
EMOTION_ACTIONS: dict[str, str] = {
    "happy": "smile", "sad": "look_sad", "angry": "glare", "surprised": "raise_eyebrows",
    "fearful": "widen_eyes", "disgusted": "wrinkle_nose", "contempt": "smirk",
}
HEAD_ACTIONS: dict[str, str] = {
    "nod": "nod", "shake": "shake_head", "turn_left": "turn", "turn_right": "turn",
    "tilt_left": "tilt_head", "tilt_right": "tilt_head", "look_up": "look_up", "look_down": "look_down",
}


# -- the spec ------------------------------------------------------------------------

@dataclass
class Identity:
    """A synthetic performer: per-person gains that make clips of one identity alike."""

    identity_id: str
    index: int
    expressiveness: float = 1.0  # gain on emotion unit intensities
    head_amplitude: float = 1.0  # gain on head-motion amplitude
    blink_rate: float = 15.0  # blinks per minute at rest
    jaw_amplitude: float = 1.0  # gain on speaking jaw opening
    speech_rate: float = 1.0  # gain on syllable rate
    asymmetry: float = 0.0  # > 0: the subject's left side moves more (bilateral units)


def identity_for(index: int, pool_seed: int = 0) -> Identity:
    """Identity ``index`` of the pool seeded by ``pool_seed`` (same numbers every time)."""
    rng = np.random.default_rng([0x1D, pool_seed, index])
    u = rng.uniform(size=6)
    return Identity(
        identity_id=f"id{index:04d}", index=int(index),
        expressiveness=round(0.75 + 0.45 * u[0], 4), head_amplitude=round(0.75 + 0.5 * u[1], 4),
        blink_rate=round(8.0 + 18.0 * u[2], 3), jaw_amplitude=round(0.75 + 0.5 * u[3], 4),
        speech_rate=round(0.85 + 0.3 * u[4], 4), asymmetry=round(-0.12 + 0.24 * u[5], 4))


@dataclass
class EmotionSegment:
    """An emotion held over [start, end); reached from the previous one in ``onset`` seconds."""

    emotion: str
    intensity: str
    start: float
    end: float
    onset: float = 0.0  # 0: already at apex at ``start`` (only for a clip's first segment)


@dataclass
class HeadSegment:
    """One head motion over [start, end).

    Directional kinds move to ``amplitude`` on their axis in ``onset`` s, hold, and
    (``returns``) come back to centre in the last ``offset`` s; a directional move
    that does not return holds to ``end`` and the next move starts from there.
    Nod / shake make ``repetitions`` cycles at ``frequency`` Hz from ``start``: a
    nod cycle goes down by ``amplitude`` and back, a shake cycle swings to
    ``amplitude`` on side ``first`` and then the other side. ``still`` holds the head.
    """

    kind: str
    start: float
    end: float
    speed: str = "normal"
    amplitude: float = 0.0
    onset: float = 0.0
    offset: float = 0.0
    returns: bool = True
    repetitions: int = 0
    frequency: float = 0.0
    first: str = ""  # shake: "left" or "right"

    @property
    def direction(self) -> tuple[int, int, str] | None:
        """(axis, sign, MMHead words) for directional kinds, else None."""
        return HEAD_DIRECTIONS.get(self.kind)


@dataclass
class SpeechSegment:
    """Speaking over [start, end): phrases of syllables at ``syllable_rate`` per s."""

    style: str
    start: float
    end: float
    syllable_rate: float
    jaw_amplitude: float  # radians, peak opening of a stressed syllable


@dataclass
class GazeShift:
    """A saccade at ``time`` to (yaw, pitch), radians; signs as the head's (yaw > 0 left, pitch > 0 down)."""

    time: float
    yaw: float
    pitch: float
    duration: float = 0.1


@dataclass
class BehaviourSpec:
    """Everything one synthetic clip shows; emotion and head segments tile [0, duration)."""

    clip_id: str
    seed: int
    duration: float
    category: str
    identity: Identity
    emotions: list[EmotionSegment]
    head: list[HeadSegment]
    speech: list[SpeechSegment] = field(default_factory=list)
    blinks: list[float] = field(default_factory=list)
    gaze: list[GazeShift] = field(default_factory=list)
    idle_amplitude: float = 1.0
    fps: float = FPS
    version: int = SPEC_VERSION

    @property
    def num_frames(self) -> int:
        return max(1, int(round(self.duration * self.fps)))

    @property
    def speaking_style(self) -> str:
        return self.speech[0].style if self.speech else "none"

    # -- ground truth ----------------------------------------------------------
    def emotion_labels(self) -> list[str]:
        """Emotions in order of appearance, repeats collapsed (MMHead's emotion label set)."""
        out: list[str] = []
        for seg in self.emotions:
            if not out or out[-1] != seg.emotion:
                out.append(seg.emotion)
        return out

    def head_labels(self) -> list[dict[str, Any]]:
        """Per head segment: kind, times, and for directional kinds axis / sign / words."""
        out = []
        for seg in self.head:
            d = seg.direction
            out.append({
                "kind": seg.kind, "start": seg.start, "end": seg.end, "speed": seg.speed,
                "axis": None if d is None else d[0], "sign": None if d is None else d[1],
                "words": None if d is None else d[2], "amplitude": seg.amplitude,
                "repetitions": seg.repetitions})
        return out

    def action_labels(self) -> list[str]:
        """Action words in order of first appearance: emotions' facial actions, head moves, talk."""
        timed: list[tuple[float, str]] = []
        timed += [(s.start, EMOTION_ACTIONS[s.emotion]) for s in self.emotions if s.emotion != "neutral"]
        timed += [(s.start, HEAD_ACTIONS[s.kind]) for s in self.head if s.kind in HEAD_ACTIONS]
        timed += [(s.start, "talk") for s in self.speech]
        out: list[str] = []
        for _, word in sorted(timed, key=lambda x: x[0]):
            if word not in out:
                out.append(word)
        return out

    def ground_truth(self) -> dict[str, Any]:
        """Compact labels for metadata, statistics and evaluation."""
        return {
            "category": self.category, "emotions": self.emotion_labels(),
            "emotion_segments": [[s.emotion, s.intensity, s.start, s.end] for s in self.emotions],
            "head": [[s.kind, s.start, s.end] for s in self.head],
            "speaking": self.speaking_style, "actions": self.action_labels(),
            "blinks": len(self.blinks), "identity": self.identity.identity_id,
        }

    # -- JSON -------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "BehaviourSpec":
        """Rebuild and validate a spec; bad content raises FacelmError naming the field."""
        return _parse_spec(data)


# -- parsing and validation --------------------------------------------------------------

def _build(kind: type, data: Any, where: str):
    """Construct dataclass ``kind`` from a dict, checking keys and scalar types by annotation."""
    if not isinstance(data, dict):
        raise FacelmError(f"spec field '{where}' must be an object, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(kind)}
    unknown = set(data) - set(fields)
    if unknown:
        raise FacelmError(f"spec field '{where}' has unknown key(s) {', '.join(sorted(unknown))}")
    missing = [n for n, f in fields.items()
               if n not in data and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if missing:
        raise FacelmError(f"spec field '{where}' misses key(s) {', '.join(missing)}")
    values = {}
    for name, value in data.items():
        kind_name, at = fields[name].type, f"{where}.{name}"
        if kind_name == "bool" and not isinstance(value, bool):
            raise FacelmError(f"spec field '{at}' must be true/false, got {value!r}")
        if kind_name in ("float", "int"):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise FacelmError(f"spec field '{at}' must be a finite number, got {value!r}")
            if kind_name == "int":
                if value != int(value):
                    raise FacelmError(f"spec field '{at}' must be a whole number, got {value!r}")
                value = int(value)
            else:
                value = float(value)
        if kind_name == "str" and not isinstance(value, str):
            raise FacelmError(f"spec field '{at}' must be a string, got {value!r}")
        values[name] = value
    return kind(**values)


def _check(cond: bool, where: str, msg: str) -> None:
    if not cond:
        raise FacelmError(f"spec field '{where}': {msg}")


def _check_tiling(segments: list, duration: float, where: str) -> None:
    _check(len(segments) > 0, where, "needs at least one segment")
    _check(abs(segments[0].start) < 1e-6, f"{where}[0].start", "must be 0")
    _check(abs(segments[-1].end - duration) < 1e-6, f"{where}[-1].end", f"must equal duration {duration}")
    for i, seg in enumerate(segments):
        _check(seg.end > seg.start, f"{where}[{i}]", "end must be after start")
        if i:
            _check(abs(seg.start - segments[i - 1].end) < 1e-6, f"{where}[{i}].start",
                   "must equal the previous segment's end")


def _parse_spec(data: dict[str, Any]) -> BehaviourSpec:
    if not isinstance(data, dict):
        raise FacelmError("spec must be a JSON object")
    _check(data.get("version", SPEC_VERSION) == SPEC_VERSION, "version",
           f"unsupported version {data.get('version')!r} (this code reads {SPEC_VERSION})")
    data = dict(data)
    data["identity"] = _build(Identity, data.get("identity"), "identity")
    for key, kind in (("emotions", EmotionSegment), ("head", HeadSegment), ("speech", SpeechSegment),
                      ("gaze", GazeShift)):
        items = data.get(key, [])
        _check(isinstance(items, list), key, "must be a list")
        data[key] = [_build(kind, item, f"{key}[{i}]") for i, item in enumerate(items)]
    blinks = data.get("blinks", [])
    _check(isinstance(blinks, list) and all(isinstance(b, (int, float)) and math.isfinite(b) for b in blinks),
           "blinks", "must be a list of times in seconds")
    spec = _build(BehaviourSpec, data, "spec")
    _check(spec.duration > 0 and spec.fps > 0, "duration", "duration and fps must be > 0")
    _check_tiling(spec.emotions, spec.duration, "emotions")
    _check_tiling(spec.head, spec.duration, "head")
    for i, seg in enumerate(spec.emotions):
        _check(seg.emotion in EMOTIONS, f"emotions[{i}].emotion",
               f"unknown emotion {seg.emotion!r}; known: {', '.join(EMOTIONS)}")
        _check(seg.intensity in INTENSITY_LEVELS, f"emotions[{i}].intensity",
               f"unknown intensity {seg.intensity!r}; known: {', '.join(INTENSITY_LEVELS)}")
        _check(0 <= seg.onset <= seg.end - seg.start, f"emotions[{i}].onset", "must lie within the segment")
    for i, seg in enumerate(spec.head):
        _check(seg.kind in HEAD_KINDS, f"head[{i}].kind", f"unknown head motion {seg.kind!r}; known: {', '.join(HEAD_KINDS)}")
        _check(seg.speed in SPEEDS, f"head[{i}].speed", f"unknown speed {seg.speed!r}")
        _check(0 <= seg.amplitude <= 1.2, f"head[{i}].amplitude", "must be within [0, 1.2] radians")
        _check(seg.onset >= 0 and seg.offset >= 0 and seg.onset + seg.offset <= seg.end - seg.start + 1e-6,
               f"head[{i}].onset", "onset + offset must fit in the segment")
        if seg.kind in OSCILLATIONS:
            _check(seg.repetitions >= 1 and seg.frequency > 0, f"head[{i}]", "nod/shake need repetitions and frequency")
            _check(seg.repetitions / seg.frequency <= seg.end - seg.start + 1e-6, f"head[{i}].repetitions",
                   "the cycles must fit in the segment")
    for i, seg in enumerate(spec.speech):
        _check(seg.style in SPEAKING_STYLES[1:], f"speech[{i}].style", f"unknown speaking style {seg.style!r}")
        _check(0 <= seg.start < seg.end <= spec.duration + 1e-6, f"speech[{i}]", "must lie within the clip")
        _check(0 < seg.syllable_rate <= 10 and 0 <= seg.jaw_amplitude <= 0.35, f"speech[{i}]",
               "syllable_rate in (0, 10] and jaw_amplitude in [0, 0.35] rad")
    return spec


# -- the prompt suite ---------------------------------------------------------------------

@dataclass(frozen=True)
class PromptCategory:
    """One kind of prompt the suite asks for: what it contains and how often."""

    weight: float
    durations: tuple[float, float]
    description: str


PROMPT_SUITE: dict[str, PromptCategory] = {
    "emotion": PromptCategory(
        0.16, (3.0, 8.0), "one expressive emotion at slight/moderate/strong intensity, from neutral or "
        "already present, sometimes released at the end; head still"),
    "emotion_transition": PromptCategory(
        0.12, (5.0, 10.0), "two or three emotions in sequence ('from happy to sad'), neutral allowed "
        "in between; head still"),
    "head": PromptCategory(
        0.16, (2.5, 7.0), "one head motion (nod, shake, turn/tilt left/right, look up/down) at a speed, "
        "neutral face"),
    "head_sequence": PromptCategory(
        0.12, (5.0, 10.0), "two or three head motions in sequence, neutral face"),
    "speaking": PromptCategory(
        0.14, (3.0, 10.0), "calm or excited speech (syllable-rhythm jaw and lips, speech head bobs), "
        "neutral or slightly emotional face"),
    "emotion_head": PromptCategory(
        0.12, (4.0, 10.0), "an emotion (or a transition) together with one or two head motions"),
    "speaking_combo": PromptCategory(
        0.12, (4.0, 10.0), "speaking with an emotion and a head motion"),
    "idle": PromptCategory(
        0.06, (2.0, 6.0), "neutral face holding still: blinks, gaze shifts, idle micro-motion only"),
}
CATEGORIES: tuple[str, ...] = tuple(PROMPT_SUITE)
_WEIGHTS = np.array([c.weight for c in PROMPT_SUITE.values()])
_WEIGHTS = _WEIGHTS / _WEIGHTS.sum()


def _r(x: float) -> float:
    """Round stored times and amplitudes: short JSON, exact round trip."""
    return round(float(x), 4)


def _scaled_uniform(rng: np.random.Generator, lo: float, hi: float, gain: float) -> float:
    """A value in [lo, hi] that an identity gain > 1 pushes up and < 1 down (u ** (1 / gain^2)).

    Skewing within the range, rather than multiplying and clipping, keeps the
    realistic range and puts no pile-up of clipped values at its ends.
    """
    return float(lo + (hi - lo) * rng.uniform() ** (1.0 / gain ** 2))


def _emotion_segments(rng: np.random.Generator, duration: float, labels: list[str]) -> list[EmotionSegment]:
    """Tile [0, duration) with ``labels`` in order, a neutral lead-in or release when time allows."""
    min_len = 1.5
    lead = float(rng.uniform(0.3, 1.2)) if rng.random() < 0.6 and labels[0] != "neutral" else 0.0
    tail = float(rng.uniform(0.8, 1.5)) if rng.random() < 0.3 and labels[-1] != "neutral" else 0.0
    while len(labels) > 1 and duration < min_len * len(labels):
        labels = labels[:-1]
    if duration - lead - tail < min_len * len(labels):
        lead = tail = 0.0
    weights = rng.dirichlet(np.full(len(labels), 4.0))
    free = duration - lead - tail - min_len * len(labels)
    lengths = min_len + free * weights
    items = ([("neutral", lead)] if lead else []) + list(zip(labels, lengths)) + ([("neutral", tail)] if tail else [])
    segs, t = [], 0.0
    for i, (emotion, length) in enumerate(items):
        end = duration if i == len(items) - 1 else t + length
        intensity = "none" if emotion == "neutral" else str(rng.choice(["slight", "moderate", "strong"]))
        onset = 0.0 if i == 0 else min(float(rng.uniform(0.3, 1.0)), 0.4 * (end - t))
        segs.append(EmotionSegment(emotion, intensity, _r(t), _r(end), _r(onset)))
        t = segs[-1].end
    return segs


def _head_move(rng: np.random.Generator, kind: str, identity: Identity, speed: str) -> tuple[HeadSegment, float]:
    """A head move with its parameters (times relative to 0) and the least time it needs."""
    amp = _scaled_uniform(rng, *HEAD_AMPLITUDE_RANGE[kind], identity.head_amplitude)
    if kind in OSCILLATIONS:
        freq = SPEED_FREQUENCY_HZ[kind][speed] * float(rng.uniform(0.9, 1.1))
        amp = min(amp, _oscillation_cap(kind, freq))
        reps = int(rng.integers(1, 3 if speed == "slow" else 4))
        seg = HeadSegment(kind, 0.0, 0.0, speed, _r(amp), repetitions=reps, frequency=_r(freq),
                          first=str(rng.choice(["left", "right"])) if kind == "shake" else "")
        return seg, reps / seg.frequency + 0.1
    lo_t, hi_t = SPEED_TRANSITION_S[speed]
    onset, offset = rng.uniform(lo_t, hi_t, 2)
    seg = HeadSegment(kind, 0.0, 0.0, speed, _r(amp), onset=_r(onset), offset=_r(offset), returns=True)
    return seg, seg.onset + seg.offset + 0.5


def _oscillation_cap(kind: str, freq: float) -> float:
    """Largest amplitude (rad) of a nod / shake at ``freq`` Hz within the neck's speed and acceleration.

    Both are minimum-jerk strokes of half a cycle: a nod strokes A (down, up), a
    shake 2A (side to side).
    """
    stroke = 1.0 if kind == "nod" else 2.0
    half = 0.5 / freq
    return min(HEAD_MAX_SPEED[kind] * half / (MINJERK_PEAK_SPEED * stroke),
               HEAD_MAX_ACCEL * half * half / (MINJERK_PEAK_ACCEL * stroke))


def _fit_move(seg: HeadSegment, length: float) -> None:
    """Shrink a move to ``length`` s when the clip is short: fewer cycles, quicker transitions."""
    if seg.kind in OSCILLATIONS:
        if seg.repetitions / seg.frequency > length - 0.05:
            seg.repetitions = max(1, int((length - 0.05) * seg.frequency))
            if seg.repetitions / seg.frequency > length - 0.05:
                seg.frequency = _r(seg.repetitions / (length - 0.05) + 1e-3)
                seg.amplitude = _r(min(seg.amplitude, _oscillation_cap(seg.kind, seg.frequency)))
    elif seg.onset + seg.offset > 0.7 * length:
        scale = 0.7 * length / (seg.onset + seg.offset)
        seg.onset, seg.offset = _r(seg.onset * scale), _r(seg.offset * scale)


def _limit_transition_speed(moves: list[HeadSegment]) -> None:
    """Lengthen directional transitions that would turn the neck faster than HEAD_MAX_SPEED."""
    pose = np.zeros(3)
    for seg in moves:
        if seg.kind not in HEAD_DIRECTIONS:
            continue
        axis, sign, _ = HEAD_DIRECTIONS[seg.kind]
        target = np.zeros(3)
        target[axis] = sign * seg.amplitude
        per_rad = MINJERK_PEAK_SPEED / HEAD_MAX_SPEED["move"]
        room = seg.end - seg.start - 0.2
        seg.offset = _r(min(max(seg.offset, per_rad * seg.amplitude), 0.5 * room)) if seg.returns else 0.0
        seg.onset = _r(min(max(seg.onset, per_rad * float(np.abs(target - pose).max())), room - seg.offset))
        pose = np.zeros(3) if seg.returns else target


def _head_segments(rng: np.random.Generator, duration: float, kinds: list[str], identity: Identity) -> list[HeadSegment]:
    """Tile [0, duration) with the moves in ``kinds`` in order, ``still`` in the gaps."""
    moves = []
    for kind in kinds:
        speed = str(rng.choice(SPEEDS))
        seg, need = _head_move(rng, kind, identity, speed)
        if need > duration - 0.2 and speed != "fast":
            seg, need = _head_move(rng, kind, identity, "fast")
        moves.append((seg, need))
    t = float(rng.uniform(0.2, 0.8)) if rng.random() < 0.7 else 0.0
    placed: list[HeadSegment] = []
    for i, (seg, need) in enumerate(moves):
        if duration - t < need:
            if placed:
                break
            t = max(0.0, duration - need)  # the first move always goes in: start it earlier
            t = t if t >= 0.2 else 0.0
        length = min(duration - t, need + float(rng.uniform(0.0, 1.2)))
        _fit_move(seg, length)
        seg.start, seg.end = _r(t), _r(t + length)
        placed.append(seg)
        t = seg.end + (float(rng.uniform(0.2, 0.6)) if i + 1 < len(moves) and rng.random() < 0.6 else 0.0)
    # A directional move may hold its pose instead of returning when a directional
    # move follows right away or the clip ends: absorb the gap so no 'still' is off-centre.
    for i, seg in enumerate(placed):
        if seg.kind not in HEAD_DIRECTIONS or rng.random() < 0.55:
            continue
        nxt = placed[i + 1] if i + 1 < len(placed) else None
        if nxt is None or nxt.kind in HEAD_DIRECTIONS:
            seg.returns = False
            seg.offset = 0.0
            seg.end = nxt.start if nxt is not None else _r(duration)
    _limit_transition_speed(placed)
    out: list[HeadSegment] = []
    t = 0.0
    for seg in placed:
        if seg.start > t + 1e-6:
            out.append(HeadSegment("still", _r(t), seg.start))
        out.append(seg)
        t = seg.end
    if t < duration - 0.2:
        out.append(HeadSegment("still", _r(t), _r(duration)))
    if not out:
        out = [HeadSegment("still", 0.0, _r(duration))]
    out[-1].end = _r(duration)
    return out


def _speech_segments(rng: np.random.Generator, duration: float, style: str, identity: Identity) -> list[SpeechSegment]:
    rate_lo, rate_hi = SPEECH_RATE_RANGE[style]
    jaw_lo, jaw_hi = SPEECH_JAW_RANGE[style]

    def one(start: float, end: float) -> SpeechSegment:
        rate = _scaled_uniform(rng, rate_lo, rate_hi, identity.speech_rate ** 2)
        jaw = _scaled_uniform(rng, jaw_lo, jaw_hi, identity.jaw_amplitude)
        jaw = min(jaw, JAW_MAX_SPEED * 1.2 / (np.pi * rate))
        return SpeechSegment(style, _r(start), _r(end), _r(rate), _r(jaw))

    margin = min(0.6, 0.2 * duration)
    start, end = float(rng.uniform(0.05, margin)), duration - float(rng.uniform(0.05, margin))
    if end - start > 5.0 and rng.random() < 0.35:
        cut = float(rng.uniform(start + 2.0, end - 2.5))
        pause = float(rng.uniform(0.6, 1.5))
        return [one(start, cut), one(cut + pause, end)]
    return [one(start, end)]


def _blink_times(rng: np.random.Generator, duration: float, per_minute: float) -> list[float]:
    """Blink onsets: a renewal process (gamma intervals, >= 0.6 s apart), sometimes a double blink."""
    mean = 60.0 / per_minute
    n = int(duration / 0.6) + 2
    gaps = np.maximum(0.6, rng.gamma(3.0, mean / 3.0, n))
    times = float(rng.uniform(0.1, mean)) + np.concatenate([[0.0], np.cumsum(gaps[:-1])])
    times = times[times < duration - 0.35]
    doubles = times[rng.random(times.size) < 0.08] + 0.35
    times = np.sort(np.concatenate([times, doubles[doubles < duration - 0.35]]))
    return [_r(t) for t in times]


def _gaze_shifts(rng: np.random.Generator, duration: float, head: list[HeadSegment]) -> list[GazeShift]:
    """Saccades: glances away and back, and eyes leading some head turns / looks."""
    shifts: list[GazeShift] = []
    n = rng.poisson(duration / 2.5)
    for t in np.sort(rng.uniform(0.2, max(0.3, duration - 0.3), n)):
        away = not shifts or (shifts[-1].yaw == 0 and shifts[-1].pitch == 0) or rng.random() < 0.4
        yaw = float(np.clip(rng.normal(0, 0.15), -0.35, 0.35)) if away else 0.0
        pitch = float(np.clip(rng.normal(0.02, 0.08), -0.25, 0.25)) if away else 0.0
        shifts.append(GazeShift(_r(t), _r(yaw), _r(pitch), 0.0))
    for seg in head:
        if seg.kind in HEAD_DIRECTIONS and seg.kind[:4] in ("turn", "look") and rng.random() < 0.5:
            axis, sign, _ = HEAD_DIRECTIONS[seg.kind]
            yaw, pitch = (0.15 * sign, 0.0) if axis == 1 else (0.0, 0.12 * sign)
            shifts.append(GazeShift(_r(seg.start), _r(yaw), _r(pitch), 0.0))
            shifts.append(GazeShift(_r(max(seg.start + 0.3, seg.end - seg.offset)), 0.0, 0.0, 0.0))
    shifts.sort(key=lambda g: g.time)
    kept: list[GazeShift] = []
    for g in shifts:  # a saccade needs the previous one finished and a short fixation
        if g.time < duration - 0.25 and (not kept or g.time - kept[-1].time >= 0.35):
            prev = kept[-1] if kept else GazeShift(0.0, 0.0, 0.0)
            size = np.degrees(np.hypot(g.yaw - prev.yaw, g.pitch - prev.pitch))
            g.duration = _r(0.05 + 0.0025 * size)  # saccade main sequence: bigger takes longer
            kept.append(g)
    return kept


def _distinct_sequence(rng: np.random.Generator, n: int, pool: tuple[str, ...]) -> list[str]:
    out: list[str] = []
    while len(out) < n:
        choice = str(rng.choice(pool))
        if not out or out[-1] != choice:
            out.append(choice)
    return out


def sample_spec(rng: np.random.Generator, duration: float | None = None, *, category: str | None = None,
                identity: Identity | None = None, clip_id: str = "clip", fps: float = FPS) -> BehaviourSpec:
    """Draw one spec from the prompt suite (category by ``PROMPT_SUITE`` weight unless given).

    Emotions are drawn uniformly among the seven expressive ones, head moves uniformly
    among the eight moving kinds, so categories and labels stay balanced.
    """
    if category is None:
        category = str(rng.choice(CATEGORIES, p=_WEIGHTS))
    if category not in PROMPT_SUITE:
        raise FacelmError(f"unknown prompt category {category!r}; known: {', '.join(CATEGORIES)}")
    if duration is None:
        duration = float(rng.uniform(*PROMPT_SUITE[category].durations))
    duration = round(float(duration), 2)
    if not duration >= 1.0:
        raise FacelmError(f"clip duration must be >= 1 s, got {duration}")
    if identity is None:
        identity = identity_for(int(rng.integers(0, 1 << 16)))
    seed = int(rng.integers(0, 2**31 - 1))

    emotions = ["neutral"]
    head_kinds: list[str] = []
    style = "none"
    if category == "emotion":
        emotions = [str(rng.choice(EXPRESSIVE_EMOTIONS))]
    elif category == "emotion_transition":
        emotions = _distinct_sequence(rng, int(rng.integers(2, 4)), EXPRESSIVE_EMOTIONS + ("neutral",))
        if all(e == "neutral" for e in emotions):
            emotions = [str(rng.choice(EXPRESSIVE_EMOTIONS))]
    elif category == "head":
        head_kinds = [str(rng.choice(MOVING_HEAD_KINDS))]
    elif category == "head_sequence":
        head_kinds = _distinct_sequence(rng, int(rng.integers(2, 4)), MOVING_HEAD_KINDS)
    elif category == "speaking":
        style = str(rng.choice(SPEAKING_STYLES[1:]))
        if rng.random() < 0.3:
            emotions = [str(rng.choice(EXPRESSIVE_EMOTIONS))]
    elif category == "emotion_head":
        emotions = ([str(rng.choice(EXPRESSIVE_EMOTIONS))] if rng.random() < 0.7
                    else _distinct_sequence(rng, 2, EXPRESSIVE_EMOTIONS))
        head_kinds = _distinct_sequence(rng, int(rng.integers(1, 3)), MOVING_HEAD_KINDS)
    elif category == "speaking_combo":
        style = str(rng.choice(SPEAKING_STYLES[1:]))
        emotions = [str(rng.choice(EXPRESSIVE_EMOTIONS))]
        head_kinds = [str(rng.choice(MOVING_HEAD_KINDS))]

    emotion_segs = _emotion_segments(rng, duration, emotions)
    if category == "speaking" and emotions != ["neutral"]:
        for seg in emotion_segs:  # talking with a hint of emotion
            seg.intensity = "slight" if seg.emotion != "neutral" else "none"
    head = _head_segments(rng, duration, head_kinds, identity)
    speech = _speech_segments(rng, duration, style, identity) if style != "none" else []
    blink_rate = identity.blink_rate * {"none": 1.0, "calm": 1.15, "excited": 1.3}[style]
    return BehaviourSpec(
        clip_id=clip_id, seed=seed, duration=duration, category=category, identity=identity,
        emotions=emotion_segs, head=head, speech=speech, blinks=_blink_times(rng, duration, blink_rate),
        gaze=_gaze_shifts(rng, duration, head), idle_amplitude=_r(rng.uniform(0.5, 1.5)), fps=fps)
