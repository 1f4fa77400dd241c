"""facelm's own clip npz: already the contract, so load, validate, resample."""
from __future__ import annotations

from dataclasses import replace

from facelm.clip import REQUIRED_KEYS, MotionClip
from facelm.importers.common import ImportOptions, ImportResult, Source, finish, source_rate

NAME = "facelm"
DESCRIPTION = "facelm clip .npz (the contract: expression, global/neck/jaw/eye poses, fps)"


def matches(source: Source) -> bool:
    return source.kind == "npz" and set(REQUIRED_KEYS) <= source.zip_members()


def load(source: Source, options: ImportOptions) -> ImportResult:
    clip = MotionClip.from_mapping(source.npz, source=source.path)
    fps = source_rate(options, default=clip.fps, stored=clip.fps)  # --fps-in relabels the clip
    if fps != clip.fps:
        clip = replace(clip, fps=fps)
    return finish(clip, NAME, fps, options)
