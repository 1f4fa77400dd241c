"""Shared pieces of the importers: the input file, options, result, array checks.

Every importer is a module with ``NAME``, ``DESCRIPTION``, ``matches(source)``
(does this content look like my layout?) and ``load(source, options)`` returning an
``ImportResult`` whose clip is already at ``options.fps``.
"""
from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from facelm.clip import DEFAULT_FPS, MotionClip
from facelm.errors import FacelmError
from facelm.importers import safe_pickle

_ZIP_MAGIC = b"PK\x03\x04"
_NPY_MAGIC = b"\x93NUMPY"


@dataclass
class ImportOptions:
    """What the user can steer. ``fps_in`` is for layouts that do not store their rate."""

    fps: float = DEFAULT_FPS
    fps_in: float | None = None
    arkit_map: str | None = None  # npz with an (E, 52) 'matrix'
    text_root: str | None = None  # MMHead text_annotations folder (or its parent)
    livelink_angles: str = "camera"  # how Live Link Face's yaw/pitch/roll read; see livelink.py


@dataclass
class ImportResult:
    """The imported clip plus facts about the input worth telling the user."""

    clip: MotionClip
    format: str
    source_fps: float
    frames_in: int
    notes: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)  # format-specific counts (dropped rows...)

    def summary(self, out_path: str) -> str:
        c = self.clip
        line = (f"wrote {out_path}: {self.format}, {self.frames_in} frames at {self.source_fps:g} fps"
                f" -> {c.num_frames} frames at {c.fps:g} fps ({c.duration:.2f} s), "
                f"expression {c.num_expression}")
        extras = [k for k in ("eyelid", "arkit") if getattr(c, k) is not None]
        if c.text:
            extras.append("text: " + "/".join(sorted(c.text)))
        if extras:
            line += ", with " + ", ".join(extras)
        return "; ".join([line] + self.notes)


class Source:
    """One input file, read lazily in the form its first bytes announce."""

    def __init__(self, path: str | os.PathLike):
        self.path = os.fspath(path)
        if not os.path.exists(self.path):
            raise FacelmError(f"{self.path}: no such file")
        if not os.path.isfile(self.path):
            raise FacelmError(f"{self.path}: not a file")
        try:
            with open(self.path, "rb") as f:
                self.head = f.read(4096)
        except OSError as exc:
            raise FacelmError(f"{self.path}: cannot read ({exc.strerror})") from None

    @property
    def stem(self) -> str:
        return os.path.splitext(os.path.basename(self.path))[0]

    @property
    def kind(self) -> str:
        """'npz', 'npy', 'pickle', 'text' or 'unknown', from the content."""
        h = self.head
        if h.startswith(_ZIP_MAGIC):
            return "npz"
        if h.startswith(_NPY_MAGIC):
            return "npy"
        if len(h) >= 2 and h[0] == 0x80 and 2 <= h[1] <= 5:
            return "pickle"
        if h[:1] in (b"(", b"]", b"}") and self.path.lower().endswith((".pkl", ".pickle")):
            return "pickle"  # protocol 0/1 pickle: no magic, so the name must agree
        if h and b"\x00" not in h:
            try:
                h.decode("utf-8")
            except UnicodeDecodeError as exc:
                if exc.start < len(h) - 4:  # a multibyte char cut at the 4 KiB edge is fine
                    return "unknown"
            return "text"
        return "unknown"

    def _require(self, kind: str) -> None:
        # A forced --format on the wrong kind of file: say what the file is.
        if self.kind != kind and not (kind == "pickle" and self.kind == "text"):
            raise FacelmError(f"{self.path}: expected {kind} content, but the file looks like {self.kind}")

    @cached_property
    def npz(self) -> dict[str, np.ndarray]:
        """All arrays of an npz (no pickled objects allowed)."""
        self._require("npz")
        try:
            with np.load(self.path, allow_pickle=False) as data:
                return {k: data[k] for k in data.files}
        except ValueError as exc:
            if "allow_pickle" in str(exc):
                raise FacelmError(f"{self.path}: npz holds pickled objects, which are not loaded") from None
            raise FacelmError(f"{self.path}: not a readable .npz ({exc})") from None
        except (zipfile.BadZipFile, EOFError, OSError, KeyError) as exc:
            raise FacelmError(f"{self.path}: not a readable .npz ({exc.__class__.__name__}: {exc})") from None

    @cached_property
    def npy(self) -> np.ndarray:
        self._require("npy")
        try:
            return np.load(self.path, allow_pickle=False)
        except (ValueError, EOFError, OSError) as exc:
            raise FacelmError(f"{self.path}: not a readable .npy ({exc})") from None

    @cached_property
    def pickle(self) -> Any:
        self._require("pickle")
        return safe_pickle.load(self.path)

    @cached_property
    def first_line(self) -> str:
        return self.head.split(b"\n", 1)[0].decode("utf-8", "replace").strip().lstrip("\ufeff")

    def zip_members(self) -> set[str]:
        """Array names in an npz without reading the arrays (cheap detection)."""
        try:
            with zipfile.ZipFile(self.path) as z:
                return {n[:-4] for n in z.namelist() if n.endswith(".npy")}
        except (zipfile.BadZipFile, OSError):
            return set()


def frames(name: str, value: Any, widths: int | tuple[int, ...], source: str) -> np.ndarray:
    """A per-frame array as float64 (T, w): numeric, finite, of an allowed width."""
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError):
        raise FacelmError(f"{source}: '{name}' is not an array (ragged or mixed values)") from None
    if arr.dtype.kind not in "fiub":
        raise FacelmError(f"{source}: '{name}' must be numeric, got dtype {arr.dtype}")
    widths = (widths,) if isinstance(widths, int) else widths
    if arr.ndim == 3 and arr.shape[1] == 1:  # (T, 1, k) as trackers often batch
        arr = arr[:, 0]
    if arr.ndim != 2 or arr.shape[1] not in widths:
        want = " or ".join(f"(T, {w})" for w in widths)
        raise FacelmError(f"{source}: '{name}' must have shape {want}, got {arr.shape}")
    if arr.shape[0] < 1:
        raise FacelmError(f"{source}: '{name}' has no frames")
    finite = np.isfinite(arr).all(axis=1)
    if not finite.all():
        bad = np.flatnonzero(~finite)
        raise FacelmError(f"{source}: '{name}' has NaN/inf in {bad.size} frame(s), first at frame {bad[0]}")
    return arr.astype(np.float64)


def same_length(source: str, **arrays: np.ndarray) -> int:
    """The common frame count of ``arrays``; a mismatch is the file's fault."""
    lengths = {k: v.shape[0] for k, v in arrays.items()}
    if len(set(lengths.values())) != 1:
        parts = ", ".join(f"'{k}' {n}" for k, n in lengths.items())
        raise FacelmError(f"{source}: arrays disagree on the frame count ({parts})")
    return next(iter(lengths.values()))


def source_rate(options: ImportOptions, default: float, stored: float | None = None) -> float:
    """Input frame rate: the user's --fps-in, else the file's own, else the layout's default."""
    fps = options.fps_in if options.fps_in is not None else (stored if stored is not None else default)
    if not np.isfinite(fps) or fps <= 0:
        raise FacelmError(f"input frame rate must be a number > 0, got {fps}")
    return float(fps)


def sibling_audio(source: Source) -> str | None:
    """A wav with the clip's name beside it (BEAT2, MMHead's audio/ folder)."""
    folder = os.path.dirname(os.path.abspath(source.path))
    for candidate in (os.path.join(folder, source.stem + ".wav"),
                      os.path.join(folder, "audio", source.stem + ".wav"),
                      os.path.join(os.path.dirname(folder), "audio", source.stem + ".wav")):
        if os.path.isfile(candidate):
            return candidate
    return None


def finish(clip: MotionClip, fmt: str, source_fps: float, options: ImportOptions,
           notes: list[str] | None = None) -> ImportResult:
    """Resample a clip built at its source rate to the requested rate."""
    frames_in = clip.num_frames
    return ImportResult(clip.resample(options.fps), fmt, source_fps, frames_in, notes or [])
