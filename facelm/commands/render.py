"""``facelm render IN.npz -o OUT.{gif,mp4,png}``: look at a clip."""
from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "render", help="draw a clip as GIF, MP4 or a PNG contact sheet",
        description="Draw a motion clip: a schematic face driven by its parameters (or a FLAME "
                    "mesh with --flame) beside curves of head, jaw, lids, brows and mouth over "
                    "time. .png gives a contact sheet of several frames.")
    p.add_argument("clip", metavar="IN.npz", help="motion clip in facelm's npz layout")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="output .gif, .mp4 or .png")
    p.add_argument("--flame", metavar="MODEL.pkl",
                   help="FLAME 2020 generic_model.pkl (or .npz with its keys) to draw the real mesh")
    p.add_argument("--fps", type=float, help="output frame rate (default: the clip's)")
    p.add_argument("--size", type=int, default=256, help="face panel size in pixels (default 256)")
    p.add_argument("--start", type=float, default=0.0, help="start at this many seconds")
    p.add_argument("--seconds", type=float, help="render this many seconds (default: to the end)")
    p.add_argument("--frames", type=int, default=8, help="frames on a .png contact sheet (default 8)")
    p.add_argument("--no-curves", action="store_true", help="the face only")
    p.add_argument("--no-audio", action="store_true",
                   help="leave the clip's audio_path out of an .mp4 (it is muxed in when the file exists)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from facelm.errors import FacelmError
    from facelm.render import RenderOptions, render_file

    if not 64 <= args.size <= 2048:
        raise FacelmError(f"--size must be within 64..2048, got {args.size}")
    if args.frames < 1:
        raise FacelmError(f"--frames must be >= 1, got {args.frames}")
    options = RenderOptions(size=args.size, fps=args.fps, start=args.start, seconds=args.seconds,
                            curves=not args.no_curves, sheet_frames=args.frames, audio=not args.no_audio)
    result = render_file(args.clip, args.output, options, flame_path=args.flame)
    w, h = result.size
    print(f"wrote {result.path}: {result.frames} frames, {w}x{h}, in {result.seconds:.1f} s")
    return 0
