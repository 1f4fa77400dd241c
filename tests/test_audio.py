"""Audio-driven talking head: front end, resampling, errors, causality, ONNX parity, shipped model."""
from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.io import wavfile
from scipy.signal import resample_poly

from facelm.audio import features as F
from facelm.audio.io import StreamingResampler, load_audio, resample_to_16k, to_float_mono
from facelm.audio.style import parse_style
from facelm.errors import FacelmError

REPO = Path(__file__).resolve().parents[1]
RATE = 16000


def speechlike(seconds: float, seed: int = 0) -> np.ndarray:
    """Harmonic bursts with a syllable-rate envelope (a stand-in for speech where none is needed)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    f0 = 120 + 20 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / RATE
    voice = sum(np.sin(h * phase) / h for h in range(1, 12))
    env = np.clip(np.sin(2 * np.pi * 3.0 * t + rng.uniform(0, 6)), 0, None) ** 2
    return (0.2 * env * voice + 0.003 * rng.normal(size=t.size)).astype(np.float32)


# -- front end ----------------------------------------------------------------------------

def test_streaming_features_equal_offline_bit_for_bit():
    x = speechlike(1.37)
    offline = F.log_mel(x)
    assert offline.shape == (x.size // 160, F.N_MELS)
    rng = np.random.default_rng(1)
    for _ in range(3):
        stream, parts, at = F.FeatureStream(), [], 0
        while at < x.size:
            n = int(rng.integers(1, 900))
            parts.append(stream.push(x[at:at + n]))
            at += n
        assert np.array_equal(np.concatenate(parts), offline)


def test_features_are_causal_and_aligned_to_the_hop():
    x = speechlike(0.5)
    base = F.log_mel(x)
    y = x.copy()
    y[1600:] += 0.3  # change from sample 1600 = the end of frame 9's window
    changed = np.flatnonzero(np.any(F.log_mel(y) != base, axis=1))
    assert changed[0] == 10  # frame i ends at sample (i + 1) * 160: frames 0..9 never saw it


def test_front_end_rejects_nan_and_stereo():
    with pytest.raises(FacelmError, match="NaN"):
        F.log_mel(np.array([0.0, np.nan] * 400))
    with pytest.raises(FacelmError, match="mono"):
        F.log_mel(np.zeros((800, 2)))


# -- resampling, formats, errors ---------------------------------------------------------------

@pytest.mark.parametrize("rate", [8000, 44100, 48000])
def test_streaming_resampler_equals_resample_poly(rate):
    x = np.random.default_rng(2).normal(0, 0.2, rate + 77)
    from math import gcd
    g = gcd(RATE, rate)
    offline = resample_poly(x, RATE // g, rate // g).astype(np.float32)
    r = StreamingResampler(rate)
    parts = [r.push(x[i:i + 333]) for i in range(0, x.size, 333)] + [r.flush()]
    assert np.array_equal(np.concatenate(parts), offline)


def test_resampling_is_announced_once(caplog):
    with caplog.at_level(logging.WARNING, logger="facelm.audio"):
        from facelm.audio.io import Notices
        notices = Notices()
        for _ in range(3):
            y = resample_to_16k(np.zeros(4410), 44100, "mic", notices)
    assert y.size == 1600
    msgs = [r.getMessage() for r in caplog.records]
    assert msgs == ["mic: 44100 Hz audio, resampled to 16000 Hz"]


def test_sample_formats_and_downmix(caplog):
    assert to_float_mono(np.array([-32768, 16384], np.int16)).tolist() == [-1.0, 0.5]
    assert to_float_mono(np.array([0, 128, 255], np.uint8)).tolist() == pytest.approx([-1.0, 0.0, 127 / 128])
    assert to_float_mono(np.array([2 ** 30], np.int32)).tolist() == [0.5]
    with caplog.at_level(logging.WARNING, logger="facelm.audio"):
        mono = to_float_mono(np.array([[0.2, 0.4], [-0.2, 0.0]], np.float32), "talk.wav")
    assert mono == pytest.approx([0.3, -0.1])
    assert "talk.wav: 2 channels, averaged to mono" in caplog.text


def test_wav_errors_are_one_line(tmp_path):
    with pytest.raises(FacelmError, match="no such file"):
        load_audio(tmp_path / "missing.wav")
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not a wav at all")
    with pytest.raises(FacelmError, match="not a readable WAV"):
        load_audio(bad)
    empty = tmp_path / "empty.wav"
    wavfile.write(empty, RATE, np.zeros(0, np.int16))
    with pytest.raises(FacelmError, match="no samples"):
        load_audio(empty)
    nan = tmp_path / "nan.wav"
    wavfile.write(nan, RATE, np.array([0.0, np.nan, 0.1], np.float32))
    with pytest.raises(FacelmError, match=r"NaN or inf, first at sample 1"):
        load_audio(nan)


def test_style_words():
    assert parse_style("speak calmly").speaking == "calm"
    s = parse_style("a bit sad")
    assert (s.speaking, s.emotion, s.intensity) == ("calm", "sad", 0.4)
    assert parse_style("excited but happy").speaking == "excited"
    assert parse_style(None).style_id(["none", "calm", "excited"]) == 0
    assert np.abs(parse_style("happy").expression_offset(50)).sum() > 0
    with pytest.raises(FacelmError, match="no known style word"):
        parse_style("he made it")
    with pytest.raises(FacelmError, match="both calm and excited"):
        parse_style("calm and excited")


def test_power_domain_noise_matches_waveform_mixing():
    """The augmenter adds noise as mel power; check that against mixing the waveforms."""
    x = speechlike(2.0)
    n = np.random.default_rng(3).normal(0, 0.02, x.size).astype(np.float32)
    mixed = F.log_mel(x + n)
    approx = np.log(np.exp(F.log_mel(x)) + np.exp(F.log_mel(n)))
    assert abs(float((mixed - approx).mean())) < 0.1  # no bias
    assert float(np.abs(mixed - approx).mean()) < 0.35  # the cross term's scatter, in nats


# -- model: causality, lookahead, ONNX parity ---------------------------------------------------

torch = pytest.importorskip("torch")


def tiny_model(lookahead: int = 3):
    from models.audio_to_motion import AudioToMotion, AudioToMotionConfig
    torch.manual_seed(0)
    cfg = AudioToMotionConfig(lookahead=lookahead, width=32, dilations=(1, 2), mlp_ratio=2, dropout=0.0)
    model = AudioToMotion(cfg).eval()
    with torch.no_grad():  # a non-trivial style table and normalisation
        model.style.weight.normal_(0, 0.5)
        model.set_normalisation(torch.full((80,), -8.0), torch.full((80,), 3.0),
                                torch.linspace(-0.1, 0.1, 53), torch.full((53,), 0.2))
    return model


def test_lookahead_bound_is_exact():
    model = tiny_model(lookahead=3)
    cfg = model.cfg
    mel = torch.randn(1, 4 * 12 + cfg.lookahead, 80)
    style = torch.tensor([1])
    base = model(model.shift(mel), style)[0]
    k = 5
    last = 4 * k + 3 + cfg.lookahead  # the last raw feature frame frame k may read
    late = mel.clone()
    late[:, last + 1:] += 5.0
    assert torch.equal(model(model.shift(late), style)[0, :k + 1], base[:k + 1])
    edge = mel.clone()
    edge[:, last] += 5.0
    changed = (model(model.shift(edge), style)[0] - base).abs().amax(-1) > 0
    assert not changed[:k].any() and changed[k]


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory):
    from export.audio import export_audio
    out = tmp_path_factory.mktemp("tiny_audio_model")
    section = export_audio(tiny_model(lookahead=3), out)
    return out, section


def test_onnx_parity_with_torch_and_streaming(tiny_model_dir):
    _, section = tiny_model_dir
    p = section["parity"]
    assert p["torch_vs_ort"] < 1e-4 and p["stream_vs_offline"] < 1e-4 and p["torch_vs_ort_stream"] < 1e-4


def test_runtime_stream_equals_offline_and_respects_lookahead(tiny_model_dir):
    from facelm.audio import AudioToMotion
    engine = AudioToMotion(tiny_model_dir[0])
    x = speechlike(1.5)
    clip = engine.speak(x, RATE, style="excited")
    assert clip.num_frames == -(-x.size // 640)
    stream = engine.stream(style="excited")
    rng = np.random.default_rng(4)
    rows, at = [], 0
    while at < x.size:
        n = int(rng.integers(50, 2000))
        rows.append(stream.push(x[at:at + n]))
        at += n
    rows.append(stream.flush())
    assert np.allclose(np.concatenate(rows), clip.to_array(), atol=1e-5)
    # Frame k may read audio up to 40 (k + 1) ms + lookahead, never later.
    k = 20
    cut = (k + 1) * 640 + engine.lookahead * 160
    y = x.copy()
    y[cut:] = np.random.default_rng(5).normal(0, 0.3, y.size - cut)
    other = engine.speak(y, RATE, style="excited")
    assert np.allclose(other.to_array()[:k + 1], clip.to_array()[:k + 1], atol=1e-6)
    assert not np.allclose(other.to_array()[k + 1:], clip.to_array()[k + 1:], atol=1e-6)


def test_runtime_resamples_other_rates_with_a_notice(tiny_model_dir, caplog):
    from facelm.audio import AudioToMotion
    engine = AudioToMotion(tiny_model_dir[0])
    x = speechlike(1.0)
    x44 = resample_poly(x, 441, 160).astype(np.float32)
    stereo = (np.stack([x44, x44], 1) * 32767).astype(np.int16)
    with caplog.at_level(logging.WARNING, logger="facelm.audio"):
        stream = engine.stream()
        rows = [stream.push(stereo[i:i + 4410], 44100) for i in range(0, len(stereo), 4410)] + [stream.flush()]
    msgs = [r.getMessage() for r in caplog.records]
    assert msgs.count("audio stream: 44100 Hz audio, resampled to 16000 Hz") == 1
    assert sum("averaged to mono" in m for m in msgs) == 1
    rows = np.concatenate(rows)
    ref = engine.speak(x, RATE).to_array()
    assert abs(len(rows) - len(ref)) <= 1
    n = min(len(rows), len(ref))
    assert np.corrcoef(rows[:n, 56], ref[:n, 56])[0, 1] > 0.99  # jaw x, same speech at another rate
    with pytest.raises(FacelmError, match="sample rate changed"):
        stream.push(x[:100], 16000)
    # Interleaved channels, as facelm_msgs/AudioChunk carries them.
    flat = engine.stream()
    inter = np.concatenate([flat.push(stereo[i:i + 4410].ravel(), 44100, channels=2)
                            for i in range(0, len(stereo), 4410)] + [flat.flush()])
    assert np.array_equal(inter, rows)
    with pytest.raises(FacelmError, match="not a multiple of 2 channels"):
        flat.push(np.zeros(5, np.float32), 44100, channels=2)


def test_speak_cli_errors_and_output(tiny_model_dir, tmp_path):
    from facelm.cli import main
    from facelm.clip import MotionClip
    model = str(tiny_model_dir[0])
    wav = tmp_path / "s.wav"
    wavfile.write(wav, 22050, (resample_poly(speechlike(0.8), 441, 320) * 30000).astype(np.int16))
    out = tmp_path / "s.npz"
    assert main(["speak", str(wav), "-o", str(out), "--model", model, "--style", "calm"]) == 0
    clip = MotionClip.load(out)
    assert clip.num_frames == 20 and clip.text["speaking_style"]["speaking"] == "calm"
    (tmp_path / "bad.wav").write_bytes(b"RIFF....WAVEjunk")
    r = subprocess.run([sys.executable, "-m", "facelm", "speak", str(tmp_path / "bad.wav"), "-o", str(out),
                        "--model", model], capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 2 and r.stderr.startswith("error: ") and len(r.stderr.strip().splitlines()) == 1


# -- the shipped model ---------------------------------------------------------------------------

def shipped_model():
    import json
    manifest = REPO / "artifacts" / "manifest.json"
    if not manifest.is_file() or "audio" not in json.loads(manifest.read_text()):
        pytest.skip("no shipped audio model in artifacts/ (train and export one: see artifacts/MODEL_CARD.md)")
    return REPO / "artifacts"


def espeak_wav(path: Path, text: str) -> None:
    try:
        from training import espeak
        utt = espeak.synthesize(text, espeak.Voice("en-us+m3", rate=160))
    except Exception as exc:  # library missing on this machine
        pytest.skip(f"eSpeak NG unavailable: {exc}")
    wavfile.write(path, utt.sample_rate, np.asarray(utt.samples, np.int16))


def test_shipped_model_speaks_with_the_audio(tmp_path):
    model = shipped_model()
    from facelm.cli import main
    from facelm.clip import MotionClip
    wav = tmp_path / "hello.wav"
    espeak_wav(wav, "Hello there. My name is Bob, and I am a talking robot. Maybe we can play a game?")
    out = tmp_path / "hello.npz"
    assert main(["speak", str(wav), "-o", str(out), "--model", str(model)]) == 0
    clip = MotionClip.load(out)
    x = load_audio(wav)
    n = min(clip.num_frames, x.size // 640)
    envelope = np.sqrt((x[: n * 640].reshape(n, 640) ** 2).mean(1))
    jaw = clip.jaw_pose[:n, 0]
    assert np.degrees(jaw.max() - jaw.min()) > 3.0  # the mouth moves
    assert np.corrcoef(jaw, envelope)[0, 1] > 0.4  # ... with the speech
    silent = envelope < 0.01 * envelope.max()
    if silent.any():
        assert np.degrees(np.median(jaw[silent])) < np.degrees(np.median(jaw[~silent]))


# -- training: a tiny talking store, train, resume, export ------------------------------------------

def test_train_resume_and_export_on_a_tiny_store(tmp_path, capsys):
    try:
        from training import talking
        talking.generate(tmp_path / "store", clips=6, seed=3, store=True, progress=False)
    except Exception as exc:  # eSpeak NG missing on this machine
        pytest.skip(f"cannot make talking clips here: {exc}")
    from export.audio import export_audio
    from models.audio_to_motion import AudioToMotion
    from training.train_audio import main as train
    args = ["--stores", str(tmp_path / "store"), "--out", str(tmp_path / "run"), "--cache", str(tmp_path / "cache"),
            "--batch", "2", "--window", "16", "--width", "16", "--dilations", "1", "2", "--every", "2",
            "--threads", "1"]
    assert train(args + ["--steps", "2"]) == 0
    assert train(args + ["--steps", "3"]) == 0
    assert "resuming from" in capsys.readouterr().out
    model = AudioToMotion.from_checkpoint(tmp_path / "run" / "audio.pt")
    assert model.cfg.width == 16 and float(model.mel_std.min()) > 0
    section = export_audio(model, tmp_path / "model")
    from facelm.audio import AudioToMotion as Engine
    clip = Engine(tmp_path / "model").speak(speechlike(0.5), RATE)
    assert clip.num_frames == 13 and section["lookahead_ms"] == 40.0
