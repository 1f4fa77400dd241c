"""DiffPoseTalk npz: FLAME coefficients ``exp`` (T, 50) and ``pose`` (T, 6), 25 fps.

DiffPoseTalk feeds ``pose`` straight to FLAME as its 6-value pose: columns 0..2 the
global (head) rotation, which its dataset scripts overwrite with a 6DRepNet head
pose, and columns 3..5 the jaw; its model drops the jaw's y/z as unused. ``shape``
(identity) is ignored. As for trackers (see tdmm.py), the head rotation goes to
``neck_pose`` and ``global_pose`` stays zero. No rate is stored: 25 fps (its
``coef_fps``) unless ``--fps-in`` says otherwise.
"""
from __future__ import annotations

import numpy as np

from facelm.clip import EXPRESSION_SIZES, MotionClip
from facelm.errors import FacelmError
from facelm.importers.common import (ImportOptions, ImportResult, Source, finish, frames, same_length,
                                     sibling_audio, source_rate)

NAME = "diffposetalk"
DESCRIPTION = "DiffPoseTalk npz: exp (T, 50), pose (T, 6) = head 3 | jaw 3, 25 fps"
FPS = 25.0


def matches(source: Source) -> bool:
    return source.kind == "npz" and {"exp", "pose"} <= source.zip_members()


def load(source: Source, options: ImportOptions) -> ImportResult:
    data = source.npz
    missing = [k for k in ("exp", "pose") if k not in data]
    if missing:
        raise FacelmError(f"{source.path}: missing {', '.join(missing)} (not a DiffPoseTalk npz)")
    expression = frames("exp", data["exp"], EXPRESSION_SIZES, source.path)
    pose = np.asarray(data["pose"])
    if pose.ndim == 2 and pose.shape[1] != 6:
        raise FacelmError(
            f"{source.path}: 'pose' must be (T, 6) = head rotation 3 + jaw 3 as DiffPoseTalk writes it, "
            f"got {pose.shape}")
    pose = frames("pose", pose, 6, source.path)
    n = same_length(source.path, exp=expression, pose=pose)
    fps = source_rate(options, FPS)
    clip = MotionClip(
        expression=expression, global_pose=np.zeros((n, 3)), neck_pose=pose[:, :3], jaw_pose=pose[:, 3:],
        eye_pose=np.zeros((n, 6)), fps=fps, audio_path=sibling_audio(source), source=source.path)
    return finish(clip, NAME, fps, options)
