"""Caption metrics, written from their definitions: corpus BLEU, ROUGE-L, CIDEr-D.

Every function takes ``candidates`` (one string an item) and ``references`` (a list
of strings an item). Texts are compared as lower-cased word sequences (``words``),
so punctuation and case never count.

- BLEU-N (Papineni et al. 2002), corpus level: clipped n-gram matches and candidate
  n-grams are summed over the corpus before dividing; the geometric mean of the
  1..N precisions (uniform weights, no smoothing: any zero precision gives 0) times
  the brevity penalty exp(1 - r/c) when the candidates' total length c is below r,
  the sum of the reference lengths closest to each candidate (the shorter on a tie).
- ROUGE-L (Lin 2004): from the longest common subsequence, P = LCS/|cand|,
  R = LCS/|ref|, F = (1 + b^2) P R / (R + b^2 P) with b = 1.2 (as in COCO's scorer);
  the best reference counts per item, averaged over items.
- CIDEr-D (Vedantam et al. 2015): n-gram (1..4) count vectors weighted by
  idf = log(items / max(1, items whose references contain the n-gram)), computed
  from the references only; per reference the candidate's weights are clipped to the
  reference's, a cosine is taken and damped by exp(-(len_c - len_r)^2 / (2 * 6^2));
  10 x the mean over references, averaged over n, then over items.
"""
from __future__ import annotations

import math
import re
from collections import Counter
from typing import Sequence

import numpy as np

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def ngrams(tokens: Sequence[str], n: int) -> Counter:
    return Counter(tuple(tokens[i: i + n]) for i in range(len(tokens) - n + 1))


def _prepare(candidates: Sequence[str], references: Sequence[Sequence[str]]):
    if len(candidates) != len(references):
        raise ValueError(f"{len(candidates)} candidates but {len(references)} reference lists")
    if any(len(r) == 0 for r in references):
        raise ValueError("every item needs at least one reference")
    return [words(c) for c in candidates], [[words(r) for r in refs] for refs in references]


# ---------------------------------------------------------------------------
# BLEU
# ---------------------------------------------------------------------------
def bleu(candidates: Sequence[str], references: Sequence[Sequence[str]], max_n: int = 4) -> float:
    """Corpus BLEU-``max_n`` in [0, 1]."""
    cands, refs = _prepare(candidates, references)
    matches = np.zeros(max_n)
    totals = np.zeros(max_n)
    cand_len = ref_len = 0
    for cand, rs in zip(cands, refs):
        cand_len += len(cand)
        # the reference length closest to the candidate's; the shorter one on a tie
        ref_len += min((abs(len(r) - len(cand)), len(r)) for r in rs)[1]
        for n in range(1, max_n + 1):
            counts = ngrams(cand, n)
            most = Counter()
            for r in rs:
                most |= ngrams(r, n)  # element-wise max over references
            matches[n - 1] += sum(min(c, most[g]) for g, c in counts.items())
            totals[n - 1] += max(len(cand) - n + 1, 0)
    if cand_len == 0 or (matches == 0).any():
        return 0.0
    log_precision = np.mean(np.log(matches / totals))
    brevity = 1.0 if cand_len > ref_len else math.exp(1.0 - ref_len / cand_len)
    return float(brevity * math.exp(log_precision))


# ---------------------------------------------------------------------------
# ROUGE-L
# ---------------------------------------------------------------------------
def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence (dynamic programming, one row at a time)."""
    prev = [0] * (len(b) + 1)
    for x in a:
        row = [0]
        for j, y in enumerate(b):
            row.append(prev[j] + 1 if x == y else max(prev[j + 1], row[j]))
        prev = row
    return prev[-1]


def rouge_l(candidates: Sequence[str], references: Sequence[Sequence[str]], beta: float = 1.2) -> float:
    """Mean over items of the best ROUGE-L F-score against the item's references, in [0, 1]."""
    cands, refs = _prepare(candidates, references)
    scores = []
    for cand, rs in zip(cands, refs):
        best = 0.0
        for r in rs:
            lcs = lcs_length(cand, r)
            if lcs == 0:
                continue
            p, rec = lcs / len(cand), lcs / len(r)
            best = max(best, (1 + beta ** 2) * p * rec / (rec + beta ** 2 * p))
        scores.append(best)
    return float(np.mean(scores))


# ---------------------------------------------------------------------------
# CIDEr-D
# ---------------------------------------------------------------------------
def cider_d(candidates: Sequence[str], references: Sequence[Sequence[str]], max_n: int = 4,
            sigma: float = 6.0) -> float:
    """Corpus CIDEr-D (mean over items; 10 for a candidate equal to all its references)."""
    cands, refs = _prepare(candidates, references)
    items = len(cands)
    doc_freq: Counter = Counter()
    for rs in refs:
        seen = set()
        for r in rs:
            for n in range(1, max_n + 1):
                seen |= set(ngrams(r, n))
        doc_freq.update(seen)
    log_items = math.log(items)

    def weights(tokens: list[str], n: int) -> tuple[dict, float]:
        vec = {g: c * (log_items - math.log(max(1.0, doc_freq[g]))) for g, c in ngrams(tokens, n).items()}
        return vec, math.sqrt(sum(v * v for v in vec.values()))

    scores = []
    for cand, rs in zip(cands, refs):
        per_n = []
        for n in range(1, max_n + 1):
            vc, norm_c = weights(cand, n)
            total = 0.0
            for r in rs:
                vr, norm_r = weights(r, n)
                if norm_c == 0 or norm_r == 0:
                    continue
                dot = sum(min(v, vr[g]) * vr[g] for g, v in vc.items() if g in vr)
                penalty = math.exp(-((len(cand) - len(r)) ** 2) / (2 * sigma ** 2))
                total += penalty * dot / (norm_c * norm_r)
            per_n.append(10.0 * total / len(rs))
        scores.append(np.mean(per_n))
    return float(np.mean(scores))


# ---------------------------------------------------------------------------
# embedding similarity
# ---------------------------------------------------------------------------
def embedding_similarity(generated: np.ndarray, reference: np.ndarray) -> float:
    """Mean cosine similarity of matching rows of two (N, D) sentence-embedding arrays."""
    a, b = np.asarray(generated, np.float64), np.asarray(reference, np.float64)
    if a.ndim != 2 or a.shape != b.shape:
        raise ValueError(f"embeddings must both be (N, D), got {a.shape} and {b.shape}")
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    return float((a * b).sum(1).mean())
