"""``facelm demo``: the default ROS 2 graph end to end, across processes, measured.

1. ``facelm launch demo.launch.yaml`` starts the default graph (text_to_motion,
   motion_player, bridges) plus audio_to_motion, in a private ROS domain.
2. ``facelm record`` (another process) receives /face/flame and the inputs
   into an MCAP file: the demo's frame receiver, and a file Foxglove opens.
3. This process publishes a text command on /face/command; once that motion
   has played, wav_publisher sends a speech file on /face/audio (BEAT2's
   recording when ../shared/realdata is there, else an eSpeak NG sentence).
4. The received frames become a clip (``live.npz``), ``facelm render`` draws
   it as ``live.gif``, and the first-frame latency and 25 Hz interval
   statistics are printed and written to ``live_stats.json``.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facelm.clip import MotionClip
from facelm.errors import FacelmError
from facelm.launcher import WatchedProcess

FLAME_TOPIC = "/face/flame"
RECORDED = (FLAME_TOPIC, "/face/command", "/face/audio", "/face/tokens", "/face/speech_frames", "/diagnostics")
PERIOD_NS = 40_000_000  # 25 Hz
_STREAM = re.compile(r"stream:(\d+)")


# ----------------------------------------------------------------- analysis

@dataclass
class ReceivedFrames:
    """/face/flame as received by the recording process: receive times, stream ids, values."""

    times_ns: np.ndarray  # (T,) int64, wall clock at receipt
    stamps_ns: np.ndarray  # (T,) int64, header stamps: motion_player's start + tick * 40 ms
    streams: list[int | None]  # stream id from header.frame_id "stream:<id>", None for idle frames
    names: list[str]
    positions: np.ndarray  # (T, D) float64

    def clip(self) -> MotionClip:
        return joint_states_to_clip(self.names, self.positions)


def read_received_frames(path: str | os.PathLike, topic: str = FLAME_TOPIC) -> ReceivedFrames:
    from mcap.reader import make_reader
    from mcap_ros2.decoder import DecoderFactory

    times, stamps, streams, rows, names = [], [], [], [], None
    with open(path, "rb") as f:
        reader = make_reader(f, decoder_factories=[DecoderFactory()])
        for _, _, message, msg in reader.iter_decoded_messages(topics=[topic], log_time_order=True):
            if names is None:
                names = list(msg.name)
            if list(msg.name) != names or len(msg.position) != len(names):
                raise FacelmError(f"{path}: {topic} changed its joint names mid-stream")
            times.append(message.log_time)
            stamps.append(msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec)
            match = _STREAM.fullmatch(msg.header.frame_id)  # motion_player: "stream:<id>" or "idle"
            streams.append(int(match.group(1)) if match else None)
            rows.append(msg.position)
    if not times:
        raise FacelmError(f"{path}: no {topic} frames were received")
    return ReceivedFrames(np.asarray(times, np.int64), np.asarray(stamps, np.int64), streams, names,
                          np.asarray(rows, np.float64))


def first_message_time(path: str | os.PathLike, topic: str) -> int | None:
    """Receive time (ns) of the first message on ``topic`` in a recording, None when there is none."""
    from mcap.reader import make_reader

    with open(path, "rb") as f:
        for _, _, message in make_reader(f).iter_messages(topics=[topic], log_time_order=True):
            return message.log_time
    return None


def joint_states_to_clip(names: list[str], positions: np.ndarray) -> MotionClip:
    """/face/flame JointState rows (names expr_000.., global_x.., neck_, jaw_, eye_l_, eye_r_) to a clip."""
    index = {n: i for i, n in enumerate(names)}

    def group(keys: list[str]) -> np.ndarray:
        missing = [k for k in keys if k not in index]
        if missing:
            raise FacelmError(f"/face/flame frames lack {', '.join(missing[:3])}")
        return positions[:, [index[k] for k in keys]]

    expr = sorted((n for n in names if n.startswith("expr_")), key=lambda n: int(n[5:]))
    xyz = lambda prefix: [f"{prefix}_{a}" for a in "xyz"]  # noqa: E731
    return MotionClip(expression=group(expr), global_pose=group(xyz("global")), neck_pose=group(xyz("neck")),
                      jaw_pose=group(xyz("jaw")), eye_pose=group(xyz("eye_l") + xyz("eye_r")),
                      source="/face/flame")


def interval_stats(frames: ReceivedFrames) -> dict:
    """A 25 Hz stream as received: receive-interval p50/p99/max (ms), and dropped frames.

    Dropped frames are counted on the header stamps (start + tick * 40 ms, a skipped tick
    leaves a gap of whole periods), so a frame that arrives late but arrives is jitter, not
    a drop; frames with no stamps fall back to gaps in the receive times.
    """
    times = np.asarray(frames.times_ns, np.int64)
    dt = np.diff(times) / 1e6
    if dt.size == 0:
        return {"frames": int(len(times)), "interval_p50_ms": None, "interval_p99_ms": None,
                "interval_max_ms": None, "dropped": 0}
    stamps = np.asarray(frames.stamps_ns, np.int64)
    steps = np.diff(stamps if stamps.any() else times) / PERIOD_NS
    # A step of k periods (with half a period of slack) means k - 1 frames never came.
    dropped = int(np.sum(np.maximum(np.rint(steps) - 1, 0)[steps > 1.5]))
    return {"frames": int(len(times)), "seconds": float((times[-1] - times[0]) / 1e9),
            "interval_p50_ms": float(np.percentile(dt, 50)), "interval_p99_ms": float(np.percentile(dt, 99)),
            "interval_max_ms": float(dt.max()), "dropped": dropped}


def first_frame_latency(frames: ReceivedFrames, sent_ns: int) -> tuple[float | None, int | None]:
    """Milliseconds from ``sent_ns`` to the first frame of a stream that starts after it, and its id.

    A stream starts where frame_id changes to ``stream:<id>`` from idle or another id
    (motion_player's token and speech streams may share ids, so ids are not compared
    with older ones).
    """
    previous = None
    for stream, t in zip(frames.streams, frames.times_ns):
        if t >= sent_ns and stream is not None and stream != previous:
            return (t - sent_ns) / 1e6, stream
        previous = stream
    return None, None


# ------------------------------------------------------------ orchestration

def speech_wav(out: Path, seconds: float, shared: Path | None) -> tuple[Path, str]:
    """A speech file for the audio part: a slice of BEAT2's recording, else eSpeak NG."""
    from scipy.io import wavfile

    from facelm.audio.io import read_wav, to_float_mono

    beat2 = shared / "realdata" / "beat2" / "2_scott_0_1_1.wav" if shared else None
    path = out / "speech.wav"
    if beat2 is not None and beat2.is_file():
        samples, rate = read_wav(beat2)
        mono = to_float_mono(samples, str(beat2))[: int(seconds * rate)]
        wavfile.write(path, rate, (np.clip(mono, -1, 1) * 32767).astype(np.int16))
        return path, f"BEAT2 {beat2.name}, first {len(mono) / rate:.1f} s"
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        raise FacelmError("demo: no ../shared/realdata and no espeak-ng to synthesise speech "
                          "(apt-get install espeak-ng, or pass --no-audio)")
    text = "Hello! I am a face driven by motion tokens, talking at twenty five frames a second."
    subprocess.run([espeak, "-w", str(path), text], check=True, capture_output=True)
    return path, f"eSpeak NG: {text!r}"


# Further commands when --commands N > 1 asks for more latency samples.
FOLLOW_UPS = ("look to the left and frown", "shake your head, surprised", "smile and tilt your head",
              "look up, then nod twice", "calm, looking straight ahead")


def run_demo(out: Path, *, text: str, seconds: float, audio: bool, audio_seconds: float,
             shared: Path | None, commands: int = 1, launch_file: str = "demo.launch.yaml",
             launch_args: list[str] = (), ready_timeout: float = 120.0) -> dict:
    from facelm.ros_env import reserved_domain_id, ros_env

    out.mkdir(parents=True, exist_ok=True)
    bag = out / "live.mcap"
    bag.unlink(missing_ok=True)
    texts = [text, *(FOLLOW_UPS * commands)][:commands]
    wav_info = None
    with reserved_domain_id() as domain:
        env = ros_env(domain, isolated=True)
        env["PYTHONUNBUFFERED"] = "1"
        print(f"demo: ROS domain {domain}, localhost only")
        launch = WatchedProcess("launch", [sys.executable, "-m", "facelm", "launch", launch_file, *launch_args],
                                env)
        receiver = None
        try:
            launch.wait_for("nodes active in", ready_timeout)
            receiver = WatchedProcess("receiver", [sys.executable, "-m", "facelm", "record", "-o", str(bag),
                                                   "--topics", *RECORDED], env)
            receiver.wait_for(f"recording {FLAME_TOPIC}", 30)
            sent = _send_commands(texts, seconds + 1.5, domain)
            if audio:
                wav, wav_info = speech_wav(out, audio_seconds, shared)
                print(f"demo: playing {wav} on /face/audio ({wav_info})")
                # Two listeners: audio_to_motion and the recorder, which subscribes only once it
                # sees the publisher; the first chunk's time is the audio latency's start.
                player = WatchedProcess("wav_publisher", [sys.executable, "-m", "facelm.ros.wav_publisher",
                                                          "--ros-args", "-p", f"path:={wav}",
                                                          "-p", "wait_for_subscribers:=2",
                                                          "-p", "start_delay:=0.5"], env)
                player.wait_for("wav_publisher active", 60)
                deadline = time.monotonic() + audio_seconds + 5
                while player.proc.poll() is None and time.monotonic() < deadline:
                    time.sleep(0.1)
                time.sleep(1.0)
                player.stop()
        finally:
            if receiver is not None:
                receiver.stop()
            launch_code = launch.stop(30)
    stats = summarise(bag, out, sent, texts, wav_info)
    stats["launch_exit_code"] = launch_code  # 0: every node stopped cleanly on SIGINT
    return stats


def summarise(bag: Path, out: Path, sent: list[int], texts: list[str], wav_info: str | None) -> dict:
    frames = read_received_frames(bag)
    latencies = [first_frame_latency(frames, t)[0] for t in sent]
    measured = [x for x in latencies if x is not None]
    stats = {"commands": texts, "first_frame_latency_ms": latencies,
             "first_frame_latency_p50_ms": float(np.median(measured)) if measured else None,
             **interval_stats(frames)}
    audio_sent = first_message_time(bag, "/face/audio")
    if wav_info is not None:
        stats["audio"] = wav_info
        stats["audio_first_frame_latency_ms"] = (first_frame_latency(frames, audio_sent)[0]
                                                 if audio_sent is not None else None)
    frames.clip().save(out / "live.npz")
    (out / "live_stats.json").write_text(json.dumps(stats, indent=2))
    return stats


def _send_commands(texts: list[str], gap: float, domain: int) -> list[int]:
    """Publish each text on /face/command from this process, ``gap`` seconds apart, once
    text_to_motion subscribes; the send times (ns, wall clock, as the recording's).

    Each command must start a new /face/tokens stream within a second; if it does not
    (text_to_motion had not matched this publisher yet), it is sent once more and that
    send time counts.
    """
    from facelm.ros_env import apply_ros_env

    apply_ros_env(domain, isolated=True)
    import rclpy
    from facelm_msgs.msg import MotionTokens
    from std_msgs.msg import String

    sent, streams = [], set()
    rclpy.init(args=[])  # not sys.argv: the demo's own NAME:=VALUE options are no ROS remaps
    try:
        node = rclpy.create_node("facelm_demo")
        pub = node.create_publisher(String, "/face/command", 10)
        node.create_subscription(MotionTokens, "/face/tokens", lambda m: streams.add(m.stream_id), 10)

        def spin_for(seconds: float, until=lambda: False) -> bool:
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                rclpy.spin_once(node, timeout_sec=0.02)
                if until():
                    return True
            return False

        if not spin_for(20, lambda: pub.get_subscription_count() > 0):
            raise FacelmError("demo: nothing subscribes to /face/command")
        spin_for(0.5)  # matching is two-sided: let text_to_motion see this publisher too
        for text in texts:
            for attempt in range(2):
                known = set(streams)
                sent_at = time.time_ns()
                pub.publish(String(data=text))
                print(f"demo: sent /face/command {text!r}" + (" again (not taken up)" if attempt else ""),
                      flush=True)
                if spin_for(1.0, lambda: bool(streams - known)):
                    break
            sent.append(sent_at)
            spin_for(max(0.0, gap - (time.time_ns() - sent_at) / 1e9))
        node.destroy_node()
    finally:
        rclpy.shutdown()
    return sent
