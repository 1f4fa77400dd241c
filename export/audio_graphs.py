"""torch wrapper that defines the audio model's ONNX graph (its I/O is the runtime contract).

``StreamStepGraph``: mel (B, 4 t, n_mels) raw log-mel of the *shifted* stream
(the runtime drops the first ``lookahead`` feature frames), style (B,) int64,
state (B, S) float32 -> motion (B, t, num_expression + 3) raw FLAME
(expression | jaw), next_state (B, S). t is dynamic: the runtime calls it with
whatever whole steps a chunk completed, offline with all of them at once. A zero
state is the start of a stream; the conv caches are flattened into one tensor.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from models.audio_to_motion import AudioToMotion


class StreamStepGraph(nn.Module):
    def __init__(self, model: AudioToMotion):
        super().__init__()
        self.model = model
        self.shapes = model.state_shapes()

    @property
    def state_size(self) -> int:
        return sum(c * t for c, t in self.shapes)

    def unflatten(self, state: torch.Tensor) -> list[torch.Tensor]:
        out, o = [], 0
        for c, t in self.shapes:
            out.append(state[:, o:o + c * t].reshape(state.shape[0], c, t))
            o += c * t
        return out

    def forward(self, mel: torch.Tensor, style: torch.Tensor, state: torch.Tensor):
        motion, caches = self.model.step(mel, style, self.unflatten(state))
        return motion, torch.cat([c.reshape(c.shape[0], -1) for c in caches], dim=1)
