"""``facelm record``: topics to MCAP (rosbag2-compatible) and back."""
from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    from facelm.recorder import DEFAULT_TOPICS

    p = subparsers.add_parser(
        "record", help="record ROS 2 topics to MCAP, or play an MCAP back (--play)",
        description="Record ROS 2 topics to an MCAP file the way `ros2 bag record -s mcap` does "
                    "(CDR messages, ros2msg schemas; opens in Foxglove and ros2 bag), or republish "
                    "a recording with its original timing. Topic types are taken from the graph; "
                    "topics that appear later are picked up as they do.")
    p.add_argument("-o", "--output", metavar="OUT.mcap", help="file to record into")
    p.add_argument("--topics", nargs="+", metavar="TOPIC",
                   help=f"topics to record or play (default record: {' '.join(DEFAULT_TOPICS)}; "
                        "default play: all)")
    p.add_argument("--duration", type=float, metavar="S", help="stop recording after S seconds (default: Ctrl-C)")
    p.add_argument("--overwrite", action="store_true", help="replace OUT.mcap when it exists")
    p.add_argument("--play", metavar="IN.mcap", help="play this recording instead of recording")
    p.add_argument("--rate", type=float, default=1.0, help="playback speed factor (default 1.0)")
    p.add_argument("--loop", action="store_true", help="play the recording again and again until Ctrl-C")
    p.add_argument("--stats", metavar="IN.mcap",
                   help="print the receive-interval statistics (p50/p99/max, dropped frames at 25 Hz) of "
                        "the --topics (default /face/flame) in a recording, and exit")
    p.add_argument("--wait-subscribers", type=float, default=2.0, metavar="S",
                   help="before playing, wait up to S seconds for every topic to have a subscriber (default 2)")
    p.set_defaults(func=run)


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def run(args: argparse.Namespace) -> int:
    import signal
    from pathlib import Path

    from facelm.errors import FacelmError
    from facelm.recorder import DEFAULT_TOPICS, play, record
    from facelm.ros_env import apply_ros_env

    if args.stats:
        return _print_stats(args.stats, args.topics or ["/face/flame"])
    if bool(args.play) == bool(args.output):
        raise FacelmError("give either -o OUT.mcap (record), --play IN.mcap or --stats IN.mcap")
    if args.output and Path(args.output).exists() and not args.overwrite:
        raise FacelmError(f"{args.output} exists; pass --overwrite to replace it")
    if args.duration is not None and args.duration <= 0:
        raise FacelmError(f"--duration must be > 0, got {args.duration}")
    apply_ros_env()
    signal.signal(signal.SIGTERM, _interrupt)  # finish the file on SIGTERM too, as on Ctrl-C

    import rclpy
    from rclpy.signals import SignalHandlerOptions

    # Ctrl-C stops the loop below (KeyboardInterrupt) and the file is still finished properly.
    rclpy.init(args=[], signal_handler_options=SignalHandlerOptions.NO)
    try:
        if args.play:
            stats = play(args.play, rate=args.rate, loop=args.loop, topics=args.topics,
                         wait_subscribers=args.wait_subscribers)
            per_topic = ", ".join(f"{t} {n}" for t, n in stats.counts.items())
            print(f"played {stats.messages} messages ({per_topic}) in {stats.seconds:.1f} s, {stats.loops} loop(s)")
        else:
            stats = record(args.output, args.topics or DEFAULT_TOPICS, args.duration)
            print(stats.summary())
    finally:
        if rclpy.ok():
            rclpy.shutdown()
    return 0


def _print_stats(path: str, topics: list[str]) -> int:
    from facelm.live_demo import interval_stats, read_received_frames

    for topic in topics:
        stats = interval_stats(read_received_frames(path, topic))
        print(f"{topic}: {stats['frames']} frames over {stats.get('seconds', 0):.1f} s; interval p50 "
              f"{stats['interval_p50_ms']:.2f} ms, p99 {stats['interval_p99_ms']:.2f} ms, max "
              f"{stats['interval_max_ms']:.2f} ms; dropped {stats['dropped']}")
    return 0
