"""Augmenting log-mel windows so a model trained on eSpeak hears real microphones.

Done in the mel *power* domain on whole batches, which costs a few ms instead
of re-running the front end: for a mel band b and frame t, with P = exp(log-mel),

- microphone / room colour: P * EQ_b (a random smooth curve over the bands:
  tilt, ripple, high-pass, sometimes a telephone-like low-pass);
- reverberation: P + r * sum_d a^d P[t - d] (exponential tail, RT60 0.1-0.7 s);
- gain: P * g (-30 .. +10 dB);
- background noise: P + N_b(t), a coloured spectrum at 5-45 dB SNR with a
  slowly wandering level, each value scattered like a periodogram averaged over
  the band's effective number of FFT bins (Gamma with that shape);
- vocal tract length (VTLP): the spectrum stretched along frequency by a
  factor 0.85-1.18 (formants of a shorter / longer tract; eSpeak's formant
  voices are few), by interpolating log-mel between band centres;
- band masking (SpecAugment): a few bands set to the frame's mean.

Adding powers ignores the speech x noise cross term (zero on average); the
approximation is checked against waveform mixing in tests/test_audio.py.
Speed / pitch changes happen on the waveform, in the feature bank
(``training.audio_data``).
"""
from __future__ import annotations

import numpy as np
from scipy.signal import lfilter

from facelm.audio.features import HOP, LOG_FLOOR, SAMPLE_RATE, mel_filterbank

DB = np.log(10.0) / 10.0  # dB -> natural log of power


def band_centres() -> np.ndarray:
    fb = mel_filterbank()
    freqs = np.arange(fb.shape[0]) * SAMPLE_RATE / (2 * (fb.shape[0] - 1))
    return (fb * freqs[:, None]).sum(0) / fb.sum(0)


def band_dof() -> np.ndarray:
    """Effective number of FFT bins a band averages: (sum w)^2 / sum w^2 (Hann overlap ignored)."""
    fb = mel_filterbank()
    return fb.sum(0) ** 2 / (fb ** 2).sum(0)


class Augmenter:
    def __init__(self, seed: int = 0, p_noise: float = 0.85, p_reverb: float = 0.3, p_eq: float = 0.8,
                 p_mask: float = 0.5, p_warp: float = 0.0, p_clean: float = 0.0):
        self.rng = np.random.default_rng(seed)
        self.p_clean = p_clean  # windows left exactly as eSpeak said them
        self.p_noise, self.p_reverb, self.p_eq, self.p_mask = p_noise, p_reverb, p_eq, p_mask
        self.p_warp = p_warp
        self.centres = band_centres()
        self.octave = np.log2(self.centres / 1000.0)  # band position in octaves re 1 kHz
        # Hann-windowed bins are correlated: about half the bins are independent.
        self.dof = np.maximum(0.5 * band_dof(), 1.0)

    def eq_db(self) -> np.ndarray:
        rng, o = self.rng, self.octave
        curve = rng.uniform(-2.5, 2.5) * o  # tilt, dB per octave
        for _ in range(3):  # ripple
            curve += rng.uniform(-3, 3) * np.cos(rng.uniform(0.5, 3.0) * o + rng.uniform(0, 2 * np.pi))
        hp = rng.uniform(60, 350)
        curve -= 12.0 * np.log2(np.maximum(hp / self.centres, 1.0))  # 12 dB / octave below hp
        if rng.random() < 0.2:
            lp = rng.uniform(3000, 6500)
            curve -= 24.0 * np.log2(np.maximum(self.centres / lp, 1.0))
        return curve

    def warp(self, log_mel: np.ndarray, factor: float) -> np.ndarray:
        """Band b takes the value the spectrum had at centre_b / factor (factor > 1: formants move up)."""
        src = np.interp(self.centres / factor, self.centres, np.arange(self.centres.size))
        lo = np.floor(src).astype(int)
        hi = np.minimum(lo + 1, self.centres.size - 1)
        t = src - lo
        return (1 - t) * log_mel[:, lo] + t * log_mel[:, hi]

    def __call__(self, log_mel: np.ndarray) -> np.ndarray:
        """(B, T, bands) log-mel -> augmented copy (float32)."""
        rng = self.rng
        out = np.empty_like(log_mel, dtype=np.float32)
        for b in range(log_mel.shape[0]):
            if rng.random() < self.p_clean:
                out[b] = log_mel[b]
                continue
            lm0 = log_mel[b].astype(np.float64)
            if rng.random() < self.p_warp:
                lm0 = self.warp(lm0, float(np.exp(rng.uniform(np.log(0.85), np.log(1.18)))))
            p = np.exp(lm0)
            p[lm0 <= np.log(LOG_FLOOR) + 1e-3] = 0.0  # the floor was silence, not signal
            if rng.random() < self.p_eq:
                p *= np.exp(DB * self.eq_db())[None]
            if rng.random() < self.p_reverb:
                rt60 = rng.uniform(0.1, 0.7)
                a = 10.0 ** (-6.0 * (HOP / SAMPLE_RATE) / rt60)
                ratio = 10.0 ** (rng.uniform(-12, 0) / 10.0) * (1 - a)  # tail energy / direct
                p = p + ratio * lfilter([0.0, 1.0], [1.0, -a], p, axis=0)
            p *= np.exp(DB * rng.uniform(-30, 10))
            if rng.random() < self.p_noise:
                loud = p.sum(1)
                ref = p[loud >= np.quantile(loud, 0.5)].mean() if loud.max() > 0 else 1e-4
                snr = rng.uniform(5, 45)
                shape = np.exp(DB * (rng.uniform(-6, 1) * self.octave))  # dB / octave colour
                shape /= shape.mean()
                level = ref * 10.0 ** (-snr / 10.0)
                wander = np.cumsum(rng.normal(0, 0.3, p.shape[0]))
                wander = np.exp(DB * 3.0 * np.tanh(wander / 3.0))[:, None]
                scatter = rng.gamma(self.dof, 1.0 / self.dof, size=p.shape)
                p = p + level * shape[None] * wander * scatter
            lm = np.log(np.maximum(p, LOG_FLOOR))
            if rng.random() < self.p_mask:
                width = int(rng.integers(1, 9))
                lo = int(rng.integers(0, lm.shape[1] - width))
                lm[:, lo:lo + width] = lm.mean(1, keepdims=True)
            out[b] = lm
        return out
