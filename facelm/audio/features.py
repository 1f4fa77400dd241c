"""Log-mel features of 16 kHz mono speech, offline and streaming, numpy only.

Framing is causal and tied to the 25 fps motion clock: feature frame i is the
25 ms (400-sample) Hann window that *ends* at sample (i + 1) * 160, with zeros
before sample 0. So a frame is ready as soon as its last sample has arrived,
the hop is 10 ms, and motion frame k (audio [40 k, 40 k + 40) ms) owns feature
frames 4 k .. 4 k + 3, whose windows span [40 k - 15, 40 k + 40) ms.

``log_mel(x)`` and ``FeatureStream().push(...)`` compute every frame with the
same per-frame code path (``_frames_to_log_mel``), so a stream fed in chunks of
any size gives exactly the offline features.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from facelm.errors import FacelmError

SAMPLE_RATE = 16000
HOP = 160  # 10 ms
WINDOW = 400  # 25 ms
N_FFT = 512
N_MELS = 80
F_MIN, F_MAX = 20.0, 7600.0
LOG_FLOOR = 1e-6  # power floor: digital silence maps to log(1e-6), not -inf
FRAMES_PER_MOTION_FRAME = 4  # 4 x 10 ms = one 25 fps frame
SAMPLES_PER_MOTION_FRAME = HOP * FRAMES_PER_MOTION_FRAME  # 640


@dataclass(frozen=True)
class FeatureSpec:
    """What a model was trained on; the manifest repeats it so a runtime can check."""

    sample_rate: int = SAMPLE_RATE
    hop: int = HOP
    window: int = WINDOW
    n_fft: int = N_FFT
    n_mels: int = N_MELS
    f_min: float = F_MIN
    f_max: float = F_MAX
    log_floor: float = LOG_FLOOR

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def _hz_to_mel(f):
    return 2595.0 * np.log10(1.0 + np.asarray(f, np.float64) / 700.0)


def _mel_to_hz(m):
    return 700.0 * (10.0 ** (np.asarray(m, np.float64) / 2595.0) - 1.0)


@lru_cache(maxsize=4)
def mel_filterbank(n_mels: int = N_MELS, n_fft: int = N_FFT, rate: int = SAMPLE_RATE,
                   f_min: float = F_MIN, f_max: float = F_MAX) -> np.ndarray:
    """(n_fft // 2 + 1, n_mels) triangular filters, equally spaced on the HTK mel scale, unit area."""
    freqs = np.arange(n_fft // 2 + 1) * rate / n_fft
    edges = _mel_to_hz(np.linspace(_hz_to_mel(f_min), _hz_to_mel(f_max), n_mels + 2))
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (freqs[None] - lo) / (mid - lo)
    falling = (hi - freqs[None]) / (hi - mid)
    tri = np.clip(np.minimum(rising, falling), 0.0, None)  # (n_mels, F)
    tri *= 2.0 / (hi - lo)  # equal area: a flat spectrum gives equal energy in every band
    fb = np.ascontiguousarray(tri.T)
    fb.setflags(write=False)
    return fb


@lru_cache(maxsize=4)
def _window(length: int = WINDOW) -> np.ndarray:
    w = np.hanning(length + 1)[:-1]  # periodic Hann
    w.setflags(write=False)
    return w


def _frames_to_log_mel(frames: np.ndarray) -> np.ndarray:
    """(n, WINDOW) float64 samples -> (n, N_MELS) float32 log-mel power.

    Rows are transformed one by one so that a frame's value never depends on
    which other frames share the call (batched FFT / BLAS kernels may sum in a
    different order for different batch sizes): this is what makes a stream
    equal to the offline computation, bit for bit.
    """
    fb = mel_filterbank()
    win = _window()
    out = np.empty((frames.shape[0], N_MELS), np.float32)
    for i, row in enumerate(frames):
        spec = np.fft.rfft(row * win, N_FFT)
        power = spec.real ** 2 + spec.imag ** 2
        out[i] = np.log(np.maximum(power @ fb, LOG_FLOOR))
    return out


def _check_mono(samples: np.ndarray, what: str) -> np.ndarray:
    x = np.asarray(samples)
    if x.ndim != 1:
        raise FacelmError(f"{what}: log-mel features need mono samples (1-D), got shape {x.shape}")
    if x.dtype.kind != "f":
        raise FacelmError(f"{what}: log-mel features need float samples in [-1, 1], got {x.dtype}")
    x = x.astype(np.float64, copy=False)
    if not np.isfinite(x).all():
        raise FacelmError(f"{what}: samples contain NaN or inf")
    return x


def num_frames(num_samples: int) -> int:
    """Feature frames that ``num_samples`` samples complete."""
    return int(num_samples) // HOP


def log_mel(samples: np.ndarray) -> np.ndarray:
    """(N,) float 16 kHz mono in [-1, 1] -> (N // 160, 80) float32 log-mel (causal frames)."""
    x = _check_mono(samples, "audio")
    n = num_frames(x.size)
    padded = np.concatenate([np.zeros(WINDOW - HOP), x[: n * HOP]])
    frames = np.lib.stride_tricks.sliding_window_view(padded, WINDOW)[::HOP][:n]
    return _frames_to_log_mel(frames)


class FeatureStream:
    """Push 16 kHz mono float samples in chunks of any size; get the log-mel frames they complete."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._buffer = np.zeros(WINDOW - HOP)  # the causal zero history
        self.frames_out = 0

    @property
    def samples_in(self) -> int:
        return self.frames_out * HOP + self._buffer.size - (WINDOW - HOP)

    def push(self, samples: np.ndarray) -> np.ndarray:
        """Append samples; returns (n, 80) float32 feature frames completed by them (n may be 0)."""
        x = _check_mono(samples, "audio chunk")
        buf = np.concatenate([self._buffer, x])
        n = (buf.size - (WINDOW - HOP)) // HOP
        if n <= 0:
            self._buffer = buf
            return np.zeros((0, N_MELS), np.float32)
        frames = np.lib.stride_tricks.sliding_window_view(buf, WINDOW)[::HOP][:n]
        out = _frames_to_log_mel(frames)
        self._buffer = buf[n * HOP:]
        self.frames_out += n
        return out
