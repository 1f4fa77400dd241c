"""How generated motions spread, over evaluator embeddings (T2M's FID, Diversity, MultiModality)."""
from __future__ import annotations

import numpy as np


def fid(real: np.ndarray, generated: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two embedding sets (N, D), (M, D).

    ||mu_r - mu_g||^2 + Tr(S_r + S_g - 2 (S_r S_g)^(1/2)), covariances with N-1.
    """
    real, generated = np.asarray(real, np.float64), np.asarray(generated, np.float64)
    if real.ndim != 2 or generated.ndim != 2 or real.shape[1] != generated.shape[1]:
        raise ValueError(f"FID needs two (N, D) sets of the same D, got {real.shape} and {generated.shape}")
    if len(real) < 2 or len(generated) < 2:
        raise ValueError("FID needs at least two embeddings in each set")
    mu_r, mu_g = real.mean(0), generated.mean(0)
    cov_r = np.atleast_2d(np.cov(real, rowvar=False))
    cov_g = np.atleast_2d(np.cov(generated, rowvar=False))
    # Tr((S_r S_g)^(1/2)) = sum of sqrt eigenvalues of the symmetric S_r^(1/2) S_g S_r^(1/2)
    w, v = np.linalg.eigh(cov_r)
    half = (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T
    trace_root = np.sqrt(np.clip(np.linalg.eigvalsh(half @ cov_g @ half), 0.0, None)).sum()
    value = ((mu_r - mu_g) ** 2).sum() + np.trace(cov_r) + np.trace(cov_g) - 2.0 * trace_root
    return float(max(value, 0.0))


def _distinct_pairs(n: int, count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``count`` random index pairs (i, j) with i != j from range(n)."""
    i = rng.integers(0, n, count)
    j = (i + rng.integers(1, n, count)) % n  # a different index, uniformly
    return i, j


def diversity(embeddings: np.ndarray, pairs: int = 300, seed: int = 0) -> float:
    """Mean distance between ``pairs`` random pairs of distinct samples (N, D)."""
    emb = np.asarray(embeddings, np.float64)
    if emb.ndim != 2 or len(emb) < 2:
        raise ValueError(f"diversity needs (N >= 2, D) embeddings, got {emb.shape}")
    i, j = _distinct_pairs(len(emb), pairs, np.random.default_rng(seed))
    return float(np.linalg.norm(emb[i] - emb[j], axis=1).mean())


def multimodality(embeddings: np.ndarray, pairs: int = 10, seed: int = 0) -> float:
    """(P, G, D): P prompts with G generations each -> mean distance of ``pairs`` random
    distinct pairs of generations per prompt, averaged over prompts."""
    emb = np.asarray(embeddings, np.float64)
    if emb.ndim != 3 or emb.shape[1] < 2:
        raise ValueError(f"multimodality needs (prompts, generations >= 2, D) embeddings, got {emb.shape}")
    rng = np.random.default_rng(seed)
    per_prompt = []
    for group in emb:
        i, j = _distinct_pairs(len(group), pairs, rng)
        per_prompt.append(np.linalg.norm(group[i] - group[j], axis=1).mean())
    return float(np.mean(per_prompt))
