"""Timed phoneme segments -> mouth unit tracks at 25 fps, by overlapping dominance functions.

Each articulation (a viseme held over an interval: its phoneme's, a part of a
diphthong's, or a bilabial's closure) pulls the mouth toward its target with a
dominance that is flat over its interval and decays exponentially outside it
(``reach_ms`` before: anticipation, after: carry-over). The mouth at time t is
the dominance-weighted mean of all targets, per unit group (lips, jaw), as in
Cohen & Massaro's coarticulation model: a weak-dominance sound (k, h) takes the
lip shape of its neighbours, a strong one (p, b, m) reaches its target.

Tracks are evaluated on a 1 ms grid, lightly smoothed, and sampled at frame
centres: frame k shows the mouth at (k + 0.5) / fps, the middle of the interval
[k / fps, (k + 1) / fps) that it covers (audio sample 0 = start of frame 0).

The result, ``MouthTracks``, holds full-width unit tracks (only ``MOUTH_UNITS``
non-zero) and a speech ``activity`` weight, to be combined with a composer's
unit tracks by ``overlay`` (or with a finished clip by ``apply_to_clip``).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from facelm.clip import MotionClip
from facelm.errors import FacelmError
from facelm.face_units import JAW_DROP_RADIANS, NUM_UNITS, UNIT_INDEX, UnitBasis
from training.phonemes import LIP_UNITS, MOUTH_INDEX, MOUTH_UNITS, VISEMES, Segment

GRID_S = 0.001
SMOOTH_SIGMA_S = 0.006
_JAW_COL = MOUTH_UNITS.index("AU26")
_LIP_COLS = np.array([MOUTH_UNITS.index(u) for u in LIP_UNITS])
# Channels the speaking mouth replaces (while speaking) rather than adds to.
OVERRIDE_UNITS: tuple[str, ...] = ("AU24", "AU25", "AU26")


@dataclass
class MouthTracks:
    """Mouth motion at ``fps``: ``units`` (T, NUM_UNITS), ``activity`` (T,) in [0, 1] (1 = speaking)."""

    units: np.ndarray
    activity: np.ndarray
    fps: float

    @property
    def num_frames(self) -> int:
        return int(self.units.shape[0])

    @property
    def jaw_opening(self) -> np.ndarray:
        """(T,) jaw rotation about x, radians (FLAME jaw_pose x)."""
        return (JAW_DROP_RADIANS * self.units[:, UNIT_INDEX["AU26"]]).astype(np.float32)

    @property
    def jaw_pose(self) -> np.ndarray:
        jaw = np.zeros((self.num_frames, 3), np.float32)
        jaw[:, 0] = self.jaw_opening
        return jaw

    def to_clip(self, basis: UnitBasis | None = None, text: dict | None = None) -> MotionClip:
        """A clip of the mouth alone on a still, neutral face."""
        basis = basis or UnitBasis()
        expression, jaw = basis.to_expression(self.units)
        z = lambda w: np.zeros((self.num_frames, w), np.float32)  # noqa: E731
        return MotionClip(expression, z(3), z(3), jaw, z(6), fps=self.fps, text=text or {})


@dataclass(frozen=True)
class _Articulation:
    viseme: str
    start: float
    end: float


def articulations(segs: list[Segment]) -> list[_Articulation]:
    """Segments -> articulations: bilabials over their closure, diphthongs split evenly."""
    out: list[_Articulation] = []
    for seg in segs:
        if seg.closure is not None:
            out.append(_Articulation(seg.visemes[0], seg.closure[0], seg.closure[1]))
            continue
        n = len(seg.visemes)
        edges = np.linspace(seg.start, seg.end, n + 1)
        out += [_Articulation(v, float(edges[k]), float(edges[k + 1])) for k, v in enumerate(seg.visemes)]
    return out


REACH_CUTOFF = 12.0  # dominance is evaluated to 12 reaches out (exp(-12) ~ 6e-6), zero beyond


def _dominance(t: np.ndarray, art: _Articulation, reach_scale: float) -> tuple[slice, np.ndarray]:
    """(grid slice, values): 1 inside [start, end], exp(-distance / reach) outside, for one articulation."""
    before, after = (reach_scale * r / 1000.0 for r in VISEMES[art.viseme].reach_ms)
    lo = int(np.searchsorted(t, art.start - REACH_CUTOFF * before))
    hi = int(np.searchsorted(t, art.end + REACH_CUTOFF * after, side="right"))
    tt = t[lo:hi]
    d = np.clip(art.start - tt, 0.0, None) / before + np.clip(tt - art.end, 0.0, None) / after
    return slice(lo, hi), np.exp(-d)


def _gaussian_smooth(x: np.ndarray, sigma_samples: float) -> np.ndarray:
    """Smooth along axis 0 with edge padding (keeps the clip's first and last values)."""
    radius = int(np.ceil(3 * sigma_samples))
    if radius < 1:
        return x
    k = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma_samples) ** 2)
    k /= k.sum()
    padded = np.pad(x, [(radius, radius)] + [(0, 0)] * (x.ndim - 1), mode="edge")
    out = np.empty_like(x)
    for c in range(x.shape[1]):
        out[:, c] = np.convolve(padded[:, c], k, mode="valid")
    return out


def mouth_tracks(segs: list[Segment], num_frames: int, fps: float = 25.0, gain: float = 1.0,
                 reach_scale: float = 1.0, jaw_gain: float | None = None) -> MouthTracks:
    """Dominance-blended mouth units for ``num_frames`` frames.

    ``gain`` scales every lip target and ``jaw_gain`` (default: ``gain``) the
    jaw's (articulation size: calm < 1 < excited); shut targets stay shut.
    ``reach_scale`` stretches every viseme's reach (slower, more coarticulated
    speech > 1).
    """
    if num_frames < 1:
        raise FacelmError("mouth_tracks needs at least one frame")
    if not segs:
        raise FacelmError("mouth_tracks needs at least one phoneme segment")
    arts = articulations(segs)
    duration = num_frames / fps
    t = np.arange(0.0, duration + GRID_S, GRID_S)
    scale = np.full(len(MOUTH_UNITS), float(gain))
    scale[_JAW_COL] = gain if jaw_gain is None else jaw_gain
    targets = np.stack([VISEMES[a.viseme].vector() for a in arts]) * scale  # (A, M)
    # Weighted sums over articulations, each added only where its dominance reaches.
    num = np.zeros((t.size, len(MOUTH_UNITS)))
    den_lips, den_jaw = np.zeros(t.size), np.zeros(t.size)
    act_lips, act_jaw = np.zeros(t.size), np.zeros(t.size)
    for a, target in zip(arts, targets):
        v = VISEMES[a.viseme]
        sl, dom = _dominance(t, a, reach_scale)
        lips, jaw = v.lips * dom, v.jaw * dom
        num[sl, _LIP_COLS] += lips[:, None] * target[_LIP_COLS]
        num[sl, _JAW_COL] += jaw * target[_JAW_COL]
        den_lips[sl] += lips
        den_jaw[sl] += jaw
        if a.viseme != "rest":
            act_lips[sl] += lips
            act_jaw[sl] += jaw
    eps = 1e-12
    out = np.empty_like(num)
    out[:, _LIP_COLS] = num[:, _LIP_COLS] / (den_lips[:, None] + eps)
    out[:, _JAW_COL] = num[:, _JAW_COL] / (den_jaw + eps)
    # Speaking share of the dominance, the larger of jaw's and lips' (a closure after a pause counts).
    activity = np.maximum(act_jaw / (den_jaw + eps), act_lips / (den_lips + eps))
    smoothed = _gaussian_smooth(np.column_stack([out, activity]), SMOOTH_SIGMA_S / GRID_S)
    centres = (np.arange(num_frames) + 0.5) / fps
    sampled = np.stack([np.interp(centres, t, smoothed[:, c]) for c in range(smoothed.shape[1])], axis=1)
    units = np.zeros((num_frames, NUM_UNITS), np.float32)
    units[:, MOUTH_INDEX] = np.clip(sampled[:, :-1], 0.0, 1.0)
    return MouthTracks(units, np.clip(sampled[:, -1], 0.0, 1.0).astype(np.float32), float(fps))


# -- combining with other motion ---------------------------------------------------------

def overlay(base_units: np.ndarray, mouth: MouthTracks) -> np.ndarray:
    """Mouth on top of other unit tracks (T, NUM_UNITS), e.g. a composer's emotion and blinks.

    Jaw, lips part and lip press (``OVERRIDE_UNITS``) follow the speaking mouth
    while it speaks (blended by ``activity``), so a smile's parted lips still
    shut for a /p/; the other mouth units add to the base; all stay in [0, 1].
    """
    base = np.asarray(base_units, np.float32)
    if base.shape != mouth.units.shape:
        raise FacelmError(f"base units {base.shape} and mouth units {mouth.units.shape} differ in shape")
    out = np.clip(base + mouth.units, 0.0, 1.0)
    w = mouth.activity[:, None]
    cols = [UNIT_INDEX[u] for u in OVERRIDE_UNITS]
    out[:, cols] = (1.0 - w) * base[:, cols] + w * mouth.units[:, cols]
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def apply_to_clip(clip: MotionClip, mouth: MouthTracks, basis: UnitBasis | None = None) -> MotionClip:
    """A finished clip with the mouth overlaid: its units read back, overlaid, written as a change.

    Only the change in units is written (expression += delta @ basis.T), so the
    clip keeps whatever the read-back cannot see; jaw x follows the new AU26,
    jaw y / z are kept.
    """
    if clip.num_frames != mouth.num_frames:
        raise FacelmError(f"clip has {clip.num_frames} frames, mouth tracks {mouth.num_frames}")
    basis = basis or UnitBasis(num_expression=clip.num_expression)
    if basis.num_expression != clip.num_expression:
        raise FacelmError(f"basis has {basis.num_expression} coefficients, clip {clip.num_expression}")
    before = basis.from_expression(clip.expression, clip.jaw_pose)
    after = overlay(before, mouth)
    expression = clip.expression + (after - before) @ basis.matrix.T
    jaw = clip.jaw_pose.copy()
    jaw[:, 0] = JAW_DROP_RADIANS * after[:, UNIT_INDEX["AU26"]]
    return replace(clip, expression=expression.astype(np.float32), jaw_pose=jaw)
