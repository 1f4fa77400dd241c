"""motion_encoder (telepresence sender): FLAME frames in -> motion tokens out, a low-bandwidth face codec.

Frames from a face tracker (JointState with /face/flame names, default topic
/face/flame_in) go through the tokenizer's streaming encoder; each completed
token is published on /face/tokens at once (one token per message, every
frames_per_token frames), so a motion_player on the other side decodes it.
A pause in the input longer than ``stream_gap`` seconds starts a new stream.
The token stream's bit rate (log2(codebook) bits a token) is reported beside
the raw frame stream's in /diagnostics and once in the log.
"""
from __future__ import annotations

import math
import random
import time

from facelm.errors import FacelmError
from facelm.ros.base import RateMeter, main_for
from facelm.ros.flame import drop_global
from facelm.ros.frame_node import FrameInNode

FLOAT64_BITS, FLOAT32_BITS = 64, 32


def bit_rates(num_codes: int, frames_per_token: int, fps: float, frame_values: int, model_values: int) -> dict:
    """Bits per second: the token stream vs raw frames (JointState float64 values; float32 model features)."""
    tokens_per_s = fps / frames_per_token
    return {"token stream (bit/s)": math.log2(num_codes) * tokens_per_s,
            "raw JointState float64 (bit/s)": FLOAT64_BITS * frame_values * fps,
            "raw float32 parameters (bit/s)": FLOAT32_BITS * model_values * fps}


class MotionEncoder(FrameInNode):
    default_input = "/face/flame_in"

    def __init__(self, **kwargs):
        super().__init__("motion_encoder", **kwargs)
        self.declare_model_params()
        self.param("output_topic", "/face/tokens", "motion tokens out (facelm_msgs/MotionTokens)")
        self.param("stream_gap", 1.0, "seconds without input frames after which the next frame starts a new stream")

    def configure(self) -> None:
        from facelm.codec import MotionCodec
        model = self.model_dir()
        self.codec = MotionCodec(model)
        if self.codec.num_expression != self.layout.num_expression:
            raise FacelmError(f"num_expression {self.layout.num_expression} != the model's {self.codec.num_expression}")
        self.encoder = self.codec.streaming_encoder()
        self.rates = bit_rates(self.codec.num_codes, self.codec.frames_per_token, self.codec.fps,
                               self.layout.width, self.codec.input_dim)
        self.stream_id = random.randrange(1, 1 << 30)
        self.next_index = 0
        self.last_frame = None
        self.encode_ms = RateMeter()
        self.tokens_out = RateMeter()

    def activate(self) -> None:
        from facelm_msgs.msg import MotionTokens
        self.pub = self.publisher(MotionTokens, self.value("output_topic"))
        self._msg_type = MotionTokens
        self.get_logger().info(", ".join(f"{k} {v:,.0f}" for k, v in self.rates.items()))
        super().activate()

    def on_frame(self, row, msg) -> None:
        now = time.monotonic()
        if self.last_frame is None or now - self.last_frame > float(self.value("stream_gap")):
            self.encoder.reset()
            self.stream_id = (self.stream_id + 1) % (1 << 32)
            self.next_index = 0
        self.last_frame = now
        start = time.perf_counter()
        ids = self.encoder.push(drop_global(row[None], self.layout.num_expression))
        if not ids:
            return
        self.encode_ms.tick(1e3 * (time.perf_counter() - start))
        out = self._msg_type(stream_id=self.stream_id, first_index=self.next_index, tokens=ids,
                             frames_per_token=self.codec.frames_per_token, fps=self.codec.fps, end=False)
        out.header.stamp = msg.header.stamp
        out.header.frame_id = "motion_encoder"
        self.pub.publish(out)
        self.next_index += len(ids)
        for _ in ids:
            self.tokens_out.tick()

    def diagnostics(self) -> dict[str, str]:
        return {**super().diagnostics(), "tokens out (per s)": f"{self.tokens_out.rate():.2f}",
                **{k: f"{v:,.0f}" for k, v in self.rates.items()},
                "compression (float32 / tokens)": f"{self.rates['raw float32 parameters (bit/s)'] / self.rates['token stream (bit/s)']:,.0f}x",
                **self.encode_ms.summary("encode per token")}


main = main_for(MotionEncoder)

if __name__ == "__main__":
    raise SystemExit(main())
