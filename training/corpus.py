"""Generate the synthetic facial-behaviour corpus: specs -> motion -> text -> shards on disk.

    python -m training.corpus --hours 10 --seed 0 --out data/corpus [--workers 2] [--shard-hours 0.5]

Each shard is generated independently from (seed, shard number), so the result
does not depend on the number of workers, and shards stream to disk one at a
time: memory stays bounded by one shard per worker whatever ``--hours`` is
(80 h, the size of the 3DMM-LM corpus, is ~3.4 GB uncompressed on disk).

Clips draw their performer from a pool of ``--identities`` seeded identities; a
fraction of the pool is held out and all its clips go to ``test`` (unseen
performers); of the other clips a random 5 % go to ``val`` and 5 % to ``test``.
Text comes from ``training.annotate`` (MMHead's five categories + the prompt):
train clips get train wording, val and test clips too, and test clips also carry
``text_paraphrase`` in the held-out wording (the unseen-paraphrase evaluation).
"""
from __future__ import annotations

import argparse
import inspect
import os
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from facelm.errors import FacelmError
from training.behaviour import SPEC_VERSION, BehaviourSpec, identity_for, sample_spec
from training.composer import compose_batch
from training.corpus_store import (FEATURES, MANIFEST, SPLITS, STORE_FORMAT, STORE_VERSION, Shard, sha256_file,
                                   shard_name, write_manifest, write_shard)

FPS = 25.0
BYTES_PER_HOUR = int(FPS * 3600 * sum(FEATURES.values()) * 4)  # float32 frames, before metadata
MIN_CLIP_S = 2.0  # a shard's last clip is cut to fit its hours, but never shorter than this
_STREAM_TEXT, _STREAM_SPLIT, _STREAM_HELDOUT = 0x7E47, 0x5B17, 0x7E57


@dataclass
class CorpusConfig:
    hours: float
    seed: int = 0
    shard_hours: float = 0.5
    identities: int = 256
    heldout_identity_fraction: float = 0.1
    val_fraction: float = 0.05
    test_fraction: float = 0.05
    batch_clips: int = 128
    compress: bool = False
    annotate: bool = True

    def validate(self) -> None:
        if not self.hours > 0:
            raise FacelmError(f"--hours must be > 0, got {self.hours}")
        if not self.shard_hours > 0:
            raise FacelmError(f"--shard-hours must be > 0, got {self.shard_hours}")
        if self.identities < 2:
            raise FacelmError(f"--identities must be >= 2, got {self.identities}")
        if not 0 <= self.val_fraction + self.test_fraction < 1:
            raise FacelmError("val and test fractions must sum to less than 1")


def shard_hours_plan(cfg: CorpusConfig) -> list[float]:
    """Hours of motion in each shard: full shards, then the remainder."""
    full = int(np.floor(cfg.hours / cfg.shard_hours + 1e-9))
    plan = [cfg.shard_hours] * full
    rest = cfg.hours - full * cfg.shard_hours
    if rest * 3600 >= MIN_CLIP_S:
        plan.append(rest)
    return plan


def heldout_identities(cfg: CorpusConfig) -> list[int]:
    """Pool indices whose clips all go to test (at least one)."""
    count = max(1, int(round(cfg.identities * cfg.heldout_identity_fraction)))
    perm = np.random.default_rng([cfg.seed, _STREAM_HELDOUT]).permutation(cfg.identities)
    return sorted(int(i) for i in perm[:count])


def shard_specs(cfg: CorpusConfig, k: int, hours: float) -> list[tuple[BehaviourSpec, str, bool]]:
    """The (spec, split, unseen identity) of every clip of shard ``k``, deterministic."""
    heldout = set(heldout_identities(cfg))
    budget, total, out = hours * 3600.0, 0.0, []
    j = 0
    while budget - total >= MIN_CLIP_S:
        rng = np.random.default_rng([cfg.seed, k, j])
        index = int(rng.integers(cfg.identities))
        identity = identity_for(index, cfg.seed)
        spec = sample_spec(rng, identity=identity, clip_id=f"s{cfg.seed}-{k:05d}-{j:05d}", fps=FPS)
        if total + spec.duration > budget:  # last clip: the same prompt category, cut to fit
            rng = np.random.default_rng([cfg.seed, k, j])
            rng.integers(cfg.identities)
            spec = sample_spec(rng, round(budget - total - 0.005, 2), identity=identity,
                               clip_id=spec.clip_id, fps=FPS)
        u = np.random.default_rng([cfg.seed, _STREAM_SPLIT, k, j]).random()
        unseen = index in heldout
        split = "test" if unseen or u < cfg.test_fraction else "val" if u < cfg.test_fraction + cfg.val_fraction else "train"
        out.append((spec, split, unseen))
        total += spec.num_frames / FPS
        j += 1
    return out


def _annotator():
    """training.annotate.annotate (and whether it takes a precomputed summary), or None."""
    try:
        from training.annotate import annotate
    except ImportError:
        return None, None
    analyse = None
    if "summary" in inspect.signature(annotate).parameters:
        try:
            from training.motion_analysis import analyse
        except ImportError:
            analyse = None
    return annotate, analyse


def _text(annotate, analyse, clip, spec: dict, split: str, rng_key: list[int]) -> dict[str, Any]:
    """Text categories + prompt; held-out wording as well for test clips."""
    summary = analyse(clip) if analyse else None
    extra = {"summary": summary} if summary is not None else {}
    wording = "train" if split == "train" else "val"
    text = annotate(clip, spec=spec, rng=np.random.default_rng(rng_key), split=wording, **extra)
    out = {"text": {k: v for k, v in text.items() if k != "labels"}, "read_labels": text.get("labels")}
    if split == "test":
        para = annotate(clip, spec=spec, rng=np.random.default_rng(rng_key + [1]), split="paraphrase", **extra)
        out["text_paraphrase"] = {k: v for k, v in para.items() if k != "labels"}
    return out


def build_shard(cfg: CorpusConfig, k: int, hours: float, out: str) -> dict[str, Any]:
    """Compose, annotate and write shard ``k``; returns its manifest entry (+ split tallies)."""
    path = Path(out) / shard_name(k)
    items = shard_specs(cfg, k, hours)
    annotate, analyse = _annotator() if cfg.annotate else (None, None)
    parts: dict[str, list[np.ndarray]] = {key: [] for key in FEATURES}
    lengths, meta = [], []
    for a in range(0, len(items), cfg.batch_clips):
        chunk = items[a:a + cfg.batch_clips]
        batch = compose_batch([spec for spec, _, _ in chunk])
        for key in FEATURES:
            parts[key].append(batch.arrays[key])
        for j, (spec, split, unseen) in enumerate(chunk):
            spec_d = spec.to_dict()
            entry = {"clip_id": spec.clip_id, "split": split, "unseen_identity": unseen,
                     "identity": spec.identity.identity_id, "category": spec.category,
                     "duration": spec.num_frames / FPS, "num_frames": spec.num_frames,
                     "spec": spec_d, "labels": spec.ground_truth(), "text": {}}
            if annotate is not None:
                entry.update(_text(annotate, analyse, batch.clip(j), spec_d, split,
                                   [cfg.seed, _STREAM_TEXT, k, a + j]))
            meta.append(entry)
            lengths.append(spec.num_frames)
    arrays = {key: np.concatenate(v) for key, v in parts.items()}
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    info = write_shard(path, arrays, offsets, meta, compress=cfg.compress)
    return _entry(k, info, meta)


def _entry(k: int, info: dict[str, Any], meta: list[dict]) -> dict[str, Any]:
    tallies = {s: {"clips": 0, "frames": 0} for s in SPLITS}
    for m in meta:
        tallies[m["split"]]["clips"] += 1
        tallies[m["split"]]["frames"] += m["num_frames"]
    return {"file": shard_name(k), "sha256": info["sha256"], "bytes": info["bytes"], "clips": info["clips"],
            "frames": info["frames"], "hours": round(info["frames"] / FPS / 3600, 6), "splits": tallies,
            "annotated": any(m["text"] for m in meta)}


def _resume_entry(cfg: CorpusConfig, k: int, hours: float, out: str) -> dict[str, Any] | None:
    """The entry of an already written shard that matches this config, else None."""
    path = Path(out) / shard_name(k)
    if not path.is_file():
        return None
    try:
        shard = Shard(path)
        meta = shard.meta()
        shard.close()
    except FacelmError:
        return None
    expected = [spec.clip_id for spec, _, _ in shard_specs(cfg, k, hours)]
    if [m["clip_id"] for m in meta] != expected:
        return None
    info = {"sha256": sha256_file(path), "bytes": path.stat().st_size, "clips": len(meta),
            "frames": sum(m["num_frames"] for m in meta)}
    return _entry(k, info, meta)


def _run_shard(args: tuple) -> dict[str, Any]:
    cfg, k, hours, out, resume = args
    if resume:
        entry = _resume_entry(cfg, k, hours, out)
        if entry is not None:
            return entry
    return build_shard(cfg, k, hours, out)


def generate(cfg: CorpusConfig, out: str | os.PathLike, workers: int = 1, progress: bool = True,
             resume: bool = False, stats: bool = True) -> dict[str, Any]:
    """Write the whole corpus to ``out``; returns the manifest."""
    cfg.validate()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    plan = shard_hours_plan(cfg)
    jobs = [(cfg, k, h, str(out), resume) for k, h in enumerate(plan)]
    entries: list[dict[str, Any] | None] = [None] * len(jobs)
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=round(sum(plan), 3), unit="h", desc="corpus", file=sys.stderr,
                   bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.2f}/{total:.2f} h [{elapsed}<{remaining}]")
    if workers <= 1:
        for job in jobs:
            entries[job[1]] = _run_shard(job)
            if bar:
                bar.update(job[2])
    else:
        import multiprocessing as mp
        ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else None
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            futures = {pool.submit(_run_shard, job): job for job in jobs}
            for fut in as_completed(futures):
                job = futures[fut]
                entries[job[1]] = fut.result()
                if bar:
                    bar.update(job[2])
    if bar:
        bar.close()
    manifest = _manifest(cfg, [e for e in entries if e is not None])
    write_manifest(out, manifest)
    if stats:
        from training.corpus_stats import write_stats
        write_stats(out)
    return manifest


def _manifest(cfg: CorpusConfig, entries: list[dict[str, Any]]) -> dict[str, Any]:
    frames = sum(e["frames"] for e in entries)
    splits = {}
    for s in SPLITS:
        f = sum(e["splits"][s]["frames"] for e in entries)
        splits[s] = {"clips": sum(e["splits"][s]["clips"] for e in entries), "frames": f,
                     "hours": round(f / FPS / 3600, 4)}
    held = heldout_identities(cfg)
    annotated = all(e["annotated"] for e in entries) if entries else False
    return {
        "format": STORE_FORMAT, "version": STORE_VERSION, "generator": "training.corpus",
        "spec_version": SPEC_VERSION, "config": asdict(cfg), "seed": cfg.seed, "fps": FPS,
        "clips": sum(e["clips"] for e in entries), "frames": frames, "hours": round(frames / FPS / 3600, 4),
        "features": dict(FEATURES),
        "feature_layout": "MotionClip.to_array: expression | global_pose | neck_pose | jaw_pose | eye_pose",
        "basis": "facelm.face_units synthetic AU basis (UnitBasis())",
        "splits": splits,
        "split_rule": (f"all clips of held-out identities -> test; other clips: {cfg.test_fraction:.0%} test, "
                       f"{cfg.val_fraction:.0%} val, rest train (seeded per clip)"),
        "identities": {"pool": cfg.identities, "heldout_test": [f"id{i:04d}" for i in held]},
        "text": {"annotator": "training.annotate" if annotated else None,
                 "keys": ["action", "emotion", "detail_expression", "detail_head_pose", "emotion_scenario", "prompt"],
                 "test_paraphrase_key": "text_paraphrase"},
        "shards": [{k: e[k] for k in ("file", "sha256", "bytes", "clips", "frames", "hours")} for e in entries],
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.corpus", description=__doc__.split("\n\n")[0])
    p.add_argument("--hours", type=float, required=True, help="hours of 25 fps motion to generate")
    p.add_argument("--seed", type=int, default=0, help="corpus seed (default 0)")
    p.add_argument("--out", required=True, help="output folder (manifest.json, shards/, stats)")
    p.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 1)), help="processes (default: all cores)")
    p.add_argument("--shard-hours", type=float, default=0.5, help="hours of motion a shard (default 0.5)")
    p.add_argument("--identities", type=int, default=256, help="performer pool size (default 256)")
    p.add_argument("--compress", action="store_true", help="deflate shards (smaller, not memory-mappable)")
    p.add_argument("--no-text", action="store_true", help="skip the annotator (text = {})")
    p.add_argument("--no-stats", action="store_true", help="skip statistics and plots")
    p.add_argument("--resume", action="store_true", help="keep shards already written by the same arguments")
    p.add_argument("--overwrite", action="store_true", help="replace an existing corpus in --out")
    p.add_argument("--talking-hours", type=float, default=0.0,
                   help="also generate this many hours of audio-paired talking clips (needs training.talking)")
    args = p.parse_args(argv)
    try:
        return _main(args)
    except FacelmError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _main(args: argparse.Namespace) -> int:
    cfg = CorpusConfig(hours=args.hours, seed=args.seed, shard_hours=args.shard_hours, identities=args.identities,
                       compress=args.compress, annotate=not args.no_text)
    cfg.validate()
    out = Path(args.out)
    if (out / MANIFEST).exists() and not (args.overwrite or args.resume):
        raise FacelmError(f"{out}: already holds a corpus (pass --overwrite or --resume)")
    if args.overwrite and (out / "shards").is_dir():
        shutil.rmtree(out / "shards")
    need = cfg.hours * BYTES_PER_HOUR * 1.05
    out.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(out).free
    if need > free:
        raise FacelmError(f"{out}: needs about {need / 1e9:.1f} GB, only {free / 1e9:.1f} GB free")
    if args.talking_hours > 0:
        _check_talking()
    if cfg.annotate and _annotator()[0] is None:
        print("warning: training.annotate is not importable; clips get text = {}", file=sys.stderr)
    start = time.perf_counter()
    manifest = generate(cfg, out, workers=args.workers, resume=args.resume, stats=not args.no_stats)
    elapsed = time.perf_counter() - start
    hours = manifest["hours"]
    print(f"corpus: {hours:.2f} h of motion ({manifest['clips']} clips, {manifest['frames']} frames, "
          f"{len(manifest['shards'])} shards, {sum(s['bytes'] for s in manifest['shards']) / 1e9:.2f} GB) "
          f"in {elapsed:.1f} s = {hours / max(elapsed / 60, 1e-9):.1f} h of motion per minute -> {out}")
    print("splits: " + ", ".join(f"{s} {v['clips']} clips / {v['hours']:.2f} h" for s, v in manifest["splits"].items()))
    if args.talking_hours > 0:
        summary = _talking(args, out)
        print(f"talking: {summary.get('clips')} clips, {summary.get('seconds', 0) / 3600:.3f} h with audio "
              f"in {summary.get('elapsed_s')} s -> {out / 'talking'}")
    return 0


def _check_talking() -> None:
    try:
        import training.talking  # noqa: F401
    except ImportError as exc:
        raise FacelmError(f"--talking-hours needs training.talking ({exc})") from None


def _talking(args: argparse.Namespace, out: Path) -> dict:
    """Hand the audio-paired subset to training.talking (its own folder and manifest)."""
    import training.talking as talking
    entry = getattr(talking, "generate_corpus", None)
    if entry is None:
        raise FacelmError("training.talking has no generate_corpus(hours, seed, out) to call")
    return entry(hours=args.talking_hours, seed=args.seed, out=str(out / "talking")) or {}


if __name__ == "__main__":
    sys.exit(main())
