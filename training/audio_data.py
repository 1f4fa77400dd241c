"""Audio-paired talking clips for the audio-to-motion model: targets, a feature bank, training windows.

Source: talking-subset stores (``python -m training.talking --store`` or
``training.corpus --talking-hours``), read with ``CorpusReader``; each clip's
meta names its 16 kHz wav (``audio``) and eSpeak phoneme timing (``phonemes``).

Target: the *speaking mouth alone*, FLAME expression (50) + jaw_pose (3),
recomputed from the stored phoneme segments with ``training.mouth.mouth_tracks``
(same gains and coarticulation reach the generator used). The store's own
frames also carry emotion, blinks and head motion drawn independently of the
audio; a model cannot hear them, so they would only teach it an average face.

Feature bank: log-mel frames (``facelm.audio.features.log_mel``, the runtime's
own front end) of every clip at speed factors 0.9, 1.0 and 1.1 (the waveform
resampled, changing tempo and pitch together; targets resampled in time to
match), cached as float16 in one npz per (stores, split). Each clip's audio is
padded with ``MAX_LOOKAHEAD`` feature frames of silence so every lookahead has
its frames.

Windows: clips of one speaking style, at random speeds, joined with random
silent gaps (mouth at rest), cut to ``window`` motion frames; augmented in the
log-mel power domain (``training.audio_augment``).
"""
from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.signal import resample_poly

from facelm.audio.features import FRAMES_PER_MOTION_FRAME, LOG_FLOOR, N_MELS, SAMPLES_PER_MOTION_FRAME, log_mel
from facelm.audio.io import load_audio
from facelm.face_units import UnitBasis
from training.corpus_store import CorpusReader
from training.mouth import mouth_tracks
from training.phonemes import Segment
from training.talking import STYLES

SPEEDS: tuple[tuple[int, int], ...] = ((9, 10), (1, 1), (11, 10))  # (num, den): speed = num / den
MAX_LOOKAHEAD = 8  # feature frames (80 ms)
STYLE_IDS = {"none": 0, "calm": 1, "excited": 2}
BILABIAL_PHONEMES = frozenset({"p", "b", "m", "m-"})


@dataclass
class TalkingAudio:
    """One clip: 16 kHz audio, mouth target (T, 53), its phoneme segments and where it came from."""

    clip_id: str
    style: str
    speaker: int | None
    audio: np.ndarray  # float32, T * 640 samples
    target: np.ndarray  # (T, num_expression + 3): expression | jaw
    segments: list[dict]
    store_jaw: np.ndarray  # (T,) jaw x of the stored (full-face) clip

    @property
    def num_frames(self) -> int:
        return int(self.target.shape[0])


def segments_from_json(items: list[dict]) -> list[Segment]:
    return [Segment(s["phoneme"], float(s["start"]), float(s["end"]), tuple(s["visemes"]), s.get("known", True),
                    tuple(s["closure"]) if s.get("closure") else None) for s in items]


def mouth_target(phon: dict, num_frames: int, basis: UnitBasis) -> np.ndarray:
    """(T, E + 3) mouth-only FLAME (expression | jaw) from a clip's phoneme JSON."""
    style = phon["style"]
    tracks = mouth_tracks(segments_from_json(phon["phonemes"]), num_frames, float(phon.get("fps", 25.0)),
                          gain=float(phon["gain"]), reach_scale=STYLES[style].reach_scale,
                          jaw_gain=float(phon["jaw_gain"]))
    expression, jaw = basis.to_expression(tracks.units)
    return np.concatenate([expression, jaw], axis=1).astype(np.float32)


def load_split(stores: list[Path], split: str, max_clips: int | None = None) -> list[TalkingAudio]:
    """Every clip of ``split`` in the given talking stores, with audio and mouth targets."""
    basis = UnitBasis()
    out: list[TalkingAudio] = []
    for root in stores:
        reader = CorpusReader(root)
        for ref in reader.refs(split):
            if max_clips is not None and len(out) >= max_clips:
                return out
            meta = reader.meta(ref)
            phon = json.loads((Path(root) / meta["phonemes"]).read_text())
            audio = load_audio(Path(root) / meta["audio"])
            n = ref.num_frames
            audio = np.pad(audio, (0, max(0, n * SAMPLES_PER_MOTION_FRAME - audio.size)))[: n * SAMPLES_PER_MOTION_FRAME]
            jaw = np.asarray(reader.arrays(ref, ("jaw_pose",))["jaw_pose"][:, 0], np.float32)
            out.append(TalkingAudio(meta["clip_id"], phon["style"], meta.get("labels", {}).get("identity"),
                                    audio, mouth_target(phon, n, basis), phon["phonemes"], jaw))
    return out


def speed_audio(audio: np.ndarray, num: int, den: int) -> np.ndarray:
    """Play ``audio`` at speed num / den (tempo and pitch together)."""
    if num == den:
        return audio
    return resample_poly(audio.astype(np.float64), den, num).astype(np.float32)


def speed_target(target: np.ndarray, speed: float, num_frames: int) -> np.ndarray:
    """Frame k of the faster clip shows the mouth at original time speed * (k + 0.5) / fps."""
    pos = np.clip(speed * (np.arange(num_frames) + 0.5) - 0.5, 0, len(target) - 1)
    i0 = np.floor(pos).astype(int)
    i1 = np.minimum(i0 + 1, len(target) - 1)
    t = (pos - i0)[:, None]
    return ((1 - t) * target[i0] + t * target[i1]).astype(np.float32)


def clip_features(audio: np.ndarray) -> np.ndarray:
    """Log-mel of a clip padded with MAX_LOOKAHEAD frames of silence: (4 T + MAX_LOOKAHEAD, 80)."""
    pad = MAX_LOOKAHEAD * (SAMPLES_PER_MOTION_FRAME // FRAMES_PER_MOTION_FRAME)
    return log_mel(np.concatenate([audio, np.zeros(pad, np.float32)]))


class FeatureBank:
    """Per clip and speed: log-mel (float16) and target, for fast window assembly."""

    def __init__(self, clips: list[TalkingAudio], cache: Path | None = None, progress: bool = True):
        self.clips = clips
        self.styles = np.array([STYLE_IDS[c.style] for c in clips])
        key = hashlib.sha256(json.dumps([(c.clip_id, c.num_frames) for c in clips]).encode()).hexdigest()[:16]
        path = Path(cache) / f"audio_bank_{key}.npz" if cache else None
        if path is not None and path.is_file():
            with np.load(path) as z:
                self.mel = [[z[f"m{i}_{s}"] for s in range(len(SPEEDS))] for i in range(len(clips))]
                self.target = [[z[f"t{i}_{s}"] for s in range(len(SPEEDS))] for i in range(len(clips))]
            return
        self.mel, self.target = [], []
        for i, c in enumerate(clips):
            mels, tgts = [], []
            for num, den in SPEEDS:
                a = speed_audio(c.audio, num, den)
                n = max(1, int(round(a.size / SAMPLES_PER_MOTION_FRAME)))
                a = np.pad(a, (0, max(0, n * SAMPLES_PER_MOTION_FRAME - a.size)))[: n * SAMPLES_PER_MOTION_FRAME]
                mels.append(clip_features(a).astype(np.float16))
                tgts.append(speed_target(c.target, num / den, n))
            self.mel.append(mels)
            self.target.append(tgts)
            if progress and (i + 1) % 200 == 0:
                print(f"feature bank: {i + 1}/{len(clips)} clips", file=sys.stderr)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            arrays = {}
            for i in range(len(clips)):
                for s in range(len(SPEEDS)):
                    arrays[f"m{i}_{s}"] = self.mel[i][s]
                    arrays[f"t{i}_{s}"] = self.target[i][s]
            tmp = path.with_suffix(".tmp.npz")
            np.savez(tmp, **arrays)
            tmp.replace(path)


class WindowBuilder:
    """Random training windows: (mel (4 W + L, 80) float32, target (W, 53), style id)."""

    def __init__(self, bank: FeatureBank, window: int, lookahead: int, seed: int = 0,
                 max_gap: int = 25, speeds: bool = True):
        self.bank = bank
        self.window = window
        self.lookahead = lookahead
        self.max_gap = max_gap
        self.speeds = speeds
        self.rng = np.random.default_rng(seed)
        self.by_style = {s: np.flatnonzero(bank.styles == s) for s in (1, 2) if np.any(bank.styles == s)}

    def one(self) -> tuple[np.ndarray, np.ndarray, int]:
        rng = self.rng
        style = int(rng.choice(list(self.by_style)))
        pool = self.by_style[style]
        fpm = FRAMES_PER_MOTION_FRAME
        mels, tgts = [], []
        frames = 0
        # Start with a gap or inside the first clip, so windows begin in speech and in silence.
        lead = int(rng.integers(0, 8)) if rng.random() < 0.5 else 0
        if lead:
            mels.append(np.full((lead * fpm, N_MELS), np.log(LOG_FLOOR), np.float32))
            tgts.append(np.zeros((lead, self.bank.target[0][0].shape[1]), np.float32))
            frames += lead
        first = True
        while frames < self.window:
            i = int(rng.choice(pool))
            s = int(rng.integers(len(SPEEDS))) if self.speeds else 1
            mel, tgt = self.bank.mel[i][s], self.bank.target[i][s]
            n = len(tgt)
            start = int(rng.integers(0, max(1, n - 8))) if first and not lead and rng.random() < 0.5 else 0
            first = False
            need = self.window - frames
            stop = min(n, start + need)
            # The last clip keeps its lookahead frames (real audio after the cut, or its silent pad).
            mels.append(np.asarray(mel[start * fpm: stop * fpm], np.float32))
            tgts.append(tgt[start:stop])
            frames += stop - start
            if frames >= self.window:
                tail = np.asarray(mel[stop * fpm: stop * fpm + self.lookahead], np.float32)
                mels.append(tail)
                break
            gap = int(rng.integers(0, self.max_gap + 1)) if rng.random() < 0.6 else int(rng.integers(0, 3))
            gap = min(gap, self.window - frames)
            if gap:
                mels.append(np.full((gap * fpm, N_MELS), np.log(LOG_FLOOR), np.float32))
                tgts.append(np.zeros((gap, tgt.shape[1]), np.float32))
                frames += gap
        mel = np.concatenate(mels)
        if len(mel) < self.window * fpm + self.lookahead:  # window ended inside a gap: silence follows
            pad = self.window * fpm + self.lookahead - len(mel)
            mel = np.concatenate([mel, np.full((pad, N_MELS), np.log(LOG_FLOOR), np.float32)])
        return mel[: self.window * fpm + self.lookahead], np.concatenate(tgts)[: self.window], style

    def batch(self, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        items = [self.one() for _ in range(size)]
        return (np.stack([m for m, _, _ in items]), np.stack([t for _, t, _ in items]),
                np.array([s for _, _, s in items], np.int64))
