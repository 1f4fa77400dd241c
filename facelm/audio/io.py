"""Audio in: WAV reading, sample formats, stereo downmix, resampling to 16 kHz (offline and streaming).

Everything a user can get wrong is a one-line ``FacelmError`` (unreadable file,
no samples, NaN); things facelm can fix it fixes and says so once (another rate
is resampled with ``scipy.signal.resample_poly``, several channels are averaged).
Notices go to the ``facelm.audio`` logger, which prints them on stderr when the
application has not configured logging.
"""
from __future__ import annotations

import logging
import math
import os
import warnings

import numpy as np

from facelm.audio.features import SAMPLE_RATE
from facelm.errors import FacelmError

log = logging.getLogger("facelm.audio")


class Notices:
    """Says each distinct thing once (per stream or per file)."""

    def __init__(self) -> None:
        self.seen: set[str] = set()

    def say(self, key: str, message: str) -> None:
        if key not in self.seen:
            self.seen.add(key)
            log.warning(message)


def read_wav(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """(samples as stored: (N,) or (N, C), any PCM/float dtype, sample rate) of a WAV file."""
    from scipy.io import wavfile  # lazily, as elsewhere in facelm: scipy slows every CLI start

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FacelmError(f"{path}: no such file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # unknown chunks: scipy warns, the samples are fine
            rate, data = wavfile.read(path, mmap=False)
    except (ValueError, OSError, EOFError, IndexError) as exc:
        raise FacelmError(f"{path}: not a readable WAV file ({str(exc).strip().splitlines()[0][:120]})") from None
    if data.size == 0:
        raise FacelmError(f"{path}: WAV file has no samples")
    if rate <= 0:
        raise FacelmError(f"{path}: WAV header gives sample rate {rate}")
    return data, int(rate)


def to_float_mono(samples, what: str = "audio", notices: Notices | None = None) -> np.ndarray:
    """Any PCM / float samples, (N,) or (N, C), to float32 mono in [-1, 1] (channels averaged)."""
    x = np.asarray(samples)
    if x.dtype.kind not in "iuf":
        raise FacelmError(f"{what}: samples must be numeric, got dtype {x.dtype}")
    if x.ndim not in (1, 2):
        raise FacelmError(f"{what}: samples must have shape (N,) or (N, channels), got {x.shape}")
    if x.size == 0:
        raise FacelmError(f"{what}: no samples")
    y = x.astype(np.float64) if x.dtype.kind == "f" else _scale_int(x)
    if x.dtype.kind == "f" and not np.isfinite(y).all():
        bad = np.flatnonzero(~np.isfinite(y).reshape(len(y), -1).all(axis=1))
        raise FacelmError(f"{what}: {bad.size} sample(s) are NaN or inf, first at sample {bad[0]}")
    if y.ndim == 2:
        if y.shape[1] > 1:
            (notices or Notices()).say("channels", f"{what}: {y.shape[1]} channels, averaged to mono")
        y = y.mean(axis=1)
    return y.astype(np.float32)


def _scale_int(x: np.ndarray) -> np.ndarray:
    """Integer PCM to [-1, 1): int16 / 32768, int32 (also 24-bit in scipy) / 2**31, uint8 centred on 128."""
    if x.dtype == np.uint8:
        return (x.astype(np.float64) - 128.0) / 128.0
    if x.dtype.kind == "i":
        return x.astype(np.float64) / float(2 ** (8 * x.dtype.itemsize - 1))
    raise FacelmError(f"unsupported integer sample type {x.dtype}")


def _ratio(rate: int) -> tuple[int, int]:
    g = math.gcd(SAMPLE_RATE, int(rate))
    return SAMPLE_RATE // g, int(rate) // g


def resample_to_16k(x: np.ndarray, rate: int, what: str = "audio", notices: Notices | None = None) -> np.ndarray:
    """float mono at ``rate`` -> float32 at 16 kHz (``resample_poly``), with a notice when it resamples."""
    rate = int(rate)
    if rate <= 0:
        raise FacelmError(f"{what}: sample rate must be > 0, got {rate}")
    if rate == SAMPLE_RATE:
        return np.asarray(x, np.float32)
    from scipy.signal import resample_poly

    (notices or Notices()).say("rate", f"{what}: {rate} Hz audio, resampled to {SAMPLE_RATE} Hz")
    up, down = _ratio(rate)
    return resample_poly(np.asarray(x, np.float64), up, down).astype(np.float32)


def load_audio(path: str | os.PathLike, notices: Notices | None = None) -> np.ndarray:
    """A WAV file as float32 16 kHz mono, with the file's name in every message."""
    notices = notices or Notices()
    data, rate = read_wav(path)
    x = to_float_mono(data, os.fspath(path), notices)
    return resample_to_16k(x, rate, os.fspath(path), notices)


class StreamingResampler:
    """Push chunks at ``rate``; get 16 kHz samples equal to ``resample_poly`` of the whole signal.

    ``resample_poly`` output m is a finite sum over the inputs near m * down / up,
    so each block run from an input index that is a multiple of ``down`` gives the
    offline values for the outputs whose filter lies inside the block. Outputs
    wait for their last input: about 10 * max(up, down) / up input samples
    (0.6 ms at 48 or 44.1 kHz).
    """

    def __init__(self, rate: int):
        self.rate = int(rate)
        self.up, self.down = _ratio(self.rate)
        max_rate = max(self.up, self.down)
        half_len = 10 * max_rate  # resample_poly's filter: 2 * half_len + 1 taps at the upsampled rate
        n_pre_pad = self.down - half_len % self.down
        self._pre_remove = (half_len + n_pre_pad) // self.down
        self._pre_pad = n_pre_pad
        self._taps = 2 * half_len + 1
        self.reset()

    def reset(self) -> None:
        self._hist = np.zeros(0)
        self._hist_start = 0  # input index of _hist[0], a multiple of down
        self._n_in = 0
        self._m_next = 0

    def _support(self, m: int) -> tuple[int, int]:
        """First and last input index output m reads (non-zero taps)."""
        j = (m + self._pre_remove) * self.down - self._pre_pad  # tap index of input 0 ... minus n * up
        first = math.ceil((j - (self._taps - 1)) / self.up)
        last = math.floor(j / self.up)
        return first, last

    def _block(self, stop_m: int) -> np.ndarray:
        """Outputs [m_next, stop_m) from the history (zeros past the last input, as offline)."""
        from scipy.signal import resample_poly

        y = resample_poly(self._hist, self.up, self.down)
        base = self._hist_start * self.up // self.down
        return y[self._m_next - base: stop_m - base]

    def _trim(self) -> None:
        first, _ = self._support(self._m_next)
        keep_from = max(self._hist_start, (max(first, 0) // self.down) * self.down)
        self._hist = self._hist[keep_from - self._hist_start:]
        self._hist_start = keep_from

    def push(self, x: np.ndarray) -> np.ndarray:
        if self.up == self.down:
            return np.asarray(x, np.float32)
        self._hist = np.concatenate([self._hist, np.asarray(x, np.float64)])
        self._n_in += len(x)
        # Largest m whose last input has arrived.
        stop = self._m_next
        step = max(1, len(x) * self.up // self.down)
        while self._support(stop + step - 1)[1] < self._n_in:
            stop += step
        while self._support(stop)[1] < self._n_in:
            stop += 1
        if stop <= self._m_next:
            return np.zeros(0, np.float32)
        out = self._block(stop)
        self._m_next = stop
        self._trim()
        return out.astype(np.float32)

    def flush(self) -> np.ndarray:
        """The outputs still waiting for inputs past the end (they are zeros, as offline)."""
        if self.up == self.down:
            return np.zeros(0, np.float32)
        total = math.ceil(self._n_in * self.up / self.down)
        if total <= self._m_next or self._hist.size == 0:
            return np.zeros(0, np.float32)
        out = self._block(total)
        self._m_next = total
        return out.astype(np.float32)
