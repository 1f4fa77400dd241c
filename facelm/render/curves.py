"""Curves of the main parameters over time, with a moving time cursor.

The panel is drawn once (strips, axes, every curve); a frame is a copy of it plus
a cursor line, so curves cost ~0.2 ms a frame whatever the clip length.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from facelm.render import palette as pal
from facelm.render.drive import FaceDrive


@dataclass
class Strip:
    """One horizontal strip: a title and curves sharing a vertical range."""

    title: str
    series: list[tuple[str, np.ndarray]]  # (legend, values (T,))
    signed: bool  # symmetric range about 0, else 0 .. max(1, peak)
    min_span: float = 1e-3  # smallest half-range, so a still signal does not magnify noise


def font(px: int) -> ImageFont.ImageFont:
    """Pillow's bundled font at ``px`` pixels (the bitmap one where FreeType is missing)."""
    try:
        return ImageFont.load_default(size=px)
    except (ImportError, TypeError, OSError):
        return ImageFont.load_default()


def default_strips(drive: FaceDrive, head_is_neck: bool) -> list[Strip]:
    """The curves worth watching: head rotation, jaw, then lids, brows and mouth when the
    facial action is known, else gaze and more raw expression coefficients."""
    deg = np.degrees
    head = deg(drive.head)
    mean = lambda a: a.mean(axis=1)  # noqa: E731
    coeffs = lambda lo, hi: Strip(  # noqa: E731
        f"expression {lo}-{min(hi, drive.expression.shape[1]) - 1}",
        [(f"e{k}", drive.expression[:, k]) for k in range(lo, min(hi, drive.expression.shape[1]))], True, 0.1)
    strips = [
        Strip("neck deg" if head_is_neck else "head deg (global o neck)",
              [("x down+", head[:, 0]), ("y left+", head[:, 1]), ("z tilt R+", head[:, 2])], True, 5.0),
        Strip("jaw x deg", [("open+", deg(drive.jaw[:, 0]))], True, 5.0),
    ]
    if drive.action_known:
        strips += [
            Strip("eyelids closed", [("L", drive.blink[:, 0]), ("R", drive.blink[:, 1])], False),
            Strip("brows", [("raise", mean(np.maximum(drive.brow_inner, drive.brow_outer))),
                            ("lower", mean(drive.brow_down))], False),
            Strip("mouth", [("smile", mean(drive.smile)), ("frown", mean(drive.frown)),
                            ("part", drive.lips_part)], False),
            coeffs(0, 4),
        ]
    else:
        gaze = deg(drive.gaze.reshape(-1, 2, 3).mean(axis=1))
        strips += [
            Strip("gaze deg", [("x down+", gaze[:, 0]), ("y left+", gaze[:, 1])], True, 5.0),
            coeffs(0, 4), coeffs(4, 8),
            Strip("eyelids closed", [("L", drive.blink[:, 0]), ("R", drive.blink[:, 1])], False)
            if np.any(drive.blink) else coeffs(8, 12),
        ]
    return strips


class CurvePanel:
    """``width`` x ``height`` panel of strips over frames at ``times`` (seconds)."""

    def __init__(self, strips: list[Strip], times: np.ndarray, width: int, height: int) -> None:
        self.times = np.asarray(times, float)
        self.width, self.height = width, height
        self.margin = 6
        px = max(8, round(height / 26))
        self._font = font(px)
        self.axis_px = px + 5  # room for the time axis at the bottom
        self._bg = self._draw_background(strips)

    def x_of(self, i: int | np.ndarray) -> np.ndarray | float:
        """Pixel column of frame ``i``."""
        n = len(self.times)
        frac = np.asarray(i, float) / max(n - 1, 1)
        return self.margin + frac * (self.width - 2 * self.margin - 1)

    def _draw_background(self, strips: list[Strip]) -> Image.Image:
        img = Image.new("RGB", (self.width, self.height), pal.PANEL)
        d = ImageDraw.Draw(img)
        h = (self.height - self.axis_px) / len(strips)
        xs = self.x_of(np.arange(len(self.times)))
        for k, strip in enumerate(strips):
            top, bottom = k * h + 2, (k + 1) * h - 2
            d.rectangle([self.margin, top, self.width - self.margin, bottom], outline=pal.GRID)
            values = np.stack([v for _, v in strip.series]) if strip.series else np.zeros((1, len(xs)))
            peak = float(np.max(np.abs(values))) if values.size else 0.0
            if strip.signed:
                span = max(peak, strip.min_span) * 1.1
                lo, hi = -span, span
                zero = bottom - (0 - lo) / (hi - lo) * (bottom - top)
                d.line([self.margin, zero, self.width - self.margin, zero], fill=pal.GRID)
            else:
                lo, hi = 0.0, max(1.0, peak)
            for j, (_, v) in enumerate(strip.series):
                ys = bottom - 2 - (np.clip(v, lo, hi) - lo) / (hi - lo) * (bottom - top - 4)
                color = pal.SERIES[j % len(pal.SERIES)]
                if len(xs) > 1:
                    d.line(np.stack([xs, ys], -1).reshape(-1).tolist(), fill=color, width=1)
                else:
                    d.point([(float(xs[0]), float(ys[0]))], fill=color)
            self._label(d, strip, top, hi, lo)
        self._time_axis(d)
        return img

    def _label(self, d: ImageDraw.ImageDraw, strip: Strip, top: float, hi: float, lo: float) -> None:
        x = self.margin + 3
        d.text((x, top + 1), strip.title, fill=pal.TEXT, font=self._font)
        x += d.textlength(strip.title, font=self._font) + 8
        for j, (name, _) in enumerate(strip.series):
            d.text((x, top + 1), name, fill=pal.SERIES[j % len(pal.SERIES)], font=self._font)
            x += d.textlength(name, font=self._font) + 6
        rng = f"{hi:.3g}" if not strip.signed else f"+/-{hi:.3g}"
        d.text((self.width - self.margin - 3 - d.textlength(rng, font=self._font), top + 1), rng,
               fill=pal.TEXT_DIM, font=self._font)

    def _time_axis(self, d: ImageDraw.ImageDraw) -> None:
        t0, t1 = float(self.times[0]), float(self.times[-1])
        span = max(t1 - t0, 1e-6)
        step = next((s for s in (0.2, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300) if span / s <= 8), 600)
        y = self.height - self.axis_px
        for t in np.arange(np.ceil(t0 / step) * step, t1 + 1e-9, step):
            x = self.margin + (t - t0) / span * (self.width - 2 * self.margin - 1)
            d.line([x, y, x, y + 3], fill=pal.TEXT_DIM)
            d.text((x + 2, y + 1), f"{t:g}s", fill=pal.TEXT_DIM, font=self._font)

    def blank(self) -> Image.Image:
        """The panel without a cursor."""
        return self._bg.copy()

    def draw(self, i: int) -> Image.Image:
        """The panel with the cursor at frame ``i``."""
        img = self._bg.copy()
        self.mark(ImageDraw.Draw(img), i, pal.CURSOR)
        return img

    def mark(self, d: ImageDraw.ImageDraw, i: int, color, label: str | None = None) -> None:
        """A vertical line at frame ``i`` (the cursor, or a contact-sheet marker with a label)."""
        x = float(self.x_of(i))
        d.line([x, 0, x, self.height - self.axis_px], fill=color, width=1)
        if label:  # on the time axis row, where it hides no curve
            d.text((x + 2, self.height - self.axis_px + 1), label, fill=color, font=self._font)
