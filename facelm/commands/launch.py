"""``facelm launch FILE [name:=value ...]``: start a launch file's nodes without ``ros2 launch``."""
from __future__ import annotations

import argparse

from facelm.launch_file import SUPPORTED_SUBSTITUTIONS, SUPPORTED_TAGS


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "launch", help="start the nodes of a ROS 2 YAML launch file (pip-only installs)",
        description="Start every node of a ROS 2 YAML launch file as its own process, like "
                    "`ros2 launch facelm FILE` does on a system ROS: output prefixed by node name, "
                    "readiness when each node logs '<name> active', Ctrl-C stops them all cleanly. "
                    f"Supported tags: {', '.join(SUPPORTED_TAGS)}; substitutions: "
                    f"{', '.join(SUPPORTED_SUBSTITUTIONS)}. Anything else is an error.")
    p.add_argument("file", metavar="FILE",
                   help="launch file: a path, or a name in facelm's launch folder (facelm.launch.yaml, "
                        "audio.launch.yaml, telepresence.launch.yaml)")
    p.add_argument("arguments", nargs=argparse.REMAINDER, metavar="NAME:=VALUE",
                   help="launch arguments, after FILE (options go before FILE)")
    p.add_argument("--show-args", action="store_true", help="list the file's launch arguments and exit")
    p.add_argument("--print", dest="print_only", action="store_true",
                   help="print each node's command line and exit without starting anything")
    p.add_argument("--ready-timeout", type=float, default=60.0, metavar="S",
                   help="warn when a node is not active after S seconds (default 60)")
    p.add_argument("--stop-timeout", type=float, default=10.0, metavar="S",
                   help="seconds each node gets to exit after SIGINT before SIGTERM (default 10)")
    p.add_argument("--log-dir", metavar="DIR",
                   help="where nodes with output: log write (default $ROS_LOG_DIR or ~/.ros/log)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import shlex
    import sys

    from facelm.errors import FacelmError
    from facelm.launch_file import load_launch_file, parse_launch_arguments, resolve_launch_file
    from facelm.launcher import Launcher

    options = [a for a in args.arguments if a.startswith("-")]
    if options:
        raise FacelmError(f"options go before FILE: facelm launch [options] FILE [NAME:=VALUE ...] "
                          f"(got {options[0]} after it)")
    path = resolve_launch_file(args.file)
    given = parse_launch_arguments(args.arguments)
    if args.show_args:
        plan = load_launch_file(path, {})
        for name, info in plan.arguments.items():
            default = "(required)" if info["default"] is None else repr(info["default"])
            print(f"{name} default {default}: {info['description']}")
        return 0
    plan = load_launch_file(path, given)
    if not plan.nodes:
        print(f"{path}: no nodes to start with these arguments")
        return 0
    if args.print_only:
        for node in plan.nodes:
            print(shlex.join(node.command(sys.executable)))
        return 0
    launcher = Launcher(plan.nodes, log_dir=args.log_dir, stop_timeout=args.stop_timeout)
    launcher.say(f"{path.name}: {len(plan.nodes)} nodes ({', '.join(n.label for n in plan.nodes)})")
    return launcher.run(ready_timeout=args.ready_timeout)
