"""Motion language model: a decoder-only GPT over the joint text + motion vocabulary.

Reads top-down: config, attention with an explicit KV cache, block, the model
(forward, loss, generation). One network does Language2Motion, Motion2Language and
QA; the task is the second token of the sequence (``facelm.vocab`` formats).

Conditioning: one "prefix" vector at position 0, before ``<bos>``:
``Linear(384 -> d_model)`` of a sentence embedding (MiniLM) of the prompt or
question; zeros for Motion2Language and for the unconditional branch of
classifier-free guidance.

KV cache: ``forward(ids, cond, past_kv)`` returns ``(logits, present_kv)``, with
``present_kv`` one tensor ``(layers, 2, B, heads, T, head_dim)`` holding every
position so far (the prefix included). Without ``past_kv`` the prefix is prepended;
with it, ``ids`` continue after the cached positions. Both paths give the same
logits (tests/test_lm.py), which the ONNX export relies on.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Iterator

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class LMConfig:
    vocab_size: int
    n_layer: int = 4
    n_head: int = 4
    d_model: int = 256
    block_size: int = 256  # positions, the prefix included
    cond_dim: int = 384  # sentence-embedding size
    dropout: float = 0.1
    pad_id: int = 0

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_head


# ============================================================================
# blocks
# ============================================================================
class CausalSelfAttention(nn.Module):
    def __init__(self, cfg: LMConfig):
        super().__init__()
        if cfg.d_model % cfg.n_head:
            raise ValueError(f"d_model {cfg.d_model} is not a multiple of n_head {cfg.n_head}")
        self.n_head, self.head_dim = cfg.n_head, cfg.head_dim
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model)
        self.dropout = cfg.dropout
        self.resid_drop = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor, past: torch.Tensor | None, use_cache: bool = True
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """x (B, T, C); past (2, B, H, P, hd) or None -> y (B, T, C), present (2, B, H, P+T, hd) or None."""
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)
        q = q.view(B, T, self.n_head, self.head_dim).transpose(1, 2)  # (B, H, T, hd)
        k = k.view(B, T, self.n_head, self.head_dim).transpose(1, 2)
        v = v.view(B, T, self.n_head, self.head_dim).transpose(1, 2)
        if past is not None:
            k = torch.cat([past[0], k], dim=2)  # (B, H, P+T, hd)
            v = torch.cat([past[1], v], dim=2)
        present = torch.stack([k, v]) if use_cache else None  # (2, B, H, P+T, hd)
        drop = self.dropout if self.training else 0.0
        if past is None:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=drop)
        else:
            # Query i sits at absolute position P+i and sees keys 0..P+i.
            P = k.shape[2] - T
            allowed = (torch.arange(T, device=x.device)[:, None] + P) >= torch.arange(k.shape[2], device=x.device)[None]
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed, dropout_p=drop)
        y = y.transpose(1, 2).reshape(B, T, C)  # (B, T, H*hd)
        return self.resid_drop(self.proj(y)), present


class MLP(nn.Module):
    def __init__(self, cfg: LMConfig):
        super().__init__()
        self.fc = nn.Linear(cfg.d_model, 4 * cfg.d_model)
        self.out = nn.Linear(4 * cfg.d_model, cfg.d_model)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.out(F.gelu(self.fc(x))))


class Block(nn.Module):
    def __init__(self, cfg: LMConfig):
        super().__init__()
        self.ln1 = nn.LayerNorm(cfg.d_model)
        self.attn = CausalSelfAttention(cfg)
        self.ln2 = nn.LayerNorm(cfg.d_model)
        self.mlp = MLP(cfg)

    def forward(self, x: torch.Tensor, past: torch.Tensor | None, use_cache: bool = True
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        a, present = self.attn(self.ln1(x), past, use_cache)
        x = x + a
        return x + self.mlp(self.ln2(x)), present


# ============================================================================
# the model
# ============================================================================
class GenerationMixin:
    """Cached autoregressive generation for any module with ``forward(ids, cond, past_kv) -> (logits, past)``
    and a ``block_size`` (the past is opaque here: a tensor for MotionLM, an HF cache for HFMotionLM)."""

    @torch.no_grad()
    def generate_stream(self, prompt: list[int], cond: torch.Tensor | None = None, *, max_new_tokens: int,
                        allowed: np.ndarray | torch.Tensor | None = None, stop_id: int | None = None,
                        temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0, seed: int | None = None,
                        guidance: float = 1.0, uncond_prompt: list[int] | None = None,
                        guidance_delay: int = 0) -> Iterator[int]:
        """Yield new token ids one at a time (see ``sample_next`` for the sampling knobs).

        ``allowed``: (V,) bool mask of ids that may be emitted (constrained decoding).
        ``stop_id``: stop after emitting it. ``guidance`` != 1 runs a second, unconditional
        stream from ``uncond_prompt`` with a zero embedding and mixes the logits:
        ``uncond + guidance * (cond - uncond)``, from the ``guidance_delay``-th new token on.
        """
        self.eval()
        device = next(self.parameters()).device
        gen = torch.Generator(device="cpu")
        gen.manual_seed(int(seed) if seed is not None else int(torch.randint(1 << 31, (1,))))
        mask = None if allowed is None else torch.as_tensor(np.asarray(allowed), dtype=torch.bool, device=device)
        use_cfg = guidance != 1.0 and uncond_prompt is not None
        ids = torch.tensor([prompt], dtype=torch.long, device=device)
        logits, past = self(ids, cond)
        positions = len(prompt) + 1  # the prefix takes one
        last = logits[:, -1]
        if use_cfg:
            u_logits, u_past = self(torch.tensor([uncond_prompt], dtype=torch.long, device=device), None)
            u_last = u_logits[:, -1]
        for i in range(max_new_tokens):
            mixed = u_last + guidance * (last - u_last) if use_cfg and i >= guidance_delay else last
            nxt = sample_next(mixed[0], mask, temperature, top_k, top_p, gen)
            yield nxt
            if stop_id is not None and nxt == stop_id:
                return
            if positions >= self.block_size:
                return
            positions += 1
            step = torch.tensor([[nxt]], dtype=torch.long, device=device)
            logits, past = self(step, None, past)
            last = logits[:, -1]
            if use_cfg:
                u_logits, u_past = self(step, None, u_past)
                u_last = u_logits[:, -1]

    def generate(self, prompt: list[int], cond: torch.Tensor | None = None, **kwargs) -> list[int]:
        return list(self.generate_stream(prompt, cond, **kwargs))


class MotionLM(GenerationMixin, nn.Module):
    """GPT with a conditioning prefix; ``forward(ids, cond, past_kv) -> (logits, present_kv)``."""

    def __init__(self, cfg: LMConfig):
        super().__init__()
        self.cfg = cfg
        self.tok_emb = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.pos_emb = nn.Embedding(cfg.block_size, cfg.d_model)
        self.cond_proj = nn.Linear(cfg.cond_dim, cfg.d_model)
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.d_model)
        self.head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        self.head.weight = self.tok_emb.weight  # tied input/output embeddings
        self.apply(self._init)
        for name, p in self.named_parameters():
            if name.endswith(("attn.proj.weight", "mlp.out.weight")):
                nn.init.normal_(p, 0.0, 0.02 / math.sqrt(2 * cfg.n_layer))

    @property
    def block_size(self) -> int:
        return self.cfg.block_size

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, 0.0, 0.02)

    def forward(self, ids: torch.Tensor, cond: torch.Tensor | None = None, past_kv: torch.Tensor | None = None,
                use_cache: bool = True) -> tuple[torch.Tensor, torch.Tensor | None]:
        """ids (B, T); cond (B, cond_dim) or None (zeros); past_kv (L, 2, B, H, P, hd) or None.

        Returns logits (B, T, V) (row t predicts the token after ids[:, t]) and
        present_kv (L, 2, B, H, P', hd) with P' = P + T, or T + 1 on the first call (the
        prefix); None when ``use_cache`` is False (training).
        """
        B, T = ids.shape
        x = self.tok_emb(ids)  # (B, T, C)
        if past_kv is None:
            if cond is None:
                cond = x.new_zeros(B, self.cfg.cond_dim)
            x = torch.cat([self.cond_proj(cond)[:, None], x], dim=1)  # (B, 1+T, C): prefix at position 0
            start = 0
        else:
            start = past_kv.shape[4]
        n = x.shape[1]
        if start + n > self.cfg.block_size:
            raise ValueError(f"sequence of {start + n} positions exceeds block_size {self.cfg.block_size}")
        x = self.drop(x + self.pos_emb(torch.arange(start, start + n, device=ids.device)))
        presents = []
        for i, block in enumerate(self.blocks):
            x, present = block(x, None if past_kv is None else past_kv[i], use_cache)
            presents.append(present)
        x = self.ln_f(x)
        if past_kv is None:
            x = x[:, 1:]  # the prefix's own output would only predict <bos>
        return self.head(x), torch.stack(presents) if use_cache else None  # (B, T, V), (L, 2, B, H, P', hd)

    def loss(self, ids: torch.Tensor, targets: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        """Mean cross-entropy of targets (B, T) (-100: not trained) given ids (B, T)."""
        logits, _ = self(ids, cond, use_cache=False)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=-100)

    # -- checkpoints carry config and vocabulary ----------------------------------
    def checkpoint(self, vocab: dict | None = None, text_tokenizer: str | None = None, **extra) -> dict:
        return {"kind": "motion_lm", "config": asdict(self.cfg), "state_dict": self.state_dict(),
                "vocab": vocab, "text_tokenizer": text_tokenizer, **extra}

    @classmethod
    def from_checkpoint(cls, path_or_dict) -> "MotionLM":
        ckpt = path_or_dict if isinstance(path_or_dict, dict) else torch.load(path_or_dict, map_location="cpu",
                                                                              weights_only=False)
        if ckpt.get("kind") != "motion_lm":
            raise ValueError(f"not a motion LM checkpoint: kind={ckpt.get('kind')!r}")
        model = cls(LMConfig(**ckpt["config"]))
        model.load_state_dict(ckpt["state_dict"])
        return model.eval()


def sample_next(logits: torch.Tensor, allowed: torch.Tensor | None, temperature: float, top_k: int, top_p: float,
                gen: torch.Generator) -> int:
    """One id from (V,) logits: mask, then greedy (temperature <= 0) or temperature / top-k / top-p sampling."""
    logits = logits.float().clone()
    if allowed is not None:
        logits[~allowed] = float("-inf")
    if temperature <= 0:
        return int(torch.argmax(logits))
    logits = logits / temperature
    if top_k and top_k < logits.numel():
        kth = torch.topk(logits, top_k).values[-1]
        logits[logits < kth] = float("-inf")
    if top_p < 1.0:
        sorted_logits, order = torch.sort(logits, descending=True)
        probs = torch.softmax(sorted_logits, dim=-1)
        # Drop a token when the mass before it already reaches top_p (the first token always stays).
        drop = (torch.cumsum(probs, dim=-1) - probs) >= top_p
        logits[order[drop]] = float("-inf")
    probs = torch.softmax(logits, dim=-1)
    return int(torch.multinomial(probs.cpu(), 1, generator=gen))


def num_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


__all__ = ["GenerationMixin", "LMConfig", "MotionLM", "num_parameters", "sample_next"]
