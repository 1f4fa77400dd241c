"""Soak run of the 25 Hz output: no dropped frame over N minutes (kept out of CI; run by hand).

Starts text_to_motion and motion_player as separate processes in a private ROS
domain, sends a prompt every few seconds (so the player alternates between
streams and idle life), receives /face/flame in this process and reports, as
JSON: frames received vs expected from the run's length, frames missing by
their header stamps (the player stamps tick k with start + 40 k ms), receive
interval p50/p99/max, and the player's own count of missed ticks.

    python scripts/soak_player.py --minutes 10 --out out/soak.json
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

from facelm.ros_env import apply_ros_env, reserved_domain_id, spawn_ros_python, stop_process

PROMPTS = ("nod slowly and smile", "shake the head", "look surprised", "turn to the left and frown")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10.0, help="how long to receive frames (default 10)")
    ap.add_argument("--command-every", type=float, default=6.0, help="seconds between prompts (default 6)")
    ap.add_argument("--tick-source", default="thread", help="motion_player tick_source parameter (thread|timer)")
    ap.add_argument("--out", type=Path, default=None, help="write the JSON report here as well")
    args = ap.parse_args(argv)

    with reserved_domain_id() as domain:
        apply_ros_env(domain, isolated=True)
        children = [spawn_ros_python(["-m", f"facelm.ros.{name}", "--ros-args", *extra], domain_id=domain,
                                     stderr=subprocess.PIPE, text=True)
                    for name, extra in (("text_to_motion", []),
                                        ("motion_player", ["-p", f"tick_source:={args.tick_source}"]))]
        try:
            for child, name in zip(children, ("text_to_motion", "motion_player")):
                wait_active(child, name)
            report = receive(args.minutes * 60.0, args.command_every)
        finally:
            for child in children:
                stop_process(child)
    text = json.dumps(report, indent=1)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    sys.stdout.flush()
    os._exit(0 if report["frames_missing_by_stamp"] == 0 else 1)


def wait_active(proc: subprocess.Popen, name: str, timeout: float = 60.0) -> None:
    """Read the node's log until it says '<name> active', then keep echoing it in the background."""
    deadline = time.monotonic() + timeout
    for line in proc.stderr:
        sys.stderr.write(line)
        if f"{name} active" in line:
            break
        if time.monotonic() > deadline:
            raise SystemExit(f"error: {name} did not become active within {timeout:.0f} s")
    else:
        raise SystemExit(f"error: {name} exited before it became active")
    threading.Thread(target=lambda: [sys.stderr.write(line) for line in proc.stderr], daemon=True).start()


def receive(seconds: float, command_every: float) -> dict:
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.executors import SingleThreadedExecutor
    from sensor_msgs.msg import JointState
    from std_msgs.msg import String

    from facelm.ros.arrival import arrival_ns

    rclpy.init()
    node = rclpy.create_node("soak_receiver")
    arrivals: list[int] = []
    stamps: list[int] = []
    bad_values = [0]
    stream_frames = [0]
    player_diag: dict[str, str] = {}
    recording = threading.Event()

    def on_frame(msg: JointState, info) -> None:
        if not recording.is_set():
            return
        arrivals.append(arrival_ns(info))
        stamps.append(msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec)
        stream_frames[0] += msg.header.frame_id.startswith("stream:")
        if not np.isfinite(msg.position).all():
            bad_values[0] += 1

    def on_diag(msg: DiagnosticArray) -> None:
        for status in msg.status:
            if "motion_player" in status.name:
                player_diag.update({kv.key: kv.value for kv in status.values})

    node.create_subscription(JointState, "/face/flame", on_frame, 10)
    node.create_subscription(DiagnosticArray, "/diagnostics", on_diag, 10)
    commands = node.create_publisher(String, "/face/command", 10)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    deadline = time.monotonic() + 20
    while node.count_subscribers("/face/command") == 0 or node.count_publishers("/face/flame") == 0:
        if time.monotonic() > deadline:
            raise SystemExit(f"error: the nodes did not come up within 60 s ({commands.get_subscription_count()} command subscribers, {node.count_publishers('/face/flame')} frame publishers; {node.get_topic_names_and_types()} {node.get_node_names()})")
        time.sleep(0.1)
    time.sleep(2.0)  # let the player settle (and the command publisher match)
    recording.set()
    start = time.monotonic()
    sent = 0
    while time.monotonic() - start < seconds:
        commands.publish(String(data=PROMPTS[sent % len(PROMPTS)]))
        sent += 1
        time.sleep(min(command_every, max(0.0, seconds - (time.monotonic() - start))))
    recording.clear()
    time.sleep(1.5)  # one more diagnostics message
    # No executor.shutdown() / rclpy.shutdown() here: with the executor spinning in
    # another thread they hung this script at exit; main() ends the process with os._exit.

    arr = np.diff(np.array(arrivals)) / 1e6
    st = np.array(stamps)
    expected_by_stamp = int(round((st[-1] - st[0]) / 40e6)) + 1 if len(st) else 0
    return {"seconds": seconds, "commands_sent": sent, "frames_received": len(arrivals),
            "frames_expected_by_duration": int(round(seconds * 25)),
            "frames_expected_by_stamp": expected_by_stamp,
            "frames_missing_by_stamp": expected_by_stamp - len(st),
            "non_finite_frames": bad_values[0], "stream_frames": stream_frames[0],
            "interval_ms": {"p50": float(np.percentile(arr, 50)), "p99": float(np.percentile(arr, 99)),
                            "p1": float(np.percentile(arr, 1)), "max": float(arr.max()), "min": float(arr.min())},
            "player_diagnostics": player_diag}


if __name__ == "__main__":
    sys.exit(main())
