"""facelm encode CLIP.npz -o TOKENS.json: motion -> token ids with the motion tokenizer."""
from __future__ import annotations

import json
from pathlib import Path

from facelm.commands._common import add_model_arg

TOKENS_FORMAT = "facelm-tokens/1"


def register(sub) -> None:
    p = sub.add_parser("encode", help="encode a motion clip into motion tokens (JSON)",
                       description="Encode a motion clip (.npz, the facelm contract) into token ids.")
    p.add_argument("clip", type=Path, help="input clip (.npz)")
    p.add_argument("-o", "--output", type=Path, required=True, help="output token file (.json)")
    add_model_arg(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from facelm.clip import MotionClip
    from facelm.codec import MotionCodec

    clip = MotionClip.load(args.clip)
    codec = MotionCodec(args.model)
    ids = codec.encode(clip)
    doc = {"format": TOKENS_FORMAT, "ids": ids.tolist(), "num_codes": codec.num_codes,
           "frames_per_token": codec.frames_per_token, "fps": codec.fps,
           "num_frames": int(round(clip.duration * codec.fps)),
           "codes_sha256": codec.codes_sha256}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(doc))
    print(f"{args.clip} -> {len(ids)} tokens ({len(ids) * codec.frames_per_token / codec.fps:.2f} s) -> {args.output}")
    return 0
