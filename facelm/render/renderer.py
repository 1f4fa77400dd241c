"""Compose face and curves into frames and write them as GIF, MP4 or a PNG contact sheet."""
from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from facelm.clip import MotionClip
from facelm.errors import FacelmError
from facelm.render import palette as pal
from facelm.render.curves import CurvePanel, default_strips, font
from facelm.render.flame_model import FlameModel
from facelm.render.drive import face_drive
from facelm.render.flame_view import FlameFace
from facelm.render.schematic import SchematicFace
from facelm.render.writers import open_stream

SUFFIXES = (".gif", ".mp4", ".png")
SHEET_COLUMNS = 4


@dataclass
class RenderOptions:
    size: int = 256               # face panel side in pixels (rounded to a multiple of 16)
    fps: float | None = None      # output frame rate; None: the clip's own
    start: float = 0.0            # seconds into the clip
    seconds: float | None = None  # length to render; None: to the end
    curves: bool = True           # curves panel beside (video) / below (sheet) the face
    sheet_frames: int = 8         # frames on a PNG contact sheet
    audio: bool = True            # an MP4 carries the clip's audio_path when that file exists


@dataclass
class RenderResult:
    path: str
    frames: int
    size: tuple[int, int]
    seconds: float  # wall time spent


def _round16(x: float) -> int:
    return max(64, int(round(x / 16.0)) * 16)


def select_range(clip: MotionClip, start: float, seconds: float | None) -> tuple[MotionClip, float]:
    """Frames from ``start`` s for ``seconds`` s; returns the cut and its first frame's time."""
    if not np.isfinite(start) or start < 0:
        raise FacelmError(f"--start must be >= 0 seconds, got {start}")
    if seconds is not None and (not np.isfinite(seconds) or seconds <= 0):
        raise FacelmError(f"--seconds must be > 0, got {seconds}")
    first = int(round(start * clip.fps))
    if first >= clip.num_frames:
        raise FacelmError(f"{clip.source}: --start {start:g} s is past the clip's end ({clip.duration:.2f} s)")
    stop = clip.num_frames if seconds is None else min(clip.num_frames, first + max(1, int(round(seconds * clip.fps))))
    return clip.frames(first, stop), first / clip.fps


class FrameComposer:
    """Frame ``i`` = the face (schematic, or a FLAME mesh when ``model`` is given) beside curves."""

    def __init__(self, clip: MotionClip, size: int = 256, curves: bool = True,
                 model: FlameModel | None = None, t0: float = 0.0) -> None:
        self.clip = clip
        self.size = _round16(size)
        self.t0 = t0
        self.drive = face_drive(clip)
        if model is not None:
            self.face_view = FlameFace(model, clip, self.drive, self.size)
        else:
            self.face_view = SchematicFace(self.drive, self.size)
        self.times = t0 + np.arange(clip.num_frames) / clip.fps
        head_is_neck = not np.any(clip.global_pose)
        self._strips = default_strips(self.drive, head_is_neck) if curves else None
        self.curves = (CurvePanel(self._strips, self.times, _round16(1.5 * self.size), self.size)
                       if curves else None)
        self._font_px = max(8, self.size // 20)
        self._font = font(self._font_px)
        # Say so when the schematic cannot show the expression (real FLAME coefficients).
        self._note = "" if model is not None or self.drive.action_known else "expression: curves only"

    @property
    def num_frames(self) -> int:
        return self.clip.num_frames

    @property
    def frame_size(self) -> tuple[int, int]:
        return (self.size + (self.curves.width if self.curves else 0), self.size)

    def face(self, i: int, label: str | None = None) -> Image.Image:
        img = self.face_view.draw(i)
        text = f"{self.times[i]:.2f} s" if label is None else label
        d = ImageDraw.Draw(img)
        d.text((4, 3), text, fill=pal.TEXT, font=self._font)
        if self._note:
            d.text((4, self.size - self._font_px - 6), self._note, fill=pal.TEXT_DIM, font=self._font)
        return img

    def frame(self, i: int) -> Image.Image:
        face = self.face(i)
        if self.curves is None:
            return face
        out = Image.new("RGB", self.frame_size, pal.BACKGROUND)
        out.paste(face, (0, 0))
        out.paste(self.curves.draw(i), (self.size, 0))
        return out

    def sheet(self, count: int = 8) -> Image.Image:
        """Contact sheet: ``count`` frames spread over the clip, curves with numbered markers below."""
        n = max(1, min(count, self.num_frames))
        # The middle of n equal spans: covers the clip without spending panels on its two ends.
        picks = np.unique(((np.arange(n) + 0.5) * self.num_frames / n).astype(int))
        cols = min(SHEET_COLUMNS, len(picks))
        rows = math.ceil(len(picks) / cols)
        s = self.size
        height = rows * s + (s if self._strips else 0)
        sheet = Image.new("RGB", (cols * s, height), pal.BACKGROUND)
        for k, i in enumerate(picks):
            sheet.paste(self.face(int(i), f"{k + 1}  {self.times[i]:.2f} s"), ((k % cols) * s, (k // cols) * s))
        if self._strips:
            panel = CurvePanel(self._strips, self.times, cols * s, s)
            img = panel.blank()
            d = ImageDraw.Draw(img)
            for k, i in enumerate(picks):
                panel.mark(d, int(i), pal.CURSOR, str(k + 1))
            sheet.paste(img, (0, rows * s))
        return sheet


def render_clip(clip: MotionClip, out_path: str | os.PathLike, options: RenderOptions | None = None,
                model: FlameModel | None = None) -> RenderResult:
    """Render ``clip`` to ``out_path`` (.gif, .mp4 or .png) with ``options``."""
    options = options or RenderOptions()
    out_path = os.fspath(out_path)
    suffix = os.path.splitext(out_path)[1].lower()
    if suffix not in SUFFIXES:
        raise FacelmError(f"{out_path}: unsupported output type '{suffix or '(none)'}'; use .gif, .mp4 or .png")
    began = time.perf_counter()
    part, t0 = select_range(clip, options.start, options.seconds)
    if options.fps is not None:
        if not np.isfinite(options.fps) or options.fps <= 0:
            raise FacelmError(f"--fps must be > 0, got {options.fps}")
        if suffix != ".png":
            part = part.resample(options.fps)
    composer = FrameComposer(part, options.size, options.curves, model=model, t0=t0)
    if suffix == ".png":
        img = composer.sheet(options.sheet_frames)
        os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
        img.save(out_path, optimize=False)
        return RenderResult(out_path, composer.num_frames, img.size, time.perf_counter() - began)
    audio = clip.audio_path if options.audio and clip.audio_path and os.path.isfile(clip.audio_path) else None
    stream = open_stream(out_path, part.fps, composer.frame_size, audio=audio, audio_start=t0)
    try:
        for i in range(composer.num_frames):
            stream.write(composer.frame(i))
    finally:
        stream.close()
    return RenderResult(out_path, composer.num_frames, composer.frame_size, time.perf_counter() - began)


def render_file(in_path: str | os.PathLike, out_path: str | os.PathLike, options: RenderOptions | None = None,
                flame_path: str | os.PathLike | None = None) -> RenderResult:
    """Load a clip (and a FLAME model, if given) and render it."""
    out = os.fspath(out_path)
    if os.path.splitext(out)[1].lower() not in SUFFIXES:  # fail before any loading
        raise FacelmError(f"{out}: unsupported output type; use .gif, .mp4 or .png")
    clip = MotionClip.load(in_path)
    model = None
    if flame_path is not None:
        model = FlameModel.load(flame_path)
    return render_clip(clip, out, options, model=model)
