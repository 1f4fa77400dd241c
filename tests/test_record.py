"""facelm record: topics of another process to MCAP, read back with mcap_ros2, played back.

A publisher child sends JointState and String messages whose content is a
function of their index; ``facelm record`` (its own process) records them;
``mcap_ros2``'s reader decodes the file independently and every decoded
message must equal what its index says; ``facelm record --play`` then
republishes the file to a receiver child, which must get the same messages
in the same order with the recorded spacing.
This file is also the children's program: ``python test_record.py ROLE``.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import ros_helpers
from facelm.ros_env import reserved_domain_id, spawn_ros_python, stop_process

pytestmark = [pytest.mark.ros, pytest.mark.timeout(120)]

SCRIPT = str(Path(__file__).resolve())
JOINTS, TEXT = "/record_test/joints", "/record_test/text"
PERIOD = 0.04  # 25 Hz, like /face/flame


def expected_joints(i: int) -> dict:
    return {"frame_id": f"stream:{i}", "name": ["expr_000", "jaw_x"], "position": [i * 0.5, -i / 8.0]}


def expected_text(i: int) -> str:
    return f"message {i} é"


def _facelm(args, domain, **kwargs) -> subprocess.Popen:
    return spawn_ros_python(["-m", "facelm", "record", *map(str, args)], domain_id=domain,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kwargs)


def test_record_reads_back_with_mcap_ros2_and_plays_back(tmp_path):
    ros_helpers.require_ros("sensor_msgs")
    from mcap.reader import make_reader
    from mcap_ros2.decoder import DecoderFactory

    out = tmp_path / "rec.mcap"
    with reserved_domain_id() as domain:
        with ros_helpers.python_script_child("publisher", SCRIPT, "publisher", domain_id=domain) as pub:
            pub.expect("ready")
            recorder = _facelm(["-o", out, "--topics", JOINTS, TEXT, "/record_test/never", "--duration", "3"],
                               domain)
            try:
                log, _ = recorder.communicate(timeout=60)
            finally:
                stop_process(recorder)
        assert recorder.returncode == 0, log
        assert "/record_test/never: never published" in log

        # Decoded by mcap_ros2 from the schemas in the file: every message is what its index says.
        joints, texts, spacing = [], [], []
        with open(out, "rb") as f:
            reader = make_reader(f, decoder_factories=[DecoderFactory()])
            assert reader.get_header().profile == "ros2"
            decoded = list(reader.iter_decoded_messages(log_time_order=True))
        for schema, channel, message, msg in decoded:
            assert channel.message_encoding == "cdr" and schema.encoding == "ros2msg"
            if channel.topic == JOINTS:
                assert schema.name == "sensor_msgs/msg/JointState"
                i = int(msg.header.frame_id.split(":")[1])
                assert {"frame_id": msg.header.frame_id, "name": list(msg.name),
                        "position": list(msg.position)} == expected_joints(i)
                joints.append(i)
                spacing.append(message.log_time)
            else:
                assert channel.topic == TEXT and schema.name == "std_msgs/msg/String"
                i = int(msg.data.split()[1])
                assert msg.data == expected_text(i)
                texts.append(i)
        assert len(joints) >= 20 and joints == list(range(joints[0], joints[0] + len(joints)))
        assert len(texts) >= 20 and texts == list(range(texts[0], texts[0] + len(texts)))
        span = (spacing[-1] - spacing[0]) / 1e9
        assert span == pytest.approx((len(joints) - 1) * PERIOD, rel=0.5)

        # Played back at double speed to a receiver in another process: same messages, same order.
        with ros_helpers.python_script_child("receiver", SCRIPT, "receiver", str(len(joints)),
                                             domain_id=domain) as receiver:
            receiver.expect("ready")
            player = _facelm(["--play", out, "--rate", "2", "--wait-subscribers", "10"], domain)
            try:
                plog, _ = player.communicate(timeout=60)
            finally:
                stop_process(player)
            assert player.returncode == 0, plog
            got = receiver.expect("received", timeout=30)
    assert f"played {len(joints) + len(texts)} messages" in plog
    assert got["joints"] == [expected_joints(i) for i in joints]
    assert got["texts"] == [expected_text(i) for i in texts]
    # Recorded spacing divided by the rate (loose: a shared CI box).
    assert got["span"] == pytest.approx(span / 2, rel=0.5, abs=0.15)


def test_record_errors_are_one_line(tmp_path):
    bad = tmp_path / "bad.mcap"
    bad.write_bytes(b"not an mcap file")
    for args, message in ((["--play", bad], "not a readable MCAP"),
                          (["--play", tmp_path / "none.mcap"], "not found"),
                          ([], "either -o OUT.mcap"),
                          (["-o", bad], "exists; pass --overwrite")):
        done = subprocess.run([sys.executable, "-m", "facelm", "record", *map(str, args)],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 2 and message in done.stderr, done.stderr


# --------------------------------------------------------- child roles

def publisher() -> None:
    import rclpy
    from sensor_msgs.msg import JointState
    from std_msgs.msg import String

    node = rclpy.create_node("record_test_publisher")
    joints = node.create_publisher(JointState, JOINTS, 10)
    text = node.create_publisher(String, TEXT, 10)
    count = [0]

    def tick():
        i = count[0]
        want = expected_joints(i)
        msg = JointState(name=want["name"], position=want["position"])
        msg.header.frame_id = want["frame_id"]
        joints.publish(msg)
        text.publish(String(data=expected_text(i)))
        count[0] += 1

    node.create_timer(PERIOD, tick)
    ros_helpers.emit("ready")
    from rclpy.executors import SingleThreadedExecutor
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    ros_helpers.run_until_shutdown(executor)


def receiver(count: str) -> None:
    import time

    import rclpy
    from sensor_msgs.msg import JointState
    from std_msgs.msg import String

    node = rclpy.create_node("record_test_receiver")
    joints, texts, times = [], [], []

    def on_joints(m):
        joints.append({"frame_id": m.header.frame_id, "name": list(m.name), "position": list(m.position)})
        times.append(time.monotonic())

    node.create_subscription(JointState, JOINTS, on_joints, 100)
    node.create_subscription(String, TEXT, lambda m: texts.append(m.data), 100)
    ros_helpers.emit("ready")
    # Until all arrived, or 3 s passed without one once some did (the test then shows what is missing).
    ros_helpers.spin_until(node, lambda: len(joints) >= int(count) and len(texts) >= int(count)
                           or bool(times) and time.monotonic() - times[-1] > 3, 40, "the played messages")
    ros_helpers.emit("received", joints=joints, texts=texts, span=times[-1] - times[0])


if __name__ == "__main__":
    ros_helpers.child_main({"publisher": publisher, "receiver": receiver})
