"""Record ROS 2 topics to MCAP and play them back, without rosbag2.

The file is what ``ros2 bag record -s mcap`` writes: profile ``ros2``, each
message stored as the CDR bytes that came off the wire (message encoding
``cdr``), each type's schema as its ``.msg`` text with every nested type
appended (schema encoding ``ros2msg``, rosbag2's layout), the publishers' QoS
in the channel metadata. Foxglove, ``ros2 bag`` and ``mcap_ros2``'s reader open
it. Messages are never decoded here: subscriptions are raw and playback
publishes the stored bytes, so any message type with an installed ``.msg``
works at no per-message cost.
"""
from __future__ import annotations

import importlib
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from facelm import __version__
from facelm.errors import FacelmError
from facelm.launch_file import package_share
from facelm.ros.arrival import arrival_ns, source_ns

# What `facelm record` takes when no --topics are given: facelm's public topics.
DEFAULT_TOPICS = ("/face/command", "/face/tokens", "/face/flame", "/face/speech_frames", "/face/arkit",
                  "/face/robot_joints", "/face/description", "/diagnostics")

_PRIMITIVES = {"bool", "byte", "char", "float32", "float64", "int8", "uint8", "int16", "uint16", "int32",
               "uint32", "int64", "uint64", "string", "wstring"}
_SEPARATOR = "=" * 80


# ------------------------------------------------------------ message types

def message_definition(type_name: str) -> str:
    """The ros2msg schema of ``pkg/msg/Type``: its .msg text, then each nested type once as
    ``====...`` / ``MSG: pkg/Type`` / text (the layout rosbag2 and Foxglove read)."""
    package, name = _split_type(type_name)
    parts = [_msg_text(package, name)]
    seen = {(package, name)}
    queue = _dependencies(package, parts[0])
    while queue:
        dep = queue.pop(0)
        if dep in seen:
            continue
        seen.add(dep)
        text = _msg_text(*dep)
        parts.append(f"{_SEPARATOR}\nMSG: {dep[0]}/{dep[1]}\n{text}")
        queue += _dependencies(dep[0], text)
    return "\n".join(parts)


def message_class(type_name: str):
    """The Python class of ``pkg/msg/Type`` (raises FacelmError when its package is not installed)."""
    package, name = _split_type(type_name)
    try:
        return getattr(importlib.import_module(f"{package}.msg"), name)
    except (ImportError, AttributeError):
        raise FacelmError(f"message type {type_name} is not installed in this Python") from None


def _split_type(type_name: str) -> tuple[str, str]:
    parts = type_name.split("/")
    if len(parts) == 3 and parts[1] == "msg":
        return parts[0], parts[2]
    if len(parts) == 2:
        return parts[0], parts[1]
    raise FacelmError(f"{type_name!r} is not a message type like pkg/msg/Type")


def _msg_text(package: str, name: str) -> str:
    path = package_share(package) / "msg" / f"{name}.msg"
    if not path.is_file():
        raise FacelmError(f"no message definition {path} for {package}/msg/{name}")
    return path.read_text(encoding="utf-8").rstrip("\n")


def _dependencies(package: str, text: str) -> list[tuple[str, str]]:
    deps = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        # "TYPE NAME [DEFAULT]" or a constant "TYPE NAME=VALUE" (constants are primitives).
        base = re.sub(r"\[.*\]$", "", line.split()[0]).split("<=")[0]
        if base in _PRIMITIVES:
            continue
        if "/" in base:
            dep_package, dep_name = base.split("/")[0], base.split("/")[-1]
        elif base == "Header":
            dep_package, dep_name = "std_msgs", "Header"
        else:
            dep_package, dep_name = package, base
        deps.append((dep_package, dep_name))
    return deps


def qos_metadata(profiles) -> str:
    """Channel metadata ``offered_qos_profiles``: the publishers' QoS as YAML, as rosbag2 stores it."""
    def duration(d):
        return {"sec": d.nanoseconds // 10**9, "nsec": d.nanoseconds % 10**9}
    return yaml.safe_dump([{
        "history": int(p.history), "depth": int(p.depth), "reliability": int(p.reliability),
        "durability": int(p.durability), "deadline": duration(p.deadline), "lifespan": duration(p.lifespan),
        "liveliness": int(p.liveliness), "liveliness_lease_duration": duration(p.liveliness_lease_duration),
        "avoid_ros_namespace_conventions": bool(p.avoid_ros_namespace_conventions),
    } for p in profiles], sort_keys=False)


def _qos_from_metadata(text: str | None):
    """A QoS to republish with: reliable unless every recorded publisher was best effort."""
    from rclpy.qos import QoSProfile, ReliabilityPolicy

    qos = QoSProfile(depth=10)
    try:
        profiles = yaml.safe_load(text) if text else []
    except yaml.YAMLError:
        profiles = []
    if profiles and all(int(p.get("reliability", 1)) == int(ReliabilityPolicy.BEST_EFFORT) for p in profiles):
        qos.reliability = ReliabilityPolicy.BEST_EFFORT
    return qos


# ----------------------------------------------------------------- recording

@dataclass
class RecordStats:
    path: Path
    seconds: float = 0.0
    counts: Counter = field(default_factory=Counter)
    types: dict[str, str] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)

    def summary(self) -> str:
        lines = [f"wrote {self.path}: {sum(self.counts.values())} messages in {self.seconds:.1f} s"]
        for topic, type_name in self.types.items():
            n = self.counts[topic]
            lines.append(f"  {topic} [{type_name}]: {n} messages, {n / max(self.seconds, 1e-9):.1f}/s")
        for topic in self.missing:
            lines.append(f"  {topic}: never published (not recorded)")
        return "\n".join(lines)


class McapRecorder:
    """Subscribes (raw) to topics as they appear in the graph and appends their messages to MCAP."""

    def __init__(self, node, path: str | Path, topics: Iterable[str]):
        from mcap.writer import CompressionType, Writer

        self.node = node
        self.wanted = [_absolute(t) for t in topics]
        self.stats = RecordStats(Path(path))
        self._file = open(path, "wb")
        self._writer = Writer(self._file, compression=CompressionType.ZSTD)
        self._writer.start(profile="ros2", library=f"facelm-record/{__version__}")
        self._channels: dict[str, int] = {}
        self._schemas: dict[str, int] = {}
        self._subscriptions = []
        self._sequence = 0
        self.poll_graph()
        self._timer = node.create_timer(0.25, self.poll_graph)  # topics that appear later

    def poll_graph(self) -> None:
        from rclpy.qos import QoSProfile, ReliabilityPolicy

        known = dict(self.node.get_topic_names_and_types())
        for topic in self.wanted:
            if topic in self._channels or topic not in known:
                continue
            type_name = known[topic][0]
            publishers = self.node.get_publishers_info_by_topic(topic)
            if not publishers:
                continue
            profiles = [p.qos_profile for p in publishers]
            qos = QoSProfile(depth=100)
            # Best effort subscribes to anyone; reliable would not match a best-effort publisher.
            if any(p.reliability == ReliabilityPolicy.BEST_EFFORT for p in profiles):
                qos.reliability = ReliabilityPolicy.BEST_EFFORT
            if type_name not in self._schemas:
                self._schemas[type_name] = self._writer.register_schema(
                    name=type_name, encoding="ros2msg", data=message_definition(type_name).encode())
            self._channels[topic] = self._writer.register_channel(
                topic=topic, message_encoding="cdr", schema_id=self._schemas[type_name],
                metadata={"offered_qos_profiles": qos_metadata(profiles)})
            self.stats.types[topic] = type_name
            self._subscriptions.append(self.node.create_subscription(
                message_class(type_name), topic, self._writer_for(topic), qos, raw=True))
            self.node.get_logger().info(f"recording {topic} [{type_name}]")

    def _writer_for(self, topic: str) -> Callable[[bytes, dict], None]:
        channel = self._channels[topic]

        def write(data: bytes, info) -> None:
            received = arrival_ns(info)  # log_time = reception, publish_time = source, as rosbag2 writes them
            self._writer.add_message(channel_id=channel, log_time=received, data=data,
                                     publish_time=source_ns(info, received), sequence=self._sequence)
            self._sequence += 1
            self.stats.counts[topic] += 1
        return write

    def close(self, seconds: float) -> RecordStats:
        self._timer.cancel()
        for sub in self._subscriptions:
            self.node.destroy_subscription(sub)
        self._writer.finish()
        self._file.close()
        self.stats.seconds = seconds
        self.stats.missing = [t for t in self.wanted if t not in self._channels]
        return self.stats


def record(path: str | Path, topics: Iterable[str], duration: float | None = None,
           should_stop: Callable[[], bool] = lambda: False) -> RecordStats:
    """Record until ``duration`` seconds pass, ``should_stop()`` or Ctrl-C; needs rclpy initialised."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    node = rclpy.create_node("facelm_record")
    recorder = McapRecorder(node, path, topics)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    start = time.monotonic()
    try:
        while rclpy.ok() and not should_stop():
            if duration is not None and time.monotonic() - start >= duration:
                break
            executor.spin_once(timeout_sec=0.05)
    except KeyboardInterrupt:
        pass
    finally:
        stats = recorder.close(time.monotonic() - start)
        executor.remove_node(node)
        node.destroy_node()
    return stats


# ------------------------------------------------------------------ playback

@dataclass
class PlayStats:
    messages: int = 0
    loops: int = 0
    seconds: float = 0.0
    counts: Counter = field(default_factory=Counter)


def play(path: str | Path, *, rate: float = 1.0, loop: bool = False, topics: Iterable[str] | None = None,
         wait_subscribers: float = 2.0, should_stop: Callable[[], bool] = lambda: False) -> PlayStats:
    """Republish an MCAP's ROS 2 messages with their recorded spacing (divided by ``rate``).

    Waits up to ``wait_subscribers`` seconds for each topic to have a subscriber first, so
    the opening messages are not published into an undiscovered graph.
    """
    import rclpy
    from mcap.exceptions import McapError
    from mcap.reader import make_reader

    if rate <= 0:
        raise FacelmError(f"--rate must be > 0, got {rate}")
    path = Path(path)
    if not path.is_file():
        raise FacelmError(f"{path} not found")
    wanted = {_absolute(t) for t in topics} if topics else None
    node = rclpy.create_node("facelm_play")
    stats = PlayStats()
    publishers = {}
    try:
        with open(path, "rb") as f:
            try:
                summary = make_reader(f).get_summary()
            except McapError as exc:
                raise FacelmError(f"{path}: not a readable MCAP file ({exc})") from None
            if summary is None:
                raise FacelmError(f"{path}: MCAP without a summary (an unfinished recording?)")
            for cid, channel in summary.channels.items():
                schema = summary.schemas.get(channel.schema_id)
                if channel.message_encoding != "cdr" or schema is None or schema.encoding != "ros2msg":
                    continue
                if wanted is not None and channel.topic not in wanted:
                    continue
                publishers[cid] = node.create_publisher(
                    message_class(schema.name), channel.topic,
                    _qos_from_metadata(channel.metadata.get("offered_qos_profiles")))
            if not publishers:
                raise FacelmError(f"{path}: no ROS 2 (cdr) channels to play")
            _wait_for_subscribers(node, publishers.values(), wait_subscribers)
            start = time.monotonic()
            while not should_stop():
                f.seek(0)
                first, t0 = None, time.monotonic()
                for _, channel, message in make_reader(f).iter_messages(log_time_order=True):
                    pub = publishers.get(channel.id)
                    if pub is None:
                        continue
                    first = message.log_time if first is None else first
                    due = t0 + (message.log_time - first) / 1e9 / rate
                    while (left := due - time.monotonic()) > 0:
                        if should_stop() or not rclpy.ok():
                            return stats
                        time.sleep(min(left, 0.05))
                    pub.publish(message.data)  # the stored CDR bytes, as recorded
                    stats.messages += 1
                    stats.counts[channel.topic] += 1
                stats.loops += 1
                stats.seconds = time.monotonic() - start
                if not loop:
                    break
    except KeyboardInterrupt:
        pass
    finally:
        _flush(publishers.values())
        node.destroy_node()
    return stats


def _flush(publishers, timeout: float = 2.0) -> None:
    # Destroying a reliable publisher right after its last publish can drop that message
    # before the subscriber has acknowledged it (seen in CI: the final frame went missing).
    from rclpy.duration import Duration

    deadline = time.monotonic() + timeout  # one budget for all topics, not one each
    for pub in publishers:
        pub.wait_for_all_acked(Duration(seconds=max(0.0, deadline - time.monotonic())))


def _wait_for_subscribers(node, publishers, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not all(p.get_subscription_count() for p in publishers):
        time.sleep(0.02)
    # Matching is two-sided: the subscriber may see our publisher a moment after we see it,
    # and drops what arrives before that.
    time.sleep(min(timeout, 0.3))


def _absolute(topic: str) -> str:
    return topic if topic.startswith("/") else "/" + topic
