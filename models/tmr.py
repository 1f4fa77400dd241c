"""Contrastive text-motion evaluator (in the spirit of TMR and T2M's evaluator).

Two encoders map a motion clip and a text into one unit-length latent space where
a text lies close to motions that do what it says. It is the judge behind
R-precision, FID, MM-Dist, Diversity and MultiModality (``training.metrics``).

- motion: feature rows of ``MotionClip.to_array(include_global=False)`` (expression,
  neck, jaw, eyes; 25 fps, any length up to ``max_frames``), z-scored with train
  statistics stored in the model; two strided 1-D convolutions (4 frames a step,
  seeing local velocity), a [CLS] slot, a small transformer with a key padding
  mask, and a projection of the [CLS] state.
- text: a small MLP over a frozen all-MiniLM-L6-v2 sentence embedding (384-d,
  ``training.sentence_embed``), so the evaluator never depends on the LM's own text
  tokenizer.

Reads top-down: config, motion encoder, text encoder, the evaluator (with its
InfoNCE loss and checkpoint format).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class EvaluatorConfig:
    motion_dim: int = 62          # 50 expression + neck 3 + jaw 3 + eyes 6
    text_dim: int = 384           # all-MiniLM-L6-v2
    d_model: int = 128
    layers: int = 3
    heads: int = 4
    ff: int = 256
    latent: int = 128
    dropout: float = 0.1
    max_frames: int = 320         # 12.8 s at 25 fps
    stride: int = 4               # frames a transformer position
    temperature: float = 0.1      # InfoNCE temperature (TMR's value)
    fps: float = 25.0

    @property
    def max_positions(self) -> int:
        return math.ceil(self.max_frames / self.stride) + 1  # + [CLS]


class MotionEncoder(nn.Module):
    def __init__(self, cfg: EvaluatorConfig):
        super().__init__()
        self.cfg = cfg
        if cfg.stride % 2:
            raise ValueError(f"stride must be even, got {cfg.stride}")
        half = cfg.stride // 2
        # Two strided convs: 'stride' frames a position, each seeing a few frames around it.
        self.conv1 = nn.Conv1d(cfg.motion_dim, cfg.d_model, kernel_size=2 * half + 1, stride=half, padding=half)
        self.conv2 = nn.Conv1d(cfg.d_model, cfg.d_model, kernel_size=5, stride=2, padding=2)
        self.cls = nn.Parameter(torch.zeros(1, 1, cfg.d_model))
        self.pos = nn.Parameter(torch.randn(1, cfg.max_positions, cfg.d_model) * 0.02)
        layer = nn.TransformerEncoderLayer(cfg.d_model, cfg.heads, cfg.ff, cfg.dropout, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.transformer = nn.TransformerEncoder(layer, cfg.layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(cfg.d_model)
        self.proj = nn.Linear(cfg.d_model, cfg.latent)

    def positions(self, lengths: torch.Tensor) -> torch.Tensor:
        """Transformer positions (without [CLS]) that frames ``lengths`` fill."""
        return torch.div(lengths + self.cfg.stride - 1, self.cfg.stride, rounding_mode="floor")

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """x (B, T, D) z-scored, zero past each length -> (B, latent) unit vectors."""
        h = F.gelu(self.conv1(x.transpose(1, 2)))  # (B, d, ceil(T / half))
        # zero past each clip's end, so a clip's latent does not depend on the batch's padding
        n1 = torch.div(lengths + self.conv1.stride[0] - 1, self.conv1.stride[0], rounding_mode="floor")
        h = h * (torch.arange(h.shape[2], device=x.device)[None] < n1[:, None])[:, None]
        h = self.conv2(h).transpose(1, 2)  # (B, ceil(T / stride), d)
        n = self.positions(lengths).clamp(min=1, max=h.shape[1])
        pad = torch.arange(h.shape[1], device=x.device)[None] >= n[:, None]  # True: padding
        h = torch.cat([self.cls.expand(len(h), -1, -1), h], dim=1) + self.pos[:, : h.shape[1] + 1]
        pad = torch.cat([torch.zeros_like(pad[:, :1]), pad], dim=1)
        h = self.transformer(h, src_key_padding_mask=pad)
        return F.normalize(self.proj(self.norm(h[:, 0])), dim=-1)


class TextEncoder(nn.Module):
    """A head over frozen sentence embeddings."""

    def __init__(self, cfg: EvaluatorConfig):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(cfg.text_dim, 2 * cfg.d_model), nn.GELU(), nn.Dropout(cfg.dropout),
                                 nn.Linear(2 * cfg.d_model, cfg.latent))

    def forward(self, sentence: torch.Tensor) -> torch.Tensor:
        """(B, text_dim) sentence embeddings -> (B, latent) unit vectors."""
        return F.normalize(self.net(sentence), dim=-1)


class TextMotionEvaluator(nn.Module):
    def __init__(self, cfg: EvaluatorConfig):
        super().__init__()
        self.cfg = cfg
        self.motion = MotionEncoder(cfg)
        self.text = TextEncoder(cfg)
        self.register_buffer("mean", torch.zeros(cfg.motion_dim))
        self.register_buffer("std", torch.ones(cfg.motion_dim))

    def set_normalisation(self, mean: torch.Tensor, std: torch.Tensor, floor: float = 1e-3) -> None:
        self.mean.copy_(mean)
        self.std.copy_(std.clamp(min=floor))

    def encode_motion(self, frames: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Raw feature rows (B, T, D), frames past ``lengths`` ignored -> (B, latent).
        Clips longer than ``max_frames`` are cut to their middle ``max_frames``."""
        if frames.shape[-1] != self.cfg.motion_dim:
            raise ValueError(f"motion rows must have {self.cfg.motion_dim} values, got {frames.shape[-1]}")
        if frames.shape[1] > self.cfg.max_frames:
            frames, lengths = _middle(frames, lengths, self.cfg.max_frames)
        valid = torch.arange(frames.shape[1], device=frames.device)[None, :, None] < lengths[:, None, None]
        x = torch.where(valid, (frames - self.mean) / self.std, torch.zeros((), device=frames.device))
        return self.motion(x, lengths)

    def encode_text(self, sentence: torch.Tensor) -> torch.Tensor:
        return self.text(sentence)

    @torch.no_grad()
    def embed_clips(self, clips: list, batch_size: int = 64) -> "np.ndarray":
        """Latents (N, latent) float32 of raw feature arrays (T_i, D), batched by length."""
        import numpy as np

        out = np.zeros((len(clips), self.cfg.latent), np.float32)
        order = sorted(range(len(clips)), key=lambda i: len(clips[i]))
        device = self.mean.device
        for start in range(0, len(order), batch_size):
            idx = order[start: start + batch_size]
            frames, lengths = pad_batch([clips[i] for i in idx])
            out[idx] = self.encode_motion(frames.to(device), lengths.to(device)).cpu().numpy()
        return out

    @torch.no_grad()
    def embed_sentences(self, sentences: "np.ndarray") -> "np.ndarray":
        """Latents (N, latent) float32 of sentence embeddings (N, text_dim)."""
        x = torch.as_tensor(sentences, dtype=torch.float32, device=self.mean.device)
        return self.encode_text(x).cpu().numpy()

    def loss(self, motion: torch.Tensor, text: torch.Tensor, same: torch.Tensor | None = None,
             extra_motion: torch.Tensor | None = None, extra_same: torch.Tensor | None = None) -> torch.Tensor:
        """Symmetric InfoNCE with in-batch negatives.

        ``same`` (B, B) bool, [i, j]: text j also describes motion i; off the diagonal such
        pairs are not negatives and are left out of the softmax. ``extra_motion`` (K, latent)
        are further negatives for the text-to-motion side only (hard negatives without a
        text of their own, e.g. a clip mirrored left to right); ``extra_same`` (B, K) marks
        the ones a text also describes."""
        logits = motion @ text.T / self.cfg.temperature  # (motions, texts)
        if same is not None:
            off = same & ~torch.eye(len(same), dtype=torch.bool, device=same.device)
            logits = logits.masked_fill(off, float("-inf"))
        target = torch.arange(len(logits), device=logits.device)
        text_to_motion = logits.T
        if extra_motion is not None and len(extra_motion):
            extra = text @ extra_motion.T / self.cfg.temperature  # (texts, K)
            if extra_same is not None:
                extra = extra.masked_fill(extra_same, float("-inf"))
            text_to_motion = torch.cat([text_to_motion, extra], dim=1)
        return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(text_to_motion, target))

    # -- checkpoints carry their config -------------------------------------
    def checkpoint(self, half: bool = False, **extra) -> dict:
        """Config + weights (``half``: floating tensors stored as float16, half the size; they load
        back into float32)."""
        state = {k: v.half() if half and v.is_floating_point() else v for k, v in self.state_dict().items()}
        return {"kind": "text_motion_evaluator", "config": asdict(self.cfg), "state_dict": state, **extra}

    @classmethod
    def from_checkpoint(cls, path_or_dict) -> "TextMotionEvaluator":
        ckpt = path_or_dict if isinstance(path_or_dict, dict) else \
            torch.load(path_or_dict, map_location="cpu", weights_only=False)
        if ckpt.get("kind") != "text_motion_evaluator":
            raise ValueError(f"not a text-motion evaluator checkpoint: kind={ckpt.get('kind')!r}")
        model = cls(EvaluatorConfig(**ckpt["config"]))
        model.load_state_dict(ckpt["state_dict"])
        return model.eval()


def pad_batch(clips: list) -> tuple[torch.Tensor, torch.Tensor]:
    """Raw arrays (T_i, D) -> zero-padded (B, max T, D) float tensor and lengths (B,)."""
    lengths = torch.tensor([len(c) for c in clips], dtype=torch.long)
    frames = torch.zeros(len(clips), int(lengths.max()), clips[0].shape[1])
    for i, c in enumerate(clips):
        frames[i, : len(c)] = torch.as_tensor(c, dtype=torch.float32)
    return frames, lengths


def _middle(frames: torch.Tensor, lengths: torch.Tensor, keep: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Each clip's middle ``keep`` frames (clips no longer than ``keep`` stay as they are)."""
    start = ((lengths - keep).clamp(min=0) // 2)
    idx = (start[:, None] + torch.arange(keep, device=frames.device)[None]).clamp(max=frames.shape[1] - 1)
    cut = torch.gather(frames, 1, idx[:, :, None].expand(-1, -1, frames.shape[2]))
    return cut, lengths.clamp(max=keep)


def num_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
