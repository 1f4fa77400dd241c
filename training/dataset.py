"""Loading the corpus for training: whole clips or random windows, as numpy, with their text.

    ds = CorpusDataset("data/corpus", split="train")
    for item in ds.clips(): item.features  # (T, D) float32, MotionClip.to_array layout
    for item in ds.windows(64, seed=0, count=1000): ...
    torch_ds = ds.torch_windows(64)  # a torch Dataset of random windows

Arrays are read from memory-mapped shards (``training.corpus_store``): the corpus
is never loaded whole, only the rows a clip or window needs are copied.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Iterator

import numpy as np

from facelm.errors import FacelmError
from training.corpus_store import ClipRef, CorpusReader

FEATURE_SETS = ("flame", "flame_eyelid", "arkit")


@dataclass
class Item:
    """One clip or window: features (T, D) float32, text dict, and where it came from."""

    features: np.ndarray
    text: dict[str, Any]
    clip_id: str
    start: int  # first frame within the clip
    labels: dict[str, Any] = field(default_factory=dict)  # ground truth (clip-level), see BehaviourSpec
    window_labels: dict[str, Any] = field(default_factory=dict)  # segments overlapping a window


def feature_width(features: str, include_global: bool = True, num_expression: int = 50) -> int:
    if features == "arkit":
        return 52 + 12 + (3 if include_global else 0)
    width = num_expression + (3 if include_global else 0) + 12
    return width + (2 if features == "flame_eyelid" else 0)


def _pack(arrays: dict[str, np.ndarray], features: str, include_global: bool) -> np.ndarray:
    """Rows in the model layout: MotionClip.to_array (expression | global? | neck | jaw | eyes), +eyelid or ARKit."""
    head = [arrays["global_pose"]] if include_global else []
    poses = head + [arrays["neck_pose"], arrays["jaw_pose"], arrays["eye_pose"]]
    if features == "arkit":
        parts = [arrays["arkit"]] + poses
    else:
        parts = [arrays["expression"]] + poses + ([arrays["eyelid"]] if features == "flame_eyelid" else [])
    return np.concatenate([np.asarray(p, np.float32) for p in parts], axis=1)


def _keys(features: str, include_global: bool) -> tuple[str, ...]:
    keys = ["neck_pose", "jaw_pose", "eye_pose"] + (["global_pose"] if include_global else [])
    keys += ["arkit"] if features == "arkit" else ["expression"] + (["eyelid"] if features == "flame_eyelid" else [])
    return tuple(keys)


def window_labels(spec: dict[str, Any], start_s: float, end_s: float, min_share: float = 0.5) -> dict[str, Any]:
    """Emotions and head motions of ``spec`` covering >= ``min_share`` of their own span inside [start_s, end_s)."""
    def inside(seg: dict) -> bool:
        span = seg["end"] - seg["start"]
        overlap = min(seg["end"], end_s) - max(seg["start"], start_s)
        return span > 0 and overlap / span >= min_share or overlap >= 0.5 * (end_s - start_s)

    return {
        "emotions": [[s["emotion"], s["intensity"]] for s in spec["emotions"] if inside(s)],
        "head": [[s["kind"], s["speed"]] for s in spec["head"] if inside(s)],
        "speaking": next((s["style"] for s in spec.get("speech", []) if inside(s)), "none"),
    }


class CorpusDataset:
    """Clips of one split of a corpus folder, read lazily.

    ``features``: "flame" (MotionClip.to_array), "flame_eyelid" (+ eyelid, 2) or
    "arkit" (ARKit-52 instead of the 50 expression coefficients). ``text_key``
    picks ``text`` or, for test clips, ``text_paraphrase``.
    """

    def __init__(self, root: str | os.PathLike, split: str | None = "train", features: str = "flame",
                 include_global: bool = True, text_key: str = "text", max_open_shards: int = 64) -> None:
        if features not in FEATURE_SETS:
            raise FacelmError(f"features must be one of {FEATURE_SETS}, got {features!r}")
        self.reader = CorpusReader(root, max_open=max_open_shards)
        self.split = split
        self.features = features
        self.include_global = include_global
        self.text_key = text_key
        self.refs: list[ClipRef] = self.reader.refs(split)
        self.lengths = np.array([r.num_frames for r in self.refs], np.int64)
        self.fps = self.reader.fps
        self.width = feature_width(features, include_global)
        self._window_cdf: dict[int, np.ndarray] = {}  # window length -> clip sampling CDF

    def __len__(self) -> int:
        return len(self.refs)

    @property
    def frames(self) -> int:
        return int(self.lengths.sum())

    def item(self, i: int, start: int = 0, stop: int | None = None) -> Item:
        """Clip ``i`` (or its frames [start, stop)) with text and labels."""
        ref = self.refs[i]
        stop = ref.num_frames if stop is None else stop
        if not 0 <= start < stop <= ref.num_frames:
            raise FacelmError(f"frames [{start}, {stop}) outside clip {i} of {ref.num_frames} frames")
        arrays = self.reader.arrays(ref, _keys(self.features, self.include_global))
        feats = _pack({k: v[start:stop] for k, v in arrays.items()}, self.features, self.include_global)
        meta = self.reader.meta(ref)
        text = meta.get(self.text_key) or meta.get("text") or {}
        item = Item(feats, text, meta["clip_id"], start, meta.get("labels", {}))
        if start > 0 or stop < ref.num_frames:
            item.window_labels = window_labels(meta["spec"], start / self.fps, stop / self.fps)
        return item

    def __getitem__(self, i: int) -> Item:
        return self.item(i)

    def clips(self, shuffle: bool = False, seed: int = 0) -> Iterator[Item]:
        """Every clip once; shuffled clips stay grouped by shard so few shards are open at a time."""
        order = np.arange(len(self))
        if shuffle:
            rng = np.random.default_rng(seed)
            shards = np.array([r.shard for r in self.refs])
            perm_shards = rng.permutation(np.unique(shards))
            order = np.concatenate([rng.permutation(np.flatnonzero(shards == s)) for s in perm_shards]) \
                if len(order) else order
        for i in order:
            yield self.item(int(i))

    def sample_window(self, rng: np.random.Generator, num_frames: int) -> Item:
        """A random window of ``num_frames``: clips weighted by how many windows they hold."""
        cum = self._window_cdf.get(num_frames)
        if cum is None:
            weights = np.maximum(self.lengths - num_frames + 1, 0).astype(np.float64)
            if weights.sum() == 0:
                raise FacelmError(f"no clip of split {self.split!r} has {num_frames} frames")
            cum = self._window_cdf[num_frames] = np.cumsum(weights) / weights.sum()
        i = int(min(np.searchsorted(cum, rng.random(), side="right"), len(cum) - 1))
        start = int(rng.integers(0, self.lengths[i] - num_frames + 1))
        return self.item(i, start, start + num_frames)

    def windows(self, num_frames: int, seed: int = 0, count: int | None = None) -> Iterator[Item]:
        """``count`` random windows (endless when None), reproducible by ``seed``."""
        rng = np.random.default_rng(seed)
        n = 0
        while count is None or n < count:
            yield self.sample_window(rng, num_frames)
            n += 1

    def torch_windows(self, num_frames: int, epoch_size: int = 10000, seed: int = 0):
        """A torch ``Dataset`` of random windows (index -> (float tensor (N, D), prompt text))."""
        import torch
        from torch.utils.data import Dataset

        parent = self

        class Windows(Dataset):
            def __len__(self) -> int:
                return epoch_size

            def __getitem__(self, index: int):
                item = parent.sample_window(np.random.default_rng([seed, index]), num_frames)
                return torch.from_numpy(item.features), item.text.get("prompt", "")

        return Windows()
