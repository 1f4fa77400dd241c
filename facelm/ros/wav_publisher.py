"""wav_publisher: a WAV file -> /face/audio chunks in real time (tests, demos, offline speech).

Chunks go out on a thread with absolute deadlines, at the file's own sample
rate and channel count (the receiver resamples); the last chunk of each pass
has ``end`` set. It waits for subscribers first (``wait_for_subscribers``), so
nothing is spoken into the void, and stays alive when done.
"""
from __future__ import annotations

import threading
import time

import numpy as np

from facelm.errors import FacelmError
from facelm.ros.audio_source import AudioSourceNode
from facelm.ros.base import main_for


class WavPublisher(AudioSourceNode):
    def __init__(self, **kwargs):
        super().__init__("wav_publisher", **kwargs)
        self.param("path", "", "WAV file to publish (any PCM or float format, any rate, mono or more channels)")
        self.param("loop", False, "start again at the end (each pass ends with an end flag)")
        self.param("realtime", True, "pace chunks at the audio's own speed (false: as fast as possible)")
        self.param("wait_for_subscribers", 1, "start only once this many subscribers listen on the audio topic "
                   "(0: at once)")
        self.param("start_delay", 0.0, "seconds to wait before the first chunk")
        self._thread = None
        self._stop = threading.Event()
        self.passes = 0

    def configure(self) -> None:
        from facelm.audio.io import read_wav
        if not self.value("path"):
            raise FacelmError("wav_publisher needs -p path:=FILE.wav")
        data, self.rate = read_wav(self.value("path"))
        data = np.asarray(data)
        if data.dtype.kind in "iu":
            info = np.iinfo(data.dtype)
            data = (data.astype(np.float64) - (info.max + info.min + 1) / 2) / ((info.max - info.min + 1) / 2)
        self.samples = np.clip(np.nan_to_num(data.astype(np.float32)), -1.0, 1.0)
        self.channels = 1 if self.samples.ndim == 1 else self.samples.shape[1]
        self.frames_per_chunk = max(1, int(self.rate * int(self.value("chunk_ms")) / 1000))

    def activate(self) -> None:
        super().activate()
        self._stop.clear()
        self._thread = threading.Thread(target=self._play, name="wav_publisher", daemon=True)
        self._thread.start()

    def deactivate(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(1.0)
        self._thread = None

    def _play(self) -> None:
        while self.pub.get_subscription_count() < int(self.value("wait_for_subscribers")):
            if self._stop.wait(0.05):
                return
        if self._stop.wait(float(self.value("start_delay"))):
            return
        period = self.frames_per_chunk / self.rate
        while not self._stop.is_set():
            start = time.monotonic()
            n = len(self.samples)
            for k, first in enumerate(range(0, n, self.frames_per_chunk)):
                if self.value("realtime"):
                    wait = start + k * period - time.monotonic()
                    if wait > 0 and self._stop.wait(wait):
                        return
                last = first + self.frames_per_chunk >= n
                self.send(self.samples[first:first + self.frames_per_chunk], self.rate, self.channels, end=last)
            self.passes += 1
            self.get_logger().info(f"published {self.value('path')} ({n / self.rate:.2f} s)")
            if not self.value("loop"):
                return

    def diagnostics(self) -> dict[str, str]:
        return {**super().diagnostics(), "passes": str(self.passes), "sample rate": str(self.rate)}


main = main_for(WavPublisher)

if __name__ == "__main__":
    raise SystemExit(main())
