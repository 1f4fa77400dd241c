"""Live Link Face CSV (iPhone ARKit capture): 52 blendshape weights + head/eye angles.

Layout: ``Timecode`` (HH:MM:SS:FF.sub), ``BlendShapeCount``, the 52 ARKit weights
(names in ``face_units.ARKIT_NAMES``), then ``HeadYaw, HeadPitch, HeadRoll`` and
``Left/RightEye Yaw/Pitch/Roll`` in radians. Columns are found by name.

Timing: a row's time is HH*3600 + MM*60 + SS + (FF + sub) / ticks, where ``ticks``
is the timecode's counts per second: 60 when any FF reaches 30 (Live Link Face
counts 60 ticks and steps by 2 at 30 fps), else whichever of 60/30 makes the
steps most even. The capture rate is the median timecode step (30.000 fps in the
sample files), and the rows are resampled by time onto a uniform grid at the
target rate, so skipped frames become interpolated ones (each sample file skips
a few single frames: 3 in alex_rom_3, 2 in S07-001). Rows with fewer columns
than the header, values that do not parse or are not finite, and timecodes that
do not move forward are dropped and counted.

Mapping to FLAME (approximate by construction, see ``face_units``):
- ``arkit`` keeps the 52 weights as captured;
- expression = M @ weights, M = ``face_units.default_arkit_to_flame()`` or the
  (E, 52) ``matrix`` of ``--arkit-map FILE``;
- jaw x = ``JAW_DROP_RADIANS`` x JawOpen; eyelid = (EyeBlinkLeft, EyeBlinkRight).

Angle signs (``--livelink-angles``), read from the two sample files: a least-squares
fit of each eye's angles on the gaze blendshapes gives LeftEyeYaw ~ +0.6 x
(EyeLookOutRight - EyeLookInRight), RightEyeYaw ~ +0.6 x (EyeLookInLeft -
EyeLookOutLeft), about 0 on the same-named eye's shapes, and pitch ~ +0.6 x
EyeLookDown - 0.44 x EyeLookUp. So yaw > 0 is a gaze to the right as Apple names
it, pitch > 0 is down, and the 'LeftEye' angles belong to the eye whose
blendshapes say 'Right'. Taking Apple's naming as the subject's own sides (its
documentation: EyeBlinkLeft closes "the left eye"), the angles are measured in the
camera's frame (x to the image's right, y down, z into the scene), where 'LeftEye'
is the eye on the image's left, the subject's right:

- ``camera`` (default): pitch > 0 head down, yaw > 0 turns to the subject's right,
  roll > 0 tilts to the subject's left; FLAME r = (pitch, -yaw, -roll) and the
  ``LeftEye*`` angles drive FLAME's right eye.
- ``face``: the angles are already in the face's own frame (FLAME axes) and eye
  names are the subject's: r = (pitch, yaw, roll), no swap.

The head columns are zero in both sample files, so the head follows the eyes'
reading; Euler order is yaw, then pitch, then roll (``rotations.euler_to_axis_angle``).
"""
from __future__ import annotations

import csv
import os
import re

import numpy as np

from facelm import face_units, rotations
from facelm.clip import EXPRESSION_SIZES, MotionClip
from facelm.errors import FacelmError
from facelm.importers import timing
from facelm.importers.common import ImportOptions, ImportResult, Source

NAME = "livelink"
DESCRIPTION = "Live Link Face CSV: Timecode, 52 ARKit weights, head/eye yaw/pitch/roll"
ANGLE_MODES = ("camera", "face")
HEAD_COLUMNS = ("HeadYaw", "HeadPitch", "HeadRoll")
EYE_COLUMNS = {side: tuple(f"{side}Eye{a}" for a in ("Yaw", "Pitch", "Roll")) for side in ("Left", "Right")}
_TIMECODE = re.compile(r"^\s*(\d+):(\d{1,2}):(\d{1,2})[:;.](\d+)(?:\.(\d+))?\s*$")
_DAY = 86400.0


def matches(source: Source) -> bool:
    if source.kind != "text":
        return False
    names = {c.strip().lower() for c in source.first_line.split(",")}
    return {"timecode", "eyeblinkleft", "jawopen"} <= names


# -- timecodes ---------------------------------------------------------------
def parse_timecode(text: str) -> tuple[int, int] | None:
    """'HH:MM:SS:FF.sub' -> (whole seconds since midnight, ticks FF.sub), None if malformed."""
    m = _TIMECODE.match(text)
    if not m:
        return None
    h, mi, s, ff, sub = m.groups()
    if int(mi) > 59 or int(s) > 59:
        return None
    frac = float("0." + sub) if sub else 0.0
    return int(h) * 3600 + int(mi) * 60 + int(s), int(ff) + frac


def timecode_seconds(seconds: np.ndarray, ticks: np.ndarray) -> tuple[np.ndarray, int]:
    """Times in seconds from (whole seconds, ticks), choosing the tick rate; and that rate."""
    candidates = (60, 30)
    if ticks.max() >= 30:
        candidates = (60,)

    def evenness(rate: int) -> float:
        t = np.unwrap(seconds + ticks / rate, period=_DAY)
        steps = np.diff(t)
        return float(np.ptp(steps) / max(np.median(np.abs(steps)), 1e-9)) if steps.size else 0.0

    rate = min(candidates, key=lambda r: (evenness(r), -r))
    # A capture that crosses midnight restarts at 00:00:00: keep time moving forward.
    return np.unwrap(seconds + ticks / rate, period=_DAY), rate


# -- reading -------------------------------------------------------------------
def _column_index(header: list[str], path: str) -> dict[str, int]:
    lower = {name.strip().lower(): i for i, name in enumerate(header)}
    wanted = ("Timecode",) + face_units.ARKIT_NAMES
    missing = [n for n in wanted if n.lower() not in lower]
    if missing:
        raise FacelmError(f"{path}: not a Live Link Face CSV, missing column(s) {', '.join(missing[:5])}"
                          + (f" and {len(missing) - 5} more" if len(missing) > 5 else ""))
    optional = HEAD_COLUMNS + EYE_COLUMNS["Left"] + EYE_COLUMNS["Right"]
    return {n: lower[n.lower()] for n in wanted + optional if n.lower() in lower}


def read_rows(path: str) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    """Parse the CSV: ({column: values}, {why dropped: count}); times in 'time'."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise FacelmError(f"{path}: cannot read CSV ({exc})") from None
    rows = [r for r in rows if any(cell.strip() for cell in r)]
    if not rows:
        raise FacelmError(f"{path}: CSV is empty")
    header, body = rows[0], rows[1:]
    cols = _column_index(header, path)
    value_names = [n for n in cols if n != "Timecode"]
    value_idx = [cols[n] for n in value_names]
    dropped = {"truncated": 0, "unparsable": 0, "out_of_order": 0}
    secs, ticks, values = [], [], []
    for row in body:
        if len(row) < len(header):
            dropped["truncated"] += 1
            continue
        tc = parse_timecode(row[cols["Timecode"]])
        try:
            vals = np.array([row[i] for i in value_idx], dtype=np.float64)
        except ValueError:
            vals = None
        if tc is None or vals is None or not np.isfinite(vals).all():
            dropped["unparsable"] += 1
            continue
        secs.append(tc[0])
        ticks.append(tc[1])
        values.append(vals)
    if not values:
        if not body:
            raise FacelmError(f"{path}: CSV has a header but no frames")
        raise FacelmError(f"{path}: no usable frames; all {len(body)} row(s) dropped ({_counts(dropped)})")
    times, _ = timecode_seconds(np.array(secs, np.float64), np.array(ticks, np.float64))
    table = np.stack(values)
    # Keep a row only if its time moves past every kept row before it.
    keep = times > np.maximum.accumulate(np.concatenate([[-np.inf], times[:-1]]))
    dropped["out_of_order"] = int((~keep).sum())
    out = {"time": times[keep]}
    out.update({n: table[keep, j] for j, n in enumerate(value_names)})
    return out, dropped


def _counts(dropped: dict[str, int]) -> str:
    return ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in dropped.items() if v)


def load_arkit_map(path: str) -> np.ndarray:
    """(E, 52) ARKit -> expression matrix from an npz holding ``matrix``."""
    if not os.path.isfile(path):
        raise FacelmError(f"{path}: --arkit-map: no such file")
    try:
        with np.load(path, allow_pickle=False) as data:
            if "matrix" not in data.files:
                raise FacelmError(f"{path}: --arkit-map npz needs a 'matrix' array, has {', '.join(data.files) or 'none'}")
            matrix = np.asarray(data["matrix"])
    except FacelmError:
        raise
    except Exception as exc:  # any unreadable file: np.load raises many kinds
        raise FacelmError(f"{path}: --arkit-map is not a readable npz ({exc.__class__.__name__})") from None
    if matrix.dtype.kind not in "fiu" or matrix.ndim != 2 or matrix.shape[1] != 52 or matrix.shape[0] not in EXPRESSION_SIZES:
        raise FacelmError(f"{path}: --arkit-map 'matrix' must be (50, 52) or (100, 52) numbers, got {matrix.shape} {matrix.dtype}")
    if not np.isfinite(matrix).all():
        raise FacelmError(f"{path}: --arkit-map 'matrix' has NaN/inf")
    return matrix.astype(np.float64)


def _angles(cols: dict[str, np.ndarray], names: tuple[str, str, str], mode: str) -> np.ndarray:
    """(T, 3) FLAME axis-angle from yaw/pitch/roll columns (zeros when absent)."""
    n = len(cols["time"])
    yaw, pitch, roll = (cols.get(c, np.zeros(n)) for c in names)
    if mode == "camera":
        yaw, roll = -yaw, -roll
    return rotations.euler_to_axis_angle(yaw, pitch, roll)


def load(source: Source, options: ImportOptions) -> ImportResult:
    if options.fps_in is not None:
        raise FacelmError(f"{source.path}: --fps-in does not apply: Live Link Face rows carry their own Timecode")
    if options.livelink_angles not in ANGLE_MODES:
        raise FacelmError(f"--livelink-angles must be one of {', '.join(ANGLE_MODES)}, got {options.livelink_angles!r}")
    matrix = load_arkit_map(options.arkit_map) if options.arkit_map else face_units.default_arkit_to_flame()
    cols, dropped = read_rows(source.path)
    times = cols["time"]
    n_in = len(times)
    if n_in < 2:
        raise FacelmError(f"{source.path}: only {n_in} usable frame(s); need 2 to know the timing")
    # The capture rate is the typical step; skipped frames (gaps) would bias a mean.
    measured_fps = 1.0 / float(np.median(np.diff(times)))
    grid = timing.uniform_grid(times, options.fps)

    arkit = np.stack([cols[name] for name in face_units.ARKIT_NAMES], axis=1)
    arkit = timing.interpolate_linear(times, arkit, grid)
    head = _angles(cols, HEAD_COLUMNS, options.livelink_angles)
    # camera frame: 'LeftEye' is the eye on the image's left, the subject's right
    first, second = ("Right", "Left") if options.livelink_angles == "camera" else ("Left", "Right")
    eyes = np.concatenate([_angles(cols, EYE_COLUMNS[first], options.livelink_angles),
                           _angles(cols, EYE_COLUMNS[second], options.livelink_angles)], axis=1)
    neck = timing.interpolate_rotations(times, head, grid)
    eyes = timing.interpolate_rotations(times, eyes, grid)

    idx = face_units.ARKIT_INDEX
    jaw = np.zeros((len(grid), 3))
    jaw[:, 0] = face_units.JAW_DROP_RADIANS * arkit[:, idx["JawOpen"]]
    clip = MotionClip(
        expression=arkit @ matrix.T, global_pose=np.zeros((len(grid), 3)), neck_pose=neck, jaw_pose=jaw,
        eye_pose=eyes, eyelid=arkit[:, [idx["EyeBlinkLeft"], idx["EyeBlinkRight"]]], arkit=arkit,
        fps=options.fps, source=source.path)
    n_gaps, longest = timing.gaps(times)
    notes = ["rate from Timecode"]
    if any(dropped.values()):
        notes.append(f"dropped rows: {_counts(dropped)}")
    if n_gaps:
        notes.append(f"{n_gaps} gap(s) in Timecode interpolated, longest {longest:.3f} s")
    details = {"dropped": dropped, "gaps": n_gaps, "longest_gap_s": longest, "measured_fps": measured_fps}
    return ImportResult(clip, NAME, round(measured_fps, 3), n_in, notes, details)
