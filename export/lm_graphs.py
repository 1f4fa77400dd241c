"""The torch wrapper that defines the language model's ONNX graph (its I/O is the runtime contract).

One graph serves both prefill and decoding, so the weights are stored once:

- inputs: ``ids`` (B, T) int64 new tokens; ``prefix`` (B, K, cond_dim) float32 with
  K = 1 on the first call (the sentence embedding, zeros for none) and K = 0 after;
  ``past_kv`` (L, 2, B, H, P, head_dim) float32, P = 0 on the first call.
- outputs: ``logits`` (B, V) for the last new position only (all the runtime
  samples from; skipping the other rows saves T x V x C work at prefill) and
  ``present_kv`` (L, 2, B, H, P + K + T, head_dim).

Positions continue from P, so the first call (P = 0, K = 1) is exactly
``MotionLM.forward(ids, cond)`` and later calls are ``MotionLM.forward(ids, None, past)``.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from models.motion_lm import MotionLM


class LMStepGraph(nn.Module):
    def __init__(self, model: MotionLM):
        super().__init__()
        self.model = model

    def forward(self, ids: torch.Tensor, prefix: torch.Tensor, past_kv: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        m = self.model
        x = torch.cat([m.cond_proj(prefix), m.tok_emb(ids)], dim=1)  # (B, K + T, C)
        start = past_kv.shape[4]
        x = x + m.pos_emb(torch.arange(start, start + x.shape[1], device=ids.device))
        presents = []
        for i, block in enumerate(m.blocks):
            x, present = block(x, past_kv[i])  # the past path masks causally for any P, P = 0 included
            presents.append(present)
        logits = m.head(m.ln_f(x[:, -1]))  # (B, V)
        return logits, torch.stack(presents)
