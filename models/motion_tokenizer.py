"""Motion tokenizer: a causal 1D-conv ResNet VQ-VAE over FLAME parameter sequences.

Reads top-down: config, causal conv blocks (each can step with an explicit cache),
encoder, decoder, the VQ-VAE. Everything is causal so that
- decoding streams: one token in -> ``frames_per_token`` frames out, with a bounded
  state (the conv caches), identical to offline decoding (zero initial caches are
  exactly the zero padding of the offline convs);
- encoding streams with a fixed delay: token k covers frames 4k..4k+3 and is ready
  once frame 4k+3 has arrived (see ``encoder_receptive_field``).
Normalisation statistics and the config live in the checkpoint.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F

from models.quantizer import EMAQuantizer


@dataclass
class TokenizerConfig:
    num_expression: int = 50
    include_global: bool = False
    hidden: int = 192
    code_dim: int = 64
    num_codes: int = 512
    down_steps: int = 2  # temporal downsampling 2**down_steps (a token = 4 frames)
    res_depth: int = 3
    dilation_growth: int = 3
    commitment: float = 0.02
    ema_decay: float = 0.99
    dead_after: int = 200
    # Loss weights per parameter group (z-scored units) and on frame-to-frame velocity.
    group_weights: dict = field(default_factory=lambda: {
        "expression": 1.0, "global": 0.5, "neck": 1.5, "jaw": 2.0, "eyes": 1.5})
    velocity_weight: float = 0.5
    fps: float = 25.0
    # Tokens the decoder reads ahead: token k's frames come out once token k + lookahead is in.
    # The stream is flushed at its end by repeating the last token (``decode`` does the same).
    decoder_lookahead: int = 0

    @property
    def input_dim(self) -> int:
        return self.num_expression + (3 if self.include_global else 0) + 12

    @property
    def frames_per_token(self) -> int:
        return 2 ** self.down_steps

    def group_slices(self) -> dict[str, slice]:
        """Column ranges of each parameter group in the feature layout of MotionClip.to_array."""
        e = self.num_expression
        out = {"expression": slice(0, e)}
        o = e
        if self.include_global:
            out["global"] = slice(o, o + 3)
            o += 3
        out.update(neck=slice(o, o + 3), jaw=slice(o + 3, o + 6), eyes=slice(o + 6, o + 12))
        return out


class CausalConv1d(nn.Conv1d):
    """Conv1d that only looks back: left padding of (k-1)*dilation, optional stride."""

    def __init__(self, cin: int, cout: int, kernel: int, dilation: int = 1, stride: int = 1):
        super().__init__(cin, cout, kernel, stride=stride, dilation=dilation)
        self.left = (kernel - 1) * dilation

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, T)
        return super().forward(F.pad(x, (self.left, 0)))

    def step(self, x: torch.Tensor, cache: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Stride-1 streaming: x (B, C, t) new frames, cache (B, C, left) -> y (B, Cout, t), new cache."""
        full = torch.cat([cache, x], dim=2)  # (B, C, left + t)
        return super().forward(full), full[:, :, full.shape[2] - self.left:]


class ResBlock(nn.Module):
    def __init__(self, channels: int, dilation: int):
        super().__init__()
        self.conv = CausalConv1d(channels, channels, 3, dilation=dilation)
        self.proj = nn.Conv1d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.proj(F.relu(self.conv(F.relu(x))))

    def step(self, x: torch.Tensor, caches: list[torch.Tensor]) -> torch.Tensor:
        h, caches[0] = self.conv.step(F.relu(x), caches[0])
        return x + self.proj(F.relu(h))


class ResStack(nn.Module):
    def __init__(self, channels: int, depth: int, growth: int, reverse: bool = False):
        super().__init__()
        dilations = [growth ** i for i in range(depth)]
        self.blocks = nn.ModuleList(ResBlock(channels, d) for d in (dilations[::-1] if reverse else dilations))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return x


class Encoder(nn.Module):
    """(B, D, T) normalised frames -> (B, code_dim, T / 2**down_steps)."""

    def __init__(self, cfg: TokenizerConfig):
        super().__init__()
        h = cfg.hidden
        layers: list[nn.Module] = [CausalConv1d(cfg.input_dim, h, 3), nn.ReLU()]
        for _ in range(cfg.down_steps):
            # kernel 4, stride 2: output i sees inputs <= 2i+1, so token k sees frames <= 4k+3
            layers += [CausalConv1d(h, h, 4, stride=2), ResStack(h, cfg.res_depth, cfg.dilation_growth)]
        layers += [CausalConv1d(h, cfg.code_dim, 3)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class Decoder(nn.Module):
    """(B, code_dim, N) code vectors -> (B, D, N * 2**down_steps) normalised frames, causally."""

    def __init__(self, cfg: TokenizerConfig):
        super().__init__()
        h = cfg.hidden
        self.conv_in = CausalConv1d(cfg.code_dim, h, 3)
        self.stages = nn.ModuleList()
        for _ in range(cfg.down_steps):
            self.stages.append(nn.ModuleDict({
                "res": ResStack(h, cfg.res_depth, cfg.dilation_growth, reverse=True),
                "conv": CausalConv1d(h, h, 3),
            }))
        self.conv_mid = CausalConv1d(h, h, 3)
        self.conv_out = nn.Conv1d(h, cfg.input_dim, 1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.conv_in(z))
        for stage in self.stages:
            x = stage["res"](x)
            x = F.interpolate(x, scale_factor=2, mode="nearest")  # (B, h, 2T)
            x = F.relu(stage["conv"](x))
        return self.conv_out(F.relu(self.conv_mid(x)))

    # -- streaming -------------------------------------------------------------
    def causal_convs(self) -> list[CausalConv1d]:
        """Every conv with a cache, in the order ``step`` consumes caches."""
        convs = [self.conv_in]
        for stage in self.stages:
            convs += [b.conv for b in stage["res"].blocks] + [stage["conv"]]
        return convs + [self.conv_mid]

    def init_state(self, batch: int = 1) -> list[torch.Tensor]:
        """Zero caches: equal to the zero padding offline decoding sees before token 0."""
        p = next(self.parameters())
        return [torch.zeros(batch, c.in_channels, c.left, dtype=p.dtype, device=p.device) for c in self.causal_convs()]

    def step(self, z: torch.Tensor, state: list[torch.Tensor]) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """One token: z (B, code_dim, 1) -> frames (B, D, 2**down_steps), next state."""
        state = list(state)
        i = 0
        x, state[i] = self.conv_in.step(z, state[i])
        x = F.relu(x)
        i += 1
        for stage in self.stages:
            for block in stage["res"].blocks:
                cache = [state[i]]
                x = block.step(x, cache)
                state[i] = cache[0]
                i += 1
            x = F.interpolate(x, scale_factor=2, mode="nearest")
            x, state[i] = stage["conv"].step(x, state[i])
            x = F.relu(x)
            i += 1
        x, state[i] = self.conv_mid.step(x, state[i])
        return self.conv_out(F.relu(x)), state


class MotionTokenizer(nn.Module):
    """VQ-VAE: ``encode(frames) -> ids``, ``decode(ids) -> frames``; frames are raw (T, D) features."""

    def __init__(self, cfg: TokenizerConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg)
        self.quantizer = EMAQuantizer(cfg.num_codes, cfg.code_dim, cfg.ema_decay, cfg.commitment, cfg.dead_after)
        self.decoder = Decoder(cfg)
        self.register_buffer("mean", torch.zeros(cfg.input_dim))
        self.register_buffer("std", torch.ones(cfg.input_dim))
        self.register_buffer("loss_weights", torch.ones(cfg.input_dim))
        self.set_group_weights(cfg.group_weights)

    def set_group_weights(self, group_weights: dict) -> None:
        """Loss weight per parameter group (normalised to mean 1 over channels); kept in the config."""
        self.cfg.group_weights = dict(group_weights)
        weights = torch.ones(self.cfg.input_dim)
        for name, sl in self.cfg.group_slices().items():
            weights[sl] = self.cfg.group_weights.get(name, 1.0)
        self.loss_weights.copy_(weights / weights.mean())

    def set_normalisation(self, mean: torch.Tensor, std: torch.Tensor, floor: float = 1e-3) -> None:
        self.mean.copy_(mean)
        self.std.copy_(std.clamp(min=floor))

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std

    def denormalise(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.std + self.mean

    def forward(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        """frames (B, T, D) raw with T a multiple of frames_per_token -> recon (B, T, D) normalised, ids, losses."""
        x = self.normalise(frames)  # (B, T, D)
        z = self.encoder(x.transpose(1, 2)).transpose(1, 2)  # (B, N, code_dim)
        q, ids, commit = self.quantizer(z)
        recon = self.decode_vectors(q)  # (B, T, D) normalised
        err = (recon - x).pow(2) * self.loss_weights
        vel = ((recon[:, 1:] - recon[:, :-1]) - (x[:, 1:] - x[:, :-1])).pow(2) * self.loss_weights
        losses = {"recon": err.mean(), "velocity": vel.mean(), "commit": commit,
                  "mse": (recon - x).pow(2).mean().detach()}
        losses["total"] = losses["recon"] + self.cfg.velocity_weight * losses["velocity"] + commit
        return recon, ids, losses

    @torch.no_grad()
    def encode(self, frames: torch.Tensor) -> torch.Tensor:
        """(B, T, D) raw frames -> (B, ceil(T / fpt)) token ids (the tail is padded by repeating the last frame)."""
        fpt = self.cfg.frames_per_token
        pad = (-frames.shape[1]) % fpt
        if pad:
            frames = torch.cat([frames, frames[:, -1:].expand(-1, pad, -1)], dim=1)
        z = self.encoder(self.normalise(frames).transpose(1, 2)).transpose(1, 2)  # (B, N, code_dim)
        return self.quantizer.nearest(z.reshape(-1, z.shape[-1])).view(z.shape[0], z.shape[1])

    def decode_vectors(self, q: torch.Tensor) -> torch.Tensor:
        """(B, N, code_dim) code vectors -> (B, N * fpt, D) normalised frames.

        With look-ahead L the decoder's output runs L tokens behind its input, so the
        sequence is extended by L copies of its last vector (the end-of-stream flush)
        and the first L tokens' worth of output (before the clip) is dropped."""
        lookahead = self.cfg.decoder_lookahead
        if lookahead:
            q = torch.cat([q, q[:, -1:].expand(-1, lookahead, -1)], dim=1)  # (B, N + L, code_dim)
        out = self.decoder(q.transpose(1, 2)).transpose(1, 2)  # (B, (N + L) * fpt, D)
        return out[:, lookahead * self.cfg.frames_per_token:]

    @torch.no_grad()
    def decode(self, ids: torch.Tensor) -> torch.Tensor:
        """(B, N) token ids -> (B, N * fpt, D) raw frames."""
        return self.denormalise(self.decode_vectors(self.quantizer.lookup(ids)))

    def decode_step(self, ids: torch.Tensor, state: list[torch.Tensor]) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """(B,) ids -> (B, fpt, D) raw frames; ``state`` from ``decoder.init_state``.

        The frames are those of the token ``decoder_lookahead`` steps back (the first
        ``decoder_lookahead`` calls give frames before the stream, to be dropped)."""
        q = self.quantizer.lookup(ids)[:, :, None]  # (B, code_dim, 1)
        frames, state = self.decoder.step(q, state)
        return self.denormalise(frames.transpose(1, 2)), state

    def encoder_receptive_field(self) -> int:
        """Frames that influence one token (looking back from its last frame)."""
        rf, jump = 1, 1
        for m in self.encoder.modules():
            if isinstance(m, CausalConv1d):
                rf += m.left * jump
                if m.stride[0] > 1:
                    jump *= m.stride[0]
        return rf

    # -- checkpoints carry their config -------------------------------------
    def checkpoint(self, **extra) -> dict:
        return {"kind": "motion_tokenizer", "config": asdict(self.cfg), "state_dict": self.state_dict(), **extra}

    @classmethod
    def from_checkpoint(cls, path_or_dict) -> "MotionTokenizer":
        ckpt = path_or_dict if isinstance(path_or_dict, dict) else torch.load(path_or_dict, map_location="cpu", weights_only=False)
        if ckpt.get("kind") != "motion_tokenizer":
            raise ValueError(f"not a motion tokenizer checkpoint: kind={ckpt.get('kind')!r}")
        model = cls(TokenizerConfig(**ckpt["config"]))
        model.load_state_dict(ckpt["state_dict"])
        return model.eval()


def num_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


__all__ = ["TokenizerConfig", "MotionTokenizer", "num_parameters", "math", "_ceil_div"]
