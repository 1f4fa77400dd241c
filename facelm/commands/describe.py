"""facelm describe IN.npz [--json]: Motion2Language (clip -> motion tokens -> LM descriptions)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from facelm.commands._common import add_model_arg

# JSON key -> the vocabulary's description category.
FIELDS = {"action": "action", "emotion": "emotion", "expression": "detail_expression",
          "head_pose": "detail_head_pose"}
SUMMARY_CATEGORY = "prompt"  # a one-line, prompt-like summary of the whole clip


def register(sub) -> None:
    p = sub.add_parser("describe", help="describe a motion clip in words",
                       description="Describe a motion clip (.npz): action, emotion, expression and head "
                                   "pose, plus a one-line summary, written by the language model.")
    p.add_argument("clip", type=Path, help="input clip (.npz, the facelm contract)")
    p.add_argument("--json", action="store_true",
                   help='print {"text", "action", "emotion", "expression", "head_pose"} as JSON')
    add_model_arg(p)
    p.set_defaults(func=run)


def describe_codes(lm, codes) -> dict[str, str]:
    out = {key: lm.describe(codes, category) for key, category in FIELDS.items()}
    summary = SUMMARY_CATEGORY if SUMMARY_CATEGORY in lm.vocab.categories else "action"
    return {"text": lm.describe(codes, summary), **out}


def run(args) -> int:
    from facelm.clip import MotionClip
    from facelm.codec import MotionCodec
    from facelm.commands.generate import warn_if_other_tokenizer
    from facelm.lm_runtime import MotionLanguageModel

    clip = MotionClip.load(args.clip)
    lm = MotionLanguageModel(args.model)
    codec = MotionCodec(lm.model)
    warn_if_other_tokenizer(lm, codec)
    codes = codec.encode(clip)
    if len(codes) > lm.max_motion_tokens:
        seconds = lm.max_motion_tokens * codec.frames_per_token / codec.fps
        print(f"warning: {args.clip} is {clip.duration:.1f} s; describing its first {seconds:g} s",
              file=sys.stderr)
        codes = codes[:lm.max_motion_tokens]
    result = describe_codes(lm, codes)
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        print(result["text"])
        for key in FIELDS:
            print(f"  {key}: {result[key]}")
    return 0
