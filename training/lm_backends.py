"""One interface over the two ways to run the motion LM in evaluation.

- ``TorchLM``: a training checkpoint (``runs/lm/lm.pt``), prompts conditioned on the
  fp32 MiniLM embedding the caller passes (the one training used).
- ``RuntimeLM``: an exported model directory (``artifacts/``) on onnxruntime through
  ``facelm.lm_runtime``, prompts embedded by the directory's own (quantized) text
  encoder: this scores exactly what ships.

Both expose ``vocab``, ``text_to_motion``, ``describe`` and ``answer`` on motion codes.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np


class TorchLM:
    def __init__(self, path: str | Path):
        from training.lm_infer import load_lm
        self.model, self.vocab, self.tok = load_lm(path)

    def text_to_motion(self, prompt: str, seconds: float, *, embed, seed: int, **sampling) -> np.ndarray:
        from training.lm_infer import text_to_motion
        return text_to_motion(self.model, self.vocab, self.tok, prompt, seconds, embed=embed, seed=seed, **sampling)

    def describe(self, codes, category: str) -> str:
        from training.lm_infer import motion_to_text
        return motion_to_text(self.model, self.vocab, self.tok, codes, category=category, greedy=True)

    def answer(self, codes, question: str, *, embed) -> str:
        from training.lm_infer import answer
        return answer(self.model, self.vocab, self.tok, codes, question, embed=embed)


class RuntimeLM:
    def __init__(self, model_dir: str | Path):
        from facelm.lm_runtime import MotionLanguageModel
        self.runtime = MotionLanguageModel(str(model_dir))
        self.vocab = self.runtime.vocab

    def text_to_motion(self, prompt: str, seconds: float, *, embed, seed: int, **sampling) -> np.ndarray:
        del embed  # the shipped text encoder embeds the prompt, as in deployment
        return np.fromiter(self.runtime.generate_motion(prompt, seconds, seed=seed, **sampling), np.int64)

    def describe(self, codes, category: str) -> str:
        return self.runtime.describe(np.asarray(codes, np.int64), category)

    def answer(self, codes, question: str, *, embed) -> str:
        del embed
        return self.runtime.answer(np.asarray(codes, np.int64), question)
