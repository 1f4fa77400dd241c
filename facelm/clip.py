"""The motion clip: FLAME parameters a frame, the contract every part of facelm shares.

A clip on disk is an ``.npz`` of float32 arrays, one row a frame (see
ARCHITECTURE.md "Motion representation"). ``MotionClip`` validates on
construction, so a clip that exists is a clip that is well formed.
"""
from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from facelm import rotations
from facelm.errors import FacelmError

DEFAULT_FPS = 25.0
EXPRESSION_SIZES = (50, 100)
# Rotation groups: name -> width (a multiple of 3, axis-angle each).
POSE_GROUPS = {"global_pose": 3, "neck_pose": 3, "jaw_pose": 3, "eye_pose": 6}
# Optional per-frame groups that interpolate linearly: name -> width.
LINEAR_OPTIONAL = {"eyelid": 2, "arkit": 52}
REQUIRED_KEYS = ("expression",) + tuple(POSE_GROUPS)


def _as_frames(name: str, value: Any, width: int | tuple[int, ...], source: str) -> np.ndarray:
    """Check one per-frame array: numeric, 2-D, finite, of an allowed width; return float32."""
    arr = np.asarray(value)
    if arr.dtype.kind not in "fiu":
        raise FacelmError(f"{source}: '{name}' must be numeric, got dtype {arr.dtype}")
    widths = (width,) if isinstance(width, int) else width
    if arr.ndim != 2 or arr.shape[1] not in widths:
        want = " or ".join(f"(T, {w})" for w in widths)
        raise FacelmError(f"{source}: '{name}' must have shape {want}, got {arr.shape}")
    finite = np.isfinite(arr).all(axis=1)
    if not finite.all():
        bad = np.flatnonzero(~finite)
        raise FacelmError(
            f"{source}: '{name}' has NaN/inf in {bad.size} frame(s), first at frame {bad[0]}")
    return arr.astype(np.float32, copy=False)


@dataclass
class MotionClip:
    """FLAME motion: expression (T, 50|100), global/neck/jaw (T, 3), eyes (T, 6), at ``fps``.

    ``eyelid`` (T, 2) and ``arkit`` (T, 52, names in ``facelm.face_units.ARKIT_NAMES``)
    are optional; ``text`` holds annotations (a dict), ``audio_path`` a companion wav.
    ``source`` names where the clip came from, for error messages only.
    """

    expression: np.ndarray
    global_pose: np.ndarray
    neck_pose: np.ndarray
    jaw_pose: np.ndarray
    eye_pose: np.ndarray
    fps: float = DEFAULT_FPS
    eyelid: np.ndarray | None = None
    arkit: np.ndarray | None = None
    text: dict = field(default_factory=dict)
    audio_path: str | None = None
    source: str = field(default="<clip>", compare=False, repr=False)

    def __post_init__(self) -> None:
        src = self.source
        self.expression = _as_frames("expression", self.expression, EXPRESSION_SIZES, src)
        n = self.expression.shape[0]
        if n < 1:
            raise FacelmError(f"{src}: clip has no frames")
        for name, width in POSE_GROUPS.items():
            setattr(self, name, _as_frames(name, getattr(self, name), width, src))
        for name, width in LINEAR_OPTIONAL.items():
            if getattr(self, name) is not None:
                setattr(self, name, _as_frames(name, getattr(self, name), width, src))
        for name in POSE_GROUPS.keys() | {k for k in LINEAR_OPTIONAL if getattr(self, k) is not None}:
            if getattr(self, name).shape[0] != n:
                raise FacelmError(
                    f"{src}: '{name}' has {getattr(self, name).shape[0]} frames, 'expression' has {n}")
        try:
            fps = float(np.asarray(self.fps).reshape(()))
        except (TypeError, ValueError):
            raise FacelmError(f"{src}: 'fps' must be a number, got {self.fps!r}") from None
        if not np.isfinite(fps) or fps <= 0:
            raise FacelmError(f"{src}: 'fps' must be a finite number > 0, got {fps}")
        self.fps = fps
        if not isinstance(self.text, dict):
            raise FacelmError(f"{src}: 'text' must be a dict of annotations")

    # -- construction -------------------------------------------------------
    @classmethod
    def neutral(cls, num_frames: int, num_expression: int = 50, fps: float = DEFAULT_FPS) -> "MotionClip":
        """A still, neutral face of ``num_frames`` frames."""
        z = lambda w: np.zeros((num_frames, w), np.float32)  # noqa: E731
        return cls(z(num_expression), z(3), z(3), z(3), z(6), fps=fps)

    # -- basic properties -------------------------------------------------
    @property
    def num_frames(self) -> int:
        return int(self.expression.shape[0])

    @property
    def num_expression(self) -> int:
        return int(self.expression.shape[1])

    @property
    def duration(self) -> float:
        """Seconds covered, frame starts to the end of the last frame."""
        return self.num_frames / self.fps

    def head_rotation(self) -> np.ndarray:
        """(T, 3) head rotation in the world: global (root) composed with neck."""
        return rotations.compose_axis_angle(self.global_pose, self.neck_pose).astype(np.float32)

    def frames(self, start: int, stop: int | None = None) -> "MotionClip":
        """Frames [start, stop) as a new clip."""
        sl = slice(start, stop)
        cut = lambda a: None if a is None else a[sl]  # noqa: E731
        return replace(
            self, expression=self.expression[sl], global_pose=self.global_pose[sl],
            neck_pose=self.neck_pose[sl], jaw_pose=self.jaw_pose[sl], eye_pose=self.eye_pose[sl],
            eyelid=cut(self.eyelid), arkit=cut(self.arkit))

    def with_expression_size(self, size: int) -> "MotionClip":
        """Truncate or zero-pad expression coefficients to ``size`` (50 or 100)."""
        if size not in EXPRESSION_SIZES:
            raise FacelmError(f"expression size must be one of {EXPRESSION_SIZES}, got {size}")
        e = self.expression[:, :size]
        if e.shape[1] < size:
            e = np.pad(e, ((0, 0), (0, size - e.shape[1])))
        return replace(self, expression=e)

    # -- resampling --------------------------------------------------------
    def resample(self, fps: float = DEFAULT_FPS) -> "MotionClip":
        """Resample to ``fps``: linear for coefficients, slerp for every rotation.

        Output frames sit at t = k / fps for all k with t within the input's
        first and last frame times.
        """
        if fps <= 0:
            raise FacelmError(f"target fps must be > 0, got {fps}")
        if abs(fps - self.fps) < 1e-9:
            return self
        n_in = self.num_frames
        n_out = int(np.floor((n_in - 1) * fps / self.fps + 1e-9)) + 1
        pos = np.arange(n_out) * (self.fps / fps)  # position in input frames
        i0 = np.clip(np.floor(pos).astype(int), 0, n_in - 1)
        i1 = np.minimum(i0 + 1, n_in - 1)
        t = (pos - i0).astype(np.float64)

        def linear(a: np.ndarray | None) -> np.ndarray | None:
            if a is None:
                return None
            return ((1 - t)[:, None] * a[i0] + t[:, None] * a[i1]).astype(np.float32)

        def rotational(a: np.ndarray) -> np.ndarray:
            aa = a.reshape(n_in, -1, 3)  # (T, G, 3): G rotations per frame
            q = rotations.axis_angle_to_quat(aa)
            out = rotations.slerp(q[i0], q[i1], np.broadcast_to(t[:, None], (n_out, aa.shape[1])))
            return rotations.quat_to_axis_angle(out).reshape(n_out, -1).astype(np.float32)

        return replace(
            self, expression=linear(self.expression),
            **{name: rotational(getattr(self, name)) for name in POSE_GROUPS},
            eyelid=linear(self.eyelid), arkit=linear(self.arkit), fps=float(fps))

    # -- packing into one feature matrix -------------------------------------
    def to_array(self, include_global: bool = True) -> np.ndarray:
        """(T, D) float32: expression | global? | neck | jaw | eyes (the model feature layout)."""
        parts = [self.expression] + ([self.global_pose] if include_global else [])
        parts += [self.neck_pose, self.jaw_pose, self.eye_pose]
        return np.concatenate(parts, axis=1)

    @classmethod
    def from_array(cls, arr: np.ndarray, num_expression: int, include_global: bool = True,
                   fps: float = DEFAULT_FPS) -> "MotionClip":
        """Inverse of ``to_array``."""
        arr = np.asarray(arr)
        want = num_expression + (3 if include_global else 0) + 12
        if arr.ndim != 2 or arr.shape[1] != want:
            raise FacelmError(f"motion array must have shape (T, {want}), got {arr.shape}")
        e, rest = arr[:, :num_expression], arr[:, num_expression:]
        if include_global:
            g, rest = rest[:, :3], rest[:, 3:]
        else:
            g = np.zeros((arr.shape[0], 3), np.float32)
        return cls(e, g, rest[:, 0:3], rest[:, 3:6], rest[:, 6:12], fps=fps)

    # -- file I/O --------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> None:
        """Write the npz contract (float32 arrays, scalar fps, JSON text)."""
        arrays: dict[str, Any] = {k: getattr(self, k) for k in REQUIRED_KEYS}
        arrays["fps"] = np.float32(self.fps)
        for name in LINEAR_OPTIONAL:
            if getattr(self, name) is not None:
                arrays[name] = getattr(self, name)
        if self.text:
            arrays["text"] = np.array(json.dumps(self.text, ensure_ascii=False))
        if self.audio_path:
            arrays["audio_path"] = np.array(str(self.audio_path))
        path = os.fspath(path)
        if not path.endswith(".npz"):
            raise FacelmError(f"{path}: a motion clip is written as .npz")
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        np.savez_compressed(path, **arrays)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "MotionClip":
        """Read and validate a clip written in the npz contract."""
        path = os.fspath(path)
        if not os.path.isfile(path):
            raise FacelmError(f"{path}: no such file")
        try:
            with np.load(path, allow_pickle=False) as data:
                content = {k: data[k] for k in data.files}
        except (zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
            raise FacelmError(f"{path}: not a readable .npz clip ({exc.__class__.__name__}: {exc})") from None
        return cls.from_mapping(content, source=path)

    @classmethod
    def from_mapping(cls, content: dict[str, Any], source: str = "<clip>") -> "MotionClip":
        """Build from a dict with the npz contract's keys (as ``np.load`` gives them)."""
        missing = [k for k in REQUIRED_KEYS if k not in content]
        if missing:
            raise FacelmError(f"{source}: missing key(s) {', '.join(missing)} (not a facelm clip)")
        text: dict = {}
        if "text" in content:
            raw = str(np.asarray(content["text"]).reshape(()))
            try:
                text = json.loads(raw) if raw else {}
            except json.JSONDecodeError:
                text = {"text": raw}
            if not isinstance(text, dict):
                text = {"text": text}
        audio = str(np.asarray(content["audio_path"]).reshape(())) if "audio_path" in content else None
        return cls(
            **{k: content[k] for k in REQUIRED_KEYS},
            fps=content.get("fps", DEFAULT_FPS),
            eyelid=content.get("eyelid"), arkit=content.get("arkit"),
            text=text, audio_path=audio, source=source)
