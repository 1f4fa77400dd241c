"""Facial action units: a synthetic linear FLAME basis, ARKit-52 correspondence, emotions.

facelm describes faces in FACS action units (AUs), as MMHead's annotation does.
No licensed FLAME model ships with facelm, so the AU -> expression mapping here is a
*synthetic*, fixed, documented linear basis: each unit owns one primary FLAME
coefficient with small seeded cross-talk into others. It is self-consistent (the
corpus composer writes with it and the annotator reads back with it) but it is not
FLAME's true semantics; a user with FLAME can fit a real basis and pass it in as
``UnitBasis(matrix=...)``. Mouth opening (AU26) drives the jaw rotation directly,
as FLAME does.

ARKit-52 weights relate to AUs by FACS correspondence (``ARKIT_FROM_UNITS``), so
one corpus can also emit ARKit, and Live Link Face captures map to FLAME through
ARKit -> AU -> FLAME (approximate by construction: documented as such).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# (code, name as MMHead's prompts spell it). L/R: the subject's own left/right.
UNITS: tuple[tuple[str, str], ...] = (
    ("AU1L", "Left Inner brow raiser"), ("AU1R", "Right Inner brow raiser"),
    ("AU2L", "Left Outer brow raiser"), ("AU2R", "Right Outer brow raiser"),
    ("AU4", "Brow lowerer"), ("AU5", "Upper lid raiser"), ("AU6", "Cheek raiser"),
    ("AU7", "Lid tightener"), ("AU9", "Nose wrinkler"), ("AU10", "Upper lip raiser"),
    ("AU12L", "Left Lip corner puller"), ("AU12R", "Right Lip corner puller"),
    ("AU14", "Dimpler"), ("AU15", "Lip corner depressor"), ("AU17", "Chin raiser"),
    ("AU20", "Lip stretcher"), ("AU23", "Lip tightener"), ("AU24", "Lip pressor"),
    ("AU25", "Lips part"), ("AU26", "Jaw drop"),
    ("AU45L", "Left Blink"), ("AU45R", "Right Blink"),
)
UNIT_CODES: tuple[str, ...] = tuple(code for code, _ in UNITS)
UNIT_NAMES: dict[str, str] = dict(UNITS)
UNIT_INDEX: dict[str, int] = {code: i for i, code in enumerate(UNIT_CODES)}
NUM_UNITS = len(UNITS)

# Bilateral AUs addressed as one (AU12 = both corners); a value sets both sides.
BILATERAL: dict[str, tuple[str, str]] = {
    "AU1": ("AU1L", "AU1R"), "AU2": ("AU2L", "AU2R"),
    "AU12": ("AU12L", "AU12R"), "AU45": ("AU45L", "AU45R"),
}

# Jaw opening at full AU26, radians about x (FLAME: +x opens the mouth).
JAW_DROP_RADIANS = 0.35
BASIS_SEED = 20240817
BASIS_GAIN = 2.0  # coefficient magnitude of a unit at full intensity
BASIS_CROSSTALK = 0.2

# ARKit-52 in Apple's / Live Link Face's column order.
ARKIT_NAMES: tuple[str, ...] = (
    "EyeBlinkLeft", "EyeLookDownLeft", "EyeLookInLeft", "EyeLookOutLeft", "EyeLookUpLeft",
    "EyeSquintLeft", "EyeWideLeft", "EyeBlinkRight", "EyeLookDownRight", "EyeLookInRight",
    "EyeLookOutRight", "EyeLookUpRight", "EyeSquintRight", "EyeWideRight", "JawForward",
    "JawRight", "JawLeft", "JawOpen", "MouthClose", "MouthFunnel", "MouthPucker", "MouthRight",
    "MouthLeft", "MouthSmileLeft", "MouthSmileRight", "MouthFrownLeft", "MouthFrownRight",
    "MouthDimpleLeft", "MouthDimpleRight", "MouthStretchLeft", "MouthStretchRight",
    "MouthRollLower", "MouthRollUpper", "MouthShrugLower", "MouthShrugUpper", "MouthPressLeft",
    "MouthPressRight", "MouthLowerDownLeft", "MouthLowerDownRight", "MouthUpperUpLeft",
    "MouthUpperUpRight", "BrowDownLeft", "BrowDownRight", "BrowInnerUp", "BrowOuterUpLeft",
    "BrowOuterUpRight", "CheekPuff", "CheekSquintLeft", "CheekSquintRight", "NoseSneerLeft",
    "NoseSneerRight", "TongueOut",
)
ARKIT_INDEX: dict[str, int] = {n: i for i, n in enumerate(ARKIT_NAMES)}

# FACS correspondence: ARKit shape -> {unit: weight}. Shapes with no AU counterpart
# in UNITS (gaze, jaw sideways, funnel, pucker, cheek puff, tongue) stay empty.
_ARKIT_UNIT_WEIGHTS: dict[str, dict[str, float]] = {
    "EyeBlinkLeft": {"AU45L": 1.0}, "EyeBlinkRight": {"AU45R": 1.0},
    "EyeSquintLeft": {"AU7": 1.0}, "EyeSquintRight": {"AU7": 1.0},
    "EyeWideLeft": {"AU5": 1.0}, "EyeWideRight": {"AU5": 1.0},
    "JawOpen": {"AU26": 1.0},
    "MouthSmileLeft": {"AU12L": 1.0}, "MouthSmileRight": {"AU12R": 1.0},
    "MouthFrownLeft": {"AU15": 1.0}, "MouthFrownRight": {"AU15": 1.0},
    "MouthDimpleLeft": {"AU14": 1.0}, "MouthDimpleRight": {"AU14": 1.0},
    "MouthStretchLeft": {"AU20": 1.0}, "MouthStretchRight": {"AU20": 1.0},
    "MouthRollLower": {"AU23": 0.5}, "MouthRollUpper": {"AU23": 0.5},
    "MouthShrugLower": {"AU17": 1.0}, "MouthShrugUpper": {"AU17": 0.5},
    "MouthPressLeft": {"AU24": 1.0}, "MouthPressRight": {"AU24": 1.0},
    "MouthLowerDownLeft": {"AU25": 0.7}, "MouthLowerDownRight": {"AU25": 0.7},
    "MouthUpperUpLeft": {"AU10": 1.0}, "MouthUpperUpRight": {"AU10": 1.0},
    "BrowDownLeft": {"AU4": 1.0}, "BrowDownRight": {"AU4": 1.0},
    "BrowInnerUp": {"AU1L": 0.5, "AU1R": 0.5},
    "BrowOuterUpLeft": {"AU2L": 1.0}, "BrowOuterUpRight": {"AU2R": 1.0},
    "CheekSquintLeft": {"AU6": 1.0}, "CheekSquintRight": {"AU6": 1.0},
    "NoseSneerLeft": {"AU9": 1.0}, "NoseSneerRight": {"AU9": 1.0},
}


def _arkit_from_units() -> np.ndarray:
    m = np.zeros((len(ARKIT_NAMES), NUM_UNITS), np.float32)
    for shape, weights in _ARKIT_UNIT_WEIGHTS.items():
        for unit, w in weights.items():
            m[ARKIT_INDEX[shape], UNIT_INDEX[unit]] = w
    return m


ARKIT_FROM_UNITS = _arkit_from_units()  # (52, U): arkit = M @ units


def units_vector(units: dict[str, float]) -> np.ndarray:
    """{code: intensity} -> (U,) vector; bilateral codes (AU12) set both sides."""
    v = np.zeros(NUM_UNITS, np.float32)
    for code, value in units.items():
        for c in BILATERAL.get(code, (code,)):
            if c not in UNIT_INDEX:
                raise KeyError(f"unknown action unit {code!r}; known: {', '.join(UNIT_CODES)}")
            v[UNIT_INDEX[c]] = value
    return v


def _synthetic_matrix(num_expression: int = 50) -> np.ndarray:
    """(E, U): unit u owns coefficient u (first 22), plus seeded cross-talk in 0..49."""
    rng = np.random.default_rng(BASIS_SEED)
    m = np.zeros((num_expression, NUM_UNITS), np.float32)
    cross = rng.normal(0.0, BASIS_CROSSTALK, size=(50, NUM_UNITS)).astype(np.float32)
    m[:50] = cross
    for u in range(NUM_UNITS):
        m[u, u] = 1.0
    m[:, UNIT_INDEX["AU26"]] = 0.0  # jaw drop lives in the jaw rotation
    m[UNIT_INDEX["AU26"], UNIT_INDEX["AU26"]] = 0.3  # plus a little lower-face shape
    return BASIS_GAIN * m


@dataclass
class UnitBasis:
    """Linear map between unit intensities (T, U) and FLAME expression + jaw.

    ``matrix`` (E, U): expression = units @ matrix.T. Defaults to the synthetic basis.
    """

    matrix: np.ndarray | None = None
    num_expression: int = 50

    def __post_init__(self) -> None:
        if self.matrix is None:
            self.matrix = _synthetic_matrix(self.num_expression)
        self.matrix = np.asarray(self.matrix, np.float32)
        self.num_expression = self.matrix.shape[0]
        # Readback ignores AU26's column: it is read from the jaw instead.
        cols = [i for i in range(NUM_UNITS) if i != UNIT_INDEX["AU26"]]
        self._read_cols = np.array(cols)
        self._pinv = np.linalg.pinv(self.matrix[:, cols])  # (U-1, E)

    def to_expression(self, units: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(T, U) intensities -> ((T, E) expression, (T, 3) jaw_pose)."""
        units = np.asarray(units, np.float32)
        expression = units @ self.matrix.T  # (T, E)
        jaw = np.zeros(units.shape[:-1] + (3,), np.float32)
        jaw[..., 0] = JAW_DROP_RADIANS * units[..., UNIT_INDEX["AU26"]]
        return expression, jaw

    def from_expression(self, expression: np.ndarray, jaw_pose: np.ndarray) -> np.ndarray:
        """Least-squares read-back of (T, U) unit intensities, clipped to [0, 1]."""
        e = np.asarray(expression, np.float32)[..., : self.num_expression]
        if e.shape[-1] < self.num_expression:
            e = np.pad(e, [(0, 0)] * (e.ndim - 1) + [(0, self.num_expression - e.shape[-1])])
        jaw_units = np.zeros(e.shape[:-1] + (1,), np.float32)
        jaw_units[..., 0] = np.asarray(jaw_pose, np.float32)[..., 0] / JAW_DROP_RADIANS
        # Remove the jaw unit's own share before solving for the rest.
        e = e - jaw_units * self.matrix[:, UNIT_INDEX["AU26"]]
        out = np.zeros(e.shape[:-1] + (NUM_UNITS,), np.float32)
        out[..., self._read_cols] = e @ self._pinv.T
        out[..., UNIT_INDEX["AU26"]] = jaw_units[..., 0]
        return np.clip(out, 0.0, 1.0)


def units_to_arkit(units: np.ndarray) -> np.ndarray:
    """(T, U) -> (T, 52) ARKit weights in [0, 1]."""
    return np.clip(np.asarray(units, np.float32) @ ARKIT_FROM_UNITS.T, 0.0, 1.0)


def arkit_to_units(arkit: np.ndarray) -> np.ndarray:
    """(T, 52) ARKit weights -> (T, U) unit intensities (least squares, clipped)."""
    return np.clip(np.asarray(arkit, np.float32) @ np.linalg.pinv(ARKIT_FROM_UNITS).T, 0.0, 1.0)


def default_arkit_to_flame(num_expression: int = 50) -> np.ndarray:
    """(E, 52): ARKit -> expression through units. APPROXIMATE: synthetic basis, see module doc."""
    basis = UnitBasis(num_expression=num_expression)
    return basis.matrix @ np.linalg.pinv(ARKIT_FROM_UNITS)


# Prototypical AU configurations (EMFACS-style), intensities at full emotion.
EMOTION_UNITS: dict[str, dict[str, float]] = {
    "neutral": {},
    "happy": {"AU6": 0.7, "AU12": 0.9, "AU25": 0.3},
    "sad": {"AU1": 0.8, "AU4": 0.5, "AU15": 0.7, "AU17": 0.3},
    "angry": {"AU4": 0.9, "AU5": 0.4, "AU7": 0.7, "AU23": 0.7, "AU24": 0.4},
    "surprised": {"AU1": 0.9, "AU2": 0.9, "AU5": 0.8, "AU25": 0.6, "AU26": 0.5},
    "fearful": {"AU1": 0.8, "AU2": 0.6, "AU4": 0.5, "AU5": 0.8, "AU7": 0.3, "AU20": 0.7, "AU25": 0.5},
    "disgusted": {"AU9": 0.9, "AU10": 0.7, "AU15": 0.4, "AU17": 0.4},
    "contempt": {"AU12R": 0.6, "AU14": 0.6},
}
EMOTIONS: tuple[str, ...] = tuple(EMOTION_UNITS)


def emotion_vector(emotion: str, intensity: float = 1.0) -> np.ndarray:
    """(U,) unit intensities of an emotion's prototype scaled by ``intensity``."""
    if emotion not in EMOTION_UNITS:
        raise KeyError(f"unknown emotion {emotion!r}; known: {', '.join(EMOTIONS)}")
    return intensity * units_vector(EMOTION_UNITS[emotion])
