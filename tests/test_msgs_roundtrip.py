"""facelm_msgs crosses process boundaries intact.

Every test runs two separate Python processes in a private ROS domain with
localhost discovery: one publishes (or serves), the other subscribes (or
calls), and the test compares what arrived with what was sent, field by field.
This file is also the children's program: ``python test_msgs_roundtrip.py ROLE``.
"""
from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import pytest

import ros_helpers
from facelm.ros_env import reserved_domain_id

pytestmark = [pytest.mark.ros, pytest.mark.timeout(90)]

SCRIPT = str(Path(__file__).resolve())
AUDIO_TOPIC = "roundtrip/audio"
TOKENS_TOPIC = "roundtrip/tokens"
ACTION_NAME = "roundtrip/animate"


# ------------------------------------------------------------ what is sent

def _f32(values) -> list[float]:
    """Python floats that are exact float32 values, so equality after the trip is exact."""
    return [float(v) for v in np.asarray(values, dtype=np.float32)]


def sent_audio() -> dict:
    rng = np.random.default_rng(7)
    frames = 1600  # 0.1 s of 16 kHz stereo
    samples = _f32(rng.uniform(-1, 1, frames * 2))
    # Edges a float32 codec must not bend: signed zero, extremes, tiny, inf.
    samples[:6] = _f32([-0.0, 1.0, -1.0, 1e-40, np.finfo(np.float32).max, -np.inf])
    return {"stamp": [1_700_000_123, 456_789_012], "frame_id": "mic_gauche_é",
            "sample_rate": 16000, "channels": 2, "sequence": 2**40 + 7, "end": True,
            "samples": samples}


def sent_tokens() -> list[dict]:
    first = {"stamp": [12, 999_999_999], "frame_id": "lm", "stream_id": 2**32 - 1,
             "first_index": 123_456, "tokens": [0, 1, 511, -1, 2**31 - 1, -(2**31)],
             "frames_per_token": 4, "fps": 25.0, "end": False}
    last = {"stamp": [13, 0], "frame_id": "lm", "stream_id": 2**32 - 1,
            "first_index": 123_462, "tokens": [], "frames_per_token": 4,
            "fps": _f32([29.97])[0], "end": True}
    return [first, last]


def _bits(values: list[float]) -> bytes:
    # Compare float32 payloads bit for bit: -0.0 != 0.0 and inf == inf.
    return np.asarray(values, dtype=np.float32).tobytes()


# ------------------------------------------------------------------- tests

def test_audio_chunk_and_motion_tokens_cross_processes_intact(tmp_path):
    ros_helpers.require_ros("facelm_msgs")
    audio, tokens = sent_audio(), sent_tokens()
    spec = tmp_path / "sent.json"
    spec.write_text(json.dumps({"audio": audio, "tokens": tokens}))

    with reserved_domain_id() as domain, \
            ros_helpers.python_script_child("subscriber", SCRIPT, "subscriber", domain_id=domain) as sub, \
            ros_helpers.python_script_child("publisher", SCRIPT, "publisher", str(spec),
                                            domain_id=domain) as pub:
        sub.expect("ready")
        matched = pub.expect("matched")
        got_audio = sub.expect("audio")
        got_tokens = sub.expect_all("tokens", 2)

    assert _bits(got_audio.pop("samples")) == _bits(audio.pop("samples"))
    got_audio.pop("event")
    assert got_audio == audio
    for got, want in zip(got_tokens, tokens, strict=True):
        got.pop("event")
        assert got == want
    # Localhost discovery takes about 0.2 s here; 10 s would mean it is broken.
    assert matched["seconds"] < 10


def test_animate_action_feedback_result_cancel_and_reject():
    ros_helpers.require_ros("facelm_msgs")
    text = "nod slowly, then smile 🙂"
    with reserved_domain_id() as domain, \
            ros_helpers.python_script_child("server", SCRIPT, "action_server", domain_id=domain) as server, \
            ros_helpers.python_script_child("client", SCRIPT, "action_client", text,
                                            domain_id=domain) as client:
        server.expect("ready")
        client.expect("server_found")
        done = client.expect("completed")
        canceled = client.expect("canceled")
        rejected = client.expect("rejected")

    # A full goal: accepted, one feedback per chunk in order, all tokens in the result.
    want_tokens = planned_tokens(text, 1.0)
    chunks = math.ceil(len(want_tokens) / TOKENS_PER_CHUNK)
    assert done["accepted"] is True
    assert done["status"] == "SUCCEEDED"
    assert done["success"] is True
    assert done["message"] == f"done: {text}"
    assert done["tokens"] == want_tokens
    assert done["frames_generated"] == 25
    assert done["stream_id"] == 1
    assert [fb["chunk_index"] for fb in done["feedback"]] == list(range(chunks))
    assert [fb["tokens_so_far"] for fb in done["feedback"]] == \
        [min((i + 1) * TOKENS_PER_CHUNK, len(want_tokens)) for i in range(chunks)]
    assert done["feedback"][-1]["frames_so_far"] == 25
    elapsed = [fb["elapsed"] for fb in done["feedback"]]
    assert elapsed == sorted(elapsed) and elapsed[0] > 0

    # A long goal canceled after two chunks: the server stops early and says so.
    full = planned_tokens(text, 10.0)
    assert canceled["accepted"] is True
    assert canceled["cancel_accepted"] is True
    assert canceled["status"] == "CANCELED"
    assert canceled["success"] is False
    assert canceled["message"] == "canceled"
    made = len(canceled["tokens"])
    assert 2 * TOKENS_PER_CHUNK <= made < len(full)
    assert canceled["tokens"] == full[:made]
    assert canceled["frames_generated"] == made * FRAMES_PER_TOKEN
    assert canceled["stream_id"] == 2

    # An empty prompt is refused at the door.
    assert rejected["accepted"] is False


def test_test_domains_are_private_and_environment_is_isolated():
    # The round trips above rely on both: a domain nobody else on the host
    # holds, and settings that keep discovery on this host.
    import socket

    from facelm.ros_env import LOCK_PORT_BASE, PROFILE_PATH, fresh_domain_id, release_domain_id, ros_env

    with reserved_domain_id() as first:
        second = fresh_domain_id()
        release_domain_id(second)
        assert first != second and 1 <= first <= 101
        probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        with pytest.raises(OSError):  # what another process would hit
            probe.bind(("", LOCK_PORT_BASE + first))
        probe.close()

    user = {"RMW_IMPLEMENTATION": "rmw_cyclonedds_cpp", "ROS_AUTOMATIC_DISCOVERY_RANGE": "SUBNET",
            "ROS_LOCALHOST_ONLY": "0", "ROS_STATIC_PEERS": "10.0.0.2"}
    kept = ros_env(base=user)
    assert kept["RMW_IMPLEMENTATION"] == "rmw_cyclonedds_cpp"
    assert kept["ROS_AUTOMATIC_DISCOVERY_RANGE"] == "SUBNET"
    forced = ros_env(7, isolated=True, base=user)
    assert forced["RMW_IMPLEMENTATION"] == "rmw_fastrtps_cpp"
    assert forced["ROS_AUTOMATIC_DISCOVERY_RANGE"] == "LOCALHOST"
    assert forced["ROS_DOMAIN_ID"] == "7"
    assert "ROS_STATIC_PEERS" not in forced and "ROS_LOCALHOST_ONLY" not in forced
    assert Path(forced["FASTRTPS_DEFAULT_PROFILES_FILE"]) == PROFILE_PATH and PROFILE_PATH.is_file()
    with pytest.raises(ValueError):
        ros_env(102)


# ------------------------------------------------- child roles: topics

def _qos():
    # Reliable, depth 10: the default for facelm topics. (/face/audio itself
    # runs best effort; here every message must arrive to be compared.)
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    return QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)


def _header(msg, d: dict) -> None:
    msg.header.stamp.sec, msg.header.stamp.nanosec = d["stamp"]
    msg.header.frame_id = d["frame_id"]


def _header_dict(msg) -> dict:
    return {"stamp": [msg.header.stamp.sec, msg.header.stamp.nanosec], "frame_id": msg.header.frame_id}


def run_publisher(spec_path: str) -> None:
    import array

    import rclpy
    from facelm_msgs.msg import AudioChunk, MotionTokens

    sent = json.loads(Path(spec_path).read_text())
    node = rclpy.create_node("roundtrip_publisher")
    audio_pub = node.create_publisher(AudioChunk, AUDIO_TOPIC, _qos())
    tokens_pub = node.create_publisher(MotionTokens, TOKENS_TOPIC, _qos())
    # Reliable delivery is promised only to subscribers already matched.
    seconds = ros_helpers.spin_until(
        node, lambda: audio_pub.get_subscription_count() > 0 and tokens_pub.get_subscription_count() > 0,
        timeout=15, what="the subscriber to be discovered")
    ros_helpers.emit("matched", seconds=seconds)

    a = sent["audio"]
    audio = AudioChunk(sample_rate=a["sample_rate"], channels=a["channels"], sequence=a["sequence"],
                       end=a["end"], samples=array.array("f", a["samples"]))
    _header(audio, a)
    audio_pub.publish(audio)
    for t in sent["tokens"]:
        msg = MotionTokens(stream_id=t["stream_id"], first_index=t["first_index"],
                           tokens=array.array("i", t["tokens"]), frames_per_token=t["frames_per_token"],
                           fps=t["fps"], end=t["end"])
        _header(msg, t)
        tokens_pub.publish(msg)
    ros_helpers.emit("published")
    ros_helpers.run_until_shutdown(_executor(node))


def run_subscriber() -> None:
    import rclpy
    from facelm_msgs.msg import AudioChunk, MotionTokens

    def on_audio(msg: AudioChunk) -> None:
        ros_helpers.emit("audio", **_header_dict(msg), sample_rate=msg.sample_rate, channels=msg.channels,
                         sequence=msg.sequence, end=msg.end, samples=list(msg.samples))

    def on_tokens(msg: MotionTokens) -> None:
        ros_helpers.emit("tokens", **_header_dict(msg), stream_id=msg.stream_id, first_index=msg.first_index,
                         tokens=list(msg.tokens), frames_per_token=msg.frames_per_token, fps=msg.fps,
                         end=msg.end)

    node = rclpy.create_node("roundtrip_subscriber")
    node.create_subscription(AudioChunk, AUDIO_TOPIC, on_audio, _qos())
    node.create_subscription(MotionTokens, TOKENS_TOPIC, on_tokens, _qos())
    ros_helpers.emit("ready")
    ros_helpers.run_until_shutdown(_executor(node))


def _executor(node):
    from rclpy.executors import SingleThreadedExecutor
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    return executor


# ------------------------------------------------- child roles: action

FRAMES_PER_TOKEN = 4
TOKENS_PER_CHUNK = 2
CHUNK_SECONDS = 0.05  # stands in for the time a model takes to make a chunk


def planned_tokens(text: str, seconds: float) -> list[int]:
    """What the stand-in generator makes for a goal: deterministic, so the test can check it."""
    count = math.ceil(seconds * 25 / FRAMES_PER_TOKEN)
    base = sum(text.encode())
    return [(base + 37 * i) % 1024 for i in range(count)]


def run_action_server() -> None:
    import rclpy
    from rclpy.action import ActionServer, CancelResponse, GoalResponse
    from rclpy.callback_groups import ReentrantCallbackGroup
    from rclpy.executors import MultiThreadedExecutor
    from facelm_msgs.action import Animate

    node = rclpy.create_node("roundtrip_animate_server")
    streams = iter(range(1, 1000))

    def execute(goal_handle) -> Animate.Result:
        goal = goal_handle.request
        stream_id = next(streams)
        tokens = planned_tokens(goal.text, goal.seconds)
        total_frames = round(goal.seconds * 25)
        made: list[int] = []
        start = time.monotonic()
        for chunk_index, first in enumerate(range(0, len(tokens), TOKENS_PER_CHUNK)):
            if goal_handle.is_cancel_requested:
                goal_handle.canceled()
                return Animate.Result(success=False, stream_id=stream_id, tokens=made, message="canceled",
                                      frames_generated=len(made) * FRAMES_PER_TOKEN)
            time.sleep(CHUNK_SECONDS)
            made += tokens[first:first + TOKENS_PER_CHUNK]
            goal_handle.publish_feedback(Animate.Feedback(
                chunk_index=chunk_index, tokens_so_far=len(made),
                frames_so_far=min(len(made) * FRAMES_PER_TOKEN, total_frames),
                elapsed=time.monotonic() - start))
        goal_handle.succeed()
        return Animate.Result(success=True, stream_id=stream_id, tokens=made, message=f"done: {goal.text}",
                              frames_generated=total_frames)

    # Reentrant group + several threads: cancel requests are served while a goal executes.
    ActionServer(node, Animate, ACTION_NAME, execute_callback=execute,
                 goal_callback=lambda goal: GoalResponse.ACCEPT if goal.text.strip() else GoalResponse.REJECT,
                 cancel_callback=lambda handle: CancelResponse.ACCEPT,
                 callback_group=ReentrantCallbackGroup())
    executor = MultiThreadedExecutor(num_threads=3)
    executor.add_node(node)
    ros_helpers.emit("ready")
    ros_helpers.run_until_shutdown(executor)


def run_action_client(text: str) -> None:
    import rclpy
    from action_msgs.msg import GoalStatus
    from rclpy.action import ActionClient
    from facelm_msgs.action import Animate

    status_names = {GoalStatus.STATUS_SUCCEEDED: "SUCCEEDED", GoalStatus.STATUS_CANCELED: "CANCELED",
                    GoalStatus.STATUS_ABORTED: "ABORTED"}
    node = rclpy.create_node("roundtrip_animate_client")
    client = ActionClient(node, Animate, ACTION_NAME)
    if not client.wait_for_server(timeout_sec=15):
        raise TimeoutError("the Animate server was not discovered within 15 s")
    ros_helpers.emit("server_found")

    def send(goal: Animate.Goal, feedback: list):
        future = client.send_goal_async(goal, feedback_callback=lambda msg: feedback.append(msg.feedback))
        ros_helpers.spin_until(node, future.done, 10, "the goal response")
        return future.result()

    def finish(handle, feedback: list, expected_feedback: int | None) -> dict:
        future = handle.get_result_async()
        ros_helpers.spin_until(node, future.done, 20, "the result")
        if expected_feedback is not None:
            # Feedback is a topic and the result a service: the last feedback may trail the result.
            ros_helpers.spin_until(node, lambda: len(feedback) >= expected_feedback, 5, "the last feedback")
        response = future.result()
        r = response.result
        return {"accepted": True, "status": status_names.get(response.status, str(response.status)),
                "success": r.success, "stream_id": r.stream_id, "frames_generated": r.frames_generated,
                "tokens": list(r.tokens), "message": r.message,
                "feedback": [{"chunk_index": f.chunk_index, "tokens_so_far": f.tokens_so_far,
                              "frames_so_far": f.frames_so_far, "elapsed": f.elapsed} for f in feedback]}

    # 1. A goal run to the end.
    feedback: list = []
    handle = send(Animate.Goal(text=text, seconds=1.0), feedback)
    chunks = math.ceil(len(planned_tokens(text, 1.0)) / TOKENS_PER_CHUNK)
    ros_helpers.emit("completed", **finish(handle, feedback, chunks))

    # 2. A long goal canceled once two chunks have come back.
    feedback = []
    handle = send(Animate.Goal(text=text, seconds=10.0), feedback)
    ros_helpers.spin_until(node, lambda: len(feedback) >= 2, 10, "two feedback messages")
    cancel = handle.cancel_goal_async()
    ros_helpers.spin_until(node, cancel.done, 10, "the cancel response")
    outcome = finish(handle, feedback, None)
    outcome["cancel_accepted"] = len(cancel.result().goals_canceling) == 1
    ros_helpers.emit("canceled", **outcome)

    # 3. A goal the server refuses.
    handle = send(Animate.Goal(text="  ", seconds=1.0), [])
    ros_helpers.emit("rejected", accepted=handle.accepted)
    ros_helpers.run_until_shutdown(_executor(node))


if __name__ == "__main__":
    ros_helpers.child_main({"publisher": run_publisher, "subscriber": run_subscriber,
                            "action_server": run_action_server, "action_client": run_action_client})
