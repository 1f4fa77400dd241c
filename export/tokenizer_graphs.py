"""torch wrappers that define the tokenizer's ONNX graphs (their I/O is the runtime contract).

- ``EncoderGraph``: frames (1, T, D) raw, T a multiple of frames_per_token -> ids (1, T / fpt) int64.
- ``DecoderStepGraph``: ids (B,) int64, state (B, S) float32 -> frames (B, fpt, D) raw, state (B, S).
  The decoder's conv caches are flattened into one state tensor so the runtime
  handles a single array; a zero state is the start of a stream.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from models.motion_tokenizer import MotionTokenizer


class EncoderGraph(nn.Module):
    def __init__(self, model: MotionTokenizer):
        super().__init__()
        self.model = model

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        m = self.model
        z = m.encoder(m.normalise(frames).transpose(1, 2)).transpose(1, 2)  # (1, N, C)
        cb = m.quantizer.codebook  # (K, C)
        dist_sq = (z.pow(2).sum(-1, keepdim=True) - 2 * z @ cb.t() + cb.pow(2).sum(-1))  # (1, N, K)
        return dist_sq.argmin(dim=-1)


class DecoderStepGraph(nn.Module):
    def __init__(self, model: MotionTokenizer):
        super().__init__()
        self.model = model
        self.shapes = [(s.shape[1], s.shape[2]) for s in model.decoder.init_state(1)]

    @property
    def state_size(self) -> int:
        return sum(c * t for c, t in self.shapes)

    def unflatten(self, state: torch.Tensor) -> list[torch.Tensor]:
        out, o = [], 0
        for c, t in self.shapes:
            out.append(state[:, o:o + c * t].reshape(state.shape[0], c, t))  # (B, C, left)
            o += c * t
        return out

    def forward(self, ids: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        frames, caches = self.model.decode_step(ids, self.unflatten(state))
        flat = torch.cat([c.reshape(c.shape[0], -1) for c in caches], dim=1)  # (B, S)
        return frames, flat
