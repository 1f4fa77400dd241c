"""Behaviour specs and the composer: determinism, batch = single, smoothness, realised ground truth."""
from __future__ import annotations

import json

import numpy as np
import pytest

from facelm import face_units as fu
from facelm.errors import FacelmError
from training.behaviour import (CATEGORIES, EXPRESSIVE_EMOTIONS, HEAD_AMPLITUDE_RANGE, HEAD_DIRECTIONS,
                                BehaviourSpec, EmotionSegment, HeadSegment, SpeechSegment, identity_for,
                                sample_spec)
from training.composer import compose, compose_batch

FPS = 25


def _specs(n: int, seed: int, category: str | None = None) -> list[BehaviourSpec]:
    return [sample_spec(np.random.default_rng([seed, i]), category=category or CATEGORIES[i % len(CATEGORIES)],
                        clip_id=f"t{i}") for i in range(n)]


def _frames(t: float) -> int:
    return int(round(t * FPS))


def test_spec_json_round_trip_and_determinism():
    for spec in _specs(2 * len(CATEGORIES), 1):
        d = spec.to_dict()
        again = BehaviourSpec.from_dict(json.loads(json.dumps(d)))
        assert again.to_dict() == d
        assert again.emotions[0].start == 0 and again.head[-1].end == spec.duration
    a = sample_spec(np.random.default_rng(7)).to_dict()
    assert a == sample_spec(np.random.default_rng(7)).to_dict()
    assert a != sample_spec(np.random.default_rng(8)).to_dict()


@pytest.mark.parametrize("path, value, message", [
    (("emotions", 0, "emotion"), "bored", "unknown emotion"),
    (("head", 0, "kind"), "jump", "unknown head motion"),
    (("head", 0, "start"), 0.5, "must be 0"),
    (("duration",), "long", "finite number"),
    (("identity", "blink_rate"), float("nan"), "finite number"),
])
def test_bad_spec_fields_are_named(path, value, message):
    d = sample_spec(np.random.default_rng(3), category="head").to_dict()
    target = d
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(FacelmError, match=message):
        BehaviourSpec.from_dict(d)


def test_suite_is_balanced():
    specs = [sample_spec(np.random.default_rng([2, i])) for i in range(1200)]
    cats = {c: sum(s.category == c for s in specs) for c in CATEGORIES}
    assert all(n > 30 for n in cats.values()), cats
    emotions = [e.emotion for s in specs for e in s.emotions if e.emotion != "neutral"]
    counts = np.array([emotions.count(e) for e in EXPRESSIVE_EMOTIONS])
    assert counts.min() > 0.6 * counts.mean(), dict(zip(EXPRESSIVE_EMOTIONS, counts))
    moves = [h.kind for s in specs for h in s.head if h.kind != "still"]
    kinds = np.array([moves.count(k) for k in set(moves)])
    assert len(kinds) == 8 and kinds.min() > 0.6 * kinds.mean()


def test_compose_is_deterministic_and_batch_equals_single():
    specs = _specs(16, 4)
    batch = compose_batch(specs)
    assert batch.arrays["expression"].shape == (batch.offsets[-1], 50)
    for i in (0, 5, 11, 15):
        alone = compose(specs[i])
        in_batch = batch.clip(i)
        assert alone.num_frames == specs[i].num_frames and alone.fps == 25
        for key in ("expression", "global_pose", "neck_pose", "jaw_pose", "eye_pose", "eyelid", "arkit"):
            # float32 products over a different number of rows may take another BLAS kernel: equal to rounding
            np.testing.assert_allclose(getattr(alone, key), getattr(in_batch, key), rtol=0, atol=1e-6, err_msg=key)
    again = compose_batch(specs)
    for key, value in batch.arrays.items():
        np.testing.assert_array_equal(value, again.arrays[key])


def _max_diffs(batch, key: str, cols=None) -> tuple[float, float]:
    d1 = d2 = 0.0
    for i in range(len(batch)):
        x = batch.arrays[key][batch.offsets[i]:batch.offsets[i + 1]]
        x = x if cols is None else x[:, cols]
        d1 = max(d1, float(np.abs(np.diff(x, axis=0)).max()))
        d2 = max(d2, float(np.abs(np.diff(x, 2, axis=0)).max()))
    return d1, d2


def test_motion_is_smooth_and_within_physiological_speed():
    specs = _specs(64, 5)
    batch = compose_batch(specs)
    # Per frame at 25 fps: neck <= 3.75 rad/s, jaw <= 3.5 rad/s, saccades <= 8.75 rad/s.
    bounds = {"neck_pose": (0.15, 0.12), "jaw_pose": (0.14, 0.2), "eye_pose": (0.35, 0.3), "global_pose": (0.003, 0.001)}
    for key, (b1, b2) in bounds.items():
        d1, d2 = _max_diffs(batch, key)
        assert d1 <= b1 and d2 <= b2, (key, d1, d2)
    mouth = [fu.UNIT_INDEX[u] for u in ("AU24", "AU25", "AU26")]
    blink = [fu.UNIT_INDEX["AU45L"], fu.UNIT_INDEX["AU45R"]]
    rest = [i for i in range(fu.NUM_UNITS) if i not in mouth + blink]
    assert _max_diffs(batch, "units", rest) <= (0.3, 0.2)
    assert _max_diffs(batch, "units", mouth)[0] <= 0.65  # bilabial closures take ~0.2 s
    assert _max_diffs(batch, "units", blink)[0] <= 0.8  # a blink closes in ~0.1 s
    for i, spec in enumerate(specs):  # a still head without speech only sways
        if all(h.kind == "still" for h in spec.head) and not spec.speech:
            assert np.abs(np.diff(batch.clip(i).neck_pose, axis=0)).max() < 0.005


def test_head_direction_labels_are_realised():
    specs = _specs(48, 6, "head") + _specs(32, 7, "head_sequence")
    batch = compose_batch(specs)
    checked = set()
    for i, spec in enumerate(specs):
        neck = batch.clip(i).neck_pose
        for seg in spec.head:
            part = neck[_frames(seg.start):_frames(seg.end)]
            if seg.kind in HEAD_DIRECTIONS:
                axis, sign, _ = HEAD_DIRECTIONS[seg.kind]
                assert np.sign(part[:, axis].mean()) == sign, seg
                hold_end = seg.end - seg.offset if seg.returns else seg.end
                core = neck[_frames(seg.start + seg.onset):_frames(hold_end), axis]
                assert np.abs(core - sign * seg.amplitude).max() < 0.15 * seg.amplitude + 0.03, seg
                lo, hi = HEAD_AMPLITUDE_RANGE[seg.kind]
                assert lo - 0.03 <= np.abs(part[:, axis]).max() <= hi + 0.03
            elif seg.kind == "nod":
                assert part[:, 0].mean() > 0 and part[:, 0].max() == pytest.approx(seg.amplitude, abs=0.03)
            elif seg.kind == "shake":
                side = 1 if seg.first == "left" else -1
                first_peak = part[np.argmax(np.abs(part[:, 1])), 1]
                assert part[:, 1].max() > 0.8 * seg.amplitude and part[:, 1].min() < -0.8 * seg.amplitude
                assert abs(part[:, 1].mean()) < 0.3 * seg.amplitude and np.sign(first_peak) in (side, -side)
                first = part[: int(0.5 / seg.frequency * FPS), 1]  # the first half cycle goes to 'first'
                assert np.sign(first[np.argmax(np.abs(first))]) == side
            else:
                assert np.abs(part).max() < 0.06, seg  # still: idle sway and speech bobs only
            checked.add(seg.kind)
    assert len(checked) == 9


def _emotion_spec(emotion: str, intensity: str, seconds: float = 4.0) -> BehaviourSpec:
    return BehaviourSpec(
        clip_id=emotion, seed=11, duration=seconds, category="emotion", identity=identity_for(3),
        emotions=[EmotionSegment(emotion, intensity, 0.0, seconds)], head=[HeadSegment("still", 0.0, seconds)])


def test_emotion_units_read_back_as_the_prototype():
    basis = fu.UnitBasis()
    ident = identity_for(3)
    specs = [_emotion_spec(e, "moderate") for e in EXPRESSIVE_EMOTIONS]
    batch = compose_batch(specs)
    protos = np.stack([fu.emotion_vector(e) for e in EXPRESSIVE_EMOTIONS])
    protos /= np.linalg.norm(protos, axis=1, keepdims=True)
    for i, emotion in enumerate(EXPRESSIVE_EMOTIONS):
        clip = batch.clip(i)
        units = basis.from_expression(clip.expression, clip.jaw_pose)[FPS:].mean(0)  # after the first second
        gain = np.full(fu.NUM_UNITS, ident.expressiveness)
        for left, right in fu.BILATERAL.values():
            gain[fu.UNIT_INDEX[left]] *= 1 + ident.asymmetry
            gain[fu.UNIT_INDEX[right]] *= 1 - ident.asymmetry
        expected = fu.emotion_vector(emotion, 0.7) * gain
        np.testing.assert_allclose(units, expected, atol=0.06, err_msg=emotion)
        assert EXPRESSIVE_EMOTIONS[int(np.argmax(protos @ units))] == emotion


def test_emotion_transition_and_intensity_order():
    spec = _emotion_spec("happy", "strong", 6.0)
    spec.emotions = [EmotionSegment("happy", "strong", 0.0, 3.0), EmotionSegment("sad", "slight", 3.0, 6.0, 0.6)]
    units = compose_batch([spec]).units(0)
    smile, brow = fu.UNIT_INDEX["AU12L"], fu.UNIT_INDEX["AU15"]
    assert units[: 2 * FPS, smile].mean() > 0.6 and units[_frames(4.0):, smile].max() < 0.05
    assert 0.15 < units[_frames(4.0):, brow].mean() < 0.4 and units[: 2 * FPS, brow].max() < 0.05
    assert np.abs(np.diff(units[_frames(2.9):_frames(3.8)], axis=0)).max() < 0.2  # blended, not a step


def test_speech_has_syllable_rhythm_and_style_amplitude():
    def talking(style: str, rate: float, jaw: float) -> BehaviourSpec:
        spec = _emotion_spec("neutral", "none", 8.0)
        spec.speech = [SpeechSegment(style, 0.3, 7.7, rate, jaw)]
        return spec

    batch = compose_batch([talking("calm", 3.5, 0.08), talking("excited", 5.5, 0.18)])
    peaks = []
    for i in range(2):
        jaw = batch.clip(i).jaw_pose[:, 0]
        assert jaw.max() <= fu.JAW_DROP_RADIANS and jaw.min() >= 0
        inner = jaw[1:-1]
        peaks.append(int(((inner > jaw[:-2]) & (inner >= jaw[2:]) & (inner > 0.02)).sum()) / 7.4)
        lips = batch.units(i)[:, fu.UNIT_INDEX["AU25"]]
        assert lips[_frames(1):_frames(7)].mean() > 0.2 and lips[: 3].max() < 0.05
    calm_jaw, excited_jaw = (batch.clip(i).jaw_pose[:, 0] for i in range(2))
    # Jaw openings per second: most syllables open the jaw; phrase pauses and lip closures take some.
    assert 0.5 * 3.5 < peaks[0] <= 3.5 and 0.5 * 5.5 < peaks[1] <= 5.5 and peaks[1] > peaks[0] + 0.5, peaks
    assert 0.05 < calm_jaw.max() < 0.15 and 0.15 < excited_jaw.max() < 0.3


def test_arkit_eyelids_and_blinks():
    spec = _emotion_spec("happy", "moderate", 5.0)
    spec.blinks = [1.0, 3.0]
    clip = compose(spec)
    assert clip.arkit.shape == (clip.num_frames, 52) and clip.eyelid.shape == (clip.num_frames, 2)
    assert clip.arkit.min() >= 0 and clip.arkit.max() <= 1
    blink = clip.arkit[:, fu.ARKIT_INDEX["EyeBlinkLeft"]]
    np.testing.assert_allclose(blink, clip.eyelid[:, 0], atol=1e-6)
    for t in spec.blinks:
        assert clip.eyelid[_frames(t):_frames(t + 0.3)].max() > 0.8
    assert clip.eyelid[_frames(1.6):_frames(2.6)].max() < 0.01
    assert clip.arkit[FPS:, fu.ARKIT_INDEX["MouthSmileLeft"]].mean() > 0.4
