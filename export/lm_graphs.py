"""The torch wrapper that defines the language model's ONNX graph (its I/O is the runtime contract).

One graph serves both prefill and decoding, so the weights are stored once:

- inputs: ``ids`` (B, T) int64 new tokens; ``prefix`` (B, K, cond_dim) float32 with
  K = 1 on the first call (the sentence embedding, zeros for none) and K = 0 after;
  ``past_key_<i>``, ``past_value_<i>`` per layer i, (B, H, P, head_dim) float32, P = 0
  on the first call.
- outputs: ``logits`` (B, V) for the last new position only (all the runtime
  samples from; skipping the other rows saves T x V x C work at prefill) and
  ``present_key_<i>``, ``present_value_<i>`` (B, H, P + K + T, head_dim).

The cache is one tensor per layer and kind, not one stacked tensor: stacking and
slicing it would copy the whole cache several times a step, which showed as decode
time growing with the context.

Positions continue from P, so the first call (P = 0, K = 1) is exactly
``MotionLM.forward(ids, cond)`` and later calls are ``MotionLM.forward(ids, None, past)``.

Attention is written out here (scores + one additive causal mask shared by all
layers) rather than through ``scaled_dot_product_attention`` with a boolean mask,
which the exporter expands per layer into NaN guards; a decode step is dominated by
per-node overhead, so fewer nodes is faster. The arithmetic is the model's own
(its qkv / proj / norms / MLP modules); parity with ``MotionLM`` is tested.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from models.motion_lm import Block, MotionLM


def block_step(block: Block, x: torch.Tensor, past_k: torch.Tensor, past_v: torch.Tensor, mask: torch.Tensor
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One block on new positions x (B, T, C) after past keys/values (B, H, P, hd); mask (T, P+T) additive."""
    attn = block.attn
    B, T, C = x.shape
    q, k, v = attn.qkv(block.ln1(x)).split(C, dim=2)
    q = q.view(B, T, attn.n_head, attn.head_dim).transpose(1, 2)  # (B, H, T, hd)
    k = k.view(B, T, attn.n_head, attn.head_dim).transpose(1, 2)
    v = v.view(B, T, attn.n_head, attn.head_dim).transpose(1, 2)
    k, v = torch.cat([past_k, k], dim=2), torch.cat([past_v, v], dim=2)  # (B, H, P+T, hd)
    scores = (q @ k.transpose(-1, -2)) * (1.0 / math.sqrt(attn.head_dim)) + mask  # (B, H, T, P+T)
    y = (F.softmax(scores, dim=-1) @ v).transpose(1, 2).reshape(B, T, C)
    x = x + attn.proj(y)
    x = x + block.mlp(block.ln2(x))
    return x, k, v


class LMStepGraph(nn.Module):
    def __init__(self, model: MotionLM):
        super().__init__()
        self.model = model

    def forward(self, ids: torch.Tensor, prefix: torch.Tensor, past: list[torch.Tensor]
                ) -> tuple[torch.Tensor, ...]:
        """past: [key_0, value_0, key_1, ...] -> (logits, key_0, value_0, ...) with the new positions."""
        m = self.model
        x = torch.cat([m.cond_proj(prefix), m.tok_emb(ids)], dim=1)  # (B, K + T, C)
        start, n = past[0].shape[2], x.shape[1]
        x = x + m.pos_emb(torch.arange(start, start + n, device=ids.device))
        # New position i (absolute start + i) sees keys 0 .. start + i.
        keys = torch.arange(start + n, device=ids.device)
        visible = keys[None, :] <= (torch.arange(n, device=ids.device)[:, None] + start)
        mask = torch.zeros(visible.shape, dtype=x.dtype, device=x.device).masked_fill(~visible, float("-inf"))
        presents = []
        for i, block in enumerate(m.blocks):
            x, k, v = block_step(block, x, past[2 * i], past[2 * i + 1], mask)
            presents += [k, v]
        logits = m.head(m.ln_f(x[:, -1]))  # (B, V)
        return (logits, *presents)

    @staticmethod
    def cache_names(num_layers: int, kind: str) -> list[str]:
        """``past`` or ``present`` tensor names in graph order."""
        return [f"{kind}_{kv}_{i}" for i in range(num_layers) for kv in ("key", "value")]
