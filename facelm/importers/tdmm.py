"""TDMM-LM / SMIRK tracking pickles: per-frame FLAME fits of a monocular video.

Fields a frame: ``expression`` (50), ``pose`` (3, FLAME's global rotation),
``eyelid`` (2), ``jaw`` (3), ``identity`` (shape) and ``camera_pose``. SMIRK's own
names (``expression_params``, ``pose_params``, ``jaw_params``, ``eyelid_params``,
``shape_params``, ``cam``) are read too. The pickle may be a dict of (T, k) arrays,
a list of per-frame dicts, or a dict of per-frame dicts keyed by frame.

Conventions chosen:
- A face tracker has no torso: its global rotation *is* the head's rotation
  relative to the camera. facelm reads head motion from ``neck_pose`` (MMHead's
  head-pose table is defined on the neck), so ``pose`` goes to ``neck_pose`` and
  ``global_pose`` stays zero. ``clip.head_rotation()`` is the same either way.
- ``identity`` and ``camera_pose`` describe the person and the view, not motion:
  they are dropped. Eyes are not tracked: ``eye_pose`` is zero.
- The files store no frame rate: 25 fps is assumed (TDMM-LM's rate) unless
  ``--fps-in`` says otherwise.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from facelm.clip import EXPRESSION_SIZES, MotionClip
from facelm.errors import FacelmError
from facelm.importers.common import (ImportOptions, ImportResult, Source, finish, frames, same_length,
                                     sibling_audio, source_rate)

NAME = "tdmm"
DESCRIPTION = "TDMM-LM / SMIRK tracking pickle: per-frame expression, pose, jaw, eyelid (25 fps assumed)"
FPS = 25.0
# field -> accepted key names, in preference order
FIELDS = {
    "expression": ("expression", "expression_params", "exp"),
    "pose": ("pose", "pose_params", "global_pose"),
    "jaw": ("jaw", "jaw_params", "jaw_pose"),
    "eyelid": ("eyelid", "eyelid_params", "eyelids"),
}
REQUIRED = ("expression", "pose", "jaw")


def _key(mapping: dict, field: str) -> str | None:
    return next((k for k in FIELDS[field] if k in mapping), None)


def _frame_order(keys: list) -> list:
    """Frame keys in time order: numerically when they are numbers, else as stored."""
    try:
        return sorted(keys, key=lambda k: int(str(k).rsplit(".", 1)[0].split("_")[-1]))
    except ValueError:
        return keys


def _per_frame_dicts(obj: Any) -> list[dict] | None:
    if isinstance(obj, (list, tuple)) and obj and all(isinstance(f, dict) for f in obj):
        return list(obj)
    if isinstance(obj, dict) and obj and all(isinstance(f, dict) for f in obj.values()):
        return [obj[k] for k in _frame_order(list(obj))]
    return None


def _fields(obj: Any, source: str) -> dict[str, Any] | None:
    """{field: (T, k)-like} from any of the accepted layouts, None if it is not this layout."""
    per_frame = _per_frame_dicts(obj)
    if per_frame is not None:
        first = per_frame[0]
        if any(_key(first, f) is None for f in REQUIRED):
            return None
        out = {}
        for field in FIELDS:
            key = _key(first, field)
            if key is None:
                continue
            rows = []
            for i, frame in enumerate(per_frame):
                if key not in frame:
                    raise FacelmError(f"{source}: frame {i} has no '{key}'")
                rows.append(np.asarray(frame[key]).reshape(-1))
            if len({r.shape for r in rows}) != 1:
                raise FacelmError(f"{source}: '{key}' changes size between frames")
            out[field] = np.stack(rows)
        return out
    if isinstance(obj, dict) and all(_key(obj, f) is not None for f in REQUIRED):
        return {f: obj[_key(obj, f)] for f in FIELDS if _key(obj, f) is not None}
    return None


def matches(source: Source) -> bool:
    return source.kind == "pickle" and _fields(source.pickle, source.path) is not None


def load(source: Source, options: ImportOptions) -> ImportResult:
    fields = _fields(source.pickle, source.path)
    if fields is None:
        raise FacelmError(
            f"{source.path}: not a TDMM-LM/SMIRK tracking pickle (needs per-frame "
            f"'expression', 'pose', 'jaw'; got {type(source.pickle).__name__})")
    expression = frames("expression", fields["expression"], EXPRESSION_SIZES, source.path)
    pose = frames("pose", fields["pose"], 3, source.path)
    jaw = frames("jaw", fields["jaw"], 3, source.path)
    arrays = dict(expression=expression, pose=pose, jaw=jaw)
    eyelid = None
    if "eyelid" in fields:
        eyelid = arrays["eyelid"] = frames("eyelid", fields["eyelid"], 2, source.path)
    n = same_length(source.path, **arrays)
    fps = source_rate(options, FPS)
    clip = MotionClip(
        expression=expression, global_pose=np.zeros((n, 3)), neck_pose=pose, jaw_pose=jaw,
        eye_pose=np.zeros((n, 6)), eyelid=eyelid, fps=fps, audio_path=sibling_audio(source),
        source=source.path)
    notes = [] if options.fps_in is not None else [f"no rate stored: assumed {FPS:g} fps (--fps-in to change)"]
    return finish(clip, NAME, fps, options, notes)
