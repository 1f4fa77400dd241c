"""``facelm demo``: start the default graph, drive it with text then speech, measure what comes out."""
from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "demo", help="run the ROS 2 graph end to end: text and speech in, 25 fps frames out, GIF and stats",
        description="Start the default ROS 2 graph plus audio_to_motion with `facelm launch` in a "
                    "private ROS domain, record /face/flame in another process (`facelm record`), "
                    "send a text command and then a speech file, and write the received frames as "
                    "a clip, a GIF and an MCAP; print first-frame latency and 25 Hz interval statistics.")
    p.add_argument("--out", default="out/demo/live", metavar="DIR", help="output folder (default out/demo/live)")
    p.add_argument("--text", default="nod slowly, then smile", help="the text command to send")
    p.add_argument("--seconds", type=float, default=4.0, help="how long to let each text motion play (default 4)")
    p.add_argument("--commands", type=int, default=3,
                   help="text commands to send, one after the other (default 3: --text, then others); "
                        "each gives a first-frame latency sample")
    p.add_argument("--no-audio", action="store_true", help="skip the speech part")
    p.add_argument("--audio-seconds", type=float, default=6.0,
                   help="seconds of speech to send (default 6; BEAT2's file is cut to this)")
    p.add_argument("--shared", metavar="DIR",
                   help="the shared folder with realdata/ (default $FACELM_SHARED or ../shared)")
    p.add_argument("--launch", default="demo.launch.yaml", metavar="FILE",
                   help="launch file to start (default demo.launch.yaml: the default graph + audio_to_motion)")
    p.add_argument("--launch-arg", action="append", default=[], metavar="NAME:=VALUE",
                   help="a launch argument for --launch (repeatable)")
    p.add_argument("--no-gif", action="store_true",
                   help="skip rendering the GIF (long runs: `--no-audio --no-gif --commands 60 --seconds 8.5` "
                        "is a 10-minute soak)")
    p.add_argument("--gif-size", type=int, default=192, help="face panel size of the GIF (default 192)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import os
    from pathlib import Path

    from facelm.errors import FacelmError
    from facelm.live_demo import run_demo
    from facelm.render import RenderOptions, render_file

    if not 0 < args.seconds <= 60 or not 0 < args.audio_seconds <= 60:
        raise FacelmError("--seconds and --audio-seconds must be within (0, 60]")
    if not 1 <= args.commands <= 100:
        raise FacelmError(f"--commands must be within 1..100, got {args.commands}")
    shared = Path(args.shared or os.environ.get("FACELM_SHARED") or Path.cwd().parent / "shared")
    out = Path(args.out)
    stats = run_demo(out, text=args.text, seconds=args.seconds, audio=not args.no_audio,
                     audio_seconds=args.audio_seconds, shared=shared if shared.is_dir() else None,
                     commands=args.commands, launch_file=args.launch, launch_args=args.launch_arg)
    if not args.no_gif:
        gif = render_file(out / "live.npz", out / "live.gif", RenderOptions(size=args.gif_size))
        print(f"demo: {gif.frames} frames rendered to {gif.path}")
    print(f"demo: received frames in {out / 'live.npz'}, recording {out / 'live.mcap'} (opens in Foxglove)")
    _print_stats(stats)
    if stats["launch_exit_code"] != 0:
        print(f"demo: facelm launch exited with code {stats['launch_exit_code']}: a node did not stop "
              "cleanly (see its lines above)")
        return 1
    return 0


def _print_stats(stats: dict) -> None:
    def ms(value):
        return "n/a" if value is None else f"{value:.1f} ms"

    each = ", ".join(ms(x) for x in stats["first_frame_latency_ms"])
    print(f"demo: text command -> first /face/flame frame in another process: p50 "
          f"{ms(stats['first_frame_latency_p50_ms'])} ({each})")
    if "audio_first_frame_latency_ms" in stats:
        print(f"demo: first audio chunk -> first speech frame: {ms(stats['audio_first_frame_latency_ms'])}")
    print(f"demo: {stats['frames']} frames received over {stats.get('seconds', 0):.1f} s; interval p50 "
          f"{ms(stats['interval_p50_ms'])}, p99 {ms(stats['interval_p99_ms'])}, max {ms(stats['interval_max_ms'])}; "
          f"dropped {stats['dropped']}")
