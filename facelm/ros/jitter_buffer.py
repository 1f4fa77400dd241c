"""The player's jitter buffer: bursty frames in, one frame per 25 Hz tick out (no ROS needed).

Frames arrive in bursts (the LM makes seconds of motion in a fraction of a
second; speech comes in chunks) tagged with a stream key. The buffer

- plays one stream at a time: a frame with a new key preempts the current
  stream (its queued frames are dropped and the key is retired, so its late
  frames never show);
- waits for ``prebuffer`` frames (or the stream's end) before it starts playing;
- on underrun holds the last frame for ``hold`` ticks, then eases to the idle
  face and waits to prebuffer again;
- on overflow drops the oldest frames (counted);
- eases between the idle face and a stream, and from one stream to the next,
  over ``ease`` ticks, so a face never jumps.

``tick(idle_row)`` returns the frame to show and the key of the stream whose
frame it consumed (None while idle, holding or easing out).
"""
from __future__ import annotations

from collections import deque
from collections.abc import Hashable

import numpy as np

from facelm.ros.idle_life import smoothstep

RETIRED_KEYS = 256  # how many preempted stream keys are remembered


class JitterBuffer:
    def __init__(self, width: int, prebuffer: int = 2, capacity: int = 400, hold: int = 3, ease: int = 6):
        if prebuffer < 1 or capacity < prebuffer or hold < 0 or ease < 1:
            raise ValueError("need 1 <= prebuffer <= capacity, hold >= 0, ease >= 1")
        self.width, self.prebuffer, self.capacity, self.hold, self.ease = width, prebuffer, capacity, hold, ease
        self.queue: deque[np.ndarray] = deque()
        self.current: Hashable | None = None
        self._retired: deque[Hashable] = deque(maxlen=RETIRED_KEYS)
        self._playing = False   # prebuffer reached for the current stream
        self._ended = False     # the current stream said it has no more frames
        self._last = np.zeros(width, np.float32)   # last stream frame shown
        self._weight = 0.0      # how much of the stream (vs idle) is shown, before easing
        self._starved = 0       # ticks since the queue ran dry
        self._out = np.zeros(width, np.float32)
        self._from: np.ndarray | None = None        # cross-fade start row on a stream switch
        self._blend = 0
        self.stats = {"frames_in": 0, "frames_played": 0, "dropped_overflow": 0, "dropped_stale": 0,
                      "dropped_preempted": 0, "underruns": 0, "streams": 0}

    @property
    def level(self) -> int:
        return len(self.queue)

    def is_retired(self, key: Hashable) -> bool:
        return key in self._retired

    # -- input ------------------------------------------------------------------
    def push(self, key: Hashable, rows: np.ndarray, end: bool = False) -> None:
        """Queue (n, width) rows of stream ``key``; ``end``: no more frames will follow."""
        rows = np.asarray(rows, np.float32).reshape(-1, self.width)
        if key in self._retired:
            self.stats["dropped_stale"] += len(rows)
            return
        if key != self.current:
            self._start(key)
        for row in rows:
            if len(self.queue) == self.capacity:
                self.queue.popleft()
                self.stats["dropped_overflow"] += 1
            self.queue.append(row)
        self.stats["frames_in"] += len(rows)
        self._ended = self._ended or end

    def _start(self, key: Hashable) -> None:
        if self.current is not None:
            self._retired.append(self.current)
            self.stats["dropped_preempted"] += len(self.queue)
        self.queue.clear()
        self.current, self._playing, self._ended, self._starved = key, False, False, 0
        self.stats["streams"] += 1

    def stop(self, key: Hashable) -> None:
        """Preempt ``key`` without a successor (e.g. a canceled command): ease to idle now."""
        if key == self.current:
            self._retired.append(key)
            self.stats["dropped_preempted"] += len(self.queue)
            self.queue.clear()
            self.current, self._playing = None, False
        elif key is not None and key not in self._retired:
            self._retired.append(key)

    # -- output -----------------------------------------------------------------
    def tick(self, idle_row: np.ndarray) -> tuple[np.ndarray, Hashable | None]:
        played = None
        if self.current is not None and not self._playing:
            self._playing = len(self.queue) >= self.prebuffer or (self._ended and bool(self.queue))
            if self._playing and self._weight > 0:
                self._from, self._blend = self._out.copy(), 0  # cross-fade from whatever shows now
            if self._playing and self._weight == 0:
                self._from, self._blend = self._out.copy(), 0
        if self._playing and self.queue:
            self._last = self.queue.popleft()
            self._weight, self._starved, played = 1.0, 0, self.current
            self.stats["frames_played"] += 1
        elif self._playing:  # ran dry
            if self._ended:
                self._retired.append(self.current)
                self.current, self._playing = None, False
            else:
                if self._starved == 0:
                    self.stats["underruns"] += 1
                self._starved += 1
                if self._starved > self.hold:
                    self._playing = False  # prebuffer again before resuming
        if played is None and (self.current is None or not self._playing) and \
                (self._starved > self.hold or self.current is None):
            self._weight = max(0.0, self._weight - 1.0 / self.ease)
        w = smoothstep(self._weight)
        target = np.asarray(idle_row, np.float32) * (1 - w) + self._last * w
        if self._from is not None:
            self._blend += 1
            s = smoothstep(self._blend / self.ease)
            target = self._from * (1 - s) + target * s
            if self._blend >= self.ease:
                self._from = None
        self._out = target.astype(np.float32)
        return self._out, played
