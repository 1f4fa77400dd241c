"""A schematic 3D face driven by FLAME parameters, for when no FLAME model is at hand.

The head is a shaded, slightly egg-shaped ellipsoid (hair on top and back, so nods
read at a glance) with ears, on a static neck and shoulders. Features sit on its
surface in head coordinates (FLAME's frame, unit = half the head's height):
brows, eyes with lids and irises, a nose that stands off the surface, lips.
Each frame:

- the lower face (chin, lower lip, half of each lip corner) turns about the jaw
  hinge by ``jaw_pose`` (so x > 0 drops the chin, as FLAME opens the mouth);
- the whole head turns about the neck by global o neck, and is projected with a
  mild perspective, so nods, turns and tilts show as they would on a person;
- brows, lids, irises and lip corners move by the drive's intensities.
"""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from facelm import rotations
from facelm.render import palette as pal
from facelm.render.drive import FaceDrive
from facelm.render.raster import Camera, face_normals, lambert, paint_polygons, screen_facing

# Head shape: ellipsoid radii (x, y, z); the lower half narrows toward the chin.
RADII = np.array([0.78, 1.0, 0.86])
TAPER = 0.16
NECK_PIVOT = np.array([0.0, -0.8, -0.25])
JAW_PIVOT = np.array([0.0, 0.02, -0.25])  # the hinge, near the ears
MOUTH_Y = -0.47
EYE_Y, EYE_X, EYE_HALF_WIDTH = 0.16, 0.30, 0.125
LIFT = 0.012  # features float just off the surface so they project in front of it


def _taper(y: np.ndarray) -> np.ndarray:
    return 1.0 - TAPER * np.clip(-y, 0.0, 1.0)


def surface_point(x, y, lift: float = LIFT) -> np.ndarray:
    """(..., 3) point on the front of the head above head-plane coordinates (x, y)."""
    x, y = np.broadcast_arrays(np.asarray(x, float), np.asarray(y, float))
    a = RADII[0] * _taper(y)
    inside = np.clip(1.0 - (x / a) ** 2 - (y / RADII[1]) ** 2, 0.0, 1.0)
    return np.stack([x, y, RADII[2] * np.sqrt(inside) + lift], axis=-1)


def surface_normal(p: np.ndarray) -> np.ndarray:
    """Outward normal of the (untapered) ellipsoid at p: enough to decide visibility."""
    n = p / RADII**2
    return n / np.linalg.norm(n, axis=-1, keepdims=True)


def _head_mesh(n_lat: int = 18, n_lon: int = 28):
    """Vertices (N, 3), quads (F, 4) counter-clockwise from outside, hair mask (F,), jaw weights (N,)."""
    theta = np.linspace(0.0, np.pi, n_lat + 1)
    phi = np.linspace(0.0, 2 * np.pi, n_lon, endpoint=False)
    th, ph = np.meshgrid(theta, phi, indexing="ij")
    y = RADII[1] * np.cos(th)
    verts = np.stack([RADII[0] * _taper(y) * np.sin(th) * np.sin(ph), y,
                      RADII[2] * np.sin(th) * np.cos(ph)], axis=-1).reshape(-1, 3)
    idx = np.arange((n_lat + 1) * n_lon).reshape(n_lat + 1, n_lon)
    nxt = np.roll(idx, -1, axis=1)
    quads = np.stack([idx[:-1], idx[1:], nxt[1:], nxt[:-1]], axis=-1).reshape(-1, 4)
    centre = verts[quads].mean(axis=1)
    # Hairline: high on the forehead, above the ears on the sides, low at the nape.
    depth = centre[:, 2] / RADII[2]
    hairline = 0.52 - 0.3 * (1 - np.clip(depth / 0.6, 0.0, 1.0)) + 0.7 * np.minimum(depth, 0.0)
    hair = centre[:, 1] > hairline
    # Jaw weight: the front of the face below the mouth line, blended over a band.
    below = np.clip((MOUTH_Y + 0.02 - verts[:, 1]) / 0.22 + 0.5, 0.0, 1.0)
    front = np.clip((verts[:, 2] + 0.1) / 0.5, 0.0, 1.0)
    return verts, quads, hair, below * front


def _lens(xc: float, dx: np.ndarray, upper: np.ndarray, lower: np.ndarray) -> np.ndarray:
    """Closed outline along ``upper`` left to right then ``lower`` back: (2n, 2) head-plane points."""
    return np.concatenate([np.stack([xc + dx, upper], -1), np.stack([xc + dx, lower], -1)[::-1]])


def _circle(cx: float, cy: float, r: float, n: int = 14) -> np.ndarray:
    t = np.linspace(0.0, 2 * np.pi, n, endpoint=False)
    return np.stack([cx + r * np.cos(t), cy + r * np.sin(t)], -1)


def _curve(left: np.ndarray, mid: np.ndarray, right: np.ndarray, n: int = 11) -> np.ndarray:
    """Quadratic curve from ``left`` through ``mid`` (at its half-way point) to ``right``."""
    ctrl = 2 * mid - 0.5 * (left + right)
    t = np.linspace(0.0, 1.0, n)[:, None]
    return (1 - t) ** 2 * left + 2 * (1 - t) * t * ctrl + t**2 * right


class SchematicFace:
    """Draws frame ``i`` of a ``FaceDrive`` as a ``size`` x ``size`` RGB image."""

    def __init__(self, drive: FaceDrive, size: int) -> None:
        self.drive = drive
        self.size = size
        self.camera = Camera(size / 2, 0.40 * size, 0.30 * size, focal=6.0)
        self._verts, self._quads, self._hair, self._jaw_w = _head_mesh()
        self._base = self._body_image()
        self._line = max(1, round(size / 128))  # stroke width unit

    # -- geometry -----------------------------------------------------------
    def _body_image(self) -> Image.Image:
        """Neck and shoulders: static (the body does not follow global o neck)."""
        img = Image.new("RGB", (self.size, self.size), pal.BACKGROUND)
        d = ImageDraw.Draw(img)
        cam = self.camera
        shoulders = np.array([[-0.5, -1.28, -0.3], [0.5, -1.28, -0.3], [1.7, -1.75, -0.3], [-1.7, -1.75, -0.3]])
        neck = np.array([[-0.3, -0.5, -0.3], [0.3, -0.5, -0.3], [0.33, -1.35, -0.3], [-0.33, -1.35, -0.3]])
        d.polygon(cam.project(shoulders).reshape(-1).tolist(), fill=pal.shade(pal.SHIRT, 0.8))
        d.polygon(cam.project(neck).reshape(-1).tolist(), fill=pal.shade(pal.SKIN, 0.62))
        return img

    def _pose(self, i: int):
        """Functions mapping head points to camera space, with and without the jaw."""
        r_head = rotations.axis_angle_to_matrix(self.drive.head[i])
        r_jaw = rotations.axis_angle_to_matrix(self.drive.jaw[i])

        def place(p: np.ndarray, jaw_weight: np.ndarray | float = 0.0) -> np.ndarray:
            w = np.asarray(jaw_weight, float)
            if np.any(w):
                swung = JAW_PIVOT + (p - JAW_PIVOT) @ r_jaw.T
                p = p + w[..., None] * (swung - p) if w.ndim else p + w * (swung - p)
            return NECK_PIVOT + (p - NECK_PIVOT) @ r_head.T

        return place, r_head

    # -- drawing ------------------------------------------------------------
    def draw(self, i: int) -> Image.Image:
        img = self._base.copy()
        d = ImageDraw.Draw(img)
        place, r_head = self._pose(i)
        cam = self.camera

        def facing(p: np.ndarray) -> float:
            """How much the surface at head point p faces the camera (normal z, -1..1)."""
            return float((surface_normal(p) @ r_head.T)[..., 2])

        def shade_at(p: np.ndarray) -> float:
            return float(lambert(surface_normal(p) @ r_head.T))

        ears = [(side, self._ear(side)) for side in (1.0, -1.0)]
        ear_front = {side: float((n @ r_head.T)[2]) > 0.2 for side, (_, n) in ears}
        for side, (outline, normal) in ears:  # far ears go behind the head
            if not ear_front[side]:
                self._fill(d, place(outline), pal.shade(pal.SKIN, 0.75 * shade_at(normal)))

        verts = place(self._verts, self._jaw_w)
        xy = cam.project(verts)
        front = screen_facing(xy, self._quads)
        quads = self._quads[front]
        level = lambert(face_normals(verts, quads))
        base = np.where(self._hair[front][:, None], np.array(pal.HAIR), np.array(pal.SKIN))
        colors = (base * level[:, None]).astype(np.uint8)
        paint_polygons(d, xy, quads, verts[quads][:, :, 2].mean(axis=1), colors)

        for side, (outline, normal) in ears:
            if ear_front[side]:
                ear = place(outline)
                self._fill(d, ear, pal.shade(pal.SKIN, 0.85 * float(lambert(normal @ r_head.T))))
                self._stroke(d, np.concatenate([ear, ear[:1]]), pal.shade(pal.SKIN, 0.5), self._line)

        for k, side in enumerate((1.0, -1.0)):  # subject's left eye is at +x
            anchor = surface_point(side * EYE_X, EYE_Y)
            if facing(anchor) > 0.05:
                self._eye(d, place, i, k, side * EYE_X, shade_at(anchor))
        for k, side in enumerate((1.0, -1.0)):
            if facing(surface_point(side * 0.28, 0.4)) > 0.05:
                self._brow(d, place, i, k, side)
        self._nose(d, place)
        if facing(surface_point(0.0, MOUTH_Y)) > 0.02:
            self._mouth(d, place, i)
        return img

    def _fill(self, d: ImageDraw.ImageDraw, points: np.ndarray, color) -> None:
        d.polygon(self.camera.project(points).reshape(-1).tolist(), fill=color)

    def _stroke(self, d: ImageDraw.ImageDraw, points: np.ndarray, color, width: int) -> None:
        d.line(self.camera.project(points).reshape(-1).tolist(), fill=color, width=width, joint="curve")

    def _ear(self, side: float):
        """Outline (n, 3) and outward normal of one ear: a flap standing off the side of the
        head and angled forward, so it shows from the front and clearly in a turn."""
        normal = np.array([side * np.cos(0.8), 0.0, np.sin(0.8)])
        along = np.cross(np.array([0.0, 1.0, 0.0]), normal) * side
        centre = np.array([side * (RADII[0] + 0.02), 0.04, -0.12])
        t = np.linspace(0, 2 * np.pi, 16, endpoint=False)
        outline = centre + (0.08 * np.cos(t))[:, None] * along + (0.15 * np.sin(t))[:, None] * np.array([0, 1.0, 0])
        return outline, normal

    def _eye(self, d, place, i: int, k: int, xc: float, light: float) -> None:
        dr = self.drive
        dx = np.linspace(-EYE_HALF_WIDTH, EYE_HALF_WIDTH, 13)
        prof = np.clip(1.0 - (dx / EYE_HALF_WIDTH) ** 2, 0.0, 1.0) ** 0.7
        openness = (1.0 - dr.blink[i, k]) * (1.0 + 0.3 * dr.eye_wide[i, k] - 0.35 * dr.squint[i, k])
        openness = float(np.clip(openness, 0.0, 1.3))
        lower = EYE_Y - 0.045 * prof
        lid = lower + openness * 0.11 * prof
        on = lambda pts: place(surface_point(pts[..., 0], pts[..., 1]))  # noqa: E731
        self._fill(d, on(_lens(xc, dx, lid, lower)), pal.shade(pal.EYE_WHITE, 0.55 + 0.45 * light))
        # Gaze: +x (pitch) looks down, +y (yaw) toward the subject's left (+x here).
        pitch, yaw = dr.gaze[i, 3 * k], dr.gaze[i, 3 * k + 1]
        gx = float(np.clip(0.12 * np.sin(yaw), -0.04, 0.04))
        gy = float(np.clip(-0.12 * np.sin(pitch), -0.03, 0.03))
        self._fill(d, on(_circle(xc + gx, EYE_Y + gy, 0.05)), pal.shade(pal.IRIS, light))
        self._fill(d, on(_circle(xc + gx, EYE_Y + gy, 0.021, 10)), pal.PUPIL)
        # Lids: skin lenses above and below the opening crop the iris to it.
        skin = pal.shade(pal.SKIN, 0.93 * light)
        self._fill(d, on(_lens(xc, dx, EYE_Y + 0.17 * np.sqrt(prof), lid)), skin)
        self._fill(d, on(_lens(xc, dx, lower, EYE_Y - 0.12 * np.sqrt(prof))), skin)
        self._stroke(d, on(np.stack([xc + dx, lid], -1)), pal.shade(pal.BROW, 0.7), 2 * self._line)
        self._stroke(d, on(np.stack([xc + dx, lower], -1)), pal.shade(pal.SKIN, 0.55 * light), self._line)

    def _brow(self, d, place, i: int, k: int, side: float) -> None:
        dr = self.drive
        inner, outer, down = dr.brow_inner[i, k], dr.brow_outer[i, k], dr.brow_down[i, k]
        xs = side * np.array([0.11 - 0.04 * down, 0.27, 0.44])
        ys = np.array([0.35 + 0.12 * inner - 0.08 * down,
                       0.40 + 0.07 * (inner + outer) - 0.05 * down,
                       0.35 + 0.12 * outer - 0.02 * down])
        self._stroke(d, place(surface_point(xs, ys, 2 * LIFT)), pal.BROW, 4 * self._line)

    def _nose(self, d, place) -> None:
        bridge = surface_point(0.0, 0.1, 0.0)
        tip = surface_point(0.0, -0.17, 0.16)
        wings = [surface_point(s * 0.085, -0.22, 0.03) for s in (1.0, -1.0)]
        # Two sides of a wedge, wound counter-clockwise from outside, lit by their normals.
        sides = np.array([[bridge, tip, wings[0]], [bridge, wings[1], tip]])
        world = place(sides.reshape(-1, 3)).reshape(2, 3, 3)
        xy = self.camera.project(world)
        for tri, w in zip(world, xy):
            if screen_facing(w, np.array([[0, 1, 2]]))[0]:
                level = float(lambert(face_normals(tri, np.array([[0, 1, 2]])))[0])
                d.polygon(w.reshape(-1).tolist(), fill=pal.shade(pal.SKIN, level))
        under = np.array([wings[0], surface_point(0.0, -0.235, 0.07), wings[1]])
        self._stroke(d, place(under), pal.shade(pal.SKIN, 0.45), self._line)

    def _mouth(self, d, place, i: int) -> None:
        dr = self.drive
        smile, frown, stretch = dr.smile[i], dr.frown[i], dr.stretch[i]
        part, upper_raise = float(dr.lips_part[i]), float(dr.upper_lip[i])
        corners = [np.array([s * (0.2 + 0.05 * stretch[k] + 0.035 * smile[k]),
                             MOUTH_Y + 0.075 * smile[k] - 0.065 * frown[k]]) for k, s in enumerate((1.0, -1.0))]
        top = np.array([0.0, MOUTH_Y + 0.008 + 0.025 * part + 0.025 * upper_raise])
        bottom = np.array([0.0, MOUTH_Y - 0.008 - 0.045 * part])
        # Image left to right is the subject's right to left: right corner first.
        upper = _curve(corners[1], top, corners[0])
        lower = _curve(corners[1], bottom, corners[0])
        n = len(upper)
        # Lower lip swings fully with the jaw, the corners partly, the upper lip not at all.
        taper = np.sin(np.linspace(0.0, np.pi, n))
        w_upper = 0.25 * (1 - taper)
        w_lower = 0.25 + 0.75 * taper
        up3 = place(surface_point(upper[:, 0], upper[:, 1]), w_upper)
        lo3 = place(surface_point(lower[:, 0], lower[:, 1]), w_lower)
        self._fill(d, np.concatenate([up3, lo3[::-1]]), pal.MOUTH)
        gap = float(np.linalg.norm(up3[n // 2] - lo3[n // 2]))
        if gap > 0.03:  # teeth show under the upper lip once the mouth opens
            drop = min(0.06, 0.35 * gap) * taper
            teeth = place(surface_point(upper[:, 0], upper[:, 1] - drop), w_upper)
            self._fill(d, np.concatenate([up3, teeth[::-1]]), pal.TEETH)
        self._stroke(d, up3, pal.LIPS, 3 * self._line)
        self._stroke(d, lo3, pal.shade(pal.LIPS, 0.9), 4 * self._line)

