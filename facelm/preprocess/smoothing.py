"""Temporal smoothing of FLAME parameters: MMHead's difference penalty plus a fidelity term.

MMHead (supplementary, eq. 1) minimises ||psi_2:T - psi_1:T-1||^2 + lambda ||theta_2:T - theta_1:T-1||^2
with Adam. The loss is quadratic, so we solve it exactly instead. With a fidelity
term mu ||x - x_in||^2 (presumably Adam stopped early did that in the paper: without
it the minimiser is a constant) every channel decouples and the optimum is the
solution of the banded, symmetric positive definite system

    (mu I + w D^T D) x = mu x_in      <=>      (I + alpha D^T D) x = x_in,  alpha = w / mu,

where D is the (T - order) x T difference matrix and w the channel's weight (1 for
expression, lambda for the head). One Cholesky solve (``solveh_banded``) costs O(T) and
gives the true minimiser, which gradient descent only approaches.

On an endless sequence the solution is a zero-phase low-pass filter with frequency
response H(f) = 1 / (1 + alpha (2 sin(pi f / fps))^(2 order)); ``cutoff_hz`` and
``alpha_for_cutoff`` convert between alpha and its -3 dB frequency. For order 1 (the
paper's) every row of (I + alpha D^T D)^-1 is non-negative and sums to 1, so each output
frame is a convex combination of input frames: bounded signals (ARKit weights in 0..1)
stay in range. Order 2 (an acceleration penalty) has a sharper knee but overshoots.
"""
from __future__ import annotations

import math

import numpy as np

from facelm import rotations

# -3 dB point: H = 1/sqrt(2)  <=>  alpha (2 sin(pi f / fps))^(2 order) = sqrt(2) - 1.
_HALF_POWER = math.sqrt(2.0) - 1.0


def _difference_stencil(order: int) -> np.ndarray:
    """Coefficients of the order-th forward difference: [-1, 1], [1, -2, 1], ..."""
    stencil = np.array([1.0])
    for _ in range(order):
        stencil = np.convolve(stencil, [-1.0, 1.0])
    return stencil


def difference_gram_banded(num_frames: int, order: int = 1) -> np.ndarray:
    """D^T D for a ``num_frames`` sequence in ``solveh_banded``'s upper form, shape (order+1, T).

    Row ``order - d`` holds the d-th superdiagonal (right-aligned), the last row the diagonal.
    """
    stencil = _difference_stencil(order)
    bands = np.zeros((order + 1, num_frames))
    rows = num_frames - order  # one difference a row of D
    if rows <= 0:
        return bands
    r = np.arange(rows)
    for m in range(order + 1):
        for d in range(order + 1 - m):
            # D[r, r+m] * D[r, r+m+d] lands at (i, j) = (r+m, r+m+d); upper form stores it at column j.
            np.add.at(bands[order - d], r + m + d, stencil[m] * stencil[m + d])
    return bands


def smooth_linear(values: np.ndarray, alpha: float, order: int = 1) -> np.ndarray:
    """Exact minimiser of alpha ||D x||^2 + ||x - values||^2, each column independently.

    ``values`` is (T, C) (or (T,)); returns float64 of the same shape.
    """
    from scipy.linalg import solveh_banded  # lazily: scipy adds ~0.3 s to every `facelm` start

    x = np.asarray(values, dtype=np.float64)
    n = x.shape[0]
    if alpha <= 0 or n <= order:
        return x.copy()
    bands = alpha * difference_gram_banded(n, order)
    bands[-1] += 1.0
    return solveh_banded(bands, x, check_finite=False)


def unwrap_quaternions(q: np.ndarray) -> np.ndarray:
    """Flip quaternion signs along time so consecutive frames lie in the same hemisphere.

    q and -q are the same rotation; after this the path q_t is continuous on S^3, so
    it can be filtered like any other signal (no axis-angle wrap at pi).
    """
    q = np.array(q, dtype=np.float64)
    if q.shape[0] < 2:
        return q
    dots = np.einsum("t...i,t...i->t...", q[1:], q[:-1])
    step = np.where(dots < 0, -1.0, 1.0)
    flips = np.concatenate([np.ones((1,) + step.shape[1:]), np.cumprod(step, axis=0)], axis=0)
    return q * flips[..., None]


def smooth_rotations(axis_angle: np.ndarray, alpha: float, order: int = 1) -> np.ndarray:
    """Smooth (T, 3G) axis-angle rotations (G rotations a frame) with the same objective.

    We smooth the sign-unwrapped unit-quaternion path in R^4 and renormalise. For unit
    quaternions |q_a - q_b| = 2 sin(angle/4), i.e. angle/2 up to third order, on both the
    difference and the fidelity term alike: the per-channel alpha (hence the cutoff)
    means the same as on axis-angle, the metric is the geodesic one wherever the head
    points (smoothing raw axis-angle is only faithful near the identity), and there
    is no seam where axis-angle jumps at angle pi.
    """
    aa = np.asarray(axis_angle, dtype=np.float64)
    n = aa.shape[0]
    if alpha <= 0 or n <= order:
        return aa.copy()
    quats = unwrap_quaternions(rotations.axis_angle_to_quat(aa.reshape(n, -1, 3)))  # (T, G, 4)
    smoothed = smooth_linear(quats.reshape(n, -1), alpha, order).reshape(quats.shape)
    norms = np.linalg.norm(smoothed, axis=-1, keepdims=True)
    # A norm near 0 would need the path to turn by ~pi within the filter's reach; keep the input there.
    smoothed = np.where(norms > 1e-6, smoothed / np.maximum(norms, 1e-12), quats)
    return rotations.quat_to_axis_angle(smoothed).reshape(n, -1)


def cutoff_hz(alpha: float, fps: float, order: int = 1) -> float:
    """-3 dB frequency of the smoother with weight ratio ``alpha`` at ``fps``; inf if above Nyquist."""
    if alpha <= 0:
        return math.inf
    s = (_HALF_POWER / alpha) ** (1.0 / (2 * order)) / 2.0  # sin(pi f / fps)
    if s >= 1.0:
        return math.inf
    return fps / math.pi * math.asin(s)


def alpha_for_cutoff(frequency_hz: float, fps: float, order: int = 1) -> float:
    """Weight ratio alpha = w / mu whose -3 dB frequency is ``frequency_hz`` at ``fps``."""
    s = math.sin(math.pi * min(frequency_hz / fps, 0.5))
    return _HALF_POWER / (2.0 * s) ** (2 * order)


def frequency_response(frequency_hz: np.ndarray | float, alpha: float, fps: float,
                       order: int = 1) -> np.ndarray:
    """Gain H(f) of the smoother on an endless sequence (1 = kept, 0 = removed)."""
    s = np.sin(np.pi * np.asarray(frequency_hz, dtype=np.float64) / fps)
    return 1.0 / (1.0 + alpha * (2.0 * s) ** (2 * order))
