"""Vector quantizer with EMA codebook updates and dead-code reset.

Returns ``(quantized, indices, loss)`` like vector-quantize-pytorch, and decodes
from indices alone (``lookup``). The codebook is learned by exponential moving
averages of the assigned encoder outputs (no codebook gradient), which keeps
usage high; codes unused for a while are re-seeded from current encoder outputs.
"""
from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F


class EMAQuantizer(nn.Module):
    def __init__(self, num_codes: int = 512, dim: int = 64, decay: float = 0.99,
                 commitment: float = 0.02, dead_after: int = 200, eps: float = 1e-5):
        super().__init__()
        self.num_codes, self.dim, self.decay, self.commitment, self.eps = num_codes, dim, decay, commitment, eps
        self.dead_after = dead_after
        self.register_buffer("codebook", torch.randn(num_codes, dim) * 0.1)
        self.register_buffer("ema_count", torch.ones(num_codes))
        self.register_buffer("ema_sum", self.codebook.clone())
        self.register_buffer("steps_unused", torch.zeros(num_codes, dtype=torch.long))
        self.register_buffer("initialised", torch.tensor(False))

    def nearest(self, z: torch.Tensor) -> torch.Tensor:
        """(N, D) vectors -> (N,) nearest code ids (squared L2)."""
        dist_sq = (z.pow(2).sum(1, keepdim=True) - 2 * z @ self.codebook.t()
                   + self.codebook.pow(2).sum(1)[None])  # (N, K)
        return dist_sq.argmin(dim=1)

    def lookup(self, indices: torch.Tensor) -> torch.Tensor:
        """(...,) ids -> (..., D) code vectors."""
        return F.embedding(indices, self.codebook)

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """z (B, T, D) -> quantized (B, T, D) with straight-through grads, ids (B, T), commitment loss."""
        B, T, D = z.shape
        flat = z.reshape(B * T, D)  # (N, D)
        if self.training and not bool(self.initialised):
            self._seed_codes(flat.detach())
        ids = self.nearest(flat.detach())  # (N,)
        quantized = self.lookup(ids).view(B, T, D)
        if self.training:
            self._ema_update(flat.detach(), ids)
        loss = self.commitment * F.mse_loss(z, quantized.detach())
        quantized = z + (quantized - z).detach()  # straight-through estimator
        return quantized, ids.view(B, T), loss

    @torch.no_grad()
    def _seed_codes(self, flat: torch.Tensor) -> None:
        pick = flat[torch.randint(0, flat.shape[0], (self.num_codes,), device=flat.device)]
        if dist.is_available() and dist.is_initialized():
            dist.broadcast(pick, 0)
        self.codebook.copy_(pick)
        self.ema_sum.copy_(pick)
        self.ema_count.fill_(1.0)
        self.initialised.fill_(True)

    @torch.no_grad()
    def _ema_update(self, flat: torch.Tensor, ids: torch.Tensor) -> None:
        onehot = F.one_hot(ids, self.num_codes).type(flat.dtype)  # (N, K)
        count = onehot.sum(0)  # (K,)
        total = onehot.t() @ flat  # (K, D)
        if dist.is_available() and dist.is_initialized():
            dist.all_reduce(count)
            dist.all_reduce(total)
        self.ema_count.mul_(self.decay).add_(count, alpha=1 - self.decay)
        self.ema_sum.mul_(self.decay).add_(total, alpha=1 - self.decay)
        n = self.ema_count.sum()
        smoothed = (self.ema_count + self.eps) / (n + self.num_codes * self.eps) * n  # Laplace smoothing
        self.codebook.copy_(self.ema_sum / smoothed[:, None])
        # Dead-code reset: codes unused for a while jump onto random current encoder outputs.
        self.steps_unused.add_(1).masked_fill_(count > 0, 0)
        dead = self.steps_unused >= self.dead_after
        if dead.any():
            pick = flat[torch.randint(0, flat.shape[0], (int(dead.sum()),), device=flat.device)]
            if dist.is_available() and dist.is_initialized():
                dist.broadcast(pick, 0)
            self.codebook[dead] = pick
            self.ema_sum[dead] = pick
            self.ema_count[dead] = 1.0
            self.steps_unused[dead] = 0

    @staticmethod
    def perplexity(ids: torch.Tensor, num_codes: int) -> float:
        """exp(entropy) of code usage over ``ids``: the number of codes effectively used."""
        p = torch.bincount(ids.flatten(), minlength=num_codes).float()
        p = p / p.sum().clamp(min=1)
        return float(torch.exp(-(p * torch.log(p.clamp(min=1e-12))).sum()))
