"""Projection and a painter's-algorithm polygon renderer on Pillow.

Coordinates follow FLAME: x is the subject's left, y up, z toward the camera. The
camera looks down -z, so the subject's left appears on the image's right (as when
facing a person). Polygons are drawn far to near; Pillow fills a small polygon in
about a microsecond, so a 10k-triangle mesh costs ~10 ms a frame at 256 px.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import ImageDraw

# Light from the viewer's upper left, a little in front (camera-fixed).
LIGHT = np.array([-0.45, 0.55, 0.70]) / np.linalg.norm([-0.45, 0.55, 0.70])
AMBIENT = 0.35


@dataclass
class Camera:
    """Image point of model point p: center + scale * (x, -y) * focal / (focal - z)."""

    cx: float
    cy: float
    scale: float
    focal: float | None = None  # distance of the eye from z = 0; None: orthographic

    def project(self, points: np.ndarray) -> np.ndarray:
        """(..., 3) model points -> (..., 2) pixel coordinates (float)."""
        p = np.asarray(points, np.float64)
        k = self.scale
        if self.focal is not None:
            k = self.scale * self.focal / np.maximum(self.focal - p[..., 2], 1e-3)
        return np.stack([self.cx + k * p[..., 0], self.cy - k * p[..., 1]], axis=-1)


def face_normals(points: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Unit normals of triangles (F, 3) or quads (F, 4), counter-clockwise seen from outside."""
    p = points[faces]
    if faces.shape[1] == 4:  # the cross of the diagonals is robust for warped quads
        n = np.cross(p[:, 2] - p[:, 0], p[:, 3] - p[:, 1])
    else:
        n = np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0])
    return n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)


def lambert(normals: np.ndarray) -> np.ndarray:
    """Light level in [AMBIENT, 1] of each normal (camera space)."""
    return AMBIENT + (1.0 - AMBIENT) * np.clip(normals @ LIGHT, 0.0, 1.0)


def screen_facing(xy: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """True where a polygon faces the camera (counter-clockwise on screen, y down)."""
    p = xy[faces]
    # Shoelace over the first three vertices; image y points down, so front = negative.
    a = (p[:, 1, 0] - p[:, 0, 0]) * (p[:, 2, 1] - p[:, 0, 1]) - (p[:, 2, 0] - p[:, 0, 0]) * (p[:, 1, 1] - p[:, 0, 1])
    if faces.shape[1] == 4:
        a = a + (p[:, 2, 0] - p[:, 0, 0]) * (p[:, 3, 1] - p[:, 0, 1]) - (p[:, 3, 0] - p[:, 0, 0]) * (p[:, 2, 1] - p[:, 0, 1])
    return a < 0


def _packed_ink(draw: ImageDraw.ImageDraw) -> bool:
    """Whether this image takes RGB ink packed as r | g << 8 | b << 16 (Pillow's RGB layout)."""
    try:
        return draw.mode == "RGB" and draw.draw.draw_ink((1, 2, 3)) & 0xFFFFFF == 0x030201
    except AttributeError:
        return False


def paint_polygons(draw: ImageDraw.ImageDraw, xy: np.ndarray, faces: np.ndarray,
                   depth: np.ndarray, colors: np.ndarray) -> None:
    """Fill polygons far to near. xy (N, 2) pixels, faces (F, k), depth (F,) larger = nearer,
    colors (F, 3) uint8."""
    if len(faces) == 0:
        return
    order = np.argsort(depth, kind="stable")
    coords = xy[faces[order]].reshape(len(order), -1)
    colors = np.asarray(colors)[order].astype(np.int64)
    if _packed_ink(draw):
        # Pillow's core fill with pre-packed ink: a third of ImageDraw.polygon's cost,
        # which converts the colour and checks arguments on every call.
        inks = (colors[:, 0] | colors[:, 1] << 8 | colors[:, 2] << 16).tolist()
        fill = draw.draw.draw_polygon
        for pts, ink in zip(coords.tolist(), inks):  # lists: ndarray rows are misread
            fill(pts, ink, 1)
        return
    for pts, color in zip(coords.tolist(), colors.tolist()):
        draw.polygon(pts, fill=tuple(color))
