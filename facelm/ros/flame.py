"""The /face/flame frame: joint names, row layout, validation and safe ranges (no ROS needed).

A frame is one row in ``MotionClip.to_array(include_global=True)`` layout:
expression (E) | global xyz | neck xyz | jaw xyz | left eye xyz | right eye xyz.
On the wire it is a ``sensor_msgs/JointState`` whose ``name`` lists
``expr_000..``, ``global_{x,y,z}``, ``neck_{x,y,z}``, ``jaw_{x,y,z}``,
``eye_{l,r}_{x,y,z}`` and whose ``position`` holds the values.
"""
from __future__ import annotations

import numpy as np

from facelm.errors import FacelmError

POSE_NAMES = tuple(f"{group}_{axis}" for group in ("global", "neck", "jaw", "eye_l", "eye_r")
                   for axis in "xyz")

# Safe ranges a published frame is clamped to (radians for rotations). Wide
# enough for any motion the models make, narrow enough that a broken model or
# a hostile input can never send a face (or a robot) somewhere absurd.
EXPRESSION_LIMIT = 6.0
POSE_LIMITS = {"global": (-np.pi, np.pi), "neck": (-1.0, 1.0), "jaw_x": (-0.2, 0.8), "jaw": (-0.3, 0.3),
               "eye": (-0.8, 0.8)}


def joint_names(num_expression: int = 50) -> list[str]:
    return [f"expr_{i:03d}" for i in range(num_expression)] + list(POSE_NAMES)


def frame_width(num_expression: int = 50) -> int:
    return num_expression + len(POSE_NAMES)


def limits(num_expression: int = 50) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) per value of a frame."""
    low = np.full(frame_width(num_expression), -EXPRESSION_LIMIT)
    high = -low
    for i, name in enumerate(POSE_NAMES):
        key = name if name in POSE_LIMITS else name.split("_")[0]
        low[num_expression + i], high[num_expression + i] = POSE_LIMITS[key]
    return low, high


def add_global(rows: np.ndarray, num_expression: int) -> np.ndarray:
    """Rows without the global rotation (the tokenizer's layout) -> frame rows (global = 0)."""
    rows = np.asarray(rows, np.float32)
    return np.concatenate([rows[:, :num_expression], np.zeros((len(rows), 3), np.float32),
                           rows[:, num_expression:]], axis=1)


def drop_global(rows: np.ndarray, num_expression: int) -> np.ndarray:
    rows = np.asarray(rows, np.float32)
    return np.concatenate([rows[:, :num_expression], rows[:, num_expression + 3:]], axis=1)


class FrameLayout:
    """Checks incoming frames and makes outgoing ones safe, for one expression size."""

    def __init__(self, num_expression: int = 50):
        self.num_expression = num_expression
        self.names = joint_names(num_expression)
        self.width = len(self.names)
        self.low, self.high = limits(num_expression)
        self._index = {n: i for i, n in enumerate(self.names)}

    def check(self, names, values) -> np.ndarray:
        """A received frame -> (width,) float32, or a one-line FacelmError (wrong length, NaN, unknown names).

        Names are optional (empty = the standard order); when given they may come in
        any order but must all be known and cover the frame.
        """
        values = np.asarray(values, np.float64)
        if values.ndim != 1 or values.size != self.width:
            raise FacelmError(f"frame has {values.size} values, want {self.width}")
        if not np.isfinite(values).all():
            raise FacelmError("frame contains NaN or inf")
        names = list(names)
        if names and names != self.names:
            if len(names) != self.width:
                raise FacelmError(f"frame has {len(names)} names for {self.width} values")
            try:
                order = [self._index[n] for n in names]
            except KeyError as exc:
                raise FacelmError(f"frame names unknown joint {exc.args[0]!r}") from None
            if len(set(order)) != self.width:
                raise FacelmError("frame names a joint twice")
            out = np.empty(self.width, np.float64)
            out[order] = values
            values = out
        return values.astype(np.float32)

    def safe(self, row: np.ndarray) -> np.ndarray:
        """Finite and within range: NaN becomes 0 (neutral), everything is clamped."""
        row = np.nan_to_num(np.asarray(row, np.float64), nan=0.0, posinf=0.0, neginf=0.0)
        return np.clip(row, self.low, self.high)
