"""Text-to-motion retrieval scores over evaluator embeddings, following T2M's protocol.

R-precision: the pairs are shuffled and cut into batches of ``batch_size`` (32: one
matching motion and 31 others for every text); for each text the batch's motions are
ranked by Euclidean distance to it, and top-k counts the texts whose own motion ranks
within the first k. An incomplete last batch is left out, as in T2M. MM-Dist is the
mean distance between a text and its own motion.
"""
from __future__ import annotations

import numpy as np


def _distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, M) Euclidean distances between rows of a (N, D) and b (M, D)."""
    sq = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.sqrt(np.maximum(sq, 0.0))


def _check_pairs(text: np.ndarray, motion: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    text, motion = np.asarray(text, np.float64), np.asarray(motion, np.float64)
    if text.ndim != 2 or text.shape != motion.shape:
        raise ValueError(f"text and motion embeddings must both be (N, D), got {text.shape} and {motion.shape}")
    return text, motion


def r_precision(text: np.ndarray, motion: np.ndarray, batch_size: int = 32, top_k: int = 3,
                repeats: int = 1, seed: int | None = 0) -> list[float]:
    """[top-1, ..., top-k] R-precision of matching rows of ``text`` and ``motion`` (N, D).

    ``repeats`` reshuffles and averages (T2M uses 20); ``seed=None`` keeps the given
    order (one pass), for tests and pre-shuffled data.
    """
    text, motion = _check_pairs(text, motion)
    n = len(text) - len(text) % batch_size
    if n == 0:
        raise ValueError(f"R-precision needs at least {batch_size} pairs, got {len(text)}")
    rng = np.random.default_rng(seed)
    hits = np.zeros(top_k)
    for _ in range(repeats if seed is not None else 1):
        order = rng.permutation(len(text))[:n] if seed is not None else np.arange(n)
        for start in range(0, n, batch_size):
            idx = order[start: start + batch_size]
            dist = _distances(text[idx], motion[idx])
            # rank of the matching motion: how many motions are strictly closer
            own = np.diag(dist)
            rank = (dist < own[:, None]).sum(1)
            hits += [(rank < k).sum() for k in range(1, top_k + 1)]
    return (hits / (n * (repeats if seed is not None else 1))).tolist()


def mm_dist(text: np.ndarray, motion: np.ndarray) -> float:
    """Mean Euclidean distance between each text embedding and its own motion's."""
    text, motion = _check_pairs(text, motion)
    return float(np.linalg.norm(text - motion, axis=1).mean())
