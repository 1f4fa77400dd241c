"""Talking clips paired with audio: eSpeak NG speech, its phoneme timing, and the mouth that says it.

``make_talking_clip(sentence, seed, style)`` speaks a sentence with a voice drawn
for the seed and style (calm: slower, lower, narrower pitch, smaller
articulation; excited: faster, higher, wider, bigger), turns eSpeak's phoneme
events into mouth unit tracks (``training.phonemes`` -> ``training.mouth``) and
returns the clip (FLAME expression through ``face_units.UnitBasis``, jaw_pose x
opening the mouth), the audio at 16 kHz mono float32, and the phoneme segments.

Alignment: 25 fps, frame k covers [k * 40 ms, (k + 1) * 40 ms) and shows the
mouth at its middle; audio sample 0 is the start of frame 0; the audio is
padded with silence to exactly num_frames * 640 samples. eSpeak's 22,050 Hz
output is resampled to 16 kHz with ``resample_poly(x, 320, 441)``.

On disk (``save_talking_clip``), beside each other: ``<id>.npz`` (the clip, its
``audio_path`` the wav's file name, relative to the clip's folder), ``<id>.wav``
(16 kHz mono 16-bit PCM) and ``<id>.phonemes.json`` (segments, words, voice).

CLI: ``python -m training.talking --out DIR (--clips N | --hours H) --seed S
[--style calm|excited|mixed] [--face] [--store]`` (``--face``: speak over a
composed face with emotion, head motion, blinks and gaze, ``training.talking_face``;
``--store``: also write a corpus-store manifest + shards). ``training.corpus
--talking-hours H`` calls ``generate_corpus``.
Needs the Debian packages ``libespeak-ng1`` (and ``espeak-ng-data``, which it pulls in).
"""
from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator

import numpy as np
from scipy.io import wavfile
from scipy.signal import resample_poly

from facelm.clip import MotionClip
from facelm.errors import FacelmError
from facelm.face_units import UnitBasis
from training import espeak
from training.mouth import MouthTracks, apply_to_clip, mouth_tracks, overlay  # noqa: F401 (re-exported)
from training.phonemes import Segment, segments
from training.sentences import make_sentence

FPS = 25.0
AUDIO_RATE = 16000
RESAMPLE_UP, RESAMPLE_DOWN = 320, 441  # 22,050 Hz -> 16,000 Hz
STYLE_NAMES = ("calm", "excited")


@dataclass(frozen=True)
class Style:
    """Ranges a voice and an articulation are drawn from (uniform within each)."""

    rate: tuple[int, int]  # words per minute
    pitch: tuple[int, int]  # eSpeak 0..100
    pitch_range: tuple[int, int]  # eSpeak 0..100
    word_gap: tuple[int, int]  # x 10 ms
    gain: tuple[float, float]  # articulation size of the lips (target scale)
    jaw_gain: tuple[float, float]  # ... and of the jaw
    reach_scale: float  # coarticulation reach (relaxed speech > 1)


STYLES: dict[str, Style] = {
    "calm": Style(rate=(130, 165), pitch=(30, 55), pitch_range=(20, 50), word_gap=(0, 3),
                  gain=(0.75, 0.95), jaw_gain=(0.45, 0.65), reach_scale=1.15),
    "excited": Style(rate=(185, 235), pitch=(55, 80), pitch_range=(75, 100), word_gap=(0, 0),
                     gain=(1.1, 1.3), jaw_gain=(0.95, 1.2), reach_scale=0.9),
}
# Speakers: eSpeak English accents x voice variants (formant sets). Breathy and
# klatt variants are left out: they sound less like speech.
ACCENTS = ("en-us", "en", "en-gb-x-rp", "en-gb-scotland", "en-029", "en-us-nyc")
VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5")


def speaker_name(index: int) -> str:
    """eSpeak voice of speaker ``index`` (accent + variant), cycling through all pairs."""
    accent = ACCENTS[index % len(ACCENTS)]
    variant = VARIANTS[(index // len(ACCENTS)) % len(VARIANTS)]
    return f"{accent}+{variant}"


def draw_voice(rng: np.random.Generator, style: str, speaker: int | None = None) -> espeak.Voice:
    """A voice for ``style``; ``speaker`` fixes the accent and variant (else drawn)."""
    if style not in STYLES:
        raise FacelmError(f"unknown speaking style {style!r}; known: {', '.join(STYLES)}")
    s = STYLES[style]
    if speaker is None:
        speaker = int(rng.integers(len(ACCENTS) * len(VARIANTS)))
    pick = lambda lo_hi: int(rng.integers(lo_hi[0], lo_hi[1] + 1))  # noqa: E731
    return espeak.Voice(speaker_name(speaker), rate=pick(s.rate), pitch=pick(s.pitch),
                        pitch_range=pick(s.pitch_range), word_gap=pick(s.word_gap))


def to_16k(samples: np.ndarray, rate: int, num_frames: int, fps: float = FPS) -> np.ndarray:
    """int16 speech at ``rate`` -> float32 16 kHz mono, exactly num_frames / fps long."""
    x = np.asarray(samples, np.float64) / 32768.0
    if rate != 22050:
        g = math.gcd(AUDIO_RATE, int(rate))
        y = resample_poly(x, AUDIO_RATE // g, int(rate) // g)
    else:
        y = resample_poly(x, RESAMPLE_UP, RESAMPLE_DOWN)
    n = int(round(num_frames * AUDIO_RATE / fps))
    y = y[:n] if y.size >= n else np.pad(y, (0, n - y.size))
    return np.clip(y, -1.0, 1.0).astype(np.float32)


@dataclass
class TalkingClip:
    """Everything one spoken sentence gives: motion, 16 kHz audio, timing, and how it was made."""

    clip: MotionClip
    audio: np.ndarray  # (num_frames * 640,) float32, 16 kHz
    segments: list[Segment]
    mouth: MouthTracks
    utterance: espeak.Utterance
    style: str
    gain: float
    jaw_gain: float

    def phoneme_json(self) -> dict:
        u = self.utterance
        return {
            "text": u.text, "style": self.style, "voice": u.voice.as_dict(), "gain": round(self.gain, 4),
            "jaw_gain": round(self.jaw_gain, 4),
            "fps": self.clip.fps, "num_frames": self.clip.num_frames, "audio_rate": AUDIO_RATE,
            "source_audio_rate": u.sample_rate, "time_origin": "audio sample 0 = start of frame 0",
            "phonemes": [s.as_dict() for s in self.segments],
            "words": [{"word": w.word, "start": round(w.time, 5)} for w in u.words],
        }


def talk(sentence: str, seed: int, style: str = "calm", speaker: int | None = None,
         basis: UnitBasis | None = None, fps: float = FPS) -> TalkingClip:
    """Speak ``sentence`` and build its mouth motion; same (sentence, seed, style, speaker) -> same result."""
    if style not in STYLES:
        raise FacelmError(f"unknown speaking style {style!r}; known: {', '.join(STYLES)}")
    rng = np.random.default_rng([int(seed), 0x7A1C])
    voice = draw_voice(rng, style, speaker)
    gain = float(rng.uniform(*STYLES[style].gain))
    jaw_gain = float(rng.uniform(*STYLES[style].jaw_gain))
    utt = espeak.synthesize(sentence, voice)
    num_frames = max(1, int(math.ceil(utt.duration * fps - 1e-9)))
    segs = segments(utt.phonemes, utt.duration, utt.samples, utt.sample_rate)
    mouth = mouth_tracks(segs, num_frames, fps, gain=gain, reach_scale=STYLES[style].reach_scale,
                         jaw_gain=jaw_gain)
    text = {"transcript": sentence, "speaking": style, "voice": voice.name}
    clip = mouth.to_clip(basis, text=text)
    audio = to_16k(utt.samples, utt.sample_rate, num_frames, fps)
    return TalkingClip(clip, audio, segs, mouth, utt, style, gain, jaw_gain)


def make_talking_clip(sentence: str, seed: int, style: str = "calm", speaker: int | None = None,
                      basis: UnitBasis | None = None) -> tuple[MotionClip, np.ndarray, list[Segment]]:
    """(clip of the speaking mouth at 25 fps, 16 kHz float32 audio, phoneme segments)."""
    t = talk(sentence, seed, style, speaker, basis)
    return t.clip, t.audio, t.segments


def save_talking_clip(folder: str | os.PathLike, clip_id: str, talking: TalkingClip,
                      clip: MotionClip | None = None) -> dict:
    """Write <id>.npz, <id>.wav, <id>.phonemes.json into ``folder``; returns their names."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    wav_name, json_name = f"{clip_id}.wav", f"{clip_id}.phonemes.json"
    pcm = np.clip(np.round(talking.audio * 32767.0), -32768, 32767).astype(np.int16)
    wavfile.write(folder / wav_name, AUDIO_RATE, pcm)
    (folder / json_name).write_text(json.dumps(talking.phoneme_json(), ensure_ascii=False) + "\n")
    clip = replace(clip if clip is not None else talking.clip, audio_path=wav_name)
    clip.save(folder / f"{clip_id}.npz")
    return {"npz": f"{clip_id}.npz", "wav": wav_name, "phonemes": json_name}


# -- batch generation ------------------------------------------------------------------

def _plan(seed: int, style: str) -> Iterator[tuple[str, str, int, int]]:
    """Endless (clip_id, style, clip seed, speaker); any prefix is the same for the same arguments."""
    if style not in ("mixed",) + STYLE_NAMES:
        raise FacelmError(f"unknown style {style!r}; known: calm, excited, mixed")
    rng = np.random.default_rng([int(seed), 0x7A1D])
    for i in itertools.count():
        st = style if style != "mixed" else STYLE_NAMES[int(rng.integers(2))]
        yield (f"talk_{seed}_{i:05d}", st, int(rng.integers(0, 2**31 - 1)),
               int(rng.integers(len(ACCENTS) * len(VARIANTS))))


def clip_plan(n: int, seed: int, style: str = "mixed") -> list[tuple[str, str, int, int]]:
    """(clip_id, style, clip seed, speaker) of the first ``n`` clips."""
    return list(itertools.islice(_plan(seed, style), n))


def generate(out: str | os.PathLike, clips: int | None = None, seed: int = 0, style: str = "mixed",
             face: bool = False, store: bool = False, progress: bool = True,
             hours: float | None = None) -> dict:
    """Write talking clips (+ wavs + phoneme JSON) into ``out``/clips and an index.jsonl.

    ``clips``: how many; or ``hours``: clips until their total length reaches it.
    ``face``: over a composed face; ``store`` (implies ``face``): also a corpus-store
    folder (manifest.json + shards/) in ``out`` that ``CorpusReader`` reads.
    """
    if (clips is None) == (hours is None):
        raise FacelmError("give either a number of clips or hours")
    if clips is not None and clips < 1:
        raise FacelmError(f"--clips must be >= 1, got {clips}")
    if hours is not None and not hours > 0:
        raise FacelmError(f"hours must be > 0, got {hours}")
    face = face or store  # the store's readers need a behaviour spec per clip
    out = Path(out)
    folder = out / "clips"
    folder.mkdir(parents=True, exist_ok=True)
    writer = None
    if store:
        from training.talking_face import StoreWriter
        writer = StoreWriter(out, seed)
    start = time.perf_counter()
    speech_s = total_s = 0.0
    count = 0
    with open(out / "index.jsonl", "w") as index:
        for clip_id, st, clip_seed, speaker in _plan(seed, style):
            if (clips is not None and count >= clips) or (hours is not None and total_s >= hours * 3600):
                break
            sentence = make_sentence(np.random.default_rng([clip_seed, 0x5E]), st)
            talking = talk(sentence, clip_seed, st, speaker)
            clip, spec = talking.clip, None
            if face:
                from training.talking_face import speak_over_face
                clip, spec = speak_over_face(talking, clip_seed, speaker, clip_id)
            names = save_talking_clip(folder, clip_id, talking, clip)
            rec = {"clip_id": clip_id, **{k: f"clips/{v}" for k, v in names.items()}, "text": sentence,
                   "style": st, "speaker": speaker, "voice": talking.utterance.voice.as_dict(),
                   "seconds": round(clip.duration, 3), "frames": clip.num_frames}
            index.write(json.dumps(rec, ensure_ascii=False) + "\n")
            if writer is not None:
                writer.add(rec, clip, spec, count, speaker)
            speech_s += talking.utterance.duration
            total_s += clip.duration
            count += 1
            if progress and count % 100 == 0:
                print(f"talking: {count} clips, {total_s / 60:.1f} min", file=sys.stderr)
    if writer is not None:
        writer.close()
    elapsed = time.perf_counter() - start
    return {"clips": count, "seconds": round(total_s, 2), "speech_seconds": round(speech_s, 2),
            "elapsed_s": round(elapsed, 2),
            "speech_seconds_per_second": round(speech_s / max(elapsed, 1e-9), 2)}


def generate_corpus(hours: float, seed: int, out: str | os.PathLike) -> dict:
    """The audio-paired corpus subset (``training.corpus --talking-hours``): talking over composed faces."""
    return generate(out, seed=seed, style="mixed", store=True, hours=hours)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.talking", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="output folder (clips/, index.jsonl)")
    p.add_argument("--clips", type=int, default=None, help="number of clips (default 10 unless --hours)")
    p.add_argument("--hours", type=float, default=None, help="instead of --clips: hours of clips")
    p.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    p.add_argument("--style", default="mixed", choices=("calm", "excited", "mixed"))
    p.add_argument("--face", action="store_true", help="speak over a composed face (emotion, head, blinks)")
    p.add_argument("--store", action="store_true",
                   help="also write a corpus-store manifest + shard (implies --face)")
    args = p.parse_args(argv)
    try:
        clips = args.clips if args.clips is not None or args.hours is not None else 10
        summary = generate(args.out, clips, args.seed, args.style, args.face, args.store, hours=args.hours)
    except FacelmError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
