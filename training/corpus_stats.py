"""Corpus statistics and plots in the manner of MMHead's dataset figures.

    python -m training.corpus_stats DIR

Writes into DIR: ``stats.json`` and PNGs — ``durations.png`` (clip length
histogram per split), ``emotions.png`` (dominant emotion per clip, pie),
``actions.png`` (ground-truth action words), ``head_pose.png`` (MMHead head-pose
descriptions per frame and head-motion kinds per segment), ``words.png`` (most
frequent words of prompts and of descriptions), ``head_rotation.png``
(histograms of the neck rotation rx, ry, rz over all frames). Streams over the
shards: memory holds one shard's neck rotations at a time.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from facelm.errors import FacelmError
from training.behaviour import HEAD_DIRECTIONS, HEAD_KINDS
from training.corpus_store import SPLITS, CorpusReader

POSE_THRESHOLD = 0.05  # rad: below it MMHead-style per-frame descriptions say "No head pose"
ROTATION_BINS = np.linspace(-0.8, 0.8, 81)
DURATION_BINS = np.arange(0.0, 11.0, 0.5)
TEXT_KEYS = ("action", "emotion", "detail_expression", "detail_head_pose", "emotion_scenario")
_STOPWORDS = set("""
a an the and or but of to in on at by for with from as is are was were be been being it its this that these
those their they them his her he she him who whom which while then than so very into onto up down out over under
person persons subject portrait someone somebody character individual
again once there here all any both each few more most other some such no nor not only own same too can will just
do does did doing have has had having i me my we our you your one ones through during before after above below
off about against between until s t what when where why how also throughout whole entire clip video
""".split())
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")


def _words(value: Any) -> list[str]:
    if isinstance(value, str):
        words = (w.removesuffix("'s") for w in _WORD.findall(value.lower()))
        return [w for w in words if w not in _STOPWORDS and len(w) > 1]
    if isinstance(value, (list, tuple)):
        return [w for v in value for w in _words(v)]
    if isinstance(value, dict):
        return [w for v in value.values() for w in _words(v)]
    return []


def _dominant_emotion(segments: list) -> str:
    """The expressive emotion held longest, else neutral."""
    held = Counter()
    for emotion, _intensity, start, end in segments:
        if emotion != "neutral":
            held[emotion] += end - start
    return held.most_common(1)[0][0] if held else "neutral"


def pose_descriptions(neck: np.ndarray, threshold: float = POSE_THRESHOLD) -> Counter:
    """Per-frame counts of MMHead's six head-pose descriptions (a frame may have several) and 'No head pose'."""
    counts = Counter()
    any_pose = np.zeros(len(neck), bool)
    for axis, sign, words in HEAD_DIRECTIONS.values():
        hit = sign * neck[:, axis] > threshold
        counts[words] += int(hit.sum())
        any_pose |= hit
    counts["No head pose"] += int((~any_pose).sum())
    return counts


def compute_stats(root: str | Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """(stats for stats.json, raw series for the plots)."""
    reader = CorpusReader(root)
    durations = {s: [] for s in SPLITS}
    categories, dominant, emotion_seconds = Counter(), Counter(), Counter()
    actions, head_kinds, head_seconds, speaking, poses = Counter(), Counter(), Counter(), Counter(), Counter()
    prompt_words, text_words = Counter(), Counter()
    hist = np.zeros((3, len(ROTATION_BINS) - 1), np.int64)
    outside = np.zeros(3, np.int64)
    sums, sq, n_frames = np.zeros(3), np.zeros(3), 0
    annotated = blink_clips = 0
    for _, shard in reader.iter_shards():
        for m in shard.meta():
            labels = m["labels"]
            durations[m["split"]].append(m["duration"])
            categories[m["category"]] += 1
            dominant[_dominant_emotion(labels["emotion_segments"])] += 1
            for emotion, _i, start, end in labels["emotion_segments"]:
                emotion_seconds[emotion] += end - start
            actions.update(labels["actions"])
            blink_clips += bool(labels.get("blinks"))
            for kind, start, end in labels["head"]:
                head_seconds[kind] += end - start
                if kind != "still":
                    head_kinds[kind] += 1
            if all(kind == "still" for kind, _s, _e in labels["head"]):
                head_kinds["still (whole clip)"] += 1
            speaking[labels["speaking"]] += 1
            text = m.get("text") or {}
            if text:
                annotated += 1
                prompt_words.update(_words(text.get("prompt", "")))
                text_words.update(_words([text.get(k, "") for k in TEXT_KEYS]))
        neck = np.asarray(shard.array("neck_pose"), np.float64)
        for axis in range(3):
            hist[axis] += np.histogram(neck[:, axis], ROTATION_BINS)[0]
            outside[axis] += int(((neck[:, axis] < ROTATION_BINS[0]) | (neck[:, axis] > ROTATION_BINS[-1])).sum())
        sums += neck.sum(0)
        sq += (neck ** 2).sum(0)
        n_frames += len(neck)
        poses.update(pose_descriptions(neck))
    reader.close()
    all_durations = np.array([d for v in durations.values() for d in v])
    if all_durations.size == 0:
        raise FacelmError(f"{root}: the corpus has no clips")
    mean = sums / max(n_frames, 1)
    std = np.sqrt(np.maximum(sq / max(n_frames, 1) - mean ** 2, 0))
    stats = {
        "clips": int(all_durations.size), "hours": round(float(all_durations.sum()) / 3600, 4), "frames": n_frames,
        "annotated_clips": annotated,
        "splits": {s: {"clips": len(v), "hours": round(float(np.sum(v)) / 3600, 4)} for s, v in durations.items()},
        "durations_s": {"min": float(all_durations.min()), "mean": round(float(all_durations.mean()), 3),
                        "max": float(all_durations.max()),
                        "histogram": {"bins": DURATION_BINS.tolist(),
                                      "counts": np.histogram(all_durations, DURATION_BINS)[0].tolist()}},
        "categories": dict(categories.most_common()),
        "dominant_emotion_clips": dict(dominant.most_common()),
        "emotion_seconds": {k: round(v, 1) for k, v in emotion_seconds.most_common()},
        "actions": dict(actions.most_common()),
        "blink_clips": blink_clips,
        "head_segments": dict(head_kinds.most_common()),
        "head_seconds": {k: round(head_seconds.get(k, 0.0), 1) for k in HEAD_KINDS},
        "head_pose_frames": dict(poses.most_common()),
        "speaking": dict(speaking.most_common()),
        "neck_rotation": {"axes": ["rx", "ry", "rz"], "mean": mean.round(5).tolist(), "std": std.round(5).tolist(),
                          "outside_histogram": outside.tolist()},
        "prompt_vocabulary": len(prompt_words), "text_vocabulary": len(text_words),
        "top_prompt_words": dict(prompt_words.most_common(100)),
        "top_text_words": dict(text_words.most_common(100)),
    }
    series = {"durations": durations, "hist": hist, "dominant": dominant, "actions": actions, "poses": poses,
              "head_kinds": head_kinds, "prompt_words": prompt_words, "text_words": text_words}
    return stats, series


def _bar(ax, counter: Counter, title: str, top: int | None = None, horizontal: bool = True) -> None:
    items = counter.most_common(top)
    if not items:
        ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
        ax.set_title(title)
        return
    names, values = zip(*items)
    if horizontal:
        y = np.arange(len(names))[::-1]
        ax.barh(y, values, color="#4878a8")
        ax.set_yticks(y, names, fontsize=8)
    else:
        ax.bar(range(len(names)), values, color="#4878a8")
        ax.set_xticks(range(len(names)), names, rotation=45, ha="right", fontsize=8)
    ax.set_title(title)


def plot_stats(root: str | Path, stats: dict[str, Any], series: dict[str, Any]) -> list[Path]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    root = Path(root)
    written = []

    def save(fig, name: str) -> None:
        fig.tight_layout()
        fig.savefig(root / name, dpi=90)
        plt.close(fig)
        written.append(root / name)

    fig, axes = plt.subplots(1, len(SPLITS) + 1, figsize=(16, 3.6))
    groups = [("all", [d for v in series["durations"].values() for d in v])]
    groups += [(s, series["durations"][s]) for s in SPLITS]
    for ax, (name, values) in zip(axes, groups):
        ax.hist(values, DURATION_BINS, color="#4878a8", edgecolor="white")
        ax.set_title(f"{name}: {len(values)} clips, {np.sum(values) / 3600:.2f} h")
        ax.set_xlabel("duration (s)")
    axes[0].set_ylabel("clips")
    save(fig, "durations.png")

    fig, ax = plt.subplots(figsize=(6.5, 5))
    items = series["dominant"].most_common()
    ax.pie([v for _, v in items], labels=[k for k, _ in items], autopct="%1.1f%%", startangle=90,
           textprops={"fontsize": 9})
    ax.set_title("dominant emotion per clip")
    save(fig, "emotions.png")

    fig, ax = plt.subplots(figsize=(8, 5))
    _bar(ax, series["actions"], "action words (clips showing each)")
    save(fig, "actions.png")

    fig, axes = plt.subplots(1, 2, figsize=(14, 4.5))
    _bar(axes[0], series["poses"], f"head-pose descriptions per frame (|r| > {POSE_THRESHOLD} rad)")
    _bar(axes[1], series["head_kinds"], "head motions (segments) and clips with a still head")
    save(fig, "head_pose.png")

    fig, axes = plt.subplots(1, 2, figsize=(14, 7))
    _bar(axes[0], series["prompt_words"], "top 30 words: prompts", top=30)
    _bar(axes[1], series["text_words"], "top 30 words: descriptions (5 categories)", top=30)
    save(fig, "words.png")

    fig, axes = plt.subplots(1, 3, figsize=(16, 4))
    centres = 0.5 * (ROTATION_BINS[1:] + ROTATION_BINS[:-1])
    width = ROTATION_BINS[1] - ROTATION_BINS[0]
    names = ["rx (+ down / - up)", "ry (+ left / - right)", "rz (+ tilt right / - tilt left)"]
    for axis, ax in enumerate(axes):
        ax.bar(centres, series["hist"][axis], width=width, color="#4878a8")
        ax.set_yscale("log")
        ax.set_xlabel(f"neck {names[axis]}, rad")
        ax.set_title(f"rotation around the {'xyz'[axis]}-axis")
    axes[0].set_ylabel("frames (log)")
    save(fig, "head_rotation.png")
    return written


def write_stats(root: str | Path) -> dict[str, Any]:
    """Compute, write stats.json and the PNGs into ``root``; returns the stats."""
    stats, series = compute_stats(root)
    stats["plots"] = [p.name for p in plot_stats(root, stats, series)]
    (Path(root) / "stats.json").write_text(json.dumps(stats, indent=1) + "\n")
    return stats


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.corpus_stats",
                                description="Statistics and MMHead-style plots of a generated corpus.")
    p.add_argument("root", help="corpus folder (with manifest.json)")
    args = p.parse_args(argv)
    try:
        stats = write_stats(args.root)
    except FacelmError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{stats['clips']} clips, {stats['hours']:.2f} h; plots: {', '.join(stats['plots'])} -> {args.root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
