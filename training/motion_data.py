"""In-memory motion features for the tokenizer: a split's clips as arrays, random windows.

The tokenizer trains on motion alone, so the whole train split's feature rows fit in
memory (10 h of 25 fps motion x 62 floats ~ 220 MB); sampling windows is then a
cheap vectorised gather.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from training.dataset import CorpusDataset


def load_split_features(corpus: Path, split: str, num_expression: int = 50, include_global: bool = False,
                        max_clips: int | None = None) -> list[np.ndarray]:
    """Feature rows (MotionClip.to_array layout) of each clip in ``split``."""
    ds = CorpusDataset(corpus, split=split, features="flame", include_global=include_global)
    out = []
    for i in range(len(ds) if max_clips is None else min(max_clips, len(ds))):
        feats = ds.item(i).features
        out.append(np.ascontiguousarray(feats[:, :num_expression + (3 if include_global else 0) + 12]))
    return out


class WindowSampler:
    """Random fixed-length windows, clips weighted by how many windows they hold."""

    def __init__(self, clips: list[np.ndarray], window: int, seed: int = 0):
        self.window = window
        keep = [c for c in clips if len(c) >= window]
        if not keep:
            raise ValueError(f"no clip has {window} frames")
        self.data = np.concatenate(keep)  # (total, D)
        lengths = np.array([len(c) for c in keep])
        self.starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        self.valid = lengths - window + 1
        self.p = self.valid / self.valid.sum()
        self.rng = np.random.default_rng(seed)

    def sample(self, batch: int) -> np.ndarray:
        """(batch, window, D) float32."""
        clip = self.rng.choice(len(self.valid), size=batch, p=self.p)
        offset = (self.rng.random(batch) * self.valid[clip]).astype(np.int64)
        first = self.starts[clip] + offset  # (B,)
        return self.data[first[:, None] + np.arange(self.window)[None]]  # (B, W, D)
