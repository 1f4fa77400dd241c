"""Annotate a clip: the five MMHead text categories, labels, and (given a spec) its prompt.

``annotate(clip, spec=None, rng=None, split="train")`` reads the clip's
behaviour from its parameters alone (``training.motion_analysis``) and writes

- ``action``, ``emotion``, ``detail_expression``, ``detail_head_pose``,
  ``emotion_scenario``: MMHead's five categories (``training.text.describe``);
- ``labels``: the structured attributes read from the motion (see
  ``labels_from_summary``), what evaluation compares;
- ``prompt``: when a behaviour spec is given, a prompt that asks for it
  (``training.text.realise_prompt``).

How the composer's ground truth maps onto the labels read from motion
(``recovery``): every spec segment is judged on its *core* window, the part
where the spec says the behaviour is fully present (after the emotion's onset,
between a head pose's onset and offset, over a nod's or shake's cycles).

- emotion: the emotion read on most frames of the core is the segment's label;
- head: the head event (``HeadEvent.kind``, same names as the spec's kinds:
  turn_left/right, tilt_left/right, look_up/down, nod, shake, still) covering
  most of the core is the segment's label; 'still' segments shorter than
  ``MIN_JUDGED_STILL_S`` are pauses between moves and are not judged;
- speaking: the clip's overall style (none/calm/excited) against the spec's.

Head speed (slow/normal/fast) of moving segments is reported beside the kind.

CLI: ``python -m training.annotate CLIP [--json] [--seed N] [--split S] [--format F]``.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import numpy as np

from facelm.clip import MotionClip
from facelm.errors import FacelmError
from training.motion_analysis import FPS, MotionSummary, analyse
from training.text import Phrasing, describe, realise_prompt
from training.text.prompt import spec_dict

# A 'still' segment shorter than this is the pause between two moves: not judged.
MIN_JUDGED_STILL_S = 0.6
TEXT_KEYS = ("action", "emotion", "detail_expression", "detail_head_pose", "emotion_scenario")


# ============================================================================
# labels
# ============================================================================
def labels_from_summary(summary: MotionSummary) -> dict[str, Any]:
    """Structured attributes read from motion (times in seconds)."""
    chain: list[str] = []
    for seg in summary.emotions:
        if not chain or chain[-1] != seg.label:
            chain.append(seg.label)
    kinds: list[str] = []
    for ev in summary.head:
        if ev.kind != "still" and (not kinds or kinds[-1] != ev.kind):
            kinds.append(ev.kind)
    return {
        "emotions": chain,
        "emotion_segments": [[s.label, s.start, s.end, s.intensity] for s in summary.emotions],
        "head": [[e.kind, e.start, e.end, e.speed] for e in summary.head],
        "head_kinds": kinds,
        "head_directions": sorted({k for k in kinds if k not in ("nod", "shake")}),
        "speaking": summary.speaking,
        "blinks": len(summary.blinks),
        "gaze": [[g.direction, g.start, g.end] for g in summary.gaze],
    }


def _core_windows(spec: dict) -> tuple[list[tuple[str, float, float]], list[tuple[dict, float, float]]]:
    """(emotion cores, head cores): where the spec's behaviour is fully present, in seconds."""
    emotions = []
    for seg in spec["emotions"]:
        a, b = seg["start"] + seg.get("onset", 0.0) + 0.2, seg["end"] - 0.1
        if b - a < 0.2:
            a = b = 0.5 * (seg["start"] + seg.get("onset", 0.0) + seg["end"])
        emotions.append((seg["emotion"], a, b))
    head = []
    for seg in spec["head"]:
        kind = seg["kind"]
        if kind in ("nod", "shake"):
            a, b = seg["start"], seg["start"] + seg["repetitions"] / seg["frequency"]
        elif kind == "still":
            if seg["end"] - seg["start"] < MIN_JUDGED_STILL_S:
                continue  # a pause between two moves, not a behaviour of its own
            a, b = seg["start"] + 0.2, seg["end"] - 0.2
        else:
            end = seg["end"] - seg.get("offset", 0.0) if seg.get("returns", True) else seg["end"]
            a, b = seg["start"] + seg.get("onset", 0.0), end
        if b - a < 0.08:
            a = b = 0.5 * (seg["start"] + seg["end"])
        head.append((seg, a, b))
    return emotions, head


def _frame_index(segments: list[list], n: int) -> np.ndarray:
    """Per frame (25 fps), the index of the segment covering it (-1: none)."""
    out = np.full(n, -1)
    for k, (_, start, end, *_rest) in enumerate(segments):
        out[int(round(start * FPS)): min(n, int(round(end * FPS)))] = k
    return out


def _majority(index: np.ndarray, a: float, b: float) -> int:
    """The segment index covering most frames of [a, b] (-1 when none)."""
    lo = int(np.floor(a * FPS))
    hi = max(lo + 1, int(np.ceil(b * FPS)))
    window = index[lo:hi]
    window = window[window >= 0]
    if window.size == 0:
        return -1
    values, counts = np.unique(window, return_counts=True)
    return int(values[int(np.argmax(counts))])


def recovery(spec: Any, labels: dict[str, Any], duration: float) -> dict[str, Any]:
    """Per spec segment: the truth and the label read from motion (see the module doc)."""
    d = spec_dict(spec)
    n = int(round(duration * FPS)) + 1
    emo_index = _frame_index(labels["emotion_segments"], n)
    head_index = _frame_index(labels["head"], n)
    emo_cores, head_cores = _core_windows(d)
    emotions = []
    for lab, a, b in emo_cores:
        k = _majority(emo_index, a, b)
        emotions.append({"truth": lab, "read": labels["emotion_segments"][k][0] if k >= 0 else None,
                         "start": a, "end": b})
    head = []
    for seg, a, b in head_cores:
        k = _majority(head_index, a, b)
        read = labels["head"][k] if k >= 0 else [None, 0, 0, None]
        head.append({"truth": seg["kind"], "read": read[0], "start": a, "end": b,
                     "truth_speed": seg.get("speed"), "read_speed": read[3]})
    speech = d.get("speech", [])
    truth_speaking = speech[0]["style"] if speech else "none"
    return {"emotions": emotions, "head": head,
            "speaking": {"truth": truth_speaking, "read": labels["speaking"]}}


def score_recovery(specs: list, summaries: list[MotionSummary]) -> dict[str, dict[str, float]]:
    """Accuracy of labels read from motion against the specs: emotion and head per segment
    (``moving_head``: head segments other than 'still'; ``head_speed``: the speed of moving
    segments whose kind was read right), speaking per clip."""
    hits: dict[str, list[bool]] = {"emotion": [], "head": [], "moving_head": [], "head_speed": [], "speaking": []}
    for spec, summary in zip(specs, summaries):
        r = recovery(spec, labels_from_summary(summary), summary.duration)
        hits["emotion"] += [x["truth"] == x["read"] for x in r["emotions"]]
        for x in r["head"]:
            hits["head"].append(x["truth"] == x["read"])
            if x["truth"] != "still":
                hits["moving_head"].append(x["truth"] == x["read"])
                if x["truth"] == x["read"]:
                    hits["head_speed"].append(x["truth_speed"] == x["read_speed"])
        hits["speaking"].append(r["speaking"]["truth"] == r["speaking"]["read"])
    return {k: {"accuracy": float(np.mean(v)) if v else float("nan"), "n": len(v)} for k, v in hits.items()}


# ============================================================================
# annotation
# ============================================================================
def annotate(clip: MotionClip, spec: Any = None, rng: np.random.Generator | int | None = None,
             split: str = "train", summary: MotionSummary | None = None) -> dict[str, Any]:
    """Text categories + labels for ``clip`` (+ ``prompt`` when ``spec`` is given)."""
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    summary = summary or analyse(clip)
    ph = Phrasing(rng, split)
    out: dict[str, Any] = describe(summary, ph)
    if spec is not None:
        out["prompt"] = realise_prompt(spec, rng, split)
    out["labels"] = labels_from_summary(summary)
    return out


def _load(path: str, fmt: str | None) -> MotionClip:
    """A facelm clip, or any layout ``facelm.importers`` knows."""
    try:
        from facelm.importers import import_clip
    except ImportError:  # importers not installed: facelm npz only
        return MotionClip.load(path)
    return import_clip(path, fmt).clip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m training.annotate",
        description="Describe a facial-motion clip in MMHead's five text categories (from its parameters alone).")
    parser.add_argument("clip", help="a facelm .npz clip, or any format facelm.importers reads")
    parser.add_argument("--json", action="store_true", help="print JSON (text, labels and the analysis)")
    parser.add_argument("--seed", type=int, default=0, help="wording seed (default 0)")
    parser.add_argument("--split", default="train", choices=("train", "val", "test", "paraphrase"),
                        help="wording pool: paraphrase uses the held-out phrasings")
    parser.add_argument("--format", default=None, help="force an input format (see facelm convert)")
    args = parser.parse_args(argv)
    try:
        clip = _load(args.clip, args.format)
        summary = analyse(clip)
        result = annotate(clip, rng=args.seed, split=args.split, summary=summary)
    except FacelmError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        result["analysis"] = summary.to_dict()
        print(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        for key in TEXT_KEYS:
            print(f"{key}: {result[key]}")
        for caveat in summary.caveats:
            print(f"note: {caveat}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
