"""Speech in, a talking mouth out at 25 fps, on onnxruntime: streaming and offline.

    a2m = AudioToMotion()                      # the shipped model (or AudioToMotion("DIR"))
    stream = a2m.stream(style="calm")
    rows = stream.push(chunk, sample_rate)     # (n, D) frames completed by this chunk
    rows = stream.flush()                      # the last frames (end of speech)
    clip = a2m.speak("speech.wav")             # offline: a MotionClip

Timing contract: frame k shows the mouth at the middle of audio [40 k, 40 k + 40)
ms and is returned by the push that completes the audio up to 40 (k + 1) + the
model's lookahead (manifest ``audio.lookahead_ms``) ms. ``speak`` runs the same
stream over the whole file in one push, so offline and streaming agree.

Rows are in ``MotionClip.to_array(include_global=True)`` layout (expression |
global | neck | jaw | eyes); the model moves the expression and the jaw, the
rest stays neutral.
"""
from __future__ import annotations

import os
from dataclasses import replace

import numpy as np

from facelm.audio.features import (FRAMES_PER_MOTION_FRAME, HOP, N_MELS, SAMPLE_RATE, SAMPLES_PER_MOTION_FRAME,
                                   FeatureSpec, FeatureStream)
from facelm.audio.io import Notices, StreamingResampler, load_audio, to_float_mono
from facelm.audio.style import Style, parse_style
from facelm.clip import MotionClip
from facelm.errors import FacelmError
from facelm.model_dir import ModelDir

SECTION = "audio"


class AudioToMotion:
    """The manifest's ``audio`` model: one streaming ONNX graph plus its contract."""

    def __init__(self, model: ModelDir | str | os.PathLike | None = None):
        self.model = model if isinstance(model, ModelDir) else ModelDir(model)
        spec = self.model.section(SECTION)
        self.spec = spec
        if FeatureSpec(**spec["features"]) != FeatureSpec():
            raise FacelmError(f"{self.model.path}: the audio model was trained on other features than "
                              "this runtime computes")
        self.fps = float(spec["fps"])
        self.frames_per_step = int(spec["frames_per_step"])
        if self.frames_per_step != FRAMES_PER_MOTION_FRAME:
            raise FacelmError(f"{self.model.path}: audio model steps {self.frames_per_step} feature frames, want 4")
        self.lookahead = int(spec["lookahead_frames"])
        self.num_expression = int(spec["num_expression"])
        self.styles = list(spec["styles"])
        self.state_size = int(spec["stream_step"]["state_size"])
        self._session = self.model.session(spec["stream_step"])

    @property
    def lookahead_ms(self) -> float:
        return 10.0 * self.lookahead

    @property
    def width(self) -> int:
        return self.num_expression + 15

    def stream(self, style: str | Style | None = None) -> "MotionStream":
        return MotionStream(self, style if isinstance(style, Style) else parse_style(style))

    def run_steps(self, mel: np.ndarray, style_id: int, state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(4 t, n_mels) shifted log-mel -> ((t, E + 3) raw mouth, next state)."""
        motion, state = self._session.run(None, {"mel": mel[None].astype(np.float32, copy=False),
                                                 "style": np.array([style_id], np.int64), "state": state})
        return motion[0], state

    def to_clip(self, rows: np.ndarray, **fields) -> MotionClip:
        """Stream rows -> MotionClip (``fields``: text, audio_path, ...)."""
        if len(rows) == 0:
            raise FacelmError("no frames: no audio was given")
        clip = MotionClip.from_array(rows, self.num_expression, include_global=True, fps=self.fps)
        return replace(clip, **fields)

    def speak(self, audio, sample_rate: int | None = None, style: str | Style | None = None) -> MotionClip:
        """A WAV path, or samples at ``sample_rate`` -> the talking mouth as a clip (ceil(duration / 40 ms) frames)."""
        stream = self.stream(style)
        if isinstance(audio, (str, os.PathLike)):
            x = load_audio(audio, stream.notices)
            rows = np.concatenate([stream.push(x, SAMPLE_RATE), stream.flush()])
            source = {"audio_path": os.fspath(audio)}
        else:
            if sample_rate is None:
                raise FacelmError("speak: give the sample rate of raw samples")
            rows = np.concatenate([stream.push(audio, sample_rate), stream.flush()])
            source = {}
        return self.to_clip(rows, text={"speaking_style": stream.style.as_dict(), "source": "facelm speak"},
                            **source)


class MotionStream:
    """One live audio stream: push chunks at any rate / size, get the frames they complete."""

    def __init__(self, engine: AudioToMotion, style: Style):
        self.engine = engine
        self.style = style
        self.style_id = style.style_id(engine.styles)
        self._offset = style.expression_offset(engine.num_expression)
        self.notices = Notices()
        self.reset()

    def reset(self) -> None:
        """Start a new utterance stream (zero state, nothing buffered)."""
        self._features = FeatureStream()
        self._resampler: StreamingResampler | None = None
        self._rate: int | None = None
        self._skip = self.engine.lookahead  # the shift: the first lookahead frames are never read
        self._pending = np.zeros((0, N_MELS), np.float32)
        self._state = np.zeros((1, self.engine.state_size), np.float32)
        self.samples_in = 0  # at 16 kHz
        self.frames_out = 0

    def push(self, samples, sample_rate: int = SAMPLE_RATE, channels: int = 1) -> np.ndarray:
        """Samples at ``sample_rate`` -> (n, D) frames they complete (n may be 0).

        ``samples``: int or float, (n,) mono, (n, channels), or flat and interleaved
        with ``channels`` > 1 (as ``facelm_msgs/AudioChunk`` carries them).
        """
        samples = np.asarray(samples)
        if channels > 1 and samples.ndim == 1:
            if samples.size % channels:
                raise FacelmError(f"audio chunk: {samples.size} samples is not a multiple of {channels} channels")
            samples = samples.reshape(-1, channels)
        x = to_float_mono(samples, "audio chunk", self.notices) if samples.size else np.zeros(0, np.float32)
        rate = int(sample_rate)
        if rate <= 0:
            raise FacelmError(f"audio chunk: sample rate must be > 0, got {rate}")
        if self._rate is None:
            self._rate = rate
            if rate != SAMPLE_RATE:
                self.notices.say("rate", f"audio stream: {rate} Hz audio, resampled to {SAMPLE_RATE} Hz")
                self._resampler = StreamingResampler(rate)
        elif rate != self._rate:
            raise FacelmError(f"audio chunk: sample rate changed from {self._rate} to {rate} Hz within a stream "
                              "(reset() or start a new stream)")
        if self._resampler is not None:
            x = self._resampler.push(x)
        return self._feed(x)

    def _feed(self, x16: np.ndarray) -> np.ndarray:
        self.samples_in += x16.size
        feats = self._features.push(x16)
        if self._skip:
            drop = min(self._skip, len(feats))
            feats, self._skip = feats[drop:], self._skip - drop
        self._pending = np.concatenate([self._pending, feats]) if len(self._pending) else feats
        steps = len(self._pending) // FRAMES_PER_MOTION_FRAME
        if steps == 0:
            return np.zeros((0, self.engine.width), np.float32)
        mel = self._pending[: steps * FRAMES_PER_MOTION_FRAME]
        self._pending = self._pending[steps * FRAMES_PER_MOTION_FRAME:]
        mouth, self._state = self.engine.run_steps(mel, self.style_id, self._state)
        self.frames_out += steps
        return self._rows(mouth)

    def _rows(self, mouth: np.ndarray) -> np.ndarray:
        e = self.engine.num_expression
        rows = np.zeros((len(mouth), self.engine.width), np.float32)
        rows[:, :e] = mouth[:, :e] + self._offset
        rows[:, e + 6:e + 9] = mouth[:, e:e + 3]  # jaw after global and neck
        return rows

    def flush(self) -> np.ndarray:
        """End of speech: the frames still owed, the lookahead read as silence.

        After it the stream has returned ceil(samples / 640) frames in all.
        """
        rows = []
        if self._resampler is not None:
            tail = self._resampler.flush()
            if tail.size:
                rows.append(self._feed(tail))
        total = -(-self.samples_in // SAMPLES_PER_MOTION_FRAME)
        need = total * SAMPLES_PER_MOTION_FRAME + self.engine.lookahead * HOP - self.samples_in
        if total > self.frames_out and need > 0:
            rows.append(self._feed(np.zeros(need, np.float32)))
        return np.concatenate(rows) if rows else np.zeros((0, self.engine.width), np.float32)
