"""Evaluate the audio-to-mouth model as shipped (onnxruntime): synthetic test split, real BEAT2, latency.

    python -m training.eval_audio --model artifacts/ --json runs/audio/eval.json
    python -m training.eval_audio --checkpoint runs/audio/audio.pt ...   # exported to a temp dir first

Synthetic (talking stores, ``--split test``: held-out speakers and clips):
- ``jaw_corr``: Pearson r of predicted and true jaw opening (jaw_pose x), all
  frames pooled, and the mean of per-clip r;
- ``unit_corr``: r per mouth unit (lips part, press, rounding, ...), both sides
  read back from FLAME through the unit basis;
- ``bilabial``: share of p/b/m whose lips are closed (opening = AU25 + AU26
  below ``CLOSED``) in some frame within +-1 frame of the closure interval the
  phoneme timing gives, next to the same share for the ground truth and the
  false-closure share at open-vowel centres.

Real (BEAT2 ``2_scott_0_1_1``: 16 kHz speech, SMPL-X jaw at 30 fps -> 25 fps,
TextGrid phones):
- r of predicted and recorded jaw opening at lag 0 and at the best lag within
  +-400 ms (positive lag: the prediction is late);
- timing against the phones: the lag at which each jaw best matches a
  vowel-on indicator, for the prediction and for the recording;
- bilabials: predicted lips-closed share at P/B/M (vs at vowels); the jaw at
  P/B/M relative to the jaw at vowels for both prediction and recording.

Latency (``--latency``): BEAT2 (or any wav) streamed in ``--chunk-ms`` chunks;
per frame, the time from the audio at its centre arriving to the frame leaving
``push``, with chunks arriving in real time; and compute per push and frame.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from facelm.audio import AudioToMotion
from facelm.audio.features import SAMPLE_RATE
from facelm.audio.io import load_audio
from facelm.face_units import UNIT_INDEX, UnitBasis
from facelm.importers import import_clip

MOUTH_UNITS = ("AU10", "AU17", "AU20", "AU23", "AU24", "AU25", "AU26")
CLOSED = 0.2  # opening (AU25 + AU26 intensity) below this: lips closed
OPEN_VISEMES = frozenset({"open", "open_spread", "open_mid", "open_rounded"})
BILABIALS = frozenset({"p", "b", "m", "m-"})
ARPA_BILABIALS = frozenset({"P", "B", "M"})
ARPA_VOWELS = frozenset({"AA", "AE", "AH", "AO", "AW", "AY", "EH", "ER", "EY", "IH", "IY", "OW", "OY", "UH", "UW"})
MAX_LAG = 10  # frames (400 ms)


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.std() < 1e-12 or b.std() < 1e-12:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def lagged(a: np.ndarray, b: np.ndarray, max_lag: int = MAX_LAG) -> tuple[int, float]:
    """(lag, r) maximising r(a[t], b[t - lag]): positive lag = a comes later than b."""
    best = (0, -2.0)
    for lag in range(-max_lag, max_lag + 1):
        x, y = (a[lag:], b[:len(b) - lag]) if lag >= 0 else (a[:lag], b[-lag:])
        n = min(len(x), len(y))
        r = pearson(x[:n], y[:n])
        if r > best[1]:
            best = (lag, r)
    return best


def block_bootstrap_ci(a: np.ndarray, b: np.ndarray, block: int = 50, draws: int = 2000,
                       seed: int = 0) -> list[float]:
    """90% interval of r(a, b) resampling 2 s blocks (frames within a block are not independent)."""
    rng = np.random.default_rng(seed)
    nb = len(a) // block
    rs = []
    for _ in range(draws):
        idx = (rng.integers(0, nb, nb)[:, None] * block + np.arange(block)).ravel()
        rs.append(pearson(a[idx], b[idx]))
    return np.percentile(rs, [5, 95]).round(3).tolist()


def units_of(expression: np.ndarray, jaw: np.ndarray, basis: UnitBasis) -> np.ndarray:
    return basis.from_expression(expression, jaw)


def opening(units: np.ndarray) -> np.ndarray:
    return units[:, UNIT_INDEX["AU25"]] + units[:, UNIT_INDEX["AU26"]]


def near(frames_lo: float, frames_hi: float, n: int, fps: float = 25.0, pad: int = 1) -> np.ndarray:
    """Frames whose centre lies in [lo, hi] seconds, widened by ``pad`` frames (at least the nearest frame)."""
    centres = (np.arange(n) + 0.5) / fps
    idx = np.flatnonzero((centres >= frames_lo) & (centres <= frames_hi))
    if idx.size == 0:
        idx = np.array([int(np.clip(round((frames_lo + frames_hi) / 2 * fps - 0.5), 0, n - 1))])
    return np.arange(max(0, idx[0] - pad), min(n, idx[-1] + pad + 1))


# -- synthetic --------------------------------------------------------------------------

def evaluate_synthetic(engine: AudioToMotion, stores: list[Path], split: str, style: str | None,
                       max_clips: int | None) -> dict:
    from training.audio_data import load_split

    basis = UnitBasis(num_expression=engine.num_expression)
    e = engine.num_expression
    clips = load_split(stores, split, max_clips)
    pj, tj, sj, per_clip, pu, tu = [], [], [], [], [], []
    bil_pred, bil_true, vowel_pred = [], [], []
    for c in clips:
        clip = engine.speak(c.audio, SAMPLE_RATE, style=c.style if style == "truth" else style)
        n = min(clip.num_frames, c.num_frames)
        p_jaw, t_jaw = clip.jaw_pose[:n, 0], c.target[:n, e]
        pj.append(p_jaw), tj.append(t_jaw), sj.append(c.store_jaw[:n])
        if t_jaw.std() > 1e-6:
            per_clip.append(pearson(p_jaw, t_jaw))
        p_units = units_of(clip.expression[:n], clip.jaw_pose[:n], basis)
        t_units = units_of(c.target[:n, :e], c.target[:n, e:], basis)
        pu.append(p_units), tu.append(t_units)
        po, to = opening(p_units), opening(t_units)
        for seg in c.segments:
            if seg["phoneme"] in BILABIALS:
                lo, hi = seg.get("closure") or (seg["start"], seg["end"])
                idx = near(lo, hi, n)
                bil_pred.append(po[idx].min() < CLOSED)
                bil_true.append(to[idx].min() < CLOSED)
            elif seg["visemes"][0] in OPEN_VISEMES:
                mid = (seg["start"] + seg["end"]) / 2
                k = int(np.clip(round(mid * 25 - 0.5), 0, n - 1))
                vowel_pred.append(po[k] < CLOSED)
    pj, tj, sj = map(np.concatenate, (pj, tj, sj))
    pu, tu = np.concatenate(pu), np.concatenate(tu)
    return {
        "clips": len(clips), "frames": int(len(pj)), "split": split, "style": style or "none",
        "jaw_corr": pearson(pj, tj), "jaw_corr_mean_per_clip": float(np.nanmean(per_clip)),
        "jaw_corr_vs_full_face_jaw": pearson(pj, sj),
        "jaw_rmse_deg": float(np.degrees(np.sqrt(np.mean((pj - tj) ** 2)))),
        "unit_corr": {u: pearson(pu[:, UNIT_INDEX[u]], tu[:, UNIT_INDEX[u]]) for u in MOUTH_UNITS},
        "bilabial": {"count": len(bil_pred), "closed_pred": float(np.mean(bil_pred)),
                     "closed_truth": float(np.mean(bil_true)),
                     "false_closed_at_open_vowels": float(np.mean(vowel_pred)), "threshold": CLOSED},
    }


# -- BEAT2 ------------------------------------------------------------------------------------

def read_textgrid_tier(path: Path, tier: str) -> list[tuple[float, float, str]]:
    """Intervals (xmin, xmax, text) of one IntervalTier of a Praat long-format TextGrid."""
    text = path.read_text(encoding="utf-8", errors="replace")
    parts = re.split(r'name = "', text)
    for part in parts[1:]:
        if part.startswith(tier + '"'):
            return [(float(a), float(b), t) for a, b, t in
                    re.findall(r'xmin = ([\d.]+)\s*\n\s*xmax = ([\d.]+)\s*\n\s*text = "([^"]*)"', part)]
    raise ValueError(f"{path}: no tier {tier!r}")


def evaluate_beat2(engine: AudioToMotion, stem: Path, style: str | None) -> dict:
    wav, npz, grid = stem.with_suffix(".wav"), stem.with_suffix(".npz"), stem.with_suffix(".TextGrid")
    pred = engine.speak(wav, style=style)
    rec = import_clip(npz).clip.resample(25.0)
    n = min(pred.num_frames, rec.num_frames)
    pj, rj = pred.jaw_pose[:n, 0].astype(np.float64), rec.jaw_pose[:n, 0].astype(np.float64)
    phones = read_textgrid_tier(grid, "phones")
    base = lambda p: re.sub(r"\d", "", p.upper())  # noqa: E731  (AH0 -> AH)
    vowel = np.zeros(n)
    for lo, hi, p in phones:
        if base(p) in ARPA_VOWELS:
            vowel[near(lo, hi, n, pad=0)] = 1.0
    lag_pr, r_pr = lagged(pj, rj)
    lag_pv, r_pv = lagged(pj, vowel)
    lag_rv, r_rv = lagged(rj, vowel)
    basis = UnitBasis(num_expression=engine.num_expression)
    po = opening(units_of(pred.expression[:n], pred.jaw_pose[:n], basis))
    bil = [near(lo, hi, n) for lo, hi, p in phones if base(p) in ARPA_BILABIALS]
    vow = [near(lo, hi, n, pad=0) for lo, hi, p in phones if base(p) in ARPA_VOWELS]
    speaking = np.zeros(n, bool)
    for lo, hi, p in phones:
        if p.strip():
            speaking[near(lo, hi, n, pad=0)] = True
    def jaw_ratio(j):  # mean (min over +-1 frame) jaw at bilabials / mean jaw at vowels
        return float(np.mean([j[i].min() for i in bil]) / np.mean([j[i].mean() for i in vow]))
    return {
        "frames": n, "seconds": round(n / 25.0, 2), "phones": len(phones), "bilabial_phones": len(bil),
        "jaw_corr": pearson(pj, rj), "jaw_corr_ci90": block_bootstrap_ci(pj, rj),
        "jaw_corr_speaking_frames": pearson(pj[speaking], rj[speaking]),
        "jaw_best_lag_frames": lag_pr, "jaw_best_lag_ms": 40 * lag_pr, "jaw_corr_at_best_lag": r_pr,
        "vowel_lag_pred_ms": 40 * lag_pv, "vowel_corr_pred": r_pv,
        "vowel_lag_recording_ms": 40 * lag_rv, "vowel_corr_recording": r_rv,
        "pred_lips_closed_at_bilabials": float(np.mean([po[i].min() < CLOSED for i in bil])),
        "pred_lips_closed_at_vowels": float(np.mean([po[i].min() < CLOSED for i in vow])),
        "jaw_bilabial_over_vowel_pred": jaw_ratio(pj), "jaw_bilabial_over_vowel_recording": jaw_ratio(rj),
        "jaw_range_deg": {"pred_p5_p95": np.degrees(np.percentile(pj, [5, 95])).round(2).tolist(),
                          "recording_p5_p95": np.degrees(np.percentile(rj, [5, 95])).round(2).tolist()},
    }


# -- latency ------------------------------------------------------------------------------------

def measure_latency(engine: AudioToMotion, wav: Path, chunk_ms: float, repeats: int = 1) -> dict:
    """Chunks arrive in real time (chunk j at (j + 1) * chunk_ms); a frame's latency counts from the
    moment the audio at its centre was captured to the moment push returned it."""
    x = load_audio(wav)
    chunk = int(round(chunk_ms * SAMPLE_RATE / 1000))
    latencies, push_ms, frame_ms = [], [], []
    for _ in range(repeats):
        stream = engine.stream()
        k = 0
        for j, at in enumerate(range(0, len(x), chunk)):
            t0 = time.perf_counter()
            rows = stream.push(x[at:at + chunk])
            dt = (time.perf_counter() - t0) * 1000
            push_ms.append(dt)
            if len(rows):
                frame_ms.append(dt / len(rows))
            arrival = (at + min(chunk, len(x) - at)) / SAMPLE_RATE * 1000
            for _ in range(len(rows)):
                latencies.append(arrival + dt - (k + 0.5) * 40.0)
                k += 1
    lat = np.array(latencies)
    return {
        "chunk_ms": chunk_ms, "frames": int(len(lat)),
        "latency_ms": {"p50": float(np.percentile(lat, 50)), "p95": float(np.percentile(lat, 95)),
                       "max": float(lat.max())},
        "algorithmic_ms": {"half_frame": 20.0, "lookahead": engine.lookahead_ms,
                           "chunk_wait_max": chunk_ms},
        "compute_ms_per_push": {"p50": float(np.percentile(push_ms, 50)), "p99": float(np.percentile(push_ms, 99))},
        "compute_ms_per_frame": {"p50": float(np.percentile(frame_ms, 50)), "p99": float(np.percentile(frame_ms, 99)),
                                 "max": float(np.max(frame_ms))},
        "targets": {"total_ms": 100.0, "compute_ms_per_frame": 10.0},
    }


# -- the motion-token route, for the design choice -----------------------------------------------

def token_route(tokenizer_ckpt: Path, stores: list[Path], split: str, max_clips: int | None) -> dict:
    """How well the motion tokenizer keeps the talking jaw, and the delay its 4-frame tokens add."""
    import torch

    from models.motion_tokenizer import MotionTokenizer
    from training.dataset import CorpusDataset

    tok = MotionTokenizer.from_checkpoint(tokenizer_ckpt).eval()
    cfg = tok.cfg
    fpt = cfg.frames_per_token
    truth, recon = [], []
    for root in stores:
        ds = CorpusDataset(root, split=split, include_global=cfg.include_global)
        for i in range(len(ds) if max_clips is None else min(len(ds), max_clips)):
            f = ds.item(i).features[:, :cfg.input_dim]
            f = f[: len(f) - len(f) % fpt]
            with torch.no_grad():
                out = tok.decode(tok.encode(torch.from_numpy(f)[None]))[0].numpy()
            jaw = cfg.group_slices()["jaw"].start
            truth.append(f[:, jaw]), recon.append(out[:, jaw])
    t, r = np.concatenate(truth), np.concatenate(recon)
    return {"checkpoint": str(tokenizer_ckpt), "frames_per_token": fpt,
            "jaw_corr_reconstruction": pearson(r, t),
            "extra_latency_ms": 1000.0 * (fpt - 1) / cfg.fps,
            "note": "a token is decided once its last frame's audio is in: the first of its frames waits "
                    "(frames_per_token - 1) frames longer than with a per-frame head"}


def engine_for(args) -> AudioToMotion:
    if args.checkpoint is None:
        return AudioToMotion(args.model)
    from export.audio import export_audio
    from models.audio_to_motion import AudioToMotion as TorchModel

    tmp = Path(tempfile.mkdtemp(prefix="facelm_eval_audio_"))
    export_audio(TorchModel.from_checkpoint(args.checkpoint), tmp)
    return AudioToMotion(tmp)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="model directory (default: the shipped artifacts/)")
    ap.add_argument("--checkpoint", type=Path, default=None, help="evaluate a torch checkpoint instead (exported first)")
    ap.add_argument("--stores", type=Path, nargs="+", default=[Path("data/corpus/talking")])
    ap.add_argument("--split", default="test")
    ap.add_argument("--max-clips", type=int, default=None)
    ap.add_argument("--style", default=None, help="style text for every clip; 'truth': each clip's own style")
    ap.add_argument("--beat2", type=Path, default=Path(__file__).resolve().parents[2] / "shared/realdata/beat2/2_scott_0_1_1",
                    help="BEAT2 stem (.wav/.npz/.TextGrid); skipped when absent")
    ap.add_argument("--latency", action="store_true", help="also measure streaming latency")
    ap.add_argument("--chunk-ms", type=float, default=20.0, help="chunk length for --latency")
    ap.add_argument("--tokenizer", type=Path, default=None, help="tokenizer checkpoint: also measure the token route")
    ap.add_argument("--skip-synthetic", action="store_true")
    ap.add_argument("--json", type=Path, default=None, help="also write the result here")
    args = ap.parse_args(argv)
    engine = engine_for(args)
    out: dict = {"model": str(engine.model.path), "lookahead_ms": engine.lookahead_ms}
    if not args.skip_synthetic:
        out["synthetic"] = evaluate_synthetic(engine, args.stores, args.split, args.style, args.max_clips)
    if args.beat2.with_suffix(".wav").is_file():
        out["beat2"] = evaluate_beat2(engine, args.beat2, None if args.style == "truth" else args.style)
        if args.latency:
            out["latency"] = measure_latency(engine, args.beat2.with_suffix(".wav"), args.chunk_ms)
    else:
        print(f"{args.beat2}: absent, BEAT2 skipped", file=sys.stderr)
    if args.tokenizer:
        out["token_route"] = token_route(args.tokenizer, args.stores, args.split, args.max_clips)
    text = json.dumps(out, indent=1)
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
