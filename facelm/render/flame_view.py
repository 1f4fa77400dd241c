"""The posed FLAME mesh as a shaded image (painter's algorithm, see raster.py).

Faces toward the camera are lit (Lambert); faces away are drawn dark, far to near,
so the inside of the mouth and neck reads as interior rather than background.
Eyeball faces (skinned to an eye joint) get white, iris and pupil colours around
their forward axis, so gaze shows.
"""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from facelm.clip import MotionClip
from facelm.render import palette as pal
from facelm.render.drive import FaceDrive
from facelm.render.flame_model import FlameModel, frame_rotations
from facelm.render.raster import Camera, face_normals, lambert, paint_polygons, screen_facing

EYE_JOINTS = (3, 4)


def _materials(model: FlameModel) -> np.ndarray:
    """(F, 3) base colour of each face: skin, or eye white / iris / pupil on the eyeballs."""
    colors = np.tile(np.array(pal.SKIN, np.float32), (len(model.faces), 1))
    rest = model.v_template
    for j in EYE_JOINTS:
        on_eye = model.weights[:, j] > 0.5
        eye_faces = on_eye[model.faces].all(axis=1)
        if not eye_faces.any():
            continue
        centre = rest[on_eye].mean(axis=0)
        d = rest[model.faces[eye_faces]].mean(axis=1) - centre
        # Angle from the eye's forward axis (+z, where FLAME faces).
        cos = d[:, 2] / np.maximum(np.linalg.norm(d, axis=1), 1e-9)
        ring = np.where((cos > 0.985)[:, None], pal.PUPIL,
                        np.where((cos > 0.93)[:, None], pal.IRIS, pal.EYE_WHITE))
        colors[eye_faces] = ring
    return colors


class FlameFace:
    """Draws frame ``i`` of a clip on a FLAME model as a ``size`` x ``size`` RGB image."""

    def __init__(self, model: FlameModel, clip: MotionClip, drive: FaceDrive, size: int) -> None:
        self.model, self.clip, self.drive, self.size = model, clip, drive, size
        rest = model.v_template
        lo, hi = rest.min(axis=0), rest.max(axis=0)
        self._centre = (lo + hi) / 2
        extent = float(max(hi[0] - lo[0], hi[1] - lo[1], 1e-6))
        # Mild perspective: the eye sits four mesh-heights away.
        self.camera = Camera(size / 2, size / 2, 0.8 * size / extent, focal=4.0 * extent)
        self._colors = _materials(model)

    def vertices(self, i: int) -> np.ndarray:
        c, d = self.clip, self.drive
        rot = frame_rotations(c.global_pose[i], c.neck_pose[i], d.jaw[i], d.gaze[i])
        return self.model.pose(c.expression[i], rot)

    def draw(self, i: int) -> Image.Image:
        img = Image.new("RGB", (self.size, self.size), pal.BACKGROUND)
        verts = self.vertices(i) - self._centre
        xy = self.camera.project(verts)
        faces = self.model.faces
        front = screen_facing(xy, faces)
        level = lambert(face_normals(verts, faces))
        colors = np.where(front[:, None], self._colors * level[:, None],
                          np.array(pal.INTERIOR, np.float32) * 0.7)
        depth = verts[faces][:, :, 2].mean(axis=1)
        paint_polygons(ImageDraw.Draw(img), xy, faces, depth, colors.astype(np.uint8))
        return img
