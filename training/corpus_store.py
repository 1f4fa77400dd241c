"""The corpus on disk: sharded npz files of concatenated frames, a manifest, a reader.

Layout of a corpus folder::

    manifest.json           version, seed, fps, counts, hours, splits, shard list with sha256
    shards/shard-00000.npz  one shard: every clip's frames end to end
    stats.json, *.png       statistics (training.corpus_stats)

A shard holds, as ``.npy`` members of one zip: the per-frame arrays of
``FEATURES`` (float32, frames of all its clips concatenated), ``offsets``
(clips + 1, int64: clip i is rows offsets[i]:offsets[i+1]), ``split`` (uint8 per
clip, codes of ``SPLITS``), ``meta`` (UTF-8 bytes: one JSON object per clip —
clip_id, split, identity, category, duration, spec, labels, text) and
``meta_offsets`` (clips + 1, int64 byte ranges), so one clip's metadata is
parsed without parsing the shard's.

Shards are written uncompressed by default so the reader can memory-map each
array straight out of the zip (nothing is read until a clip is touched), with
fixed zip timestamps so the same seed gives byte-identical shards and hashes.
Compressed shards (``compress=True``) are read whole, one cached shard at a time.
"""
from __future__ import annotations

import hashlib
import json
import os
import struct
import zipfile
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from facelm.clip import MotionClip
from facelm.errors import FacelmError

STORE_FORMAT = "facelm-corpus"
STORE_VERSION = 1
MANIFEST = "manifest.json"
SHARD_DIR = "shards"
FEATURES: dict[str, int] = {
    "expression": 50, "global_pose": 3, "neck_pose": 3, "jaw_pose": 3, "eye_pose": 6, "eyelid": 2, "arkit": 52}
SPLITS: tuple[str, ...] = ("train", "val", "test")
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def shard_name(index: int) -> str:
    return f"{SHARD_DIR}/shard-{index:05d}.npz"


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


# -- writing --------------------------------------------------------------------------

def write_shard(path: str | os.PathLike, arrays: dict[str, np.ndarray], offsets: np.ndarray,
                meta: list[dict[str, Any]], compress: bool = False) -> dict[str, Any]:
    """Write one shard atomically; returns {file size, sha256, clips, frames}."""
    path = Path(path)
    n = len(meta)
    offsets = np.asarray(offsets, np.int64)
    if offsets.shape != (n + 1,) or offsets[0] != 0 or np.any(np.diff(offsets) < 1):
        raise FacelmError(f"{path}: offsets must start at 0 and rise by >= 1 frame per clip ({n} clips)")
    frames = int(offsets[-1])
    members: dict[str, np.ndarray] = {}
    for key, width in FEATURES.items():
        arr = np.ascontiguousarray(arrays[key], dtype=np.float32)
        if arr.shape != (frames, width):
            raise FacelmError(f"{path}: '{key}' must have shape ({frames}, {width}), got {arr.shape}")
        members[key] = arr
    members["offsets"] = offsets
    try:
        members["split"] = np.array([SPLITS.index(m["split"]) for m in meta], np.uint8)
    except (KeyError, ValueError):
        raise FacelmError(f"{path}: every clip's meta needs a 'split' in {SPLITS}") from None
    blobs = [json.dumps(m, ensure_ascii=False, separators=(",", ":")).encode() for m in meta]
    members["meta"] = np.frombuffer(b"".join(blobs), np.uint8)
    members["meta_offsets"] = np.concatenate([[0], np.cumsum([len(b) for b in blobs])]).astype(np.int64)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with zipfile.ZipFile(tmp, "w", compression=method, allowZip64=True) as zf:
        for name, arr in members.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_TIME)
            info.compress_type = method
            info.external_attr = 0o644 << 16
            with zf.open(info, "w", force_zip64=True) as f:
                np.lib.format.write_array(f, arr, allow_pickle=False)
    os.replace(tmp, path)
    return {"bytes": path.stat().st_size, "sha256": sha256_file(path), "clips": n, "frames": frames}


def write_manifest(root: str | os.PathLike, manifest: dict[str, Any]) -> None:
    root = Path(root)
    tmp = root / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")
    os.replace(tmp, root / MANIFEST)


# -- reading ---------------------------------------------------------------------------

def _stored_members(path: Path, zf: zipfile.ZipFile) -> dict[str, tuple[int, tuple, bool, np.dtype]]:
    """name -> (data offset, shape, fortran order, dtype) of every uncompressed .npy member."""
    out = {}
    with open(path, "rb") as f:
        for info in zf.infolist():
            if info.compress_type != zipfile.ZIP_STORED or not info.filename.endswith(".npy"):
                continue
            f.seek(info.header_offset)
            local = f.read(30)
            if local[:4] != b"PK\x03\x04":
                raise FacelmError(f"{path}: broken zip member {info.filename}")
            name_len, extra_len = struct.unpack("<HH", local[26:30])
            f.seek(info.header_offset + 30 + name_len + extra_len)
            version = np.lib.format.read_magic(f)
            read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, fortran, dtype = read(f)
            out[info.filename[:-4]] = (f.tell(), shape, fortran, dtype)
    return out


class Shard:
    """One shard file: arrays are views of one read-only memory map of the file (loaded when
    compressed); clip metadata is parsed per clip on demand.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise FacelmError(f"{self.path}: shard file is missing")
        try:
            with zipfile.ZipFile(self.path) as zf:
                names = {n[:-4] for n in zf.namelist() if n.endswith(".npy")}
                self._stored = _stored_members(self.path, zf)
        except (zipfile.BadZipFile, OSError) as exc:
            raise FacelmError(f"{self.path}: not a readable shard ({exc})") from None
        need = {*FEATURES, "offsets", "split", "meta", "meta_offsets"}
        if not need <= names:
            raise FacelmError(f"{self.path}: shard misses {', '.join(sorted(need - names))}")
        # One map for the whole file: one file descriptor a shard, however many arrays are used.
        self._map = np.memmap(self.path, np.uint8, mode="r") if self._stored else None
        self._arrays: dict[str, np.ndarray] = {}
        self._meta: dict[int, dict[str, Any]] = {}
        self.offsets = np.asarray(self.array("offsets"), np.int64)
        self.split = np.asarray(self.array("split"))
        self._meta_offsets = np.asarray(self.array("meta_offsets"), np.int64)

    def array(self, key: str) -> np.ndarray:
        """A member array: a read-only view into the file's memory map when stored uncompressed."""
        if key not in self._arrays:
            if key in self._stored:
                start, shape, fortran, dtype = self._stored[key]
                count = int(np.prod(shape))
                flat = self._map[start:start + count * dtype.itemsize].view(dtype)
                arr = flat.reshape(shape, order="F" if fortran else "C")
            else:
                with zipfile.ZipFile(self.path) as zf, zf.open(f"{key}.npy") as f:
                    arr = np.lib.format.read_array(f, allow_pickle=False)
            self._arrays[key] = arr
        return self._arrays[key]

    def clip_meta(self, i: int) -> dict[str, Any]:
        """Metadata of clip ``i`` (parsed on first use, then cached)."""
        if i not in self._meta:
            a, b = int(self._meta_offsets[i]), int(self._meta_offsets[i + 1])
            self._meta[i] = json.loads(np.asarray(self.array("meta")[a:b]).tobytes().decode())
        return self._meta[i]

    def meta(self) -> list[dict[str, Any]]:
        """Metadata of every clip of the shard."""
        return [self.clip_meta(i) for i in range(len(self))]

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def rows(self, i: int) -> slice:
        return slice(int(self.offsets[i]), int(self.offsets[i + 1]))

    def close(self) -> None:
        self._arrays.clear()
        self._map = None


@dataclass(frozen=True)
class ClipRef:
    """Where a clip lives: shard number, index in the shard, its length and split."""

    shard: int
    index: int
    num_frames: int
    split: str


class CorpusReader:
    """Reads a corpus folder written by ``training.corpus``; keeps at most ``max_open`` shards mapped."""

    def __init__(self, root: str | os.PathLike, max_open: int = 64) -> None:
        self.root = Path(root)
        path = self.root / MANIFEST
        if not path.is_file():
            raise FacelmError(f"{path}: no corpus manifest (run python -m training.corpus first)")
        try:
            self.manifest = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise FacelmError(f"{path}: not valid JSON ({exc})") from None
        if self.manifest.get("format") != STORE_FORMAT or self.manifest.get("version") != STORE_VERSION:
            raise FacelmError(f"{path}: not a {STORE_FORMAT} v{STORE_VERSION} manifest")
        self.shard_files = [s["file"] for s in self.manifest["shards"]]
        self.fps = float(self.manifest["fps"])
        self.max_open = max_open
        self._open: OrderedDict[int, Shard] = OrderedDict()
        self._refs: list[ClipRef] | None = None

    def shard(self, k: int) -> Shard:
        if k in self._open:
            self._open.move_to_end(k)
            return self._open[k]
        shard = Shard(self.root / self.shard_files[k])
        self._open[k] = shard
        if len(self._open) > self.max_open:
            self._open.popitem(last=False)[1].close()
        return shard

    def refs(self, split: str | None = None) -> list[ClipRef]:
        """Every clip (or one split's), in shard order; reads only offsets and split codes."""
        if split is not None and split not in SPLITS:
            raise FacelmError(f"unknown split {split!r}; known: {', '.join(SPLITS)}")
        if self._refs is None:
            refs = []
            for k in range(len(self.shard_files)):
                sh = self.shard(k)
                lengths = np.diff(sh.offsets)
                refs += [ClipRef(k, i, int(lengths[i]), SPLITS[int(sh.split[i])]) for i in range(len(sh))]
            self._refs = refs
        return [r for r in self._refs if split is None or r.split == split]

    def arrays(self, ref: ClipRef, keys=tuple(FEATURES)) -> dict[str, np.ndarray]:
        sh = self.shard(ref.shard)
        rows = sh.rows(ref.index)
        return {k: sh.array(k)[rows] for k in keys}

    def meta(self, ref: ClipRef) -> dict[str, Any]:
        return self.shard(ref.shard).clip_meta(ref.index)

    def clip(self, ref: ClipRef) -> MotionClip:
        a = {k: np.array(v) for k, v in self.arrays(ref).items()}
        m = self.meta(ref)
        return MotionClip(a["expression"], a["global_pose"], a["neck_pose"], a["jaw_pose"], a["eye_pose"],
                          fps=self.fps, eyelid=a["eyelid"], arkit=a["arkit"], text=m.get("text") or {},
                          source=f"{self.root}:{m.get('clip_id')}")

    def iter_shards(self) -> Iterator[tuple[int, Shard]]:
        for k in range(len(self.shard_files)):
            yield k, self.shard(k)

    def verify(self) -> list[str]:
        """Shard files whose sha256 differs from the manifest (empty when all match)."""
        bad = []
        for entry in self.manifest["shards"]:
            path = self.root / entry["file"]
            if not path.is_file() or sha256_file(path) != entry["sha256"]:
                bad.append(entry["file"])
        return bad

    def close(self) -> None:
        while self._open:
            self._open.popitem()[1].close()
