"""What the microphone and the wav-file publisher share: publishing AudioChunk messages."""
from __future__ import annotations

import numpy as np

from facelm.ros.base import FacelmNode


class AudioSourceNode(FacelmNode):
    def __init__(self, name: str, **kwargs):
        super().__init__(name, **kwargs)
        self.param("audio_topic", "/face/audio", "audio chunks out (facelm_msgs/AudioChunk, sensor-data QoS)")
        self.param("chunk_ms", 20, "chunk length in milliseconds")
        self.sequence = 0
        self.chunks_out = 0

    def activate(self) -> None:
        from rclpy.qos import qos_profile_sensor_data
        from facelm_msgs.msg import AudioChunk
        self.pub = self.publisher(AudioChunk, self.value("audio_topic"), qos_profile_sensor_data)

    def send(self, samples: np.ndarray, rate: int, channels: int, end: bool = False) -> None:
        """Publish one chunk of float samples in [-1, 1], interleaved by channel."""
        from facelm_msgs.msg import AudioChunk
        msg = AudioChunk(sample_rate=int(rate), channels=int(channels), sequence=self.sequence, end=end)
        msg.samples = np.ascontiguousarray(samples, np.float32).reshape(-1).tolist()
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.header.frame_id = self.get_name()
        self.pub.publish(msg)
        self.sequence += 1
        self.chunks_out += 1

    def diagnostics(self) -> dict[str, str]:
        return {"chunks out": str(self.chunks_out)}
