"""Language2Motion latency and speed, in process, with a model directory's ONNX graphs.

    python -m facelm.lm_bench [--model DIR] [--repeats 30] [--guidance G] [--json]

- prompt -> first frame: from the prompt string (sentence embedding, text BPE,
  prefill, first sample) to the first decoded frames of the streaming decoder;
  also with best-of-``BEST_OF`` candidates (``measure_best_of``), which generates and
  scores every candidate before the first frame;
- generation speed: a 12 s clip, LM and decoder together, as a multiple of real
  time (frames a second / fps); the LM alone as milliseconds a token, and each
  token's latency (p50/p95, after the first) and the decoder's per token.

``facelm bench`` reports these beside the audio, memory and start-up numbers.

Loaded models are reused (a running node keeps them); the first calls are warm-up.
The numbers are for this machine under its current load: report them with it.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

from facelm.codec import MotionCodec
from facelm.errors import FacelmError
from facelm.lm_runtime import DEFAULT_GUIDANCE, MotionLanguageModel

PROMPTS = ("A person nods slowly.", "Shake the head and frown angrily.",
           "Look surprised, then smile broadly.", "Talk calmly while looking to the left and blinking.")


BEST_OF = 4


def _first_frame_s(lm: MotionLanguageModel, codec: MotionCodec, prompt: str, seed: int,
                   guidance: float, candidates: int = 1) -> float:
    t0 = time.perf_counter()
    stream = lm.generate_motion(prompt, 4.0, seed=seed, guidance=guidance, candidates=candidates)
    decoder = codec.streaming_decoder()
    while not len(decoder.push(next(stream))):  # a look-ahead decoder needs more than one token
        pass
    return time.perf_counter() - t0


def _timed(items) -> tuple[list, list[float]]:
    """Consume an iterator, timing each item (seconds): the per-token latency of a stream."""
    out, times = [], []
    it = iter(items)
    while True:
        t0 = time.perf_counter()
        try:
            item = next(it)
        except StopIteration:
            return out, times
        times.append(time.perf_counter() - t0)
        out.append(item)


def measure_generation(model=None, repeats: int = 30, guidance: float = 1.0, seconds: float = 12.0,
                       lm: MotionLanguageModel | None = None, codec: MotionCodec | None = None) -> dict:
    """Latency and speed of Language2Motion; ``lm``/``codec`` may be given (e.g. on another backend)."""
    lm = lm or MotionLanguageModel(model)
    codec = codec or MotionCodec(lm.model)
    for i in range(3):
        _first_frame_s(lm, codec, PROMPTS[i % len(PROMPTS)], i, guidance)
    first = [_first_frame_s(lm, codec, PROMPTS[i % len(PROMPTS)], i, guidance) for i in range(repeats)]
    speed, lm_ms, token_s, decoder_s = [], [], [], []
    for i in range(max(3, repeats // 6)):
        prompt = PROMPTS[i % len(PROMPTS)]
        emb = lm.text_encoder.embed([prompt])[0]
        t0 = time.perf_counter()
        codes, times = _timed(lm.generate_motion(prompt, seconds, seed=i, guidance=guidance, embedding=emb))
        t_lm = time.perf_counter() - t0
        token_s += times[1:]  # the first token pays the prefill: counted in the first-frame latency
        decoder = codec.streaming_decoder()
        frames, push_s = _timed(decoder.push(c) for c in codes)
        frames.append(decoder.flush())
        decoder_s += push_s
        total = time.perf_counter() - t0
        speed.append(sum(len(f) for f in frames) / total / codec.fps)
        lm_ms.append(t_lm / len(codes) * 1e3)
    ms = lambda xs, q: float(np.percentile(xs, q) * 1e3)  # noqa: E731
    return {"first_frame_ms_p50": ms(first, 50), "first_frame_ms_p90": ms(first, 90),
            "first_frame_ms_p95": ms(first, 95),
            "realtime_factor_median": float(np.median(speed)),
            "lm_ms_per_token_median": float(np.median(lm_ms)),
            "token_ms_p50": ms(token_s, 50), "token_ms_p95": ms(token_s, 95),
            "decoder_ms_per_token_p50": ms(decoder_s, 50), "decoder_ms_per_token_p95": ms(decoder_s, 95),
            "guidance": guidance, "clip_seconds": seconds, "repeats": repeats,
            "load_average_1min": os.getloadavg()[0], "cpus": os.cpu_count()}


def measure_best_of(lm: MotionLanguageModel, codec: MotionCodec, repeats: int = 10,
                    guidance: float = DEFAULT_GUIDANCE, candidates: int = BEST_OF) -> dict:
    """Prompt -> first frame of a 4 s clip when the runtime keeps the best of ``candidates``."""
    times = [_first_frame_s(lm, codec, PROMPTS[i % len(PROMPTS)], i, guidance, candidates) for i in range(repeats)]
    return {"best_of_first_frame_ms_p50": float(np.percentile(times, 50) * 1e3), "candidates": candidates,
            "repeats": repeats}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None,
                    help="model directory (default: $FACELM_MODEL or the shipped artifacts/)")
    ap.add_argument("--repeats", type=int, default=30, help="first-frame measurements (default 30)")
    ap.add_argument("--guidance", type=float, default=DEFAULT_GUIDANCE,
                    help=f"classifier-free guidance scale (default {DEFAULT_GUIDANCE:g}, the runtime's; "
                         "not 1: runs both branches)")
    ap.add_argument("--json", action="store_true", help="print JSON")
    args = ap.parse_args(argv)
    try:
        result = measure_generation(args.model, args.repeats, args.guidance)
    except FacelmError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result))
    else:
        r = result
        print(f"prompt -> first frame: p50 {r['first_frame_ms_p50']:.1f} ms, "
              f"p90 {r['first_frame_ms_p90']:.1f} ms")
        print(f"generation: {r['realtime_factor_median']:.0f}x real time "
              f"(LM {r['lm_ms_per_token_median']:.2f} "
              f"ms a token); load average {r['load_average_1min']:.1f} on {r['cpus']} CPUs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
