"""Audio to mouth motion: a causal, streaming 1D-conv network from log-mel frames to FLAME at 25 fps.

Reads top-down: config, causal conv with a step cache, residual block
(pre-norm dilated causal conv, then an MLP, as a GPT block with attention
swapped for a convolution), the model.

Input: log-mel frames at 100 Hz (``facelm.audio.features``); 4 frames are
stacked into one 25 fps step. Lookahead is a shift of the feature stream:
motion frame k is computed at step k from feature frames up to
4 k + 3 + ``lookahead``, i.e. ``lookahead`` x 10 ms of audio past the end of
the frame's own 40 ms (the first ``lookahead`` feature frames of a stream are
never seen). Everything after the shift is causal, so a stream is exactly the
offline pass and its state is the convolution caches.

Output: FLAME expression (num_expression) then jaw_pose (3), raw units; the
model (de)normalises itself with statistics stored in the checkpoint. A small
learned style embedding (``styles``; index 0 = none) is added to every step.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class AudioToMotionConfig:
    n_mels: int = 80
    frames_per_step: int = 4  # feature frames (10 ms) per motion frame (40 ms)
    lookahead: int = 4  # feature frames past a motion frame's own audio (x 10 ms)
    width: int = 128
    dilations: tuple[int, ...] = (1, 2, 4, 8, 16)
    kernel: int = 3
    mlp_ratio: int = 2
    dropout: float = 0.1
    num_expression: int = 50
    styles: tuple[str, ...] = ("none", "calm", "excited")
    fps: float = 25.0
    # Loss: z-scored MSE, extra weight on the jaw, plus frame-to-frame velocity.
    jaw_weight: float = 4.0
    velocity_weight: float = 0.5

    @property
    def out_dim(self) -> int:
        return self.num_expression + 3

    @property
    def step_inputs(self) -> int:
        return self.n_mels * self.frames_per_step

    @property
    def receptive_field(self) -> int:
        """Motion frames a frame depends on (itself included)."""
        return 1 + (self.kernel - 1) * sum(self.dilations)

    @property
    def lookahead_ms(self) -> float:
        return 10.0 * self.lookahead

    @classmethod
    def from_dict(cls, d: dict) -> "AudioToMotionConfig":
        d = dict(d)
        for key in ("dilations", "styles"):
            if key in d:
                d[key] = tuple(d[key])
        return cls(**d)


class CausalConv(nn.Conv1d):
    """Conv1d over (B, C, T) that looks back only; ``step`` continues from an explicit cache."""

    def __init__(self, channels: int, kernel: int, dilation: int):
        super().__init__(channels, channels, kernel, dilation=dilation)
        self.left = (kernel - 1) * dilation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(F.pad(x, (self.left, 0)))

    def step(self, x: torch.Tensor, cache: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, C, t) new steps, cache (B, C, left) the previous inputs -> y (B, C, t), new cache."""
        full = torch.cat([cache, x], dim=2)
        return super().forward(full), full[:, :, full.shape[2] - self.left:]


class Block(nn.Module):
    """x + conv(LN(x)), then x + MLP(LN(x)); (B, T, C) in and out."""

    def __init__(self, cfg: AudioToMotionConfig, dilation: int):
        super().__init__()
        w = cfg.width
        self.ln_conv = nn.LayerNorm(w)
        self.conv = CausalConv(w, cfg.kernel, dilation)
        self.ln_mlp = nn.LayerNorm(w)
        self.mlp = nn.Sequential(nn.Linear(w, cfg.mlp_ratio * w), nn.GELU(), nn.Linear(cfg.mlp_ratio * w, w))
        self.drop = nn.Dropout(cfg.dropout)

    def _mlp(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.drop(self.mlp(self.ln_mlp(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv(self.ln_conv(x).transpose(1, 2)).transpose(1, 2)
        return self._mlp(x + self.drop(F.gelu(h)))

    def step(self, x: torch.Tensor, cache: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h, cache = self.conv.step(self.ln_conv(x).transpose(1, 2), cache)
        return self._mlp(x + F.gelu(h.transpose(1, 2))), cache


class AudioToMotion(nn.Module):
    def __init__(self, cfg: AudioToMotionConfig):
        super().__init__()
        self.cfg = cfg
        self.inp = nn.Linear(cfg.step_inputs, cfg.width)
        self.style = nn.Embedding(len(cfg.styles), cfg.width)
        nn.init.zeros_(self.style.weight)  # no style = no offset, until training says otherwise
        self.blocks = nn.ModuleList(Block(cfg, d) for d in cfg.dilations)
        self.ln_out = nn.LayerNorm(cfg.width)
        self.out = nn.Linear(cfg.width, cfg.out_dim)
        self.register_buffer("mel_mean", torch.zeros(cfg.n_mels))
        self.register_buffer("mel_std", torch.ones(cfg.n_mels))
        self.register_buffer("target_mean", torch.zeros(cfg.out_dim))
        self.register_buffer("target_std", torch.ones(cfg.out_dim))

    # -- normalisation ------------------------------------------------------------
    def set_normalisation(self, mel_mean, mel_std, target_mean, target_std) -> None:
        self.mel_mean.copy_(torch.as_tensor(mel_mean, dtype=torch.float32))
        self.mel_std.copy_(torch.as_tensor(mel_std, dtype=torch.float32).clamp_min(1e-3))
        self.target_mean.copy_(torch.as_tensor(target_mean, dtype=torch.float32))
        self.target_std.copy_(torch.as_tensor(target_std, dtype=torch.float32).clamp_min(1e-4))

    def normalise_target(self, y: torch.Tensor) -> torch.Tensor:
        return (y - self.target_mean) / self.target_std

    # -- offline --------------------------------------------------------------------
    def _steps(self, mel: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        """(B, 4 n, n_mels) raw log-mel (already shifted) -> (B, n, width) step inputs."""
        b, t, m = mel.shape
        x = ((mel - self.mel_mean) / self.mel_std).reshape(b, t // self.cfg.frames_per_step, m * self.cfg.frames_per_step)
        return self.inp(x) + self.style(style)[:, None, :]

    def shift(self, mel: torch.Tensor) -> torch.Tensor:
        """Offline feature stream (B, T100, n_mels) -> the frames the model reads (lookahead shift)."""
        return mel[:, self.cfg.lookahead:]

    def forward_normalised(self, mel: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        """(B, 4 n, n_mels) shifted raw log-mel, (B,) style ids -> (B, n, out_dim) z-scored motion."""
        x = self._steps(mel, style)
        for block in self.blocks:
            x = block(x)
        return self.out(self.ln_out(x))

    def forward(self, mel: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        """Shifted raw log-mel -> raw motion (B, n, num_expression + 3)."""
        return self.forward_normalised(mel, style) * self.target_std + self.target_mean

    def loss(self, mel: torch.Tensor, style: torch.Tensor, target: torch.Tensor,
             mask: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """target (B, n, out_dim) raw; mask (B, n) 1 where the frame counts."""
        cfg = self.cfg
        pred = self.forward_normalised(mel, style)
        tgt = self.normalise_target(target)
        w = torch.ones(cfg.out_dim, device=pred.device)
        w[cfg.num_expression] = cfg.jaw_weight  # jaw x opens the mouth
        m = torch.ones(pred.shape[:2], device=pred.device) if mask is None else mask
        err = ((pred - tgt) ** 2 * w).mean(-1)
        mse = (err * m).sum() / m.sum().clamp_min(1)
        dv = ((pred.diff(dim=1) - tgt.diff(dim=1)) ** 2 * w).mean(-1)
        mv = m[:, 1:] * m[:, :-1]
        vel = (dv * mv).sum() / mv.sum().clamp_min(1)
        return {"total": mse + cfg.velocity_weight * vel, "mse": mse, "velocity": vel}

    # -- streaming --------------------------------------------------------------------
    def state_shapes(self) -> list[tuple[int, int]]:
        return [(self.cfg.width, b.conv.left) for b in self.blocks]

    def init_state(self, batch: int = 1) -> list[torch.Tensor]:
        return [torch.zeros(batch, c, t) for c, t in self.state_shapes()]

    def step(self, mel: torch.Tensor, style: torch.Tensor,
             caches: list[torch.Tensor]) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """(B, 4 t, n_mels) next shifted frames -> (B, t, out_dim) raw motion, new caches."""
        x = self._steps(mel, style)
        new = []
        for block, cache in zip(self.blocks, caches):
            x, c = block.step(x, cache)
            new.append(c)
        return self.out(self.ln_out(x)) * self.target_std + self.target_mean, new

    # -- checkpoints ----------------------------------------------------------------------
    def checkpoint(self, **extra) -> dict:
        return {"config": asdict(self.cfg), "state_dict": self.state_dict(), **extra}

    @classmethod
    def from_checkpoint(cls, path_or_dict) -> "AudioToMotion":
        ckpt = path_or_dict if isinstance(path_or_dict, dict) else torch.load(
            path_or_dict, map_location="cpu", weights_only=False)
        model = cls(AudioToMotionConfig.from_dict(ckpt["config"]))
        model.load_state_dict({k: v.float() for k, v in ckpt["state_dict"].items()})
        return model.eval()


def num_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
