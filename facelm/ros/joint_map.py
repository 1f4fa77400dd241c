"""FLAME / action-unit channels -> robot servo joints, from a YAML map (no ROS needed).

The map (``launch/params/robot_face_joints.yaml``)::

    joints:
      - name: jaw_servo          # joint name published on /face/robot_joints
        channel: jaw_x           # a /face/flame name (expr_003, neck_y, ...) or an action unit (AU12L, AU45R, ...)
        gain: 2.0                # position = offset + gain * channel value
        offset: 0.0
        min: 0.0                 # position limits (the servo's units, usually radians)
        max: 1.2
        max_rate: 4.0            # units per second; 0 = unlimited

Every output is finite, within [min, max] and moves at most ``max_rate`` per
second: a NaN input holds the joint where it is.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facelm.errors import FacelmError
from facelm.face_units import UNIT_INDEX, UnitBasis
from facelm.ros.flame import joint_names


@dataclass
class JointSpec:
    name: str
    channel: str
    gain: float = 1.0
    offset: float = 0.0
    min: float = -1.0
    max: float = 1.0
    max_rate: float = 0.0


class JointMap:
    def __init__(self, specs: list[JointSpec], num_expression: int = 50):
        if not specs:
            raise FacelmError("joint map lists no joints")
        frame = {n: i for i, n in enumerate(joint_names(num_expression))}
        self.num_expression = num_expression
        self.specs = specs
        self.names = [s.name for s in specs]
        self._uses_units = False
        self._source = []  # ("frame" | "unit", index)
        for s in specs:
            for key in ("gain", "offset", "min", "max", "max_rate"):
                if not math.isfinite(getattr(s, key)):
                    raise FacelmError(f"joint {s.name}: {key} must be a finite number")
            if s.min > s.max or s.max_rate < 0:
                raise FacelmError(f"joint {s.name}: need min <= max and max_rate >= 0")
            if s.channel in frame:
                self._source.append(("frame", frame[s.channel]))
            elif s.channel in UNIT_INDEX:
                self._source.append(("unit", UNIT_INDEX[s.channel]))
                self._uses_units = True
            else:
                raise FacelmError(f"joint {s.name}: unknown channel {s.channel!r} (a /face/flame name or an "
                                  "action unit such as AU12L)")
        if len(set(self.names)) != len(self.names):
            raise FacelmError("joint map names a joint twice")
        self.basis = UnitBasis(num_expression=num_expression) if self._uses_units else None
        self.low = np.array([s.min for s in specs])
        self.high = np.array([s.max for s in specs])
        self.gain = np.array([s.gain for s in specs])
        self.offset = np.array([s.offset for s in specs])
        self.rate = np.array([s.max_rate if s.max_rate > 0 else np.inf for s in specs])
        self.position = np.clip(self.offset, self.low, self.high)  # start at rest

    @classmethod
    def load(cls, path: str | Path, num_expression: int = 50) -> "JointMap":
        import yaml
        path = Path(path)
        try:
            doc = yaml.safe_load(path.read_text())
        except (OSError, yaml.YAMLError) as exc:
            raise FacelmError(f"{path}: cannot read the joint map ({str(exc).splitlines()[0]})") from None
        if not isinstance(doc, dict) or not isinstance(doc.get("joints"), list):
            raise FacelmError(f"{path}: a joint map has a 'joints' list")
        try:
            specs = [JointSpec(**{k: (float(v) if k not in ("name", "channel") else str(v)) for k, v in j.items()})
                     for j in doc["joints"]]
        except (TypeError, ValueError) as exc:
            raise FacelmError(f"{path}: bad joint entry ({exc})") from None
        return cls(specs, num_expression)

    def targets(self, row: np.ndarray) -> np.ndarray:
        """Unlimited positions for a frame row (NaN where the input is NaN)."""
        row = np.asarray(row, np.float64)
        units = None
        if self._uses_units:
            e = self.num_expression
            units = self.basis.from_expression(row[None, :e], row[None, e + 6:e + 9])[0]
        values = np.array([row[i] if kind == "frame" else units[i] for kind, i in self._source])
        return self.offset + self.gain * values

    def step(self, row: np.ndarray, dt: float) -> np.ndarray:
        """Positions after ``dt`` seconds toward this frame: clamped, rate-limited, never NaN."""
        target = np.clip(self.targets(row), self.low, self.high)
        target = np.where(np.isfinite(target), target, self.position)
        limit = self.rate * max(dt, 0.0)
        self.position = np.clip(self.position + np.clip(target - self.position, -limit, limit), self.low, self.high)
        return self.position.copy()
