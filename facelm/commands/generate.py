"""facelm generate "TEXT" -o OUT.npz: Language2Motion (prompt -> LM motion tokens -> decoded clip)."""
from __future__ import annotations

import random
import sys
from pathlib import Path

from facelm.commands._common import add_model_arg
from facelm.errors import FacelmError
from facelm.lm_runtime import (DEFAULT_GUIDANCE, DEFAULT_GUIDANCE_DELAY, DEFAULT_TEMPERATURE, DEFAULT_TOP_P,
                               MAX_CANDIDATES)


def register(sub) -> None:
    p = sub.add_parser("generate", help="generate a motion clip from a text prompt",
                       description="Animate a face from a prompt: the language model writes motion tokens, "
                                   "the motion tokenizer decodes them into a clip (the prompt kept in its "
                                   "text).")
    p.add_argument("prompt", help="what the face should do (- reads the prompt from standard input)")
    p.add_argument("-o", "--output", type=Path, required=True, help="output clip (.npz)")
    p.add_argument("--seconds", type=float, default=4.0,
                   help="length in seconds (default 4, at most the model's)")
    p.add_argument("--seed", type=int, default=None, help="sampling seed (default: random, printed)")
    p.add_argument("--temperature", type=float, default=DEFAULT_TEMPERATURE,
                   help=f"sampling temperature, 0 is greedy (default {DEFAULT_TEMPERATURE:g})")
    p.add_argument("--top-k", type=int, default=0, help="sample from the k likeliest tokens (default 0: off)")
    p.add_argument("--top-p", type=float, default=DEFAULT_TOP_P, help=f"nucleus sampling mass (default {DEFAULT_TOP_P:g})")
    p.add_argument("--guidance", type=float, default=DEFAULT_GUIDANCE,
                   help=f"classifier-free guidance scale (default {DEFAULT_GUIDANCE:g}; 1 is off, higher follows "
                        "the prompt harder)")
    p.add_argument("--guidance-delay", type=int, default=DEFAULT_GUIDANCE_DELAY,
                   help=f"motion tokens sampled before guidance starts (default {DEFAULT_GUIDANCE_DELAY}: the first "
                        "sets the starting pose, which guidance pushes off rest)")
    p.add_argument("--candidates", type=int, default=1,
                   help=f"sample this many clips and keep the one whose motion the model reads back as the "
                        f"prompt likeliest (default 1; at most {MAX_CANDIDATES}; each costs a generation)")
    add_model_arg(p)
    p.set_defaults(func=run)


def read_prompt(arg: str) -> str:
    """The prompt argument, or standard input for '-' (bytes decoded strictly as UTF-8)."""
    if arg != "-":
        return arg
    data = sys.stdin.buffer.read()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FacelmError(f"prompt on standard input is not valid UTF-8 (byte {exc.start})") from None


def warn_if_other_tokenizer(lm, codec) -> None:
    """The LM speaks the codes of the tokenizer it was exported beside; another one decodes nonsense."""
    from facelm.model_dir import speaks_same_codes
    if not speaks_same_codes(lm.spec, codec.spec):
        print("warning: this language model was exported with a different motion tokenizer", file=sys.stderr)


def run(args) -> int:
    import numpy as np

    from facelm.codec import MotionCodec
    from facelm.lm_runtime import MotionLanguageModel
    from facelm.text_encoder import MAX_CHARS, check_text

    prompt = check_text(read_prompt(args.prompt), "prompt")
    if args.output.suffix != ".npz":
        raise FacelmError(f"{args.output}: a motion clip is written as .npz")
    seed = random.randrange(1 << 31) if args.seed is None else args.seed
    lm = MotionLanguageModel(args.model)
    if not 0 < args.seconds <= lm.vocab.max_seconds:  # checked here too so the message names the option
        raise FacelmError(f"--seconds must lie in (0, {lm.vocab.max_seconds}], got {args.seconds:g}")
    codec = MotionCodec(lm.model)
    warn_if_other_tokenizer(lm, codec)
    num_frames = max(1, int(round(args.seconds * codec.fps)))
    tokens = min(lm.max_motion_tokens, -(-num_frames // codec.frames_per_token))  # whole tokens covering them
    stream = lm.generate_motion(prompt, args.seconds, seed=seed, temperature=args.temperature,
                                top_k=args.top_k, top_p=args.top_p, guidance=args.guidance, num_tokens=tokens,
                                candidates=args.candidates, guidance_delay=args.guidance_delay)
    if stream.prompt_truncated:
        print("warning: the prompt is longer than the model reads; only its start was used", file=sys.stderr)
    if stream.aliased_words:
        print(f"note: words not seen in training, read as known ones: "
              f"{', '.join(f'{w} -> {r}' for w, r in stream.aliased_words)}", file=sys.stderr)
    if stream.unknown_words:
        print(f"note: words not seen in training, read through the sentence encoder only: "
              f"{', '.join(stream.unknown_words)}", file=sys.stderr)
    decoder = codec.streaming_decoder()
    frames = np.concatenate([decoder.push(code) for code in stream] + [decoder.flush()])
    clip = codec.to_clip(frames[:num_frames])
    clip.text = {"prompt": prompt[:MAX_CHARS]}
    clip.save(args.output)
    best = (f", candidate {stream.chosen + 1} of {len(stream.candidate_scores)}: log p(prompt | motion) "
            f"{stream.candidate_scores[stream.chosen]:.2f}" if stream.candidate_scores else "")
    print(f"{clip.num_frames} frames ({clip.duration:.2f} s) -> {args.output} (seed {seed}{best})")
    return 0
