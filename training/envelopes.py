"""Vectorised motion primitives the composer builds every track from.

A batch of clips is laid end to end on one frame timeline of ``F`` frames;
``offsets[i]`` is clip i's first frame. Every primitive evaluates on the whole
timeline with array operations, and every value is computed from clip-local
quantities, so a clip composed alone or inside any batch gives identical numbers.

Shapes are smooth by construction: minimum-jerk transitions (zero velocity and
acceleration at both ends), raised-cosine pulses, sums of slow sinusoids.
"""
from __future__ import annotations

import numpy as np


def minimum_jerk(s: np.ndarray) -> np.ndarray:
    """Minimum-jerk blend 0 -> 1 for s in [0, 1] (clipped outside): 10s^3 - 15s^4 + 6s^5."""
    s = np.clip(s, 0.0, 1.0)
    return s * s * s * (10.0 + s * (-15.0 + 6.0 * s))


class Timeline:
    """Frames of a batch laid end to end: clip id and local frame index per frame."""

    def __init__(self, num_frames: np.ndarray) -> None:
        self.num_frames = np.asarray(num_frames, np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(self.num_frames)]).astype(np.int64)
        self.total = int(self.offsets[-1])
        self.clip = np.repeat(np.arange(len(self.num_frames)), self.num_frames)
        self.local = np.arange(self.total, dtype=np.int64) - self.offsets[self.clip]

    def __len__(self) -> int:
        return len(self.num_frames)


class Keyframes:
    """Collects (clip, frame position, value) keyframes; evaluates minimum-jerk paths between them.

    Within a clip, consecutive keyframes are joined by a minimum-jerk transition and
    the value holds before the first and after the last keyframe. Positions are in
    (fractional) clip-local frames.
    """

    def __init__(self, width: int) -> None:
        self.width = width
        self._clip: list[int] = []
        self._pos: list[float] = []
        self._val: list[np.ndarray] = []

    def add(self, clip: int, pos: float, value) -> None:
        self._clip.append(clip)
        self._pos.append(float(pos))
        self._val.append(np.broadcast_to(np.asarray(value, np.float64), (self.width,)))

    def evaluate(self, timeline: Timeline) -> np.ndarray:
        """(F, width) track; clips with no keyframe stay at zero."""
        out = np.zeros((timeline.total, self.width))
        if not self._clip:
            return out
        clip = np.asarray(self._clip, np.int64)
        pos = np.asarray(self._pos)
        val = np.stack(self._val)
        # Sort by (clip, position); stable, so equal positions keep insertion order.
        order = np.lexsort((pos, clip))
        clip, pos, val = clip[order], pos[order], val[order]
        n_of_clip = timeline.num_frames[clip]
        pos = np.clip(pos, 0.0, n_of_clip - 1.0)
        # Search on a global key (clip offset + local position); blend on local positions.
        key = timeline.offsets[clip] + pos
        frame_key = timeline.offsets[timeline.clip] + timeline.local.astype(np.float64)
        k = np.searchsorted(key, frame_key, side="right") - 1
        has = (k >= 0) & (clip[np.maximum(k, 0)] == timeline.clip)
        k = np.maximum(k, 0)
        nxt = np.minimum(k + 1, len(key) - 1)
        same = clip[nxt] == clip[k]
        nxt = np.where(same, nxt, k)
        span = pos[nxt] - pos[k]
        s = np.where(span > 1e-9, (timeline.local - pos[k]) / np.maximum(span, 1e-9), 0.0)
        w = minimum_jerk(s)[:, None]
        track = val[k] + (val[nxt] - val[k]) * w
        # Frames before a clip's first keyframe hold that keyframe's value.
        first_of_clip = np.full(len(timeline), -1, np.int64)
        first_of_clip[clip[::-1]] = np.arange(len(clip))[::-1]
        before = ~has & (first_of_clip[timeline.clip] >= 0)
        track[before] = val[first_of_clip[timeline.clip[before]]]
        out[has | before] = track[has | before]
        return out


def raised_cosine(x: np.ndarray, before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """Pulse peaking at x = 0 with value 1, half-cosine rise over ``before`` and fall over ``after``."""
    left = 0.5 * (1.0 + np.cos(np.pi * np.clip(x / before, -1.0, 0.0)))
    right = 0.5 * (1.0 + np.cos(np.pi * np.clip(x / after, 0.0, 1.0)))
    return np.where(x < 0, left, right) * ((x > -before) & (x < after))


class Pulses:
    """Collects raised-cosine pulses (clip, centre, rise, fall, amplitude per channel); scatters them.

    Positions and widths are in clip-local frames; a pulse never leaks outside its clip.
    """

    def __init__(self, width: int) -> None:
        self.width = width
        self._rows: list[np.ndarray] = []

    def add_many(self, clip: int, centre, rise, fall, amplitude) -> None:
        """Add n pulses of one clip: centre/rise/fall (n,), amplitude (n, width) or (n,)."""
        centre = np.atleast_1d(np.asarray(centre, np.float64))
        n = centre.shape[0]
        if n == 0:
            return
        amp = np.asarray(amplitude, np.float64).reshape(n, -1)
        amp = np.broadcast_to(amp, (n, self.width))
        rows = np.empty((n, 4 + self.width))
        rows[:, 0] = clip
        rows[:, 1] = centre
        rows[:, 2] = np.broadcast_to(rise, (n,))
        rows[:, 3] = np.broadcast_to(fall, (n,))
        rows[:, 4:] = amp
        self._rows.append(rows)

    def evaluate(self, timeline: Timeline) -> np.ndarray:
        if not self._rows:
            return np.zeros((timeline.total, self.width))
        rows = np.concatenate(self._rows)
        clip = rows[:, 0].astype(np.int64)
        centre, rise, fall, amp = rows[:, 1], rows[:, 2], rows[:, 3], rows[:, 4:]
        span = int(np.ceil((rise + fall).max())) + 2
        first = np.floor(centre - rise).astype(np.int64) + 1
        local = first[:, None] + np.arange(span)[None, :]  # (E, span) clip-local frames
        shape = raised_cosine(local - centre[:, None], rise[:, None], fall[:, None])
        return scatter_windows(timeline, clip, first, shape[:, :, None] * amp[:, None, :])


def scatter_windows(timeline: Timeline, clip: np.ndarray, first: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Sum event windows into a (F, C) track: event e adds values[e, w] at clip-local frame first[e] + w.

    Frames outside the event's own clip are dropped, so events never leak between clips.
    """
    num_events, span, width = values.shape
    out = np.zeros((timeline.total, width))
    if num_events == 0:
        return out
    local = first[:, None] + np.arange(span)[None, :]
    inside = (local >= 0) & (local < timeline.num_frames[clip][:, None])
    idx = (timeline.offsets[clip][:, None] + local)[inside]
    picked = values[inside]  # (n_inside, C)
    for c in range(width):
        col = picked[:, c]
        nz = col != 0
        out[:, c] = np.bincount(idx[nz], weights=col[nz], minlength=timeline.total)
    return out


class Sines:
    """Per-clip sums of sinusoids (slow idle motion): amplitude, frequency (Hz), phase a component."""

    def __init__(self, num_clips: int, width: int, components: int) -> None:
        self.amp = np.zeros((num_clips, width, components))
        self.freq = np.zeros((num_clips, width, components))
        self.phase = np.zeros((num_clips, width, components))

    def set(self, clip: int, amp: np.ndarray, freq: np.ndarray, phase: np.ndarray) -> None:
        self.amp[clip], self.freq[clip], self.phase[clip] = amp, freq, phase

    def evaluate(self, timeline: Timeline, fps: float) -> np.ndarray:
        t = (timeline.local / fps)[:, None, None]
        c = timeline.clip
        return (self.amp[c] * np.sin(2.0 * np.pi * self.freq[c] * t + self.phase[c])).sum(-1)


def soft_saturate(x: np.ndarray, knee: float = 0.75) -> np.ndarray:
    """Keep intensities below 1 smoothly: identity up to ``knee``, tanh roll-off above (C1 at the knee).

    A hard clip would put corners (velocity steps) into saturated tracks. Inputs
    are built non-negative; the floor at 0 only guards rounding.
    """
    top = 1.0 - knee
    return np.maximum(np.where(x > knee, knee + top * np.tanh((x - knee) / top), x), 0.0)
