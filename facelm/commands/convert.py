"""``facelm convert IN -o OUT.npz``: import a known layout into a facelm clip."""
from __future__ import annotations

import argparse

from facelm.clip import DEFAULT_FPS
from facelm.errors import FacelmError
from facelm.importers import FORMATS, ImportOptions, import_clip
from facelm.importers.livelink import ANGLE_MODES


def register(subparsers: argparse._SubParsersAction) -> None:
    formats = "\n".join(f"  {name:<13}{module.DESCRIPTION}" for name, module in FORMATS.items())
    p = subparsers.add_parser(
        "convert", help="import MMHead / TDMM-LM / BEAT2 / DiffPoseTalk / Live Link Face into a clip",
        description="Import a facial-motion file into the facelm clip contract (.npz), resampled to "
                    "--fps (slerp for rotations). The format is detected from the content.",
        epilog="formats:\n" + formats, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input", metavar="IN", help="file to import")
    p.add_argument("-o", "--output", metavar="OUT.npz", required=True, help="clip to write")
    p.add_argument("--format", metavar="NAME", help=f"force a format ({', '.join(FORMATS)})")
    p.add_argument("--fps", type=float, default=DEFAULT_FPS, help="output frame rate (default 25)")
    p.add_argument("--fps-in", type=float, default=None,
                   help="input frame rate for layouts that store none (MMHead, TDMM-LM, DiffPoseTalk: "
                        "25 assumed; BEAT2: read from mocap_frame_rate)")
    p.add_argument("--arkit-map", metavar="FILE",
                   help="npz with an (E, 52) 'matrix' mapping ARKit weights to FLAME expression "
                        "(Live Link Face; default: face_units.default_arkit_to_flame, approximate)")
    p.add_argument("--text-root", metavar="DIR",
                   help="MMHead text_annotations folder (default: searched beside and above IN)")
    p.add_argument("--livelink-angles", choices=ANGLE_MODES, default="camera",
                   help="frame of Live Link Face's yaw/pitch/roll (default camera; see facelm/importers/livelink.py)")
    p.add_argument("--expression-size", type=int, choices=(50, 100),
                   help="truncate or zero-pad expression coefficients (default: keep the source's)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not args.output.endswith(".npz"):
        raise FacelmError(f"{args.output}: output must be a .npz clip")
    options = ImportOptions(fps=args.fps, fps_in=args.fps_in, arkit_map=args.arkit_map,
                            text_root=args.text_root, livelink_angles=args.livelink_angles)
    result = import_clip(args.input, args.format, options)
    if args.expression_size:
        result.clip = result.clip.with_expression_size(args.expression_size)
    result.clip.save(args.output)
    print(result.summary(args.output))
    return 0
