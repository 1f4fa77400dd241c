"""A small real rclpy lifecycle node for launcher tests, following the facelm node contract.

It configures and activates itself, logs ``<name> active``, publishes its
``greeting`` parameter on ``chatter`` at 20 Hz and exits 0 on SIGINT. With
``exit_code`` > 0 it exits with that code ``exit_after`` seconds after
becoming active (a node that dies, for the launcher's error path).
Run: ``python launch_test_node.py --ros-args -r __node:=NAME -p greeting:=hi``.
"""
from __future__ import annotations

import sys

import rclpy
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.lifecycle import LifecycleNode, TransitionCallbackReturn
from std_msgs.msg import String


class Talker(LifecycleNode):
    def __init__(self):
        super().__init__("launch_test_node")
        self.declare_parameter("greeting", "hello", ParameterDescriptor(description="text to publish"))
        self.declare_parameter("count", 0, ParameterDescriptor(description="a number appended to the text"))
        self.declare_parameter("exit_code", 0, ParameterDescriptor(description="> 0: die with this code"))
        self.declare_parameter("exit_after", 0.5, ParameterDescriptor(description="seconds before dying"))
        self.publisher = None
        self.timer = None

    def on_configure(self, state) -> TransitionCallbackReturn:
        self.text = f"{self.get_parameter('greeting').value} {self.get_parameter('count').value}"
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state) -> TransitionCallbackReturn:
        self.publisher = self.create_publisher(String, "chatter", 10)
        self.timer = self.create_timer(0.05, self.tick)
        code = self.get_parameter("exit_code").value
        if code:
            self.create_timer(self.get_parameter("exit_after").value, lambda: sys.exit(code))
        self.get_logger().info(f"{self.get_name()} active")
        return super().on_activate(state)

    def tick(self) -> None:
        self.publisher.publish(String(data=self.text))


def main(args=None) -> int:
    rclpy.init(args=args)
    node = Talker()
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    node.trigger_configure()
    node.trigger_activate()
    try:
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
