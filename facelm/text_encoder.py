"""Sentence embeddings on onnxruntime: all-MiniLM-L6-v2, quantized, with its WordPiece tokenizer.

The graph pools and normalises, so ``embed`` returns unit vectors. Input text is
checked (a string, valid UTF-8, not blank) and truncated to the encoder's
``max_tokens`` (128 WordPiece tokens, as the LM's training embeddings were made by
``training/sentence_embed.py``); text longer than ``MAX_CHARS`` characters is cut
before tokenizing, so a huge paste costs no more than a long prompt.
``truncated(text)`` tells whether either cut applies.
"""
from __future__ import annotations

import numpy as np
from tokenizers import Tokenizer

from facelm.errors import FacelmError
from facelm.model_dir import ModelDir

MAX_CHARS = 16384  # 128 WordPiece tokens of ordinary text take well under this many characters


def check_text(text, what: str = "text") -> str:
    """A non-blank, UTF-8-encodable ``str`` (bytes are decoded strictly) or a one-line FacelmError."""
    if isinstance(text, (bytes, bytearray)):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise FacelmError(f"{what} is not valid UTF-8 (byte {exc.start})") from None
    if not isinstance(text, str):
        raise FacelmError(f"{what} must be a string, got {type(text).__name__}")
    try:
        text.encode("utf-8")  # command-line bytes that were not UTF-8 arrive as lone surrogates
    except UnicodeEncodeError as exc:
        raise FacelmError(f"{what} is not valid UTF-8 (character {exc.start})") from None
    if not text.strip():
        raise FacelmError(f"{what} is empty")
    return text


class TextEncoder:
    """``embed(list[str]) -> (N, dim)`` float32 unit vectors."""

    def __init__(self, model: ModelDir | str | None = None):
        self.model = model if isinstance(model, ModelDir) else ModelDir(model)
        spec = self.model.section("text_encoder")
        self.dim = int(spec["dim"])
        self.max_tokens = int(spec["max_tokens"])
        self._session = self.model.session(spec["graph"])
        self._tokenizer = Tokenizer.from_file(str(self.model.file(spec["tokenizer"])))
        self._tokenizer.enable_truncation(self.max_tokens)
        self._tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")

    def _prepare(self, texts) -> list[str]:
        if isinstance(texts, (str, bytes)):
            raise FacelmError("embed takes a list of strings, got a single string")
        texts = [check_text(t, f"text[{i}]") for i, t in enumerate(texts)]
        if not texts:
            raise FacelmError("embed needs at least one text")
        return [t[:MAX_CHARS] for t in texts]

    def truncated(self, text: str) -> bool:
        """Whether ``text`` is longer than the encoder reads (it is then embedded from its start)."""
        text = check_text(text)
        if len(text) > MAX_CHARS:
            return True
        return bool(self._tokenizer.encode(text).overflowing)

    def embed(self, texts) -> np.ndarray:
        enc = self._tokenizer.encode_batch(self._prepare(texts))
        ids = np.array([e.ids for e in enc], np.int64)
        mask = np.array([e.attention_mask for e in enc], np.int64)
        out = self._session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
        return out.astype(np.float32, copy=False)
