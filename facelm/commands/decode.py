"""facelm decode TOKENS.json -o CLIP.npz: token ids -> motion with the motion tokenizer."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from facelm.commands._common import add_model_arg
from facelm.errors import FacelmError


def register(sub) -> None:
    p = sub.add_parser("decode", help="decode motion tokens (JSON) into a motion clip",
                       description="Decode token ids (facelm encode's JSON, or a bare JSON list) into a clip.")
    p.add_argument("tokens", type=Path, help="token file (.json)")
    p.add_argument("-o", "--output", type=Path, required=True, help="output clip (.npz)")
    add_model_arg(p)
    p.set_defaults(func=run)


def read_tokens(path: Path) -> dict:
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        raise FacelmError(f"{path}: no such file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise FacelmError(f"{path}: not a JSON token file ({exc})") from None
    if isinstance(doc, list):
        doc = {"ids": doc}
    if not isinstance(doc, dict) or not isinstance(doc.get("ids"), list):
        raise FacelmError(f"{path}: expected a JSON object with an 'ids' list")
    if not all(isinstance(i, int) and not isinstance(i, bool) for i in doc["ids"]):
        raise FacelmError(f"{path}: 'ids' must be integers")
    return doc


def run(args) -> int:
    from facelm.codec import MotionCodec

    doc = read_tokens(args.tokens)
    codec = MotionCodec(args.model)
    if "num_codes" in doc and doc["num_codes"] != codec.num_codes:
        raise FacelmError(f"{args.tokens}: tokens are for a {doc['num_codes']}-code tokenizer, "
                          f"this model has {codec.num_codes}")
    # Token files name the codes they are in; older ones named the decoder file instead.
    named = doc.get("codes_sha256", doc.get("decoder_sha256"))
    if named not in (None, codec.codes_sha256, codec.spec["decoder_step"]["sha256"]):
        print(f"warning: {args.tokens} was encoded by a different tokenizer model", file=sys.stderr)
    clip = codec.decode(codec.check_ids(doc["ids"]))
    if doc.get("num_frames"):
        clip = clip.frames(0, min(clip.num_frames, int(doc["num_frames"])))
    clip.save(args.output)
    print(f"{args.tokens} -> {clip.num_frames} frames at {clip.fps:g} fps -> {args.output}")
    return 0
