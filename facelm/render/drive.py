"""What the schematic face shows, per frame, read from a clip's parameters.

Rotations come straight from the clip (head = global o neck, jaw, eyes). Facial
action comes from the ``arkit`` key when the clip has one (a Live Link capture
keeps its own weights, more faithful than a round trip through FLAME), else from
unit intensities read back from the expression with ``UnitBasis``. That basis is
synthetic: exact for clips facelm composed with it, meaningless for real FLAME
coefficients (a BEAT2 capture would show a lid half shut for ever). So the read-back
is used only when the basis reproduces the clip's expression (``UNIT_FIT_MIN`` of
its energy); otherwise brows, lids and lips stay neutral, the curves show the raw
coefficients, and only ``--flame`` with the real model shows the expression.
An ``eyelid`` key, when present, drives the blink.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facelm.clip import MotionClip
from facelm.face_units import ARKIT_INDEX, JAW_DROP_RADIANS, UNIT_INDEX, UnitBasis

GAZE_RADIANS = 0.4  # ARKit EyeLook* at 1.0, when a capture has no eye rotation
UNIT_FIT_MIN = 0.8  # share of expression energy the unit basis must reproduce to be trusted


@dataclass
class FaceDrive:
    """Per-frame drive signals; pairs are (subject's left, subject's right), all in [0, 1]
    except the rotations (axis-angle radians)."""

    head: np.ndarray        # (T, 3) global o neck
    jaw: np.ndarray         # (T, 3)
    gaze: np.ndarray        # (T, 6) left eye, right eye
    blink: np.ndarray       # (T, 2) lid closure
    eye_wide: np.ndarray    # (T, 2)
    squint: np.ndarray      # (T, 2)
    brow_inner: np.ndarray  # (T, 2) inner brow raise (AU1)
    brow_outer: np.ndarray  # (T, 2) outer brow raise (AU2)
    brow_down: np.ndarray   # (T, 2) lower and knit (AU4)
    smile: np.ndarray       # (T, 2) lip corners up (AU12)
    frown: np.ndarray       # (T, 2) lip corners down (AU15)
    stretch: np.ndarray     # (T, 2) lips stretched sideways (AU20)
    lips_part: np.ndarray   # (T,) AU25
    upper_lip: np.ndarray   # (T,) upper lip raised (AU10)
    expression: np.ndarray  # (T, E) raw coefficients, for the curves
    source: str             # where the facial action was read from
    action_known: bool = True  # False: expression not readable as units, features neutral

    @property
    def num_frames(self) -> int:
        return int(self.head.shape[0])


def _pair(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.stack([a, b], axis=1).astype(np.float32)


def _from_units(units: np.ndarray) -> dict[str, np.ndarray]:
    u = lambda code: units[:, UNIT_INDEX[code]]  # noqa: E731
    both = lambda code: _pair(u(code), u(code))  # noqa: E731
    return dict(
        blink=_pair(u("AU45L"), u("AU45R")), eye_wide=both("AU5"), squint=both("AU7"),
        brow_inner=_pair(u("AU1L"), u("AU1R")), brow_outer=_pair(u("AU2L"), u("AU2R")),
        brow_down=both("AU4"), smile=_pair(u("AU12L"), u("AU12R")), frown=both("AU15"),
        stretch=both("AU20"), lips_part=u("AU25"), upper_lip=u("AU10"))


def _from_arkit(arkit: np.ndarray) -> dict[str, np.ndarray]:
    a = lambda name: np.clip(arkit[:, ARKIT_INDEX[name]], 0.0, 1.0)  # noqa: E731
    lr = lambda stem: _pair(a(stem + "Left"), a(stem + "Right"))  # noqa: E731
    inner = a("BrowInnerUp")
    return dict(
        blink=lr("EyeBlink"), eye_wide=lr("EyeWide"), squint=lr("EyeSquint"),
        brow_inner=_pair(inner, inner), brow_outer=lr("BrowOuterUp"), brow_down=lr("BrowDown"),
        smile=lr("MouthSmile"), frown=lr("MouthFrown"), stretch=lr("MouthStretch"),
        lips_part=0.5 * (a("MouthLowerDownLeft") + a("MouthLowerDownRight")),
        upper_lip=0.5 * (a("MouthUpperUpLeft") + a("MouthUpperUpRight")))


def _gaze_from_arkit(arkit: np.ndarray) -> np.ndarray:
    """Eye rotations from EyeLook* weights: +x looks down, +y looks to the subject's left."""
    a = lambda name: arkit[:, ARKIT_INDEX[name]]  # noqa: E731
    gaze = np.zeros((arkit.shape[0], 6), np.float32)
    for k, side in enumerate(("Left", "Right")):
        down = a("EyeLookDown" + side) - a("EyeLookUp" + side)
        # The left eye looks out toward the subject's left, the right eye in does.
        to_left = (a("EyeLookOut" + side) - a("EyeLookIn" + side)) * (1 if side == "Left" else -1)
        gaze[:, 3 * k] = GAZE_RADIANS * down
        gaze[:, 3 * k + 1] = GAZE_RADIANS * to_left
    return gaze


def unit_fit(basis: UnitBasis, expression: np.ndarray, units: np.ndarray) -> float:
    """Share of the expression's energy that ``units`` reproduce through ``basis`` (1 = exact)."""
    e = np.asarray(expression, np.float64)
    energy = float(np.sum(e**2))
    if energy < 1e-8:
        return 1.0
    recon, _ = basis.to_expression(units)
    n = min(e.shape[1], recon.shape[1])
    # Coefficients beyond the basis (51..100) count as unexplained.
    residual = float(np.sum((e[:, :n] - recon[:, :n]) ** 2) + np.sum(e[:, n:] ** 2))
    return max(0.0, 1.0 - residual / energy)


def face_drive(clip: MotionClip) -> FaceDrive:
    """Drive signals of every frame of ``clip``."""
    jaw = clip.jaw_pose.copy()
    gaze = clip.eye_pose.copy()
    known = True
    if clip.arkit is not None:
        action = _from_arkit(clip.arkit)
        source = "ARKit weights"
        # A capture converted without jaw/eye rotations still shows them from ARKit.
        if not np.any(jaw):
            jaw[:, 0] = JAW_DROP_RADIANS * np.clip(clip.arkit[:, ARKIT_INDEX["JawOpen"]], 0, 1)
        if not np.any(gaze):
            gaze = _gaze_from_arkit(clip.arkit)
    else:
        basis = UnitBasis()
        units = basis.from_expression(clip.expression, clip.jaw_pose)
        fit = unit_fit(basis, clip.expression, units)
        known = fit >= UNIT_FIT_MIN
        if not known:
            units = np.zeros_like(units)
        action = _from_units(units)
        source = (f"action units read back (unit basis fits {fit:.0%})" if known else
                  f"expression not in the unit basis (fits {fit:.0%}): features neutral")
    if clip.eyelid is not None:
        action["blink"] = np.clip(clip.eyelid, 0.0, 1.0).astype(np.float32)
        source += ", eyelid key"
    return FaceDrive(head=clip.head_rotation(), jaw=jaw, gaze=gaze, expression=clip.expression,
                     source=source, action_known=clip.arkit is not None or known, **action)
