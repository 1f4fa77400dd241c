"""arkit_bridge: /face/flame -> /face/arkit, ARKit-52 blendshape weights by name in [0, 1] (facelm.ros.arkit_map)."""
from __future__ import annotations

from facelm.ros.arkit_map import ArkitMap
from facelm.ros.base import main_for
from facelm.ros.frame_node import FrameInNode


class ArkitBridge(FrameInNode):
    def __init__(self, **kwargs):
        super().__init__("arkit_bridge", **kwargs)
        self.param("output_topic", "/face/arkit", "ARKit-52 weights out (sensor_msgs/JointState, names = shapes)")

    def configure(self) -> None:
        self.map = ArkitMap(self.layout.num_expression)

    def activate(self) -> None:
        from sensor_msgs.msg import JointState
        self.pub = self.publisher(JointState, self.value("output_topic"))
        self._msg = JointState(name=list(self.map.names))
        super().activate()

    def on_frame(self, row, msg) -> None:
        out = self._msg
        out.header = msg.header
        out.position = self.map(row).tolist()
        self.pub.publish(out)


main = main_for(ArkitBridge)

if __name__ == "__main__":
    raise SystemExit(main())
