"""Talking clips: eSpeak NG phoneme timing, 16 kHz audio aligned to 25 fps, mouth that follows the speech."""
from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.io import wavfile

from facelm.clip import MotionClip
from facelm.errors import FacelmError
from facelm.face_units import UNIT_INDEX, UnitBasis, emotion_vector
from training import espeak

pytestmark = pytest.mark.skipif(
    not espeak.available(),
    reason="libespeak-ng.so.1 is not installed "
           "(Debian: apt-get install espeak-ng libespeak-ng1; `make system` does it)")

from training import talking  # noqa: E402
from training.mouth import apply_to_clip, overlay  # noqa: E402
from training.phonemes import BILABIALS, visemes_for  # noqa: E402
from training.sentences import sentences  # noqa: E402

SAMPLES_PER_FRAME = 640
TEXTS = sentences(8, seed=11)


@pytest.fixture(scope="module")
def spoken():
    """(style, TalkingClip) for a handful of sentences, both styles."""
    styles = [("calm", "excited")[i % 2] for i in range(len(TEXTS))]
    return [(st, talking.talk(text, i, st)) for i, (text, st) in enumerate(zip(TEXTS, styles))]


def _closed(units: np.ndarray) -> np.ndarray:
    """Frames where the lips are shut: not parted, jaw nearly closed, lips pressed."""
    return ((units[:, UNIT_INDEX["AU25"]] < 0.1) & (units[:, UNIT_INDEX["AU26"]] < 0.12)
            & (units[:, UNIT_INDEX["AU24"]] > 0.2))


def _frame_rms(audio: np.ndarray, n: int) -> np.ndarray:
    return np.sqrt((audio.reshape(n, SAMPLES_PER_FRAME).astype(np.float64) ** 2).mean(axis=1))


def test_hello_world_phoneme_events():
    utt = espeak.synthesize("Hello world, how are you today?", espeak.Voice("en-us"))
    assert utt.sample_rate == 22050
    names = [p.phoneme for p in utt.phonemes]
    assert names[:6] == ["h", "@", "l", "oU", "w", "3:"]
    ms = [p.ms for p in utt.phonemes[:4]]
    if espeak.version().startswith("1.51"):  # Debian 12 / Ubuntu 24.04; en-us at 175 wpm
        assert ms == [11, 62, 112, 184]
    else:  # other releases time phonemes a little differently
        np.testing.assert_allclose(ms, [11, 62, 112, 184], atol=25)
    np.testing.assert_allclose([p.time * 1000 for p in utt.phonemes[:4]], ms, atol=1.0)
    assert [w.word for w in utt.words] == ["Hello", "world", "how", "are", "you", "today"]


def test_event_timing_monotonic_and_inside_audio(spoken):
    for _, t in spoken:
        starts = np.array([s.start for s in t.segments])
        ends = np.array([s.end for s in t.segments])
        assert starts[0] == 0.0 and np.all(np.diff(starts) >= 0) and np.all(ends >= starts)
        np.testing.assert_allclose(starts[1:], ends[:-1])  # segments tile the utterance
        assert ends[-1] <= t.utterance.duration + 1e-9 <= t.clip.duration + 1e-9
        for s in t.segments:
            if s.closure is not None:
                assert 0.0 <= s.closure[0] < s.closure[1] <= t.utterance.duration


def test_audio_is_16k_and_as_long_as_the_motion(spoken, tmp_path):
    for _, t in spoken:
        n = t.clip.num_frames
        assert t.clip.fps == 25.0 and t.audio.dtype == np.float32
        assert t.audio.size == n * SAMPLES_PER_FRAME  # exactly the motion's duration
        assert abs(t.utterance.duration - n / 25.0) < 1 / 25.0  # speech ends inside the last frame
        assert np.abs(t.audio).max() > 0.05
    names = talking.save_talking_clip(tmp_path, "c0", spoken[0][1])
    rate, pcm = wavfile.read(tmp_path / names["wav"])
    clip = MotionClip.load(tmp_path / names["npz"])
    assert rate == 16000 and pcm.ndim == 1 and pcm.size == clip.num_frames * SAMPLES_PER_FRAME
    assert clip.audio_path == names["wav"] and clip.text["transcript"] == TEXTS[0]
    timing = json.loads((tmp_path / names["phonemes"]).read_text())
    assert timing["num_frames"] == clip.num_frames and timing["audio_rate"] == 16000
    assert [p["phoneme"] for p in timing["phonemes"]] == [s.phoneme for s in spoken[0][1].segments]


def test_jaw_opening_follows_audio_energy(spoken):
    corr = [np.corrcoef(t.clip.jaw_pose[:, 0], _frame_rms(t.audio, t.clip.num_frames))[0, 1]
            for _, t in spoken]
    print(f"jaw-energy correlation: mean {np.mean(corr):.3f}, min {np.min(corr):.3f}")
    assert np.mean(corr) > 0.4 and np.min(corr) > 0.15
    # The mouth opens while it speaks and rests shut in pauses (>= 5 silent frames; shorter
    # silences are stop closures inside words).
    for _, t in spoken:
        silent = _frame_rms(t.audio, t.clip.num_frames) < 1e-4
        runs = np.convolve(silent, np.ones(5), mode="same") >= 5  # middle of a 5-frame silence
        if runs.any():
            assert t.clip.jaw_pose[runs, 0].max() < 0.3 * t.clip.jaw_pose[~silent, 0].mean()


def test_lips_close_at_every_bilabial_within_one_frame(spoken):
    hits = total = 0
    quiet_closed, loud = [], []
    for _, t in spoken:
        n = t.clip.num_frames
        closed = _closed(t.mouth.units)
        centres = (np.arange(n) + 0.5) / 25.0
        energy = _frame_rms(t.audio, n)
        for seg in t.segments:
            if seg.phoneme not in BILABIALS:
                continue
            total += 1
            # A /p/ event is its release burst: the lips shut just before it.
            lo = seg.start - (0.08 if seg.phoneme == "p" else 0.04)
            near = (centres >= lo) & (centres <= seg.end + 0.04)
            hits += bool(closed[near].any())
            if seg.phoneme in ("p", "b"):
                quiet_closed += list(energy[near & closed])
        loud += list(energy[energy > 1e-4])
    print(f"bilabial closures reached: {hits}/{total}")
    assert total >= 10 and hits == total
    # Stop closures are acoustically quiet: the lips are shut where the audio is.
    assert np.median(quiet_closed) < 0.5 * np.median(loud)


def test_same_seed_same_clip_other_seed_other_clip():
    a_clip, a_audio, a_seg = talking.make_talking_clip(TEXTS[1], seed=5, style="excited")
    talking.make_talking_clip(TEXTS[2], seed=6, style="calm")  # eSpeak state in between
    b_clip, b_audio, b_seg = talking.make_talking_clip(TEXTS[1], seed=5, style="excited")
    np.testing.assert_array_equal(a_audio, b_audio)
    np.testing.assert_array_equal(a_clip.expression, b_clip.expression)
    np.testing.assert_array_equal(a_clip.jaw_pose, b_clip.jaw_pose)
    assert a_seg == b_seg
    c_clip, c_audio, _ = talking.make_talking_clip(TEXTS[1], seed=7, style="excited")
    assert c_audio.shape != a_audio.shape or not np.array_equal(c_audio, a_audio)


def test_styles_differ_in_rate_and_articulation():
    calm = [talking.talk(t, i, "calm") for i, t in enumerate(TEXTS[:3])]
    excited = [talking.talk(t, i, "excited") for i, t in enumerate(TEXTS[:3])]
    dur = lambda ts: np.mean([t.utterance.duration for t in ts])  # noqa: E731
    jaw = lambda ts: np.mean([np.percentile(t.clip.jaw_pose[:, 0], 90) for t in ts])  # noqa: E731
    assert dur(excited) < 0.9 * dur(calm)
    assert jaw(excited) > 1.5 * jaw(calm)


def test_every_english_phoneme_has_a_viseme():
    text = " ".join(sentences(12, seed=2)) + " Azure vision, the thin thing; church judge, hue, loch."
    for accent in talking.ACCENTS:
        utt = espeak.synthesize(text, espeak.Voice(accent))
        unknown = {p.phoneme for p in utt.phonemes if not visemes_for(p.phoneme)[1]}
        assert not unknown, f"{accent}: no viseme for {sorted(unknown)}"


def test_overlay_shuts_a_smiling_mouth_for_bilabials(spoken):
    t = spoken[0][1]
    base = np.tile(emotion_vector("happy"), (t.clip.num_frames, 1))  # smile with parted lips
    units = overlay(base, t.mouth)
    closed_frames = _closed(t.mouth.units)
    assert closed_frames.any()
    assert np.all(units[closed_frames, UNIT_INDEX["AU25"]] < 0.1)
    np.testing.assert_allclose(units[:, UNIT_INDEX["AU12L"]], base[:, UNIT_INDEX["AU12L"]])  # smile kept
    # The same on a finished clip: the smiling face's own units are read back, the mouth laid over them.
    basis = UnitBasis()
    expression, jaw = basis.to_expression(base)
    smiling = MotionClip(expression, np.zeros_like(jaw), np.zeros_like(jaw), jaw, np.zeros((len(jaw), 6)))
    spoken_clip = apply_to_clip(smiling, t.mouth, basis)
    read = basis.from_expression(spoken_clip.expression, spoken_clip.jaw_pose)
    np.testing.assert_allclose(read, units, atol=1e-4)


def test_missing_library_names_the_packages(monkeypatch):
    monkeypatch.setattr(espeak, "LIBRARY", "libespeak-ng-absent.so.9")
    with pytest.raises(FacelmError, match="apt-get install"):
        espeak._Engine()
    with pytest.raises(FacelmError, match="no voice"):
        espeak.synthesize("hello", espeak.Voice("xx-none"))


def test_sentences_reproducible_and_varied():
    a, b = sentences(60, seed=4), sentences(60, seed=4)
    assert a == b and len(set(a)) >= 55 and sentences(60, seed=5) != a


def test_cli_writes_clips_wavs_timing_and_index(tmp_path):
    assert talking.main(["--out", str(tmp_path), "--clips", "2", "--seed", "1", "--style", "calm"]) == 0
    lines = [json.loads(x) for x in (tmp_path / "index.jsonl").read_text().splitlines()]
    assert [r["style"] for r in lines] == ["calm", "calm"]
    for r in lines:
        clip = MotionClip.load(tmp_path / r["npz"])
        rate, pcm = wavfile.read(tmp_path / r["wav"])
        assert rate == 16000 and pcm.size == clip.num_frames * SAMPLES_PER_FRAME
        assert (tmp_path / r["npz"]).parent / clip.audio_path == tmp_path / r["wav"]
        assert json.loads((tmp_path / r["phonemes"]).read_text())["text"] == r["text"]
    assert talking.main(["--out", str(tmp_path), "--clips", "0"]) == 2


def test_store_over_composed_face_reads_back(tmp_path):
    pytest.importorskip("training.composer")
    from training.corpus_store import CorpusReader

    talking.generate(tmp_path, clips=2, seed=2, style="excited", store=True, progress=False)
    reader = CorpusReader(tmp_path)
    refs = reader.refs()
    assert len(refs) == 2
    for ref in refs:
        meta, clip = reader.meta(ref), reader.clip(ref)
        rate, pcm = wavfile.read(tmp_path / meta["audio"])
        assert pcm.size == clip.num_frames * SAMPLES_PER_FRAME
        assert meta["labels"]["speaking"] == "excited" and "talk" in meta["labels"]["actions"]
        timing = json.loads((tmp_path / meta["phonemes"]).read_text())
        # The composed face still shuts its lips at the bilabials (jaw nearly closed there).
        t = (np.arange(clip.num_frames) + 0.5) / 25.0
        for p in timing["phonemes"]:
            if "closure" in p:
                a, b = p["closure"]
                near = (t >= a - 0.04) & (t <= b + 0.04)
                assert clip.jaw_pose[near, 0].min() < 0.12 * 0.35
