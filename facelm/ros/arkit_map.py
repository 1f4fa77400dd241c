"""FLAME frame -> ARKit-52 weights by name (no ROS needed), for avatar engines and Live Link.

Expression and jaw go through the action-unit basis and its FACS correspondence
(``facelm.face_units``: expression -> units by least squares, units -> ARKit);
gaze and sideways jaw, which have no action unit, come from the eye and jaw
rotations. Approximate by construction, like the basis itself (see face_units).
"""
from __future__ import annotations

import numpy as np

from facelm.face_units import ARKIT_INDEX, ARKIT_NAMES, UnitBasis, units_to_arkit

GAZE_FULL_RADIANS = 0.5   # eye rotation that reads as a full EyeLook* weight
JAW_SIDE_FULL_RADIANS = 0.15


class ArkitMap:
    names = ARKIT_NAMES

    def __init__(self, num_expression: int = 50):
        self.num_expression = num_expression
        self.basis = UnitBasis(num_expression=num_expression)

    def __call__(self, row: np.ndarray) -> np.ndarray:
        """(E + 15,) frame row -> (52,) weights in [0, 1]."""
        row = np.asarray(row, np.float32)
        e = self.num_expression
        jaw, eyes = row[e + 6:e + 9], row[e + 9:e + 15].reshape(2, 3)
        units = self.basis.from_expression(row[None, :e], jaw[None])
        w = units_to_arkit(units)[0]
        for side, (pitch, yaw, _) in zip(("Left", "Right"), eyes):
            look = lambda v: float(np.clip(v / GAZE_FULL_RADIANS, 0.0, 1.0))  # noqa: E731
            w[ARKIT_INDEX[f"EyeLookDown{side}"]] = look(pitch)
            w[ARKIT_INDEX[f"EyeLookUp{side}"]] = look(-pitch)
            # Positive yaw turns the eyes to the subject's left: out for the left eye, in for the right.
            w[ARKIT_INDEX[f"EyeLookOut{side}" if side == "Left" else f"EyeLookIn{side}"]] = look(yaw)
            w[ARKIT_INDEX[f"EyeLookIn{side}" if side == "Left" else f"EyeLookOut{side}"]] = look(-yaw)
        w[ARKIT_INDEX["JawLeft"]] = float(np.clip(jaw[1] / JAW_SIDE_FULL_RADIANS, 0.0, 1.0))
        w[ARKIT_INDEX["JawRight"]] = float(np.clip(-jaw[1] / JAW_SIDE_FULL_RADIANS, 0.0, 1.0))
        return np.clip(np.nan_to_num(w, nan=0.0), 0.0, 1.0)
