"""motion_to_text: FLAME frames -> a description over a sliding window, on /face/description when it changes.

Every ``hop`` seconds the last ``window`` seconds of frames are tokenized and
described by the language model (Motion2Language) on a worker thread; a
window that arrives while the previous one is still being described replaces
any waiting one (latest wins).
"""
from __future__ import annotations

import threading
from collections import deque

import numpy as np

from facelm.ros.base import LatestWins, RateMeter, main_for
from facelm.ros.flame import drop_global
from facelm.ros.frame_node import FrameInNode


class MotionToText(FrameInNode):
    def __init__(self, **kwargs):
        super().__init__("motion_to_text", **kwargs)
        self.declare_model_params()
        self.param("output_topic", "/face/description", "descriptions out (std_msgs/String), only when they change")
        self.param("window", 4.0, "seconds of motion each description covers")
        self.param("hop", 1.0, "seconds between descriptions")
        self.param("category", "action", "what to describe: action, emotion, detail_expression, detail_head_pose, ...")
        self._windows = LatestWins()
        self._worker = None

    def configure(self) -> None:
        from facelm.codec import MotionCodec
        from facelm.lm_runtime import MotionLanguageModel
        model = self.model_dir()
        self.codec = MotionCodec(model)
        self.lm = MotionLanguageModel(model)
        fpt = self.codec.frames_per_token
        window = max(fpt, int(round(float(self.value("window")) * self.codec.fps)) // fpt * fpt)
        self.frames = deque(maxlen=window)
        self.hop = max(1, int(round(float(self.value("hop")) * self.codec.fps)))
        self.since_hop = 0
        self.last_text = None
        self.describe_ms = RateMeter()
        self.published = 0

    def activate(self) -> None:
        from std_msgs.msg import String
        self.pub = self.publisher(String, self.value("output_topic"))
        self._windows.reopen()
        self._worker = threading.Thread(target=self._work, name="motion_to_text", daemon=True)
        self._worker.start()
        super().activate()

    def deactivate(self) -> None:
        super().deactivate()
        self._windows.close()
        if self._worker is not None:
            self._worker.join(2.0)
        self._worker = None

    def on_frame(self, row, msg) -> None:
        self.frames.append(row)
        self.since_hop += 1
        if len(self.frames) == self.frames.maxlen and self.since_hop >= self.hop:
            self.since_hop = 0
            self._windows.put(np.stack(self.frames), on_replaced=self._skipped)

    def _skipped(self, window) -> None:
        self.counts["windows skipped (busy)"] += 1

    def _work(self) -> None:
        import time

        from std_msgs.msg import String
        while (window := self._windows.take()) is not None:
            start = time.perf_counter()
            try:
                codes = self.codec.encode_frames(drop_global(window, self.layout.num_expression))
                text = self.lm.describe(codes, str(self.value("category")))
            except Exception as exc:  # noqa: BLE001 - a failed window must not end the node
                self.counts["describe errors"] += 1
                self.get_logger().error(f"describe failed: {type(exc).__name__}: {exc}", throttle_duration_sec=1.0)
                continue
            self.describe_ms.tick(1e3 * (time.perf_counter() - start))
            if text != self.last_text:
                self.last_text = text
                self.pub.publish(String(data=text))
                self.published += 1

    def diagnostics(self) -> dict[str, str]:
        return {**super().diagnostics(), "descriptions published": str(self.published),
                "last description": self.last_text or "", **self.describe_ms.summary("describe")}


main = main_for(MotionToText)

if __name__ == "__main__":
    raise SystemExit(main())
