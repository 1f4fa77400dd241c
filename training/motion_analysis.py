"""Read facial behaviour back from a clip's FLAME parameters alone.

The annotator must describe any clip, synthetic or real, so nothing here looks
at how a clip was made: it reads action-unit intensities through
``face_units.UnitBasis`` (or ARKit weights when the clip carries them), head
pose from the neck rotation with MMHead's sign table, speech from the jaw's
syllable-rate oscillation, blinks from the blink units and gaze from the eyes.

Everything runs at 25 fps (other rates are resampled first). Times in the
summary are seconds from the clip's first frame.

Caveats, also written into ``MotionSummary.caveats`` when they apply:
- The AU read-back inverts facelm's *synthetic* AU basis. On clips made with it
  (the corpus composer) it is exact; on real FLAME clips it is a projection onto
  a made-up basis, so unit and emotion readings there are indicative only.
- 100-coefficient clips (FLAME 2020, e.g. BEAT2) are read through their first 50
  coefficients; the rest of the face is not seen.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
from scipy.ndimage import median_filter, percentile_filter, uniform_filter1d
from scipy.signal import butter, find_peaks, sosfiltfilt

from facelm import face_units
from facelm.clip import DEFAULT_FPS, MotionClip
from facelm.face_units import EMOTION_UNITS, UNIT_CODES, UNIT_INDEX

FPS = DEFAULT_FPS

# -- head pose -------------------------------------------------------------
HEAD_DEAD_ZONE = 0.06        # rad: below this on every axis the head counts as centred
HEAD_SWING_MIN = 0.085       # rad: smallest reversal that counts as a nod/shake swing
HEAD_DWELL_MAX_S = 0.5       # s: a nod/shake lingers at most this long at a turning point
HEAD_SETTLE_SPEED = 0.08     # rad/s: slower than this the head counts as at rest
HEAD_MIN_EVENT_S = 0.32      # s: shorter head segments merge into their neighbours
OSC_MIN_HZ = 0.7             # cycles a second: a nod or shake is at least this brisk
# Cycles a second dividing slow | normal | fast oscillations, per kind.
OSC_SPEED_HZ = {"nod": (1.3, 1.95), "shake": (1.15, 1.7)}
# Seconds a held-pose move takes (10-90 % rise / 0.506, the minimum-jerk ratio): slow above, fast below.
MOVE_SLOW_S, MOVE_FAST_S = 0.8, 0.45
MOVE_EDGE_SPEED = 0.03       # rad/s: a held-pose move starts and ends where it is slower than this
# Axis of the neck rotation -> (kind for r < 0, kind for r > 0), MMHead's table.
AXIS_KINDS = {0: ("look_up", "look_down"), 1: ("turn_right", "turn_left"), 2: ("tilt_left", "tilt_right")}
OSC_AXIS = {"nod": 0, "shake": 1}
HEAD_KINDS = ("look_up", "look_down", "turn_right", "turn_left", "tilt_left", "tilt_right", "nod", "shake", "still")

# -- expression ------------------------------------------------------------
# Units that speech and blinks move: left out when judging emotion.
NON_EMOTION_UNITS = ("AU25", "AU26", "AU45L", "AU45R")
NEUTRAL_MAGNITUDE = 0.18     # |units| below this reads as a neutral face
# An emotion is the face's baseline; speech adds syllable-long pulses on top. A low
# running percentile over this window follows the baseline and ignores the pulses.
EMOTION_WINDOW_S = 0.84
EMOTION_PERCENTILE = 25
PULSE_WINDOW_S = 0.84        # running-median window that separates brief pulses from steps
EMOTION_MIN_S = 0.4          # shorter emotion segments merge into neighbours
UNIT_ON, UNIT_OFF = 0.25, 0.15  # hysteresis for a unit episode
UNIT_MIN_S = 0.24

# -- speech, blinks, gaze -----------------------------------------------------
SPEECH_BAND_HZ = (2.0, 8.0)  # syllable rates in the jaw opening
SPEECH_PROMINENCE = 0.005    # rad: a jaw opening this much above its neighbours is a syllable
SPEECH_MAX_GAP_S = 0.7       # s: syllables closer than this belong to one stretch of speech
SPEECH_MIN_SYLLABLES = 4
SPEECH_MIN_S = 0.6
# Excited speech opens the jaw wider and lifts the brows on stressed syllables: the
# animation index sqrt(jaw/JAW_REF * brow/BROW_REF) of a speech stretch is above 1.
SPEECH_JAW_REF = 0.015       # rad RMS of the 2-8 Hz jaw opening
SPEECH_BROW_REF = 0.032      # RMS of brief brow lifts (brow units minus their running median)
SPEECH_BROW_MIN = 0.004      # less brow movement than this: no brow prosody to judge by
SPEECH_JAW_ALONE_REF = 0.016  # rad: without brow prosody, excited speech opens the jaw more than this
BLINK_ON = 0.5
BLINK_MAX_S = 0.7            # a longer closure is "closes the eyes"
GAZE_DEAD_ZONE = 0.12        # rad of eye rotation
GAZE_MIN_S = 0.3


@dataclass
class HeadEvent:
    """One chronological head behaviour, named as the corpus specs name them.

    kind: nod | shake (back and forth about x | y), look_up | look_down (held about x),
    turn_left | turn_right (held about y), tilt_left | tilt_right (held about z),
    still (centred, not moving). ``direction`` is the kind's left/right/up/down part.
    """

    start: float
    end: float
    kind: str
    direction: str | None = None
    speed: str = "normal"  # slow | normal | fast
    amplitude: float = 0.0  # rad: peak excursion (held) or mean swing (oscillation)


@dataclass
class EmotionSegment:
    start: float
    end: float
    label: str
    intensity: float  # 1.0 = the prototype in face_units.EMOTION_UNITS


@dataclass
class SpeechSegment:
    start: float
    end: float
    level: str  # calm | excited
    energy: float  # rad RMS of the 2-8 Hz jaw opening
    animation: float = 0.0  # > 1: excited (see SPEECH_JAW_REF)


@dataclass
class Blink:
    time: float
    duration: float


@dataclass
class GazeShift:
    start: float
    end: float
    direction: str  # left | right | up | down


@dataclass
class UnitEpisode:
    """A stretch where one action unit (or a bilateral pair, e.g. AU12) is active."""

    unit: str
    start: float
    end: float
    peak: float


@dataclass
class MotionSummary:
    duration: float
    num_frames: int
    source_fps: float
    expression_size: int
    head: list[HeadEvent] = field(default_factory=list)
    emotions: list[EmotionSegment] = field(default_factory=list)
    speech: list[SpeechSegment] = field(default_factory=list)
    speaking: str = "none"  # none | calm | excited: the clip's overall speaking style
    blinks: list[Blink] = field(default_factory=list)
    gaze: list[GazeShift] = field(default_factory=list)
    units: list[UnitEpisode] = field(default_factory=list)
    caveats: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class FrameFeatures:
    """Per-frame readings at 25 fps that the summary is built from."""

    units: np.ndarray       # (T, U) action-unit intensities in [0, 1]
    head: np.ndarray        # (T, 3) head rotation (rx, ry, rz), MMHead's table applies
    jaw_open: np.ndarray    # (T,) jaw rotation about x, radians
    gaze: np.ndarray        # (T, 2) mean eye rotation (pitch x, yaw y)
    caveats: list[str]


# ============================================================================
# per-frame features
# ============================================================================
def frame_features(clip: MotionClip, basis: face_units.UnitBasis | None = None) -> FrameFeatures:
    """Units, head pose, jaw and gaze a frame (the clip must already be at 25 fps)."""
    caveats: list[str] = []
    if clip.arkit is not None:
        units = face_units.arkit_to_units(clip.arkit)
        caveats.append("action units read from the clip's ARKit weights")
    else:
        basis = basis or face_units.UnitBasis()
        if clip.num_expression > basis.num_expression:
            caveats.append(
                f"expression has {clip.num_expression} coefficients; units are read from the first "
                f"{basis.num_expression} only")
        units = basis.from_expression(clip.expression, clip.jaw_pose)
        caveats.append("action units read through facelm's synthetic AU basis "
                       "(exact for composed clips, indicative for real FLAME clips)")
    # MMHead reads the FLAME neck. Head-only trackers leave the neck at rest and
    # carry the head in the root instead: use that when the neck never moves.
    head = clip.neck_pose.astype(np.float64)
    if np.abs(head).max() < 1e-4 and np.abs(clip.global_pose).max() >= 1e-4:
        head = clip.global_pose.astype(np.float64)
        caveats.append("neck is at rest; head pose read from the global rotation")
    eyes = clip.eye_pose.reshape(-1, 2, 3).mean(axis=1)
    return FrameFeatures(units=units, head=head, jaw_open=clip.jaw_pose[:, 0].astype(np.float64),
                         gaze=eyes[:, :2].astype(np.float64), caveats=caveats)


# ============================================================================
# small signal helpers
# ============================================================================
def _smooth(x: np.ndarray, seconds: float) -> np.ndarray:
    size = max(1, int(round(seconds * FPS)))
    return uniform_filter1d(np.asarray(x, np.float64), size=size, axis=0, mode="nearest")


def _runs(labels: list) -> list[tuple[int, int, object]]:
    """Run-length encode: [(start_frame, stop_frame, label)]."""
    runs: list[tuple[int, int, object]] = []
    for i, lab in enumerate(labels):
        if runs and runs[-1][2] == lab:
            runs[-1] = (runs[-1][0], i + 1, lab)
        else:
            runs.append((i, i + 1, lab))
    return runs


def _merge_short(runs: list[tuple[int, int, object]], min_frames: int) -> list[tuple[int, int, object]]:
    """Absorb runs shorter than ``min_frames`` into a neighbour, shortest first."""
    runs = list(runs)
    while len(runs) > 1:
        lengths = [b - a for a, b, _ in runs]
        i = int(np.argmin(lengths))
        if lengths[i] >= min_frames:
            break
        # Join the longer neighbour (the previous one on a tie).
        left = lengths[i - 1] if i > 0 else -1
        right = lengths[i + 1] if i + 1 < len(runs) else -1
        j = i - 1 if left >= right else i + 1
        a = min(runs[i][0], runs[j][0])
        b = max(runs[i][1], runs[j][1])
        runs[min(i, j)] = (a, b, runs[j][2])
        del runs[max(i, j)]
        # Neighbours that now share a label become one run.
        merged: list[tuple[int, int, object]] = []
        for r in runs:
            if merged and merged[-1][2] == r[2]:
                merged[-1] = (merged[-1][0], r[1], r[2])
            else:
                merged.append(r)
        runs = merged
    return runs


def _hysteresis(x: np.ndarray, on: float, off: float) -> np.ndarray:
    """Boolean mask: True from where x rises above ``on`` until it falls below ``off``."""
    out = np.zeros(len(x), bool)
    state = False
    for i, v in enumerate(x):
        state = v > on if not state else v > off
        out[i] = state
    return out


def _mask_runs(mask: np.ndarray) -> list[tuple[int, int]]:
    return [(a, b) for a, b, v in _runs(list(mask)) if v]


def _t(frame: int) -> float:
    return round(frame / FPS, 3)


# ============================================================================
# head
# ============================================================================
def _turning_points(x: np.ndarray, delta: float) -> list[int]:
    """Indices of alternating extrema, each reversal at least ``delta`` (a zigzag).

    Where the signal rose (or fell) by ``delta`` into the first reversal, the
    lowest (highest) point before it leads the list, so a single nod from rest
    has two swings; the extreme reached after the last reversal closes it.
    """
    points: list[int] = []
    hi = lo = 0
    trend = 0  # +1 rising, -1 falling, 0 not yet known
    for i in range(1, len(x)):
        if x[i] > x[hi]:
            hi = i
        if x[i] < x[lo]:
            lo = i
        if trend >= 0 and x[i] < x[hi] - delta and (trend == 1 or hi > lo or trend == 0):
            if trend == 0:
                before = int(np.argmin(x[: hi + 1]))
                if x[hi] - x[before] >= delta:
                    points.append(before)
            points.append(hi)
            trend, lo = -1, i
        elif trend <= 0 and x[i] > x[lo] + delta and (trend == -1 or lo > hi or trend == 0):
            if trend == 0:
                before = int(np.argmax(x[: lo + 1]))
                if x[before] - x[lo] >= delta:
                    points.append(before)
            points.append(lo)
            trend, hi = 1, i
    # The last swing ends at the extreme it reached after the last reversal.
    last = lo if trend == -1 else hi if trend == 1 else None
    if last is not None and last != points[-1] and abs(x[last] - x[points[-1]]) >= delta:
        points.append(last)
    return points


def _dwell(x: np.ndarray, k: int, tol: float) -> int:
    """Frames around index k that stay within ``tol`` of x[k] (the linger at a turning point)."""
    a = k
    while a > 0 and abs(x[a - 1] - x[k]) < tol:
        a -= 1
    b = k
    while b < len(x) - 1 and abs(x[b + 1] - x[k]) < tol:
        b += 1
    return b - a + 1


def _cross(x: np.ndarray, a: int, b: int, frac: float) -> int:
    """First index in [a, b] where x has gone ``frac`` of the way from x[a] to x[b]."""
    target = x[a] + frac * (x[b] - x[a])
    seg = x[a: b + 1]
    hit = np.flatnonzero((seg - target) * np.sign(x[b] - x[a]) >= 0)
    return a + int(hit[0]) if hit.size else b


def _settle(x: np.ndarray, i: int, step: int, limit: int) -> int:
    """From extremum i, follow the swing leaving it (step +1) or arriving at it (step -1)
    until the head stops moving (or ``limit`` frames): where the movement ends/begins."""
    eps = HEAD_SETTLE_SPEED / FPS
    j = i
    direction = 0.0
    while 0 <= j + step < len(x) and abs(j - i) < limit:
        dx = (x[j + step] - x[j]) * step
        if direction == 0.0:
            direction = np.sign(dx) if abs(dx) > eps else 0.0
            if direction == 0.0 and abs(j - i) > 2:
                break
        elif dx * direction <= eps:
            break
        j += step
    return j


def _half_width(x: np.ndarray, k: int, base: float) -> float:
    """Seconds x stays beyond halfway between ``base`` and its extremum at k."""
    half = 0.5 * (x[k] + base)
    beyond = np.sign(x[k] - half)
    a = k
    while a > 0 and (x[a - 1] - half) * beyond > 0:
        a -= 1
    b = k
    while b < len(x) - 1 and (x[b + 1] - half) * beyond > 0:
        b += 1
    return (b - a + 1) / FPS


def _oscillations(x: np.ndarray) -> list[tuple[int, int, float, float]]:
    """Back-and-forth episodes on one axis: (start, stop, cycles a second, mean swing).

    An episode is a run of swings between turning points where every turning point
    inside the run is passed through quickly (lingers at most ``HEAD_DWELL_MAX_S``):
    a held pose lingers, a nod or shake does not. It needs at least two swings.
    """
    pts = _turning_points(x, HEAD_SWING_MIN)
    swings = [abs(x[b] - x[a]) for a, b in zip(pts, pts[1:])]
    quick = [False] * len(pts)
    for k in range(1, len(pts) - 1):
        tol = 0.25 * min(swings[k - 1], swings[k])
        quick[k] = _dwell(x, pts[k], tol) <= HEAD_DWELL_MAX_S * FPS
    out = []
    limit = int(1.5 * FPS)
    k = 1
    while k < len(pts) - 1:
        if not quick[k]:
            k += 1
            continue
        j = k
        while j + 1 < len(pts) - 1 and quick[j + 1]:
            j += 1
        inner = pts[k: j + 1]
        start = _settle(x, inner[0], -1, limit)
        stop = _settle(x, inner[-1], +1, limit) + 1
        if len(inner) >= 2:
            hz = 1.0 / (2.0 * np.mean(np.diff(inner)) / FPS)
        else:  # one dip and back (a raised cosine): above half depth for half a period
            hz = 1.0 / (2.0 * max(_half_width(x, inner[0], x[start]), 1.0 / FPS))
        if hz >= OSC_MIN_HZ:  # slower swaying is looking around: held poses, not a nod or shake
            out.append((start, stop, float(hz), float(np.mean(swings[k - 1: j + 1]))))
        k = j + 1
    return out


def _crossing_time(x: np.ndarray, a: int, b: int, level: float) -> float:
    """Frame position (interpolated) where x first passes ``level`` going from x[a] towards x[b]."""
    sign = np.sign(x[b] - x[a])
    for i in range(a, b):
        if (x[i + 1] - level) * sign >= 0:
            span = x[i + 1] - x[i]
            return i + (float((level - x[i]) / span) if span != 0 else 0.0)
    return float(b)


def _move_seconds(x: np.ndarray, a: int, b: int) -> float:
    """Duration of the single move that brings x into the held segment [a, b).

    The move is the monotonic stretch around the fastest approach near ``a`` (where
    the dead zone was crossed) moving towards the held value faster than
    ``MOVE_EDGE_SPEED``; its 10-90 %
    rise time over 0.506 is the duration of a minimum-jerk move.
    """
    target = float(np.median(x[a:b]))
    sign = np.sign(target - x[max(a - 1, 0)]) or np.sign(target)
    v = np.gradient(x) * FPS * sign
    eps = MOVE_EDGE_SPEED
    # Anchor at the fastest approach near the crossing, then walk out to both ends.
    lo_w, hi_w = max(0, a - int(FPS)), max(min(b, a + int(FPS), len(x)), a + 1)
    anchor = lo_w + int(np.argmax(v[lo_w:hi_w]))
    begin = anchor
    while begin > 0 and v[begin - 1] > eps and anchor - begin < 2 * FPS:
        begin -= 1
    end = anchor
    while end < len(x) - 1 and v[end + 1] > eps and end - anchor < 2 * FPS:
        end += 1
    if end <= begin or abs(x[end] - x[begin]) < 1e-6:
        return 0.0
    lo, hi = x[begin], x[end]
    t10 = _crossing_time(x, begin, end, lo + 0.1 * (hi - lo))
    t90 = _crossing_time(x, begin, end, lo + 0.9 * (hi - lo))
    return (t90 - t10) / FPS / 0.506


def _oscillation_speed(kind: str, hz: float) -> str:
    slow, fast = OSC_SPEED_HZ[kind]
    return "slow" if hz < slow else "fast" if hz > fast else "normal"


def _move_speed(seconds: float) -> str:
    return "slow" if seconds > MOVE_SLOW_S else "fast" if seconds < MOVE_FAST_S else "normal"


def _direction(kind: str) -> str | None:
    return kind.split("_")[1] if "_" in kind else None


def analyse_head(head: np.ndarray) -> list[HeadEvent]:
    """Chronological head events from (T, 3) rotation (rx, ry, rz)."""
    n = len(head)
    if n == 0:
        return []
    r = _smooth(head, 0.12)
    label: list[object] = [None] * n
    osc_info: dict[tuple, tuple[float, float]] = {}
    # Oscillations first: about x (nod) and y (shake); the larger swing wins an overlap.
    strength = np.zeros(n)
    for kind, axis in OSC_AXIS.items():
        for a, b, hz, swing in _oscillations(r[:, axis]):
            key = (kind, a)
            osc_info[key] = (hz, swing)
            for i in range(a, b):
                if swing > strength[i]:
                    strength[i] = swing
                    label[i] = key
    # Held poses elsewhere: the axis furthest outside the dead zone.
    for i in range(n):
        if label[i] is None:
            mag = np.abs(r[i])
            axis = int(np.argmax(mag))
            label[i] = ("still",) if mag[axis] < HEAD_DEAD_ZONE else (AXIS_KINDS[axis][int(r[i, axis] > 0)],)
    runs = _merge_short(_runs(label), int(HEAD_MIN_EVENT_S * FPS))
    events: list[HeadEvent] = []
    for a, b, lab in runs:
        kind = lab[0]
        if kind in OSC_AXIS:
            hz, swing = osc_info[lab]
            ev = HeadEvent(_t(a), _t(b), kind, None, _oscillation_speed(kind, hz), round(swing, 4))
        elif kind == "still":
            ev = HeadEvent(_t(a), _t(b), "still", None, "normal", round(float(np.abs(r[a:b]).max()), 4))
        else:
            axis = next(ax for ax, kinds in AXIS_KINDS.items() if kind in kinds)
            seconds = _move_seconds(head[:, axis], a, b)  # raw: smoothing would slow the move
            ev = HeadEvent(_t(a), _t(b), kind, _direction(kind), _move_speed(seconds),
                           round(float(np.abs(r[a:b, axis]).max()), 4))
        if events and events[-1].kind == ev.kind:
            events[-1].end = ev.end  # oscillation episodes that touch: one event
        else:
            events.append(ev)
    return events


# ============================================================================
# expression and emotion
# ============================================================================
def _emotion_prototypes() -> tuple[list[str], np.ndarray, np.ndarray]:
    keep = np.array([c not in NON_EMOTION_UNITS for c in UNIT_CODES])
    names = [e for e in EMOTION_UNITS if e != "neutral"]
    protos = np.stack([face_units.emotion_vector(e)[keep] for e in names])
    return names, protos, keep


def classify_emotions(units: np.ndarray) -> tuple[list[str], np.ndarray]:
    """Per-frame emotion label and intensity by nearest prototype (cosine) on non-speech units."""
    names, protos, keep = _emotion_prototypes()
    # Low running percentile (see EMOTION_PERCENTILE): brow lifts and lip closures
    # of speech come often enough that a median would still see them.
    size = max(1, int(round(EMOTION_WINDOW_S * FPS)) | 1)
    u = percentile_filter(np.asarray(units, np.float64)[:, keep], EMOTION_PERCENTILE, size=(size, 1),
                          mode="nearest")
    u = _smooth(u, 0.2)
    mag = np.linalg.norm(u, axis=1)
    unit_protos = protos / np.linalg.norm(protos, axis=1, keepdims=True)
    cos = (u @ unit_protos.T) / np.maximum(mag, 1e-6)[:, None]
    best = np.argmax(cos, axis=1)
    # Intensity: the projection onto the chosen prototype, in prototype units.
    proj = np.einsum("tu,tu->t", u, protos[best]) / np.einsum("tu,tu->t", protos[best], protos[best])
    labels = [names[k] if m >= NEUTRAL_MAGNITUDE else "neutral" for k, m in zip(best, mag)]
    intensity = np.where(mag >= NEUTRAL_MAGNITUDE, np.clip(proj, 0.0, 1.5), 0.0)
    return labels, intensity


def analyse_emotions(units: np.ndarray) -> list[EmotionSegment]:
    labels, intensity = classify_emotions(units)
    runs = _merge_short(_runs(labels), int(EMOTION_MIN_S * FPS))
    out = []
    for a, b, lab in runs:
        vals = intensity[a:b][np.array(labels[a:b]) == lab]
        level = float(np.median(vals)) if len(vals) else 0.0
        out.append(EmotionSegment(_t(a), _t(b), str(lab), round(level, 3)))
    return out


def _unit_groups() -> list[tuple[str, tuple[int, ...]]]:
    """Readable unit groups: bilateral pairs read as one unit when both sides move together."""
    groups: list[tuple[str, tuple[int, ...]]] = []
    paired = {c for pair in face_units.BILATERAL.values() for c in pair}
    for code, (left, right) in face_units.BILATERAL.items():
        if code == "AU45":
            continue  # blinks are read separately
        groups.append((code, (UNIT_INDEX[left], UNIT_INDEX[right])))
    for code in UNIT_CODES:
        if code not in paired:
            groups.append((code, (UNIT_INDEX[code],)))
    return groups


def analyse_units(units: np.ndarray, speech: list[SpeechSegment]) -> list[UnitEpisode]:
    """Episodes of each unit being active, chronological; mouth opening during speech is left out."""
    u = _smooth(units, 0.2)
    speaking = np.zeros(len(u), bool)
    for s in speech:
        speaking[int(s.start * FPS): int(round(s.end * FPS))] = True
    episodes: list[UnitEpisode] = []
    for code, cols in _unit_groups():
        if len(cols) == 2:
            left, right = u[:, cols[0]], u[:, cols[1]]
            both = np.minimum(left, right)
            for name, signal in ((code, both), (code + "L", left - both), (code + "R", right - both)):
                episodes += _episodes(name, signal, speaking)
        else:
            episodes += _episodes(code, u[:, cols[0]], speaking)
    episodes.sort(key=lambda e: (e.start, -e.peak))
    return episodes


def _episodes(code: str, signal: np.ndarray, speaking: np.ndarray) -> list[UnitEpisode]:
    out = []
    for a, b in _mask_runs(_hysteresis(signal, UNIT_ON, UNIT_OFF)):
        if b - a < UNIT_MIN_S * FPS:
            continue
        if code in ("AU25", "AU26") and speaking[a:b].mean() > 0.5:
            continue  # the talking mouth is described as speech, not unit by unit
        out.append(UnitEpisode(code, _t(a), _t(b), round(float(signal[a:b].max()), 3)))
    return out


# ============================================================================
# speech, blinks, gaze
# ============================================================================
def _band_pass(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Zero-phase Butterworth band-pass; odd padding keeps a clip's first and last steps quiet."""
    x = np.asarray(x, np.float64)
    sos = butter(2, [lo, hi], btype="band", fs=FPS, output="sos")
    if len(x) <= 3 * (2 * len(sos) + 1):
        return np.zeros_like(x)
    return sosfiltfilt(sos, x - x[0])


def _syllables(band: np.ndarray) -> np.ndarray:
    """Frames of jaw openings: peaks of the band-passed jaw standing out by ``SPEECH_PROMINENCE``."""
    peaks, _ = find_peaks(band, prominence=SPEECH_PROMINENCE, distance=max(1, int(0.12 * FPS)))
    return peaks


def analyse_speech(jaw_open: np.ndarray, units: np.ndarray | None = None) -> list[SpeechSegment]:
    """Speaking stretches: runs of syllable-rate jaw openings; each calm or excited.

    Syllables are peaks of the 2-8 Hz jaw opening; peaks at most ``SPEECH_MAX_GAP_S``
    apart chain into a run, and a run of at least ``SPEECH_MIN_SYLLABLES`` is speech
    (an emotion's single mouth opening makes one or two peaks, never a chain).
    """
    n = len(jaw_open)
    if n < int(SPEECH_MIN_S * FPS):
        return []
    band = _band_pass(jaw_open, *SPEECH_BAND_HZ)
    peaks = _syllables(band)
    brow_lift = np.zeros(n)
    if units is not None:
        brows = units[:, [UNIT_INDEX[c] for c in ("AU1L", "AU1R", "AU2L", "AU2R")]].mean(axis=1)
        size = int(round(PULSE_WINDOW_S * FPS)) | 1
        brow_lift = brows - median_filter(brows, size=size, mode="nearest")
    runs: list[list[int]] = []
    for p in peaks:
        if runs and p - runs[-1][-1] <= SPEECH_MAX_GAP_S * FPS:
            runs[-1].append(int(p))
        else:
            runs.append([int(p)])
    out: list[SpeechSegment] = []
    half = int(0.5 * SPEECH_MAX_GAP_S * FPS)
    for run in runs:
        if len(run) < SPEECH_MIN_SYLLABLES:
            continue
        a, b = max(0, run[0] - half), min(n, run[-1] + half + 1)
        if b - a < SPEECH_MIN_S * FPS:
            continue
        energy = float(np.sqrt(np.mean(band[a:b] ** 2)))
        brow = float(np.sqrt(np.mean(brow_lift[a:b] ** 2)))
        if brow >= SPEECH_BROW_MIN:
            animation = float(np.sqrt(energy / SPEECH_JAW_REF * brow / SPEECH_BROW_REF))
        else:  # a mouth-only clip (no brow prosody at all): the jaw alone decides
            animation = energy / SPEECH_JAW_ALONE_REF
        level = "excited" if animation > 1.0 else "calm"
        out.append(SpeechSegment(_t(a), _t(b), level, round(energy, 4), round(animation, 3)))
    return out


def overall_speaking(speech: list[SpeechSegment], duration: float) -> str:
    """The clip's speaking style: none unless speech covers a quarter of it; else the longer level."""
    total = sum(s.end - s.start for s in speech)
    if duration <= 0 or total < 0.25 * duration:
        return "none"
    excited = sum(s.end - s.start for s in speech if s.level == "excited")
    return "excited" if excited > total / 2 else "calm"


def analyse_blinks(units: np.ndarray, eyelid: np.ndarray | None = None) -> list[Blink]:
    """Closures of the eyes (blink units, or the clip's eyelid track where it closes more)."""
    closure = units[:, [UNIT_INDEX["AU45L"], UNIT_INDEX["AU45R"]]].mean(axis=1)
    if eyelid is not None and len(eyelid) == len(closure):
        closure = np.maximum(closure, np.clip(np.asarray(eyelid, np.float64).mean(axis=1), 0.0, 1.0))
    out = []
    for a, b in _mask_runs(closure > BLINK_ON):
        if (b - a) / FPS <= BLINK_MAX_S:
            out.append(Blink(_t((a + b) // 2), _t(b - a)))
    return out


def analyse_gaze(gaze: np.ndarray) -> list[GazeShift]:
    """Held eye rotations outside a dead zone (same sign table as the head: y>0 left, x<0 up)."""
    g = _smooth(gaze, 0.12)
    labels = []
    for pitch, yaw in g:
        if max(abs(pitch), abs(yaw)) < GAZE_DEAD_ZONE:
            labels.append(None)
        elif abs(yaw) >= abs(pitch):
            labels.append("left" if yaw > 0 else "right")
        else:
            labels.append("down" if pitch > 0 else "up")
    return [GazeShift(_t(a), _t(b), d) for a, b, d in _runs(labels)
            if d is not None and b - a >= GAZE_MIN_S * FPS]


# ============================================================================
# the whole clip
# ============================================================================
def analyse(clip: MotionClip, basis: face_units.UnitBasis | None = None) -> MotionSummary:
    """Structured summary of a clip's behaviour, from its parameters alone."""
    source_fps = clip.fps
    clip25 = clip.resample(FPS)
    feats = frame_features(clip25, basis)
    n = clip25.num_frames
    speech = analyse_speech(feats.jaw_open, feats.units)
    summary = MotionSummary(
        duration=round(n / FPS, 3), num_frames=n, source_fps=float(source_fps),
        expression_size=clip.num_expression,
        head=analyse_head(feats.head),
        emotions=analyse_emotions(feats.units),
        speech=speech, speaking=overall_speaking(speech, n / FPS),
        blinks=analyse_blinks(feats.units, clip25.eyelid), gaze=analyse_gaze(feats.gaze),
        units=analyse_units(feats.units, speech), caveats=list(feats.caveats))
    if abs(source_fps - FPS) > 1e-6:
        summary.caveats.append(f"resampled from {source_fps:g} fps to {FPS:g} fps")
    return summary


__all__ = [
    "Blink", "EmotionSegment", "FrameFeatures", "GazeShift", "HeadEvent", "MotionSummary",
    "SpeechSegment", "UnitEpisode", "analyse", "analyse_blinks", "analyse_emotions",
    "analyse_gaze", "analyse_head", "analyse_speech", "analyse_units", "classify_emotions",
    "frame_features", "overall_speaking",
]
