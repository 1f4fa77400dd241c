"""Behaviour spec -> motion: FLAME expression, neck / jaw / eye / global pose, eyelids, ARKit.

``compose_batch`` composes many specs at once: it collects every clip's keyframes,
pulses and oscillations into flat arrays (a short Python loop per clip and per
segment, never per frame) and evaluates all tracks on one frame timeline with
numpy (see ``training.envelopes``). Every value depends only on its own clip, so
``compose(spec)`` equals that clip's slice of any batch.

What each part of the face does:

- emotions: action-unit prototypes (``face_units.EMOTION_UNITS``) times the
  intensity level and the identity's expressiveness, left/right asymmetry on
  bilateral units, minimum-jerk transitions between segments, slow liveliness
  at the apex;
- speaking: syllables in phrases at the segment's rate, each a raised-cosine
  pulse on jaw drop (AU26), lips part (AU25) and, by syllable type, lip
  closures (AU24 / AU17, lips pressed shut), AU10, AU20; stressed syllables
  lift the brows (excited) and bob the head;
- head: directional poses, nods and shakes as minimum-jerk keyframes (so every
  stroke starts and ends at rest), idle sway of neck and root;
- eyes: saccades (minimum-jerk over 80-140 ms) between fixations, blinks
  (fast close, slower open) on AU45 and the eyelids.

Units become FLAME through ``face_units.UnitBasis`` (jaw = AU26 x JAW_DROP_RADIANS)
and ARKit through ``face_units.units_to_arkit`` plus gaze from the eye angles.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facelm.clip import MotionClip
from facelm.errors import FacelmError
from facelm.face_units import (ARKIT_INDEX, BILATERAL, JAW_DROP_RADIANS, NUM_UNITS, UNIT_INDEX, UnitBasis,
                               emotion_vector, units_to_arkit)
from training.behaviour import HEAD_DIRECTIONS, INTENSITY_LEVELS, BehaviourSpec
from training.envelopes import Keyframes, Pulses, Sines, Timeline, soft_saturate

# Speech pulse channels: jaw in radians, the rest unit intensities; "dip" closes AU25 multiplicatively.
SPEECH_CHANNELS = ("jaw", "AU25", "AU24", "AU17", "AU10", "AU20", "dip", "AU1", "AU2", "bob")
_SC = {name: i for i, name in enumerate(SPEECH_CHANNELS)}
# Syllable types: (probability, jaw share, AU25 boost, AU24, AU17, AU10, AU20, dip of the lips).
_SYLLABLES = np.array([
    (0.60, 1.00, 0.25, 0.00, 0.00, 0.00, 0.00, 0.0),   # open vowel
    (0.15, 0.15, 0.00, 0.55, 0.25, 0.00, 0.00, 0.85),  # bilabial closure (p, b, m)
    (0.10, 0.40, 0.00, 0.00, 0.00, 0.35, 0.00, 0.5),   # labiodental (f, v)
    (0.15, 0.60, 0.25, 0.00, 0.00, 0.00, 0.30, 0.0),   # spread vowel (ee)
])
# Hand-written specs may ask for instant changes; the face still takes this long (s).
MIN_TRANSITION_S = 0.2
# A syllable's jaw pulse rises and falls over this many syllable intervals each side;
# between syllables the jaw rests this share of the phrase's amplitude open.
SYLLABLE_HALF_WIDTH = 0.6
PHRASE_JAW_SHARE = 0.25
_IDLE_FACE_UNITS = ("AU1L", "AU1R", "AU2L", "AU2R", "AU4", "AU7")
_LEFT = [UNIT_INDEX[pair[0]] for pair in BILATERAL.values()]
_RIGHT = [UNIT_INDEX[pair[1]] for pair in BILATERAL.values()]
_BLINK = [UNIT_INDEX["AU45L"], UNIT_INDEX["AU45R"]]
# Gaze angle (rad) that counts as a full ARKit eye-look weight.
GAZE_FULL_YAW, GAZE_FULL_PITCH = 0.6, 0.5


@dataclass
class ComposedBatch:
    """Motion of a batch on one timeline: ``arrays[key][offsets[i]:offsets[i+1]]`` is clip i."""

    specs: list[BehaviourSpec]
    offsets: np.ndarray
    arrays: dict[str, np.ndarray]  # MotionClip keys + eyelid, arkit, and 'units' (F, U)
    fps: float

    def __len__(self) -> int:
        return len(self.specs)

    def clip(self, i: int, text: dict | None = None) -> MotionClip:
        a, b = int(self.offsets[i]), int(self.offsets[i + 1])
        get = lambda key: self.arrays[key][a:b]  # noqa: E731
        return MotionClip(get("expression"), get("global_pose"), get("neck_pose"), get("jaw_pose"),
                          get("eye_pose"), fps=self.fps, eyelid=get("eyelid"), arkit=get("arkit"),
                          text=text or {}, source=self.specs[i].clip_id)

    def units(self, i: int) -> np.ndarray:
        return self.arrays["units"][int(self.offsets[i]):int(self.offsets[i + 1])]


class _Tracks:
    """Everything collected from the specs of one batch before evaluation."""

    def __init__(self, n: int) -> None:
        self.emotion = Keyframes(NUM_UNITS)
        self.head = Keyframes(3)
        self.gaze = Keyframes(2)
        self.phrase = Keyframes(2)  # while a phrase is spoken: lips part (AU25) and jaw rest opening (rad)
        self.speech = Pulses(len(SPEECH_CHANNELS))
        self.blink = Pulses(2)
        self.idle_neck = Sines(n, 3, 3)
        self.idle_root = Sines(n, 3, 2)
        self.idle_face = Sines(n, len(_IDLE_FACE_UNITS), 2)
        self.lively = Sines(n, 1, 2)
        self.gain = np.ones((n, NUM_UNITS))


def _plan_emotions(tr: _Tracks, i: int, spec: BehaviourSpec, fps: float) -> None:
    prev = None
    for seg in spec.emotions:
        value = emotion_vector(seg.emotion, INTENSITY_LEVELS[seg.intensity])
        if prev is None:
            tr.emotion.add(i, seg.start * fps, value)
        else:
            tr.emotion.add(i, seg.start * fps, prev)
            tr.emotion.add(i, (seg.start + max(seg.onset, MIN_TRANSITION_S)) * fps, value)
        prev = value
    ident = spec.identity
    gain = np.full(NUM_UNITS, ident.expressiveness)
    gain[_LEFT] *= 1.0 + ident.asymmetry
    gain[_RIGHT] *= 1.0 - ident.asymmetry
    tr.gain[i] = gain


def _plan_head(tr: _Tracks, i: int, spec: BehaviourSpec, fps: float) -> None:
    pose = np.zeros(3)
    tr.head.add(i, 0.0, pose)
    for seg in spec.head:
        if seg.kind in HEAD_DIRECTIONS:
            axis, sign, _ = HEAD_DIRECTIONS[seg.kind]
            target = np.zeros(3)
            target[axis] = sign * seg.amplitude
            onset = seg.onset if seg.start == 0 else max(seg.onset, MIN_TRANSITION_S)
            tr.head.add(i, seg.start * fps, pose)
            tr.head.add(i, (seg.start + onset) * fps, target)
            if seg.returns:
                tr.head.add(i, (seg.end - max(seg.offset, MIN_TRANSITION_S)) * fps, target)
                tr.head.add(i, seg.end * fps, np.zeros(3))
                pose = np.zeros(3)
            else:
                pose = target
        elif seg.kind in ("nod", "shake"):
            _add_oscillation(tr, i, seg, pose, fps)


def _add_oscillation(tr: _Tracks, i: int, seg, pose: np.ndarray, fps: float) -> None:
    """Nod / shake as minimum-jerk strokes through extremes, each pausing an instant there.

    A nod cycle goes down (+rx) and back; a shake cycle goes to one side and the
    other (+-ry) with quarter-cycle strokes out of and back to the start pose.
    """
    half = 0.5 / seg.frequency
    if seg.kind == "nod":
        offsets = [0.0] + [seg.amplitude, 0.0] * seg.repetitions
        times = seg.start + half * np.arange(len(offsets))
        axis = 0
    else:
        first = 1.0 if seg.first == "left" else -1.0
        offsets = [0.0] + [first * seg.amplitude, -first * seg.amplitude] * seg.repetitions + [0.0]
        times = seg.start + np.concatenate([[0.0], 0.5 * half + half * np.arange(2 * seg.repetitions),
                                            [seg.repetitions * 2 * half]])
        axis = 1
    for t, off in zip(times, offsets):
        value = pose.copy()
        value[axis] += off
        tr.head.add(i, t * fps, value)


def _plan_speech(tr: _Tracks, i: int, spec: BehaviourSpec, fps: float, rng: np.random.Generator) -> None:
    bob_gain = spec.identity.head_amplitude
    for seg in spec.speech:
        rate, jaw = seg.syllable_rate, seg.jaw_amplitude
        excited = seg.style == "excited"
        level = float(rng.uniform(0.35, 0.6))
        t = seg.start
        while t < seg.end - 0.25:
            n = int(rng.integers(4, 13))
            gaps = rng.uniform(0.75, 1.25, n) / rate
            times = t + 0.5 / rate + np.concatenate([[0.0], np.cumsum(gaps[:-1])])
            times = times[times < seg.end - 0.5 / rate]
            if times.size == 0:
                break
            n = times.size
            end = float(times[-1]) + 0.5 / rate
            plateau = (level, PHRASE_JAW_SHARE * jaw)
            tr.phrase.add(i, (t - 0.05) * fps, (0.0, 0.0))
            tr.phrase.add(i, (t + 0.15) * fps, plateau)
            tr.phrase.add(i, (end - 0.05) * fps, plateau)
            tr.phrase.add(i, (end + 0.15) * fps, (0.0, 0.0))
            kind = np.searchsorted(np.cumsum(_SYLLABLES[:, 0]), rng.random(n), side="right").clip(0, 3)
            stressed = rng.random(n) < 0.3
            strength = np.where(stressed, rng.uniform(0.9, 1.0, n), rng.uniform(0.45, 0.85, n))
            table = _SYLLABLES[kind]
            amp = np.zeros((n, len(SPEECH_CHANNELS)))
            amp[:, _SC["jaw"]] = jaw * table[:, 1] * strength
            for col, name in enumerate(("AU25", "AU24", "AU17", "AU10", "AU20"), start=2):
                amp[:, _SC[name]] = table[:, col] * strength
            width = SYLLABLE_HALF_WIDTH / rate * fps
            tr.speech.add_many(i, times * fps, width, width, amp)
            # Lip closures: the lips meet briefly, narrower than the jaw pulse.
            dip = np.zeros((n, len(SPEECH_CHANNELS)))
            dip[:, _SC["dip"]] = table[:, 7]
            closing = table[:, 7] > 0
            half = max(0.6 / rate, 0.1) * fps
            tr.speech.add_many(i, times[closing] * fps, half, half, dip[closing])
            # Stress: brows lift (mostly when excited) and the head bobs down and back.
            if stressed.any():
                st = times[stressed]
                brow = (0.25 if excited else 0.08) * strength[stressed]
                bob = (0.03 if excited else 0.012) * bob_gain * rng.uniform(0.6, 1.2, st.size)
                emph = np.zeros((st.size, len(SPEECH_CHANNELS)))
                emph[:, _SC["AU1"]] = brow
                emph[:, _SC["AU2"]] = brow * (1.0 if excited else 0.5)
                emph[:, _SC["bob"]] = bob
                tr.speech.add_many(i, st * fps, 0.15 * fps, 0.3 * fps, emph)
                rebound = np.zeros_like(emph)
                rebound[:, _SC["bob"]] = -0.5 * bob
                tr.speech.add_many(i, (st + 0.4) * fps, 0.15 * fps, 0.3 * fps, rebound)
            t = end + float(rng.uniform(0.25, 0.7))


def _plan_eyes(tr: _Tracks, i: int, spec: BehaviourSpec, fps: float, rng: np.random.Generator) -> None:
    gaze = np.zeros(2)
    tr.gaze.add(i, 0.0, gaze)
    for g in spec.gaze:
        tr.gaze.add(i, g.time * fps, gaze)
        gaze = np.array([g.yaw, g.pitch])
        tr.gaze.add(i, (g.time + max(g.duration, 1.0 / fps)) * fps, gaze)
    if spec.blinks:
        times = np.asarray(spec.blinks)
        n = times.size
        closure = rng.uniform(0.9, 1.0, n)
        asym = 1.0 + 0.3 * spec.identity.asymmetry * np.array([1.0, -1.0])
        amp = closure[:, None] * asym[None, :]
        close_s, open_s = rng.uniform(0.08, 0.12, n), rng.uniform(0.16, 0.24, n)
        tr.blink.add_many(i, (times + close_s) * fps, close_s * fps, open_s * fps, amp)


def _plan_idle(tr: _Tracks, i: int, spec: BehaviourSpec, rng: np.random.Generator) -> None:
    idle, head_gain = spec.idle_amplitude, spec.identity.head_amplitude
    phase = lambda *shape: rng.uniform(0, 2 * np.pi, shape)  # noqa: E731
    tr.idle_neck.set(i, idle * head_gain * rng.uniform(0.002, 0.007, (3, 3)), rng.uniform(0.08, 0.5, (3, 3)),
                     phase(3, 3))
    tr.idle_root.set(i, idle * rng.uniform(0.002, 0.006, (3, 2)), rng.uniform(0.03, 0.2, (3, 2)), phase(3, 2))
    k = len(_IDLE_FACE_UNITS)
    tr.idle_face.set(i, idle * rng.uniform(0.004, 0.012, (k, 2)), rng.uniform(0.1, 0.4, (k, 2)), phase(k, 2))
    tr.lively.set(i, rng.uniform(0.02, 0.05, (1, 2)), rng.uniform(0.1, 0.35, (1, 2)), phase(1, 2))


def compose_batch(specs: list[BehaviourSpec], basis: UnitBasis | None = None) -> ComposedBatch:
    """Compose every spec; returns all clips on one timeline (float32 arrays)."""
    if not specs:
        raise FacelmError("compose_batch needs at least one spec")
    fps = specs[0].fps
    if any(s.fps != fps for s in specs):
        raise FacelmError("all specs of a batch must share one fps")
    basis = basis or _default_basis()
    tl = Timeline(np.array([s.num_frames for s in specs]))
    tr = _Tracks(len(specs))
    for i, spec in enumerate(specs):
        rng = np.random.default_rng([spec.seed, 0xC0])
        _plan_emotions(tr, i, spec, fps)
        _plan_head(tr, i, spec, fps)
        _plan_speech(tr, i, spec, fps, rng)
        _plan_eyes(tr, i, spec, fps, rng)
        _plan_idle(tr, i, spec, rng)

    c = tl.clip
    units = tr.emotion.evaluate(tl) * tr.gain[c] * (1.0 + tr.lively.evaluate(tl, fps))
    idle_face = tr.idle_face.evaluate(tl, fps)
    idle_face += tr.idle_face.amp.sum(-1)[c]  # shift the sines to be >= 0
    units[:, [UNIT_INDEX[u] for u in _IDLE_FACE_UNITS]] += idle_face
    speech = tr.speech.evaluate(tl)
    units[:, UNIT_INDEX["AU26"]] += speech[:, _SC["jaw"]] / JAW_DROP_RADIANS
    lips_closed = np.clip(speech[:, _SC["dip"]], 0.0, 0.95)
    au25 = UNIT_INDEX["AU25"]
    phrase = tr.phrase.evaluate(tl)
    units[:, UNIT_INDEX["AU26"]] += phrase[:, 1] * (1.0 - lips_closed) / JAW_DROP_RADIANS
    units[:, au25] = (units[:, au25] + phrase[:, 0]) * (1.0 - lips_closed) + speech[:, _SC["AU25"]]
    for name in ("AU24", "AU17", "AU10", "AU20"):
        units[:, UNIT_INDEX[name]] += speech[:, _SC[name]]
    for name in ("AU1", "AU2"):
        units[:, [UNIT_INDEX[u] for u in BILATERAL[name]]] += speech[:, _SC[name], None]
    units[:, _BLINK] = tr.blink.evaluate(tl)
    units = soft_saturate(units)

    neck = tr.head.evaluate(tl) + tr.idle_neck.evaluate(tl, fps)
    neck[:, 0] += speech[:, _SC["bob"]]
    root = tr.idle_root.evaluate(tl, fps)
    gaze = tr.gaze.evaluate(tl)  # (F, 2) yaw, pitch
    eyes = np.zeros((tl.total, 6))
    eyes[:, [0, 3]] = gaze[:, 1:2]  # pitch about x, both eyes
    eyes[:, [1, 4]] = gaze[:, 0:1]  # yaw about y

    units32 = units.astype(np.float32)
    expression, jaw = basis.to_expression(units32)
    arkit = units_to_arkit(units32)
    _gaze_to_arkit(arkit, gaze)
    arrays = {
        "expression": expression.astype(np.float32), "global_pose": root.astype(np.float32),
        "neck_pose": neck.astype(np.float32), "jaw_pose": jaw.astype(np.float32),
        "eye_pose": eyes.astype(np.float32), "eyelid": units32[:, _BLINK].copy(), "arkit": arkit,
        "units": units32,
    }
    return ComposedBatch(list(specs), tl.offsets, arrays, fps)


def _gaze_to_arkit(arkit: np.ndarray, gaze: np.ndarray) -> None:
    """Fill ARKit eye-look weights from gaze yaw (> 0: to the subject's left) and pitch (> 0: down)."""
    yaw, pitch = gaze[:, 0], gaze[:, 1]
    left = np.clip(yaw / GAZE_FULL_YAW, 0, 1)
    right = np.clip(-yaw / GAZE_FULL_YAW, 0, 1)
    down, up = np.clip(pitch / GAZE_FULL_PITCH, 0, 1), np.clip(-pitch / GAZE_FULL_PITCH, 0, 1)
    for side, out_w, in_w in (("Left", left, right), ("Right", right, left)):
        arkit[:, ARKIT_INDEX[f"EyeLookOut{side}"]] = out_w  # looking to one's left: left eye outward
        arkit[:, ARKIT_INDEX[f"EyeLookIn{side}"]] = in_w
        arkit[:, ARKIT_INDEX[f"EyeLookDown{side}"]] = down
        arkit[:, ARKIT_INDEX[f"EyeLookUp{side}"]] = up


_BASIS: UnitBasis | None = None


def _default_basis() -> UnitBasis:
    global _BASIS
    if _BASIS is None:
        _BASIS = UnitBasis()
    return _BASIS


def compose(spec: BehaviourSpec, basis: UnitBasis | None = None, text: dict | None = None) -> MotionClip:
    """One spec -> MotionClip (25 fps unless the spec says otherwise), with eyelids and ARKit."""
    return compose_batch([spec], basis).clip(0, text)
