"""audio_to_motion: /face/audio chunks -> talking-mouth frames on /face/speech_frames (for motion_player).

Each utterance (a run of chunks up to one with ``end``) is one stream: the
speech model's stream state is reset and the frames go out tagged
``stream:<id>`` in header.frame_id, one JointState per 25 fps frame with
/face/flame names; a frame with no values closes the stream. Chunks run
through the model on a worker thread in arrival order (a bounded queue: when
it is full the oldest chunk is dropped and counted).

Bad chunks are rejected and counted, never passed on: NaN/inf samples, a
sample count that is not a multiple of ``channels``, zero channels or rate.
Another sample rate is resampled (said once); a rate change inside an
utterance starts a new stream; a sequence gap is counted and bridged with
silence when short (the mouth keeps its timing).
"""
from __future__ import annotations

import queue
import random
import threading
import time

import numpy as np

from facelm.errors import FacelmError
from facelm.ros.base import FacelmNode, RateMeter, main_for
from facelm.ros.flame import FrameLayout

MAX_GAP_FILL_S = 0.5  # longer gaps are not filled with silence (the stream just continues)


class AudioToMotionNode(FacelmNode):
    def __init__(self, **kwargs):
        super().__init__("audio_to_motion", **kwargs)
        self.declare_model_params()
        self.param("audio_topic", "/face/audio", "audio chunks in (facelm_msgs/AudioChunk, sensor-data QoS)")
        self.param("output_topic", "/face/speech_frames", "speech frames out (sensor_msgs/JointState)")
        self.param("style", "", "speaking style words (e.g. 'calm', 'excited'; empty: the model's default)")
        self.param("queue_chunks", 64, "chunks waiting for the model at most; the oldest is dropped beyond it")
        self._queue: queue.Queue | None = None
        self._worker = None
        self._stop = threading.Event()
        self._sub = None

    def configure(self) -> None:
        from facelm.audio import AudioToMotion
        model = self.model_dir()
        self.engine = AudioToMotion(model)
        self.layout = FrameLayout(self.engine.num_expression)
        self.style = self.value("style") or None
        self.engine.stream(self.style).push(np.zeros(1600, np.float32), 16000)  # warm the session up
        self.stream = None
        self.stream_id = random.randrange(1, 1 << 30)
        self.expect_seq = None
        self.rate = None
        self.chunk_ms = RateMeter()
        self.chunks_in = RateMeter()
        self.frames_out = 0

    def activate(self) -> None:
        from rclpy.qos import qos_profile_sensor_data
        from sensor_msgs.msg import JointState
        from facelm_msgs.msg import AudioChunk
        self.pub = self.publisher(JointState, self.value("output_topic"))
        self._msg = JointState(name=self.layout.names)
        self._queue = queue.Queue(maxsize=max(1, int(self.value("queue_chunks"))))
        self._stop.clear()
        self._worker = threading.Thread(target=self._work, name="audio_to_motion", daemon=True)
        self._worker.start()
        self._sub = self.create_subscription(AudioChunk, self.value("audio_topic"), self.on_chunk,
                                             qos_profile_sensor_data)

    def deactivate(self) -> None:
        self._stop.set()
        if self._worker is not None:
            self._worker.join(2.0)
        self._worker = None
        if self._sub is not None:
            self.destroy_subscription(self._sub)
            self._sub = None

    # -- input (executor thread: check and queue only) -----------------------------------
    def on_chunk(self, msg) -> None:
        self.chunks_in.tick()
        samples = np.frombuffer(msg.samples, np.float32) if isinstance(msg.samples, (bytes, bytearray)) \
            else np.asarray(msg.samples, np.float32)
        try:
            if msg.channels < 1 or msg.sample_rate < 1:
                raise FacelmError(f"channels {msg.channels} and sample rate {msg.sample_rate} must be >= 1")
            if samples.size % msg.channels:
                raise FacelmError(f"{samples.size} samples is not a multiple of {msg.channels} channels")
            if not np.isfinite(samples).all():
                raise FacelmError("samples contain NaN or inf")
        except FacelmError as exc:
            self.reject("audio chunk", str(exc))
            return
        item = (samples.copy(), int(msg.sample_rate), int(msg.channels), int(msg.sequence), bool(msg.end),
                time.perf_counter())
        while True:
            try:
                self._queue.put_nowait(item)
                return
            except queue.Full:
                try:
                    self._queue.get_nowait()
                    self.counts["chunks dropped (queue full)"] += 1
                except queue.Empty:
                    pass

    # -- worker ---------------------------------------------------------------------------
    def _work(self) -> None:
        while not self._stop.is_set():
            try:
                item = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            try:
                self._process(*item)
            except FacelmError as exc:
                self.reject("audio chunk", str(exc))
            except Exception as exc:  # noqa: BLE001 - one bad chunk must not end the node
                self.counts["model errors"] += 1
                self.get_logger().error(f"audio model failed: {type(exc).__name__}: {exc}")
                self.stream = None

    def _process(self, samples, rate, channels, sequence, end, received) -> None:
        if self.stream is not None and rate != self.rate:
            self.get_logger().warning(f"sample rate changed {self.rate} -> {rate} Hz: new stream")
            self._close()
        if self.stream is None:
            self.stream = self.engine.stream(self.style)
            self.stream_id = (self.stream_id + 1) % (1 << 32)
            self.rate, self.expect_seq = rate, sequence
            if rate != 16000:
                self.counts["streams resampled"] += 1
                self.get_logger().info(f"{rate} Hz audio is resampled to 16000 Hz", once=True)
        if sequence != self.expect_seq:
            self.counts["sequence gaps"] += 1
            missing = sequence - self.expect_seq
            chunk_len = samples.size // channels
            if 0 < missing and missing * chunk_len <= MAX_GAP_FILL_S * rate:
                self._send(self.stream.push(np.zeros(missing * chunk_len * channels, np.float32), rate, channels))
        self.expect_seq = sequence + 1
        start = time.perf_counter()
        rows = self.stream.push(samples, rate, channels) if samples.size else np.zeros((0, self.layout.width))
        if end:
            rows = np.concatenate([rows, self.stream.flush()])
        if len(rows):
            self.chunk_ms.tick(1e3 * (time.perf_counter() - start) / len(rows))
        self._send(rows)
        if end:
            self._close()

    def _send(self, rows: np.ndarray) -> None:
        msg = self._msg
        msg.header.frame_id = f"stream:{self.stream_id}"
        for row in rows:
            msg.header.stamp = self.get_clock().now().to_msg()
            msg.position = self.layout.safe(row).tolist()
            self.pub.publish(msg)
            self.frames_out += 1

    def _close(self) -> None:
        """An empty frame ends the stream at the player."""
        from sensor_msgs.msg import JointState
        end = JointState()
        end.header.frame_id = f"stream:{self.stream_id}"
        end.header.stamp = self.get_clock().now().to_msg()
        self.pub.publish(end)
        self.stream = None

    def diagnostics(self) -> dict[str, str]:
        return {"chunk rate (Hz)": f"{self.chunks_in.rate():.1f}", "frames out": str(self.frames_out),
                "queue level (chunks)": str(self._queue.qsize() if self._queue else 0),
                "stream": f"{self.stream_id}" if self.stream is not None else "none",
                **self.chunk_ms.summary("compute per frame")}


main = main_for(AudioToMotionNode)

if __name__ == "__main__":
    raise SystemExit(main())
