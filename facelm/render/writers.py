"""Frame sinks: an animated GIF streamed to disk, an H.264 MP4 through ffmpeg.

The GIF is written frame by frame with Pillow's GIF block helpers (``getheader`` /
``getdata``) instead of ``save(append_images=...)``, which holds every frame in
memory before writing: a 60 s clip is 1500 frames. Every frame shares one fixed
global palette (see palette.py) and only the rectangle that changed since the
previous frame is stored.
"""
from __future__ import annotations

import os

import numpy as np
from PIL import GifImagePlugin, Image

from facelm.errors import FacelmError
from facelm.render.palette import palette_image, to_palette

MAX_GIF_FPS = 50.0  # GIF delays are in 1/100 s; viewers slow down anything faster


class GifStream:
    """Write RGB frames at ``fps`` to an endlessly looping GIF at ``path``."""

    def __init__(self, path: str, fps: float) -> None:
        if fps > MAX_GIF_FPS:
            raise FacelmError(f"{path}: a GIF plays at most {MAX_GIF_FPS:g} fps, asked for {fps:g} (use --fps or .mp4)")
        self.path, self.fps = path, fps
        self._palette = palette_image()
        self._fh = open(path, "wb")
        self._count = 0
        self._previous: np.ndarray | None = None
        self._pending: tuple[Image.Image, tuple[int, int], int] | None = None

    def _delay_ms(self, k: int) -> int:
        """Frame k's delay in whole 1/100 s, rounding the schedule (not each delay) so
        e.g. 30 fps alternates 30/40 ms and keeps time."""
        at = lambda n: 10 * round(n * 100.0 / self.fps)  # noqa: E731
        return max(10, at(k + 1) - at(k))

    def write(self, frame: Image.Image) -> None:
        indexed = to_palette(frame.convert("RGB"), self._palette)
        pixels = np.asarray(indexed)
        delay = self._delay_ms(self._count)
        if self._previous is None:
            header, _ = GifImagePlugin.getheader(indexed, info={"loop": 0})
            self._fh.write(b"".join(header))
            self._pending = (indexed, (0, 0), delay)
        else:
            changed = np.argwhere(pixels != self._previous)
            if changed.size == 0:  # identical frame: show the previous one longer
                img, offset, held = self._pending
                self._pending = (img, offset, held + delay)
            else:
                (y0, x0), (y1, x1) = changed.min(axis=0), changed.max(axis=0) + 1
                self._flush()
                self._pending = (indexed.crop((int(x0), int(y0), int(x1), int(y1))), (int(x0), int(y0)), delay)
        self._previous = pixels
        self._count += 1

    def _flush(self) -> None:
        if self._pending is not None:
            img, offset, delay = self._pending
            # disposal 1: leave the frame in place, the next one only patches it.
            self._fh.write(b"".join(GifImagePlugin.getdata(img, offset, duration=delay, disposal=1)))
            self._pending = None

    def close(self) -> None:
        if self._fh.closed:
            return
        self._flush()
        self._fh.write(b";")  # trailer
        self._fh.close()


class Mp4Stream:
    """Write RGB frames at ``fps`` to an H.264 MP4 with imageio-ffmpeg's bundled ffmpeg,
    with ``audio`` (a sound file, from ``audio_start`` seconds) as its AAC soundtrack."""

    def __init__(self, path: str, fps: float, size: tuple[int, int], audio: str | None = None,
                 audio_start: float = 0.0) -> None:
        try:
            import imageio_ffmpeg
        except ImportError:
            raise FacelmError(f"{path}: writing .mp4 needs the imageio-ffmpeg package (pip install imageio-ffmpeg)") from None
        if size[0] % 16 or size[1] % 16:
            raise FacelmError(f"{path}: frame size {size} must be a multiple of 16 for H.264")
        self.path = path
        sound: dict = {}
        if audio:
            # The audio input takes no options of its own here: trim it with a filter, and
            # end with the video.
            trim = f"atrim=start={audio_start:.3f},asetpts=PTS-STARTPTS"
            sound = dict(audio_path=audio, audio_codec="aac", output_params=["-af", trim, "-shortest"])
        self._gen = imageio_ffmpeg.write_frames(
            path, size, fps=fps, codec="libx264", quality=7, pix_fmt_in="rgb24", pix_fmt_out="yuv420p",
            macro_block_size=16, ffmpeg_log_level="error", **sound)
        self._gen.send(None)

    def write(self, frame: Image.Image) -> None:
        try:
            self._gen.send(np.ascontiguousarray(np.asarray(frame.convert("RGB"))))
        except (OSError, RuntimeError) as exc:
            raise FacelmError(f"{self.path}: ffmpeg failed ({exc})") from None

    def close(self) -> None:
        try:
            self._gen.close()
        except (OSError, RuntimeError) as exc:
            raise FacelmError(f"{self.path}: ffmpeg failed ({exc})") from None


def open_stream(path: str, fps: float, size: tuple[int, int], audio: str | None = None,
                audio_start: float = 0.0):
    """A GIF or MP4 sink by the suffix of ``path`` (only an MP4 carries ``audio``)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    if path.lower().endswith(".gif"):
        return GifStream(path, fps)
    return Mp4Stream(path, fps, size, audio, audio_start)
