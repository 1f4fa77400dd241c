"""BEAT2 / EMAGE npz: SMPL-X body motion with a FLAME face, 30 fps.

``poses`` (T, 165) is 55 SMPL-X joints x 3 axis-angle, each relative to its parent;
``expressions`` (T, 100) are FLAME expression coefficients; ``mocap_frame_rate``
the rate (30 when absent). SMPL-X and FLAME share axes (x to the subject's left,
y up, z out of the face), so joint rotations carry over without sign changes.

Conventions chosen:
- FLAME has one neck joint above its root, SMPL-X has two (neck 12, head 15).
  ``neck_pose = R_neck o R_head``: the head's rotation relative to the torso
  (spine3), which is what a head-only avatar should show. Joint 12 alone would
  miss joint 15's share: on the sample clip the composed yaw varies with a std of
  0.127 rad against 0.075 rad for joint 12 alone.
- ``global_pose`` is zero. The body root (pelvis) and spine carry the speaker's
  stance and where they face in the capture room, not head motion; a face avatar
  has no torso to put them on; the head's motion relative to the torso is all in
  ``neck_pose``.
- jaw = joint 22, eyes = joints 23 (left), 24 (right). Expressions keep all 100
  coefficients: BEAT2 puts much of the face in 50..99.
"""
from __future__ import annotations

import numpy as np

from facelm import rotations
from facelm.clip import MotionClip
from facelm.errors import FacelmError
from facelm.importers.common import (ImportOptions, ImportResult, Source, finish, frames, same_length,
                                     sibling_audio, source_rate)

NAME = "beat2"
DESCRIPTION = "BEAT2/EMAGE npz: SMPL-X poses (T, 165), FLAME expressions (T, 100), mocap_frame_rate"
FPS = 30.0
NUM_JOINTS = 55
NECK, HEAD, JAW, LEFT_EYE, RIGHT_EYE = 12, 15, 22, 23, 24


def matches(source: Source) -> bool:
    return source.kind == "npz" and {"poses", "expressions"} <= source.zip_members()


def _stored_rate(data: dict, source: str) -> float | None:
    for key in ("mocap_frame_rate", "mocap_framerate"):
        if key in data:
            try:
                return float(np.asarray(data[key]).reshape(()))
            except (TypeError, ValueError):
                raise FacelmError(f"{source}: '{key}' must be one number, got {data[key]!r}") from None
    return None


def load(source: Source, options: ImportOptions) -> ImportResult:
    data = source.npz
    missing = [k for k in ("poses", "expressions") if k not in data]
    if missing:
        raise FacelmError(f"{source.path}: missing {', '.join(missing)} (not a BEAT2 npz)")
    poses = frames("poses", data["poses"], NUM_JOINTS * 3, source.path).reshape(-1, NUM_JOINTS, 3)
    expression = frames("expressions", data["expressions"], (50, 100), source.path)
    n = same_length(source.path, poses=poses, expressions=expression)
    neck = rotations.compose_axis_angle(poses[:, NECK], poses[:, HEAD])
    eyes = np.concatenate([poses[:, LEFT_EYE], poses[:, RIGHT_EYE]], axis=1)
    stored = _stored_rate(data, source.path)
    fps = source_rate(options, FPS, stored)
    clip = MotionClip(
        expression=expression, global_pose=np.zeros((n, 3)), neck_pose=neck, jaw_pose=poses[:, JAW],
        eye_pose=eyes, fps=fps, audio_path=sibling_audio(source), source=source.path)
    notes = [] if stored is not None or options.fps_in is not None else [f"no mocap_frame_rate: assumed {FPS:g} fps"]
    return finish(clip, NAME, fps, options, notes)
