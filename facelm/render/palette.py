"""Colours of the renders and the one fixed 256-colour palette every GIF frame uses.

Frames are drawn in RGB from a few base colours scaled by a shade (Lambert light),
so a palette made of shade ramps of those base colours plus the plain UI colours
represents them closely. One fixed palette means no per-frame colour search: a
frame is mapped to it with a nearest-colour lookup (about 1 ms at 640x256).
"""
from __future__ import annotations

import numpy as np
from PIL import Image

Color = tuple[int, int, int]

BACKGROUND: Color = (28, 30, 36)
PANEL: Color = (20, 22, 27)
GRID: Color = (58, 62, 72)
TEXT: Color = (200, 204, 212)
TEXT_DIM: Color = (130, 134, 144)
CURSOR: Color = (255, 255, 255)

# Materials: base colours that get multiplied by a shade in [0, 1].
SKIN: Color = (236, 196, 164)
HAIR: Color = (92, 64, 44)
LIPS: Color = (184, 84, 86)
MOUTH: Color = (78, 22, 30)
TEETH: Color = (240, 238, 228)
EYE_WHITE: Color = (245, 245, 242)
IRIS: Color = (86, 120, 150)
PUPIL: Color = (16, 16, 20)
BROW: Color = (70, 48, 34)
SHIRT: Color = (70, 96, 140)
INTERIOR: Color = (96, 36, 40)  # back faces of a mesh: inside of the mouth / neck

# Curve colours, distinct on the dark panel.
SERIES: tuple[Color, ...] = (
    (240, 96, 96), (96, 200, 120), (100, 150, 250), (240, 190, 80),
    (200, 120, 230), (80, 210, 220), (250, 140, 60), (170, 170, 170),
)

_RAMPS = ((SKIN, 72), (HAIR, 16), (LIPS, 16), (MOUTH, 8), (IRIS, 12), (SHIRT, 16),
          (INTERIOR, 8), ((255, 255, 255), 64))


def shade(color: Color, level: float) -> Color:
    """``color`` scaled by ``level`` in [0, 1]."""
    level = min(max(level, 0.0), 1.0)
    return (int(color[0] * level), int(color[1] * level), int(color[2] * level))


def _palette_colors() -> np.ndarray:
    colors: list[Color] = [BACKGROUND, PANEL, GRID, TEXT, TEXT_DIM, CURSOR, TEETH, EYE_WHITE,
                           PUPIL, BROW, *SERIES]
    for base, steps in _RAMPS:
        # Ramps stop at 0.15: darker than that never occurs (ambient light floor).
        colors += [shade(base, lv) for lv in np.linspace(0.15, 1.0, steps)]
    arr = np.array(colors[:256], np.uint8)
    return np.pad(arr, ((0, 256 - len(arr)), (0, 0)), mode="edge")


PALETTE_RGB = _palette_colors()  # (256, 3) uint8


def palette_image() -> Image.Image:
    """A 'P' image carrying the fixed palette, for ``Image.quantize(palette=...)``."""
    img = Image.new("P", (1, 1))
    img.putpalette(PALETTE_RGB.reshape(-1).tolist())
    return img


def to_palette(frame: Image.Image, pal: Image.Image) -> Image.Image:
    """Map an RGB frame to the fixed palette (nearest colour, no dithering)."""
    return frame.quantize(palette=pal, dither=Image.Dither.NONE)
