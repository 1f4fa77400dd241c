"""facelm preprocess IN.npz -o OUT.npz: MMHead-style outlier replacement and smoothing."""
from __future__ import annotations

import argparse
import json
import textwrap
from pathlib import Path

from facelm.preprocess import pipeline
from facelm.preprocess.smoothing import cutoff_hz

_DESCRIPTION = """\
Clean a motion clip as MMHead did (supplementary 1.1), without torch:
 1. per group, frames whose distance to the clip mean or to a running median
    lies beyond the IQR fence [Q1 - s*IQR, Q3 + s*IQR] are rebuilt from the nearest
    good frames (coefficients linearly, rotations by slerp);
 2. every channel is smoothed by the exact minimiser of
      ||psi[2:T] - psi[1:T-1]||^2 + lambda ||theta[2:T] - theta[1:T-1]||^2 + mu ||x - x_in||^2
    (psi: expression, jaw, eyes, eyelids, ARKit; theta: head rotations, global and
    neck; rotations are smoothed on their unit-quaternion path).
"""


def _epilog() -> str:
    face = cutoff_hz(1.0 / pipeline.DEFAULT_FIDELITY, 25.0)
    head = cutoff_hz(pipeline.DEFAULT_POSE_WEIGHT / pipeline.DEFAULT_FIDELITY, 25.0)
    return textwrap.fill(f"At 25 fps the defaults are low-pass filters with -3 dB at {face:.1f} Hz for the face "
            f"(weight 1/mu) and {head:.1f} Hz for the head (lambda/mu): speech at 4-6 Hz and nods at "
            "1-2 Hz pass, frame-to-frame jitter is damped. Raising mu, or lowering lambda, raises "
            "the cutoff; only the ratios matter. See docs/preprocess.md.", width=79)


def register(sub) -> None:
    p = sub.add_parser("preprocess", help="replace outlier frames and smooth a clip (MMHead)",
                       description=_DESCRIPTION, epilog=_epilog(),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input", type=Path, metavar="IN.npz", help="input clip (.npz, the facelm contract)")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="OUT.npz", help="output clip (.npz)")
    p.add_argument("--iqr-scale", type=float, default=pipeline.DEFAULT_IQR_SCALE, metavar="S",
                   help="IQR fence scale s (default %(default)s; 1.5 is Tukey's inner fence, "
                        "it replaces more real frames)")
    p.add_argument("--outlier-reference", choices=pipeline.OUTLIER_REFERENCES, default="both",
                   help="fence the distance to a running median ('local'), to the clip mean "
                        "(MMHead's 'mean', two-sided), or flag frames either fence catches "
                        "('both', default)")
    p.add_argument("--outlier-window", type=int, default=7, metavar="N",
                   help="frames in the running median, odd (default %(default)s: catches bursts up to N//2)")
    p.add_argument("--outlier-groups", default=",".join(pipeline.DEFAULT_OUTLIER_GROUPS), metavar="G,G",
                   help="groups searched for outliers (default %(default)s; eyelid and arkit are "
                        "left out so blinks survive)")
    p.add_argument("--lambda-pose", type=float, default=pipeline.DEFAULT_POSE_WEIGHT, metavar="L",
                   help="difference weight lambda of the head rotations (default %(default)s)")
    p.add_argument("--fidelity", type=float, default=pipeline.DEFAULT_FIDELITY, metavar="M",
                   help="weight mu of staying near the input, > 0 (default %(default)s)")
    p.add_argument("--no-outliers", action="store_true", help="skip the outlier step")
    p.add_argument("--no-smooth", action="store_true", help="skip the smoothing step")
    p.add_argument("--report", action="store_true",
                   help="print the full report (replaced frame indices, changes, settings) as JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    from facelm.clip import MotionClip

    groups = tuple(g.strip() for g in args.outlier_groups.split(",") if g.strip())
    config = pipeline.PreprocessConfig(
        remove_outliers=not args.no_outliers, iqr_scale=args.iqr_scale,
        outlier_reference=args.outlier_reference, outlier_window=args.outlier_window,
        outlier_groups=groups, smooth=not args.no_smooth,
        pose_weight=args.lambda_pose, fidelity=args.fidelity)
    config.validate()  # before reading, so a bad flag is reported as such
    clip = MotionClip.load(args.input)
    cleaned, report = pipeline.preprocess_clip(clip, config)
    cleaned.save(args.output)
    if args.report:
        print(json.dumps({"input": str(args.input), "output": str(args.output), **report.to_dict()}))
    else:
        print(f"{args.input} -> {args.output}: {report.summary()}")
    return 0
