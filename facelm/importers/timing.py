"""Resampling samples taken at arbitrary (increasing) times onto a uniform grid.

``MotionClip.resample`` assumes a uniform input rate. Captures with timestamps
(Live Link Face) can jitter, drift off their nominal rate or skip frames, so they
are resampled by time instead: each output frame interpolates the two input
samples around it, linearly for coefficients and by slerp for rotations.
"""
from __future__ import annotations

import numpy as np

from facelm import rotations


def uniform_grid(times: np.ndarray, fps: float) -> np.ndarray:
    """t0 + k / fps for every k whose time lies within [times[0], times[-1]]."""
    span = float(times[-1] - times[0])
    n = int(np.floor(span * fps + 1e-6)) + 1
    return times[0] + np.arange(n) / fps


def _brackets(times: np.ndarray, out_times: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices of the samples before/after each output time and the blend weight."""
    i1 = np.clip(np.searchsorted(times, out_times, side="right"), 1, len(times) - 1)
    i0 = i1 - 1
    dt = times[i1] - times[i0]
    w = np.clip((out_times - times[i0]) / np.where(dt > 0, dt, 1.0), 0.0, 1.0)
    if len(times) == 1:
        i0 = i1 = np.zeros_like(i0)
    return i0, i1, w


def interpolate_linear(times: np.ndarray, values: np.ndarray, out_times: np.ndarray) -> np.ndarray:
    """(T, D) values at ``times`` -> (N, D) at ``out_times``, linearly."""
    i0, i1, w = _brackets(times, out_times)
    return (1 - w)[:, None] * values[i0] + w[:, None] * values[i1]


def interpolate_rotations(times: np.ndarray, axis_angles: np.ndarray, out_times: np.ndarray) -> np.ndarray:
    """(T, 3G) axis-angle groups -> (N, 3G) by slerp between the bracketing samples."""
    i0, i1, w = _brackets(times, out_times)
    aa = axis_angles.reshape(len(times), -1, 3)
    q = rotations.axis_angle_to_quat(aa)
    out = rotations.slerp(q[i0], q[i1], np.broadcast_to(w[:, None], (len(out_times), aa.shape[1])))
    return rotations.quat_to_axis_angle(out).reshape(len(out_times), -1)


def gaps(times: np.ndarray, factor: float = 1.5) -> tuple[int, float]:
    """(count, longest seconds) of steps longer than ``factor`` x the median step."""
    if len(times) < 3:
        return 0, 0.0
    steps = np.diff(times)
    long = steps > factor * np.median(steps)
    return int(long.sum()), float(steps[long].max()) if long.any() else 0.0
