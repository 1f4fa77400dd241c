"""Rotation helpers on numpy arrays: axis-angle, quaternions (w, x, y, z), matrices.

Axis-angle is the storage format of every FLAME pose group; quaternions are used
where rotations must be interpolated or composed (slerp, global o neck).
All functions are vectorised over leading dimensions.
"""
from __future__ import annotations

import numpy as np

_EPS = 1e-8


def axis_angle_to_quat(aa: np.ndarray) -> np.ndarray:
    """(..., 3) axis-angle -> (..., 4) unit quaternion (w, x, y, z)."""
    aa = np.asarray(aa, dtype=np.float64)
    angle = np.linalg.norm(aa, axis=-1, keepdims=True)
    half = 0.5 * angle
    # sin(a/2)/a -> 1/2 as a -> 0; the series keeps small angles exact.
    scale = np.where(angle > 1e-6, np.sin(half) / np.maximum(angle, _EPS), 0.5 - angle**2 / 48.0)
    return np.concatenate([np.cos(half), aa * scale], axis=-1)


def quat_to_axis_angle(q: np.ndarray) -> np.ndarray:
    """(..., 4) quaternion -> (..., 3) axis-angle with angle in [0, pi]."""
    q = np.asarray(q, dtype=np.float64)
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    q = np.where(q[..., :1] < 0, -q, q)  # pick the short way round
    w = np.clip(q[..., :1], -1.0, 1.0)
    xyz = q[..., 1:]
    s = np.linalg.norm(xyz, axis=-1, keepdims=True)
    angle = 2.0 * np.arctan2(s, w)
    scale = np.where(s > 1e-7, angle / np.maximum(s, _EPS), 2.0 / np.maximum(w, _EPS))
    return xyz * scale


def quat_multiply(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product a * b (apply b first, then a)."""
    aw, ax, ay, az = np.moveaxis(np.asarray(a, dtype=np.float64), -1, 0)
    bw, bx, by, bz = np.moveaxis(np.asarray(b, dtype=np.float64), -1, 0)
    return np.stack(
        [
            aw * bw - ax * bx - ay * by - az * bz,
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
        ],
        axis=-1,
    )


def slerp(q0: np.ndarray, q1: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Spherical interpolation between unit quaternions, elementwise over leading dims.

    ``t`` has shape (...,) matching the leading dims of q0/q1 (or broadcastable).
    """
    q0 = np.asarray(q0, dtype=np.float64)
    q1 = np.asarray(q1, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)[..., None]
    dot = np.sum(q0 * q1, axis=-1, keepdims=True)
    q1 = np.where(dot < 0, -q1, q1)  # shortest arc
    dot = np.abs(dot)
    theta = np.arccos(np.clip(dot, -1.0, 1.0))
    sin_theta = np.sin(theta)
    near = sin_theta < 1e-6
    w0 = np.where(near, 1.0 - t, np.sin((1.0 - t) * theta) / np.where(near, 1.0, sin_theta))
    w1 = np.where(near, t, np.sin(t * theta) / np.where(near, 1.0, sin_theta))
    out = w0 * q0 + w1 * q1
    return out / np.linalg.norm(out, axis=-1, keepdims=True)


def axis_angle_to_matrix(aa: np.ndarray) -> np.ndarray:
    """(..., 3) axis-angle -> (..., 3, 3) rotation matrix (Rodrigues)."""
    w, x, y, z = np.moveaxis(axis_angle_to_quat(aa), -1, 0)
    return np.stack(
        [
            np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
            np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
            np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1),
        ],
        axis=-2,
    )


def matrix_to_axis_angle(m: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotation matrix -> (..., 3) axis-angle (via a robust quaternion)."""
    m = np.asarray(m, dtype=np.float64)
    tr = m[..., 0, 0] + m[..., 1, 1] + m[..., 2, 2]
    # Shepperd's method: pick the largest of w, x, y, z to divide by.
    cands = np.stack(
        [1 + tr, 1 + m[..., 0, 0] - m[..., 1, 1] - m[..., 2, 2],
         1 - m[..., 0, 0] + m[..., 1, 1] - m[..., 2, 2], 1 - m[..., 0, 0] - m[..., 1, 1] + m[..., 2, 2]],
        -1,
    )
    k = np.argmax(cands, axis=-1)
    r = 0.5 * np.sqrt(np.maximum(np.take_along_axis(cands, k[..., None], -1)[..., 0], _EPS))
    d = 0.25 / r
    q = np.empty(m.shape[:-2] + (4,))
    options = [
        np.stack([r, (m[..., 2, 1] - m[..., 1, 2]) * d, (m[..., 0, 2] - m[..., 2, 0]) * d, (m[..., 1, 0] - m[..., 0, 1]) * d], -1),
        np.stack([(m[..., 2, 1] - m[..., 1, 2]) * d, r, (m[..., 0, 1] + m[..., 1, 0]) * d, (m[..., 0, 2] + m[..., 2, 0]) * d], -1),
        np.stack([(m[..., 0, 2] - m[..., 2, 0]) * d, (m[..., 0, 1] + m[..., 1, 0]) * d, r, (m[..., 1, 2] + m[..., 2, 1]) * d], -1),
        np.stack([(m[..., 1, 0] - m[..., 0, 1]) * d, (m[..., 0, 2] + m[..., 2, 0]) * d, (m[..., 1, 2] + m[..., 2, 1]) * d, r], -1),
    ]
    for i, opt in enumerate(options):
        q = np.where((k == i)[..., None], opt, q)
    return quat_to_axis_angle(q)


def compose_axis_angle(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """Rotation ``outer o inner`` (inner applied first), both axis-angle (..., 3)."""
    return quat_to_axis_angle(quat_multiply(axis_angle_to_quat(outer), axis_angle_to_quat(inner)))


def euler_to_axis_angle(yaw: np.ndarray, pitch: np.ndarray, roll: np.ndarray) -> np.ndarray:
    """FLAME-frame rotation from yaw (about y), pitch (about x), roll (about z), radians.

    Applied as R = Ry(yaw) @ Rx(pitch) @ Rz(roll): the usual head-tracker order.
    """
    def about(axis: int, angle: np.ndarray) -> np.ndarray:
        aa = np.zeros(np.shape(angle) + (3,))
        aa[..., axis] = angle
        return axis_angle_to_quat(aa)

    q = quat_multiply(about(1, np.asarray(yaw, float)), quat_multiply(about(0, np.asarray(pitch, float)), about(2, np.asarray(roll, float))))
    return quat_to_axis_angle(q)
