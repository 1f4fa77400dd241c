"""MMHead: one pickle per clip, 56 FLAME values a frame, 25 fps, text annotations.

A frame is 50 expression coefficients, 3 neck rotation, 3 jaw rotation (axis-angle),
in that order. The array may be pickled on its own or inside a dict (the one
(T, 56) array in it is used). MMHead has no global rotation and no eye pose: both
import as zero. Its text lives in ``text_annotations/<category>/<clip>.txt`` beside
or above the motion folder; the categories found go to ``clip.text`` by name.
"""
from __future__ import annotations

import os
from typing import Any

import numpy as np

from facelm.clip import MotionClip
from facelm.errors import FacelmError
from facelm.importers.common import ImportOptions, ImportResult, Source, finish, frames, sibling_audio, source_rate

NAME = "mmhead"
DESCRIPTION = "MMHead pickle: (T, 56) = 50 expression | 3 neck | 3 jaw, 25 fps, text_annotations/"
FPS = 25.0
WIDTH = 56
TEXT_CATEGORIES = ("action", "emotion", "detail_expression", "detail_head_pose", "emotion_scenario")


def _motion_array(obj: Any) -> Any | None:
    """The (T, 56) array in a pickled object, or None when there is not exactly one."""
    if isinstance(obj, dict):
        found = [v for v in obj.values() if _is_motion(v)]
        return found[0] if len(found) == 1 else None
    return obj if _is_motion(obj) else None


def _is_motion(value: Any) -> bool:
    if isinstance(value, list) and value and all(np.ndim(v) == 1 for v in value[:3]):
        value = np.asarray(value[:3])  # a list of per-frame vectors: check the first few
    return isinstance(value, np.ndarray) and value.ndim == 2 and value.shape[1] == WIDTH


def matches(source: Source) -> bool:
    if source.kind == "pickle":
        return _motion_array(source.pickle) is not None
    if source.kind == "npy":
        return _is_motion(source.npy)
    return False


def find_text(source: Source, text_root: str | None = None) -> dict[str, str]:
    """Annotations for the clip: from ``text_root`` or the nearest ancestor holding them."""
    if text_root is not None:
        roots = [text_root, os.path.join(text_root, "text_annotations")]
        if not os.path.isdir(text_root):
            raise FacelmError(f"{text_root}: --text-root is not a folder")
    else:
        roots, folder = [], os.path.dirname(os.path.abspath(source.path))
        while True:
            roots.append(os.path.join(folder, "text_annotations"))
            parent = os.path.dirname(folder)
            if parent == folder:
                break
            folder = parent
    for root in roots:
        text = {}
        for category in TEXT_CATEGORIES:
            path = os.path.join(root, category, source.stem + ".txt")
            if os.path.isfile(path):
                try:
                    with open(path, encoding="utf-8") as f:
                        text[category] = f.read().strip()
                except (OSError, UnicodeDecodeError) as exc:
                    raise FacelmError(f"{path}: cannot read annotation ({exc})") from None
        if text:
            return text
    return {}


def load(source: Source, options: ImportOptions) -> ImportResult:
    obj = source.npy if source.kind == "npy" else source.pickle
    arr = _motion_array(obj)
    if arr is None:
        what = f"a dict with keys {sorted(map(str, obj))[:8]}" if isinstance(obj, dict) else type(obj).__name__
        shape = f" of shape {obj.shape}" if isinstance(obj, np.ndarray) else ""
        raise FacelmError(f"{source.path}: MMHead motion must be one (T, {WIDTH}) array, found {what}{shape}")
    motion = frames("motion", arr, WIDTH, source.path)
    n = motion.shape[0]
    fps = source_rate(options, FPS)
    text = find_text(source, options.text_root)
    notes = [f"no annotations for {source.stem} under {options.text_root}"] if options.text_root and not text else []
    clip = MotionClip(
        expression=motion[:, :50], global_pose=np.zeros((n, 3)), neck_pose=motion[:, 50:53],
        jaw_pose=motion[:, 53:56], eye_pose=np.zeros((n, 6)), fps=fps,
        text=text, audio_path=sibling_audio(source), source=source.path)
    return finish(clip, NAME, fps, options, notes)
