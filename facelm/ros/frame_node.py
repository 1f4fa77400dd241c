"""A node that reads /face/flame-contract frames (sensor_msgs/JointState): the bridges, encoder, describer.

It subscribes in ``activate`` to the ``input_topic`` parameter, checks each frame
(length, names, NaN: a bad one is rejected, counted and never passed on) and
hands good ones to ``on_frame(row, msg)``.
"""
from __future__ import annotations

from facelm.errors import FacelmError
from facelm.ros.base import FacelmNode, RateMeter
from facelm.ros.flame import FrameLayout


class FrameInNode(FacelmNode):
    default_input = "/face/flame"

    def __init__(self, name: str, **kwargs):
        super().__init__(name, **kwargs)
        self.param("input_topic", self.default_input, "FLAME frames in (sensor_msgs/JointState, /face/flame names)")
        self.param("num_expression", 50, "expression coefficients a frame carries (the model's)")
        self.layout = FrameLayout(int(self.value("num_expression")))
        self.frames_in = RateMeter()
        self._frame_sub = None

    def activate(self) -> None:
        from sensor_msgs.msg import JointState
        self._frame_sub = self.create_subscription(JointState, self.value("input_topic"), self._on_msg, 10)

    def deactivate(self) -> None:
        if self._frame_sub is not None:
            self.destroy_subscription(self._frame_sub)
            self._frame_sub = None

    def _on_msg(self, msg) -> None:
        try:
            row = self.layout.check(msg.name, msg.position)
        except FacelmError as exc:
            self.reject("frame", str(exc))
            return
        self.frames_in.tick()
        self.on_frame(row, msg)

    def on_frame(self, row, msg) -> None:
        raise NotImplementedError

    def diagnostics(self) -> dict[str, str]:
        return {"input rate (Hz)": f"{self.frames_in.rate():.2f}"}
