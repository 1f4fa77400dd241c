"""The learning-rate schedule every facelm trainer uses: linear warm-up, then cosine decay to 5 %."""
from __future__ import annotations

import math

FLOOR = 0.05  # the rate ends at 5 % of its peak, not at zero


def warmup_cosine(step: int, peak: float, warmup: int, steps: int, progress_floor: float = 0.0) -> float:
    """Rate at ``step``; ``progress_floor`` (0-1) lets a wall-clock budget move the decay along sooner."""
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = max((step - warmup) / max(1, steps - warmup), progress_floor)
    return peak * (FLOOR + (1 - FLOOR) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def lr_at(step: int, args) -> float:
    """The schedule for a trainer's parsed arguments (``lr``, ``warmup``, ``steps``)."""
    return warmup_cosine(step, args.lr, args.warmup, args.steps)
