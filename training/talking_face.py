"""A talking clip over a whole composed face, and the talking subset as a corpus-store folder.

``speak_over_face`` draws a behaviour spec of the "speaking" / "speaking_combo"
prompt categories (``training.behaviour.sample_spec``) for the clip's length
and the speaker's identity, composes it *without* the composer's syllable
mouth (``training.composer``: emotion, head motion, blinks, gaze, idle motion),
and puts the phoneme-driven mouth on top (``training.mouth.overlay``). Speech
prosody is added as the composer does it for its own speech: on stressed
syllables the brows lift (mostly when excited) and the head bobs down and back.
Stressed syllables are eSpeak's lengthened vowels (the longest 30 % of an
utterance's full vowels): eSpeak's phoneme events carry no stress marks.

The spec keeps a speech segment covering the spoken span (style, syllables per
second, peak jaw), so the spec's labels say "talk" and the style.

``StoreWriter`` writes the clips as a ``training.corpus_store`` folder
(manifest.json + shards/) beside the per-clip wav and phoneme files, so
``CorpusReader`` / ``CorpusDataset`` read the talking subset like the main
corpus; each clip's meta adds ``audio`` and ``phonemes`` (paths relative to the
folder) and ``transcript``.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from facelm.clip import MotionClip
from facelm.face_units import ARKIT_NAMES, BILATERAL, UNIT_INDEX, UnitBasis, units_to_arkit
from training.behaviour import SpeechSegment, identity_for, sample_spec
from training.mouth import overlay

VOWEL_VISEMES = frozenset({"open", "open_spread", "open_mid", "open_rounded", "mid_spread", "mid_rounded",
                           "rhotic_vowel", "close_spread", "close_rounded"})
STRESS_SHARE = 0.3
BROW_LIFT = {"calm": 0.08, "excited": 0.25}
HEAD_BOB_RAD = {"calm": 0.012, "excited": 0.03}
_EYE_LOOK = [i for i, n in enumerate(ARKIT_NAMES) if n.startswith("EyeLook")]
_BROWS = [UNIT_INDEX[u] for u in BILATERAL["AU1"] + BILATERAL["AU2"]]
_SPLIT_STREAM = 0x5B18


def stressed_times(segs) -> np.ndarray:
    """Start times of the stressed vowels: the longest STRESS_SHARE of the utterance's full vowels."""
    vowels = [s for s in segs if s.visemes[0] in VOWEL_VISEMES]
    if not vowels:
        return np.zeros(0)
    lengths = np.array([s.end - s.start for s in vowels])
    cut = np.quantile(lengths, 1.0 - STRESS_SHARE)
    return np.array([s.start for s, d in zip(vowels, lengths) if d >= cut])


def _pulses(t: np.ndarray, times: np.ndarray, amps: np.ndarray, rise: float, fall: float) -> np.ndarray:
    """Sum of raised-cosine bumps peaking at ``times`` (rise before, fall after)."""
    out = np.zeros_like(t)
    for t0, a in zip(times, amps):
        x = np.where(t < t0, (t - t0) / rise, (t - t0) / fall)
        out += a * np.where(np.abs(x) < 1.0, 0.5 * (1.0 + np.cos(np.pi * x)), 0.0)
    return out


def speech_span(segs) -> tuple[float, float]:
    spoken = [s for s in segs if s.visemes != ("rest",)]
    return (spoken[0].start, spoken[-1].end) if spoken else (0.0, 0.0)


def speak_over_face(talking, seed: int, speaker: int, clip_id: str,
                    basis: UnitBasis | None = None) -> tuple[MotionClip, Any]:
    """(clip: the composed face speaking, spec it was drawn from) for a ``training.talking.TalkingClip``."""
    from training.composer import compose_batch  # the composer helper's module

    basis = basis or UnitBasis()
    mouth, segs, style = talking.mouth, talking.segments, talking.style
    n, fps = mouth.num_frames, mouth.fps
    rng = np.random.default_rng([int(seed), 0xFACE])
    category = "speaking" if rng.random() < 0.7 else "speaking_combo"
    duration = max(n / fps, 1.0)
    spec = sample_spec(rng, duration, category=category, identity=identity_for(speaker), clip_id=clip_id,
                       fps=fps)
    start, end = speech_span(segs)
    vowels = sum(s.visemes[0] in VOWEL_VISEMES or s.visemes[0] == "schwa" for s in segs)
    rate = vowels / max(end - start, 1e-3)
    speech = [SpeechSegment(style, round(start, 4), round(end, 4), round(rate, 4),
                            round(float(mouth.jaw_opening.max()), 4))]
    batch = compose_batch([replace(spec, speech=[])], basis)
    units = batch.units(0)[:n].copy()
    t = (np.arange(n) + 0.5) / fps
    stress = stressed_times(segs)
    strength = rng.uniform(0.7, 1.1, stress.size)
    units[:, _BROWS] += _pulses(t, stress, BROW_LIFT[style] * strength, 0.12, 0.3)[:, None]
    units = overlay(np.clip(units, 0.0, 1.0), mouth)
    bob = HEAD_BOB_RAD[style] * spec.identity.head_amplitude * strength
    neck = batch.arrays["neck_pose"][:n].copy()
    neck[:, 0] += _pulses(t, stress, bob, 0.15, 0.3) - _pulses(t, stress + 0.4, 0.5 * bob, 0.15, 0.3)
    expression, jaw = basis.to_expression(units)
    arkit = units_to_arkit(units)
    arkit[:, _EYE_LOOK] = batch.arrays["arkit"][:n, _EYE_LOOK]
    spec = replace(spec, speech=speech)
    clip = MotionClip(expression, batch.arrays["global_pose"][:n], neck, jaw, batch.arrays["eye_pose"][:n],
                      fps=fps, eyelid=batch.arrays["eyelid"][:n], arkit=arkit, text=dict(talking.clip.text),
                      source=clip_id)
    clip.text.update(_annotation(clip, spec, seed))
    return clip, spec


def _annotation(clip: MotionClip, spec, seed: int) -> dict:
    """MMHead-style text from ``training.annotate`` when it is importable (else nothing)."""
    try:
        from training.annotate import annotate
    except ImportError:
        return {}
    out = annotate(clip, spec=spec.to_dict(), rng=np.random.default_rng([int(seed), 0x7E47]))
    return {k: v for k, v in out.items() if k != "labels"}


HELDOUT_SPEAKER_EVERY = 12  # speakers with index % 12 == 11 (voice + face identity) only in test


def split_for(seed: int, index: int, speaker: int) -> tuple[str, bool]:
    """(split, unseen speaker) of clip ``index``: held-out speakers -> test; others 5 % val, 5 % test."""
    if speaker % HELDOUT_SPEAKER_EVERY == HELDOUT_SPEAKER_EVERY - 1:
        return "test", True
    u = np.random.default_rng([int(seed), _SPLIT_STREAM, int(index)]).random()
    return ("test" if u < 0.05 else "val" if u < 0.10 else "train"), False


class StoreWriter:
    """Streams talking clips into a corpus-store folder: a shard every ``shard_hours``, then the manifest."""

    def __init__(self, out: str | Path, seed: int, shard_hours: float = 0.5) -> None:
        from training import corpus_store

        self.store = corpus_store
        self.out, self.seed, self.shard_frames = Path(out), int(seed), None
        self.shard_hours = shard_hours
        self.entries: list[dict] = []
        self.tallies = {s: {"clips": 0, "frames": 0} for s in corpus_store.SPLITS}
        self._reset()
        self.fps = None

    def _reset(self) -> None:
        self.parts: dict[str, list[np.ndarray]] = {k: [] for k in self.store.FEATURES}
        self.meta: list[dict] = []
        self.lengths: list[int] = []

    def add(self, rec: dict, clip: MotionClip, spec: Any, index: int, speaker: int) -> None:
        features = self.store.FEATURES
        n = clip.num_frames
        self.fps = clip.fps
        arrays = {"expression": clip.with_expression_size(features["expression"]).expression,
                  "global_pose": clip.global_pose, "neck_pose": clip.neck_pose, "jaw_pose": clip.jaw_pose,
                  "eye_pose": clip.eye_pose,
                  "eyelid": clip.eyelid if clip.eyelid is not None else np.zeros((n, 2), np.float32),
                  "arkit": clip.arkit if clip.arkit is not None else np.zeros((n, 52), np.float32)}
        for k in features:
            self.parts[k].append(arrays[k])
        split, unseen = split_for(self.seed, index, speaker)
        labels = spec.ground_truth() if spec is not None else {"speaking": rec["style"], "actions": ["talk"]}
        self.meta.append({
            "clip_id": rec["clip_id"], "split": split, "unseen_identity": unseen,
            "identity": labels.get("identity"), "category": spec.category if spec is not None else "talking",
            "duration": n / clip.fps, "num_frames": n, "spec": spec.to_dict() if spec is not None else None,
            "labels": labels, "text": clip.text, "transcript": rec["text"], "audio": rec["wav"],
            "phonemes": rec["phonemes"], "voice": rec["voice"]})
        self.lengths.append(n)
        self.tallies[split]["clips"] += 1
        self.tallies[split]["frames"] += n
        if sum(self.lengths) >= self.shard_hours * 3600 * clip.fps:
            self._flush()

    def _flush(self) -> None:
        if not self.meta:
            return
        st = self.store
        k = len(self.entries)
        offsets = np.concatenate([[0], np.cumsum(self.lengths)])
        arrays = {key: np.concatenate(v) for key, v in self.parts.items()}
        info = st.write_shard(self.out / st.shard_name(k), arrays, offsets, self.meta)
        self.entries.append({"file": st.shard_name(k), "sha256": info["sha256"], "bytes": info["bytes"],
                             "clips": info["clips"], "frames": info["frames"],
                             "hours": round(info["frames"] / self.fps / 3600, 6)})
        self._reset()

    def close(self) -> dict:
        """Write the last shard and the manifest; returns the manifest."""
        self._flush()
        st = self.store
        fps = self.fps or 25.0
        frames = sum(e["frames"] for e in self.entries)
        manifest = {
            "format": st.STORE_FORMAT, "version": st.STORE_VERSION, "generator": "training.talking",
            "seed": self.seed, "fps": fps, "clips": sum(e["clips"] for e in self.entries), "frames": frames,
            "hours": round(frames / fps / 3600, 4), "features": dict(st.FEATURES),
            "audio": {"rate": 16000, "format": "wav, mono, 16-bit PCM",
                      "alignment": "sample 0 = start of frame 0",
                      "key": "meta 'audio' (path relative to this folder)"},
            "splits": {s: {**v, "hours": round(v["frames"] / fps / 3600, 4)}
                       for s, v in self.tallies.items()},
            "split_rule": (f"speakers with index % {HELDOUT_SPEAKER_EVERY} == {HELDOUT_SPEAKER_EVERY - 1} "
                           "-> test; other clips: 5% test, 5% val, rest train (seeded per clip)"),
            "shards": self.entries,
        }
        st.write_manifest(self.out, manifest)
        return manifest
