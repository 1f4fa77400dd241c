"""robot_joints_bridge: /face/flame -> /face/robot_joints, servo targets from a YAML map (facelm.ros.joint_map).

Positions are clamped to each joint's limits and rate-limited by the time
between frames (header stamps), so a jump in the face never jerks a servo;
a rejected frame (NaN, wrong length) moves nothing.
"""
from __future__ import annotations

from pathlib import Path

from facelm.ros.base import main_for
from facelm.ros.frame_node import FrameInNode
from facelm.ros.joint_map import JointMap

NOMINAL_DT = 0.04
MAX_DT = 0.2  # after a pause, move no further than 200 ms allow


def default_map_path() -> str:
    """launch/params/robot_face_joints.yaml in a checkout, or share/facelm/launch/params when installed."""
    import sys
    for base in (Path(__file__).resolve().parents[2], Path(sys.prefix) / "share" / "facelm"):
        path = base / "launch" / "params" / "robot_face_joints.yaml"
        if path.is_file():
            return str(path)
    return "robot_face_joints.yaml"


class RobotJointsBridge(FrameInNode):
    def __init__(self, **kwargs):
        super().__init__("robot_joints_bridge", **kwargs)
        self.param("output_topic", "/face/robot_joints", "servo targets out (sensor_msgs/JointState)")
        self.param("joint_map", default_map_path(), "YAML map from FLAME / action-unit channels to joints")

    def configure(self) -> None:
        self.map = JointMap.load(self.value("joint_map"), self.layout.num_expression)
        self._last_stamp = None

    def activate(self) -> None:
        from sensor_msgs.msg import JointState
        self.pub = self.publisher(JointState, self.value("output_topic"))
        self._msg = JointState(name=self.map.names)
        super().activate()

    def on_frame(self, row, msg) -> None:
        stamp = msg.header.stamp.sec + 1e-9 * msg.header.stamp.nanosec
        dt = NOMINAL_DT if self._last_stamp is None or stamp <= self._last_stamp else stamp - self._last_stamp
        self._last_stamp = stamp
        out = self._msg
        out.header = msg.header
        out.position = self.map.step(row, min(dt, MAX_DT)).tolist()
        self.pub.publish(out)


main = main_for(RobotJointsBridge)

if __name__ == "__main__":
    raise SystemExit(main())
