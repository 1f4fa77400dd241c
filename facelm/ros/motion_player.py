"""motion_player: motion tokens and speech frames in -> /face/flame at exactly 25 Hz.

Tokens (/face/tokens) are decoded incrementally as they arrive (the codec's
streaming decoder, a fraction of a millisecond a token) and speech frames
(/face/speech_frames) are taken as they are; both go into the jitter buffer
under their stream key. A dedicated thread with absolute deadlines on the
monotonic clock (or, with ``tick_source:=timer``, an rclpy steady-clock timer)
takes one frame a tick, blends it over the idle-life face and publishes it,
clamped to safe ranges. Header stamps are ``start + k * 40 ms``, so a
receiver sees a dropped tick as a gap; frame_id says where the frame came from
(``stream:<id>`` or ``idle``).
"""
from __future__ import annotations

import os
import sys
import threading
import time

import numpy as np

from facelm.errors import FacelmError
from facelm.ros.base import FacelmNode, RateMeter, main_for
from facelm.ros.flame import FrameLayout, add_global
from facelm.ros.idle_life import IdleLife
from facelm.ros.jitter_buffer import JitterBuffer

PERIOD_NS = 40_000_000  # 25 Hz


def stream_tag(frame_id: str) -> int | None:
    """``stream:<id>`` -> id, anything else -> None."""
    if frame_id.startswith("stream:"):
        try:
            return int(frame_id[7:])
        except ValueError:
            return None
    return None


class MotionPlayer(FacelmNode):
    def __init__(self, **kwargs):
        super().__init__("motion_player", **kwargs)
        self.declare_model_params()
        self.param("tokens_topic", "/face/tokens", "motion tokens in (facelm_msgs/MotionTokens)")
        self.param("speech_topic", "/face/speech_frames", "speech frames in (sensor_msgs/JointState, /face/flame names)")
        self.param("output_topic", "/face/flame", "FLAME frames out at 25 Hz (sensor_msgs/JointState)")
        self.param("prebuffer_frames", 2, "frames a stream must have queued before it starts playing")
        self.param("buffer_frames", 400, "jitter buffer capacity; the oldest frames are dropped beyond it")
        self.param("hold_frames", 3, "ticks to hold the last frame on underrun before easing to idle")
        self.param("ease_frames", 6, "ticks to ease between idle and a stream, or between streams")
        self.param("idle_life", True, "blinks, breathing and gaze shifts when no stream plays")
        self.param("seed", 0, "seed of the idle-life generator")
        self.param("tick_source", "thread", "what paces the 25 Hz output: thread (absolute deadlines) or timer")
        self.param("realtime_priority", 10,
                   "SCHED_FIFO priority of the 25 Hz thread (1-99; 0: normal scheduling); without the "
                   "right (CAP_SYS_NICE or an rtprio limit) it runs at normal priority with one log line")
        self._lock = threading.Lock()
        self._thread = None
        self._timer = None
        self._stop = threading.Event()
        self._subs = []

    # -- lifecycle ----------------------------------------------------------------------
    def configure(self) -> None:
        from facelm.codec import MotionCodec
        model = self.model_dir()
        self.codec = MotionCodec(model)
        self.layout = FrameLayout(self.codec.num_expression)
        self.decoder = self.codec.streaming_decoder()
        self.decoder.push(0)  # first onnxruntime run happens now, not on the first command
        self.idle = IdleLife(self.codec.num_expression, seed=int(self.value("seed")))
        self.buffer = JitterBuffer(self.layout.width, int(self.value("prebuffer_frames")),
                                   int(self.value("buffer_frames")), int(self.value("hold_frames")),
                                   int(self.value("ease_frames")))
        if self.value("tick_source") not in ("thread", "timer"):
            raise FacelmError(f"tick_source must be thread or timer, got {self.value('tick_source')!r}")
        self._token_stream = None     # (stream id, next expected index) being decoded
        self.ticks = 0
        self.missed_ticks = 0
        self.interval_ms = RateMeter(window_s=10.0, keep=250)
        self.decode_ms = RateMeter()
        self.frames_meter = RateMeter()
        self.non_finite_fixed = 0
        self.realtime = "not started"  # what scheduling the tick thread got (set when it starts)

    def activate(self) -> None:
        from facelm_msgs.msg import MotionTokens
        from sensor_msgs.msg import JointState
        self.pub = self.publisher(JointState, self.value("output_topic"))
        self._subs = [
            self.create_subscription(MotionTokens, self.value("tokens_topic"), self.on_tokens, 10),
            self.create_subscription(JointState, self.value("speech_topic"), self.on_speech, 10),
        ]
        self._msg = JointState(name=self.layout.names)
        self._idle_life = bool(self.value("idle_life"))
        self._stop.clear()
        # A thread waiting for the GIL gets it after at most one switch interval (5 ms by
        # default), which would show up directly as tick jitter.
        sys.setswitchinterval(min(sys.getswitchinterval(), 0.0005))
        self._start_ns = time.monotonic_ns()
        self._start_wall_ns = self.get_clock().now().nanoseconds
        if self.value("tick_source") == "thread":
            self._thread = threading.Thread(target=self._tick_loop, name="motion_player_25hz", daemon=True)
            self._thread.start()
        else:
            from rclpy.clock import Clock, ClockType
            self.realtime = "rclpy timer (executor thread, normal priority)"
            self._timer = self.create_timer(PERIOD_NS / 1e9, self._tick, clock=Clock(clock_type=ClockType.STEADY_TIME))

    def deactivate(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(1.0)
        self._thread = None
        if self._timer is not None:
            self.destroy_timer(self._timer)
            self._timer = None
        for sub in self._subs:
            self.destroy_subscription(sub)
        self._subs = []

    # -- input --------------------------------------------------------------------------
    def on_tokens(self, msg) -> None:
        key = ("tokens", msg.stream_id)
        with self._lock:
            retired = self.buffer.is_retired(key)
        if retired:
            self.counts["stale token messages"] += 1
            return
        # Decoding runs outside the lock (only this callback touches the decoder), so the
        # 25 Hz thread never waits for it.
        if self._token_stream is None or self._token_stream[0] != msg.stream_id:
            self.decoder.reset()
            self._token_stream = [msg.stream_id, msg.first_index]
        if msg.first_index != self._token_stream[1]:
            # Tokens were lost or reordered: the decoder's state no longer matches, but the
            # stream goes on from here (a missing token is a small glitch, not a reason to stop).
            self.counts["token gaps"] += 1
        start = time.perf_counter()
        rows = []
        try:
            for token in msg.tokens:
                rows.append(self.decoder.push(int(token)))
            if msg.end:  # the frames a look-ahead decoder still holds back
                rows.append(self.decoder.flush())
        except FacelmError as exc:
            self.reject("tokens", str(exc))
        self._token_stream[1] = msg.first_index + len(msg.tokens)
        if rows:
            self.decode_ms.tick(1e3 * (time.perf_counter() - start) / len(rows))
        frames = add_global(np.concatenate(rows), self.codec.num_expression) if rows else \
            np.zeros((0, self.layout.width), np.float32)
        with self._lock:
            self.buffer.push(key, frames, end=msg.end)

    def on_speech(self, msg) -> None:
        stream = stream_tag(msg.header.frame_id)
        if stream is None:
            self.reject("speech frame", f"frame_id {msg.header.frame_id[:40]!r} is not 'stream:<id>'")
            return
        try:
            row = self.layout.check(msg.name, msg.position) if len(msg.position) else None
        except FacelmError as exc:
            self.reject("speech frame", str(exc))
            return
        with self._lock:
            if row is None:  # a frame with no values ends the stream (audio_to_motion sends one on `end`)
                self.buffer.push(("speech", stream), np.zeros((0, self.layout.width), np.float32), end=True)
            else:
                self.buffer.push(("speech", stream), row[None])

    # -- output -------------------------------------------------------------------------
    def _raise_priority(self) -> None:
        """Real-time scheduling for the tick thread, so a busy CPU does not delay a frame."""
        priority = min(int(self.value("realtime_priority")), 99)
        if priority <= 0 or not hasattr(os, "sched_setscheduler"):
            self.realtime = "off"
            return
        try:
            os.sched_setscheduler(threading.get_native_id(), os.SCHED_FIFO, os.sched_param(priority))
            self.realtime = f"SCHED_FIFO {priority}"
        except OSError as exc:  # PermissionError without CAP_SYS_NICE / an rtprio limit
            self.realtime = f"unavailable ({exc.strerror or exc})"
            self.get_logger().info(f"25 Hz thread runs at normal priority: SCHED_FIFO {self.realtime}")

    def _tick_loop(self) -> None:
        self._raise_priority()
        next_ns = self._start_ns
        while not self._stop.is_set():
            now = time.monotonic_ns()
            if now < next_ns:
                # Sleep most of the way, then wait out the last stretch: wake-up jitter stays small.
                remaining = next_ns - now
                if remaining > 2_000_000:
                    self._stop.wait((remaining - 1_500_000) / 1e9)
                    continue
                while time.monotonic_ns() < next_ns:
                    time.sleep(0.0002)
            late = (time.monotonic_ns() - next_ns) // PERIOD_NS
            if late > 0:  # the process was stalled for whole periods: skip them, count them
                self.missed_ticks += int(late)
                self.ticks += int(late)
                next_ns += int(late) * PERIOD_NS
            self._tick()
            next_ns += PERIOD_NS

    def _tick(self) -> None:
        with self._lock:
            idle = self.idle.next() if self._idle_life else self.idle.neutral()
            row, played = self.buffer.tick(idle)
        safe = self.layout.safe(row)
        msg = self._msg
        stamp_ns = self._start_wall_ns + self.ticks * PERIOD_NS
        msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp_ns, 1_000_000_000)
        msg.header.frame_id = f"stream:{played[1]}" if played is not None else "idle"
        msg.position = safe.tolist()
        if self.pub.is_activated:
            self.pub.publish(msg)
        now_ns = time.monotonic_ns()  # after publish: the interval a subscriber can see at best
        if self._last_tick_ns is not None:
            self.interval_ms.tick((now_ns - self._last_tick_ns) / 1e6)
        self._last_tick_ns = now_ns
        self.ticks += 1
        self.frames_meter.tick()

    _last_tick_ns = None

    def diagnostics(self) -> dict[str, str]:
        with self._lock:
            stats = dict(self.buffer.stats)
            level = self.buffer.level
            current = self.buffer.current
        return {"output rate (Hz)": f"{self.frames_meter.rate():.2f}", "buffer level (frames)": str(level),
                "buffer capacity (frames)": str(self.buffer.capacity),
                "current stream": "idle" if current is None else f"{current[0]}:{current[1]}",
                "ticks": str(self.ticks), "missed ticks (dropped frames)": str(self.missed_ticks),
                "tick thread scheduling": self.realtime,
                **{k.replace("_", " "): str(v) for k, v in stats.items()},
                **self.interval_ms.summary("tick interval"), **self.decode_ms.summary("decode per token")}


main = main_for(MotionPlayer)

if __name__ == "__main__":
    raise SystemExit(main())
