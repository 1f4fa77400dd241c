"""``facelm speak AUDIO.wav -o OUT.npz [--style TEXT]``: a talking mouth for a recording."""
from __future__ import annotations

import argparse
import os
from pathlib import Path

from facelm.commands._common import add_model_arg


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "speak", help="animate a talking mouth from speech (WAV)",
        description="Drive the mouth (FLAME expression + jaw, 25 fps) from speech with the streaming "
                    "audio model: the same computation a live stream does, over the whole file. "
                    "Any sample rate (resampled to 16 kHz), mono or several channels (averaged).")
    p.add_argument("audio", metavar="AUDIO.wav", help="speech as a WAV file (PCM 8/16/24/32-bit or float)")
    p.add_argument("-o", "--output", required=True, metavar="OUT.npz", help="output motion clip")
    p.add_argument("--style", metavar="TEXT", default=None,
                   help='speaking style and/or emotion, e.g. "calm", "excited", "a bit sad" '
                        "(style: learned; emotion: added as its prototype face)")
    add_model_arg(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from facelm.audio import AudioToMotion
    from facelm.errors import FacelmError

    if not str(args.output).endswith(".npz"):
        raise FacelmError(f"{args.output}: a motion clip is written as .npz")
    engine = AudioToMotion(args.model)
    clip = engine.speak(args.audio, style=args.style)
    clip.audio_path = os.path.abspath(args.audio)  # render muxes it into an .mp4
    clip.save(Path(args.output))
    print(f"{args.audio} -> {clip.num_frames} frames ({clip.duration:.2f} s, lookahead "
          f"{engine.lookahead_ms:.0f} ms, style {clip.text['speaking_style']['speaking']}) -> {args.output}")
    return 0
