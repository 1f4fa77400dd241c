"""Idle life: the small motions of a face nobody is driving (blinks, breathing, gaze shifts).

A seeded generator of frame rows at 25 fps, one ``next()`` a tick, so the player
never shows a frozen face. Blinks use the action-unit basis (AU45) the corpus
and the ARKit bridge share; breathing is a slow nod-and-jaw oscillation; gaze
jumps to a new small target every few seconds with a quick saccade.
"""
from __future__ import annotations

import math

import numpy as np

from facelm.face_units import UNIT_INDEX, NUM_UNITS, UnitBasis

FPS = 25.0
BLINK_FRAMES = 5            # ~200 ms, onset and release
BLINK_GAP_S = (2.0, 6.0)    # seconds between blinks
GAZE_GAP_S = (1.5, 4.0)
GAZE_RADIANS = 0.12         # how far the eyes wander
SACCADE_FRAMES = 3
BREATH_HZ = 0.25
BREATH_NECK = 0.012         # radians of neck pitch over a breath
BREATH_JAW = 0.006


class IdleLife:
    def __init__(self, num_expression: int = 50, seed: int = 0, fps: float = FPS):
        self.num_expression = num_expression
        self.fps = fps
        self.rng = np.random.default_rng(seed)
        basis = UnitBasis(num_expression=num_expression)
        blink = np.zeros((1, NUM_UNITS), np.float32)
        blink[0, [UNIT_INDEX["AU45L"], UNIT_INDEX["AU45R"]]] = 1.0
        self._blink_expression = basis.to_expression(blink)[0][0]
        self.width = num_expression + 15
        self.frame = 0
        self._next_blink = self._gap(BLINK_GAP_S)
        self._next_gaze = self._gap(GAZE_GAP_S)
        self._gaze_from = np.zeros(2, np.float32)
        self._gaze_to = np.zeros(2, np.float32)
        self._gaze_start = -SACCADE_FRAMES

    def _gap(self, span: tuple[float, float]) -> int:
        return self.frame + int(self.rng.uniform(*span) * self.fps)

    def neutral(self) -> np.ndarray:
        return np.zeros(self.width, np.float32)

    def next(self) -> np.ndarray:
        """The next 25 fps frame row."""
        row = self.neutral()
        e = self.num_expression
        t = self.frame / self.fps
        breath = math.sin(2 * math.pi * BREATH_HZ * t)
        row[e + 3] = BREATH_NECK * breath              # neck pitch
        row[e + 6] = BREATH_JAW * (0.5 + 0.5 * breath)  # jaw opens a hair on the inhale
        row[:e] += self._blink_weight() * self._blink_expression
        gaze = self._gaze()
        row[e + 9:e + 11] = gaze   # left eye x, y
        row[e + 12:e + 14] = gaze  # right eye x, y (the eyes move together)
        self.frame += 1
        return row

    def _blink_weight(self) -> float:
        k = self.frame - self._next_blink
        if k >= BLINK_FRAMES:
            self._next_blink = self._gap(BLINK_GAP_S)
            return 0.0
        if k < 0:
            return 0.0
        return math.sin(math.pi * (k + 1) / (BLINK_FRAMES + 1))

    def _gaze(self) -> np.ndarray:
        if self.frame >= self._next_gaze:
            self._gaze_from = self._gaze_current()
            self._gaze_to = self.rng.uniform(-GAZE_RADIANS, GAZE_RADIANS, 2).astype(np.float32)
            self._gaze_to[0] *= 0.5  # less up/down than sideways
            self._gaze_start = self.frame
            self._next_gaze = self._gap(GAZE_GAP_S)
        return self._gaze_current()

    def _gaze_current(self) -> np.ndarray:
        s = min(1.0, (self.frame - self._gaze_start) / SACCADE_FRAMES)
        return self._gaze_from + (self._gaze_to - self._gaze_from) * float(smoothstep(s))


def smoothstep(x: float) -> float:
    """Ease in and out on [0, 1]."""
    x = min(1.0, max(0.0, x))
    return x * x * (3 - 2 * x)
