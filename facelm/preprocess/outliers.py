"""IQR outlier frames (MMHead supplementary, section 1.1) and their replacement.

MMHead takes, for each parameter group, the L2 distance of every frame to the group's
temporal mean and calls a frame an outlier when that distance lies outside
[Q1 - s IQR, Q3 + s IQR]. That is the ``"mean"`` reference here. It misses a glitch
that jumps toward the mean (a head turned left snapping to straight ahead), so the
``"local"`` reference measures the distance to a running median over a few frames
instead: a tracking glitch is far from its neighbours, smooth real motion is not.
Only the upper fence applies there, because being close to one's neighbours is
never a fault. The pipeline uses both by default.

Rotation groups use the geodesic angle (radians) per rotation; a group of several
rotations (the two eyes) combines them as an L2 norm, like a coefficient vector.
Flagged frames are rebuilt from the nearest good frame on each side: coefficients
linearly, rotations by slerp.
"""
from __future__ import annotations

import numpy as np

from facelm import rotations
from facelm.preprocess.smoothing import unwrap_quaternions

REFERENCES = ("local", "mean")
# Deviations (from the median deviation) below these are never outliers: too small
# to be a glitch worth rebuilding, the smoother handles them. Without a floor a
# noiseless clip (synthetic, generated) has an IQR near 0 and every bend of a smooth
# curve would cross the fence. Coefficients: 0.05 in L2 (FLAME coefficients are of
# unit scale). Rotations: 1 degree; without it small real jaw motion (BEAT2: jaw std
# 0.75 degrees) fills the upper tail and 2-7 % of real jaw frames get replaced.
MIN_DEVIATION_COEFFICIENTS = 0.05
MIN_DEVIATION_RADIANS = np.radians(1.0)


def _quats(values: np.ndarray) -> np.ndarray:
    """(T, 3G) axis-angle -> (T, G, 4) unit quaternions."""
    return rotations.axis_angle_to_quat(values.reshape(values.shape[0], -1, 3))


def _angle_between(q: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Geodesic angle (radians) between unit quaternions, elementwise over leading dims."""
    conj = ref * np.array([1.0, -1.0, -1.0, -1.0])
    rel = rotations.quat_multiply(conj, q)
    return 2.0 * np.arctan2(np.linalg.norm(rel[..., 1:], axis=-1), np.abs(rel[..., 0]))


def frame_distances(a: np.ndarray, b: np.ndarray, rotational: bool) -> np.ndarray:
    """(T,) per-frame distance between two (T, D) versions of a group.

    Coefficients: Euclidean. Rotations: geodesic angle per rotation, L2 over the group.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if not rotational:
        return np.linalg.norm(a - b, axis=1)
    return np.linalg.norm(_angle_between(_quats(a), _quats(b)), axis=1)


def mean_quaternion(q: np.ndarray) -> np.ndarray:
    """Average rotation of (T, 4) quaternions: top eigenvector of sum q q^T (sign-blind)."""
    _, vecs = np.linalg.eigh(np.einsum("ti,tj->ij", q, q))
    mean = vecs[:, -1]
    return mean if mean[0] >= 0 else -mean


def running_median(x: np.ndarray, window: int) -> np.ndarray:
    """Median over ``window`` frames along axis 0.

    Past the ends the clip is mirrored: a glitch on the first frame then meets
    its (good) neighbours twice instead of being its own median, as with clamped
    ends. The price: a steady trend reaching the first/last frame reads as a
    residual of about two frames' motion there (a straight-line extension did
    worse on BEAT2 and on curved synthetic motion).
    """
    from scipy.ndimage import median_filter  # lazily: scipy adds ~0.3 s to every `facelm` start

    return median_filter(x, size=(window,) + (1,) * (x.ndim - 1), mode="mirror")


def deviations(values: np.ndarray, rotational: bool, reference: str = "local",
               window: int = 7) -> np.ndarray:
    """(T,) distance of each frame of a (T, D) group to its reference (see module doc)."""
    x = np.asarray(values, dtype=np.float64)
    if reference not in REFERENCES:
        raise ValueError(f"reference must be one of {REFERENCES}, got {reference!r}")
    if not rotational:
        if reference == "mean":
            ref = x.mean(axis=0, keepdims=True)
        else:
            ref = running_median(x, window)
        return np.linalg.norm(x - ref, axis=1)
    q = _quats(x)  # (T, G, 4)
    if reference == "mean":
        ref = np.stack([mean_quaternion(q[:, g]) for g in range(q.shape[1])])[None]
    else:
        ref = running_median(unwrap_quaternions(q), window)
        ref = ref / np.maximum(np.linalg.norm(ref, axis=-1, keepdims=True), 1e-12)
    return np.linalg.norm(_angle_between(q, ref), axis=1)


def iqr_outliers(distances: np.ndarray, scale: float = 1.5, two_sided: bool = True,
                 min_deviation: float = MIN_DEVIATION_COEFFICIENTS) -> np.ndarray:
    """(T,) bool: distances outside [Q1 - scale IQR, Q3 + scale IQR] (upper fence only if not two_sided)."""
    d = np.asarray(distances, dtype=np.float64)
    q1, median, q3 = np.percentile(d, [25, 50, 75])
    spread = scale * (q3 - q1)
    high = (d > q3 + spread) & (d - median > min_deviation)
    if not two_sided:
        return high
    low = (d < q1 - spread) & (median - d > min_deviation)
    return high | low


def drop_sustained(flagged: np.ndarray, distances: np.ndarray, max_len: int) -> np.ndarray:
    """``flagged`` without frames inside a sustained excursion.

    An excursion is a run of consecutive frames whose distance lies beyond the
    quartiles (above Q3 or below Q1); one longer than ``max_len`` frames is taken
    for a real, held pose, and its frames are unflagged.
    """
    d = np.asarray(distances, dtype=np.float64)
    q1, q3 = np.percentile(d, [25, 75])
    beyond = np.concatenate([[0], ((d > q3) | (d < q1)).astype(np.int8), [0]])
    edges = np.diff(beyond)
    out = np.array(flagged, dtype=bool)
    for start, stop in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)):
        if stop - start > max_len:
            out[start:stop] = False
    return out


def interpolate_frames(values: np.ndarray, bad: np.ndarray, rotational: bool) -> np.ndarray:
    """Rebuild the ``bad`` frames of a (T, D) group from the nearest good frames around them.

    Frames before the first (after the last) good frame copy it. Returns float64.
    """
    x = np.array(values, dtype=np.float64)
    bad = np.asarray(bad, dtype=bool)
    n = x.shape[0]
    if not bad.any() or bad.all():
        return x
    frames = np.arange(n)
    prev = np.maximum.accumulate(np.where(~bad, frames, -1))
    nxt = np.minimum.accumulate(np.where(~bad, frames, n)[::-1])[::-1]
    idx = np.flatnonzero(bad)
    lo, hi = prev[idx], nxt[idx]
    lo = np.where(lo < 0, hi, lo)  # nothing good before: hold the next good frame
    hi = np.where(hi >= n, lo, hi)  # nothing good after: hold the previous one
    t = np.where(hi > lo, (idx - lo) / np.maximum(hi - lo, 1), 0.0)
    if rotational:
        q = _quats(x)
        out = rotations.slerp(q[lo], q[hi], np.broadcast_to(t[:, None], q[lo].shape[:-1]))
        x[idx] = rotations.quat_to_axis_angle(out).reshape(idx.size, -1)
    else:
        x[idx] = (1.0 - t)[:, None] * x[lo] + t[:, None] * x[hi]
    return x
