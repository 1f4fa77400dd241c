"""The motion clip contract: validation, I/O, resampling as rotations, composition."""
from __future__ import annotations

import json

import numpy as np
import pytest

from facelm import rotations
from facelm.clip import MotionClip
from facelm.errors import FacelmError


def _clip(n=20, e=50, fps=25.0, **over):
    rng = np.random.default_rng(0)
    kw = dict(expression=rng.normal(size=(n, e)), global_pose=rng.normal(0, 0.1, (n, 3)),
              neck_pose=rng.normal(0, 0.1, (n, 3)), jaw_pose=rng.normal(0, 0.1, (n, 3)),
              eye_pose=rng.normal(0, 0.1, (n, 6)), fps=fps)
    kw.update(over)
    return MotionClip(**kw)


def test_valid_clip_is_float32_and_roundtrips(tmp_path):
    clip = _clip(e=100, eyelid=np.zeros((20, 2)), arkit=np.ones((20, 52)) * 0.5,
                 text={"action": "nods"}, audio_path="a.wav")
    assert clip.expression.dtype == np.float32 and clip.num_expression == 100
    path = tmp_path / "c.npz"
    clip.save(path)
    with np.load(path, allow_pickle=False) as raw:
        assert raw["expression"].dtype == np.float32 and float(raw["fps"]) == 25.0
        assert json.loads(str(raw["text"])) == {"action": "nods"}
    back = MotionClip.load(path)
    for key in ("expression", "global_pose", "neck_pose", "jaw_pose", "eye_pose", "eyelid", "arkit"):
        np.testing.assert_array_equal(getattr(back, key), getattr(clip, key))
    assert back.text == {"action": "nods"} and back.audio_path == "a.wav"


@pytest.mark.parametrize("over, words", [
    (dict(expression=np.zeros((20, 60))), "'expression' must have shape"),
    (dict(jaw_pose=np.zeros((19, 3))), "'jaw_pose' has 19 frames"),
    (dict(eye_pose=np.zeros((20, 3))), "'eye_pose' must have shape (T, 6)"),
    (dict(neck_pose=np.full((20, 3), np.nan)), "NaN/inf in 20 frame(s), first at frame 0"),
    (dict(fps=0.0), "'fps' must be a finite number > 0"),
    (dict(fps=float("nan")), "'fps' must be a finite number > 0"),
    (dict(expression=np.array([["a"] * 50] * 20)), "must be numeric"),
    (dict(expression=np.zeros((0, 50)), global_pose=np.zeros((0, 3)), neck_pose=np.zeros((0, 3)),
          jaw_pose=np.zeros((0, 3)), eye_pose=np.zeros((0, 6))), "no frames"),
])
def test_invalid_clips_name_the_field(over, words):
    with pytest.raises(FacelmError) as err:
        _clip(**over)
    assert words in str(err.value) and "\n" not in str(err.value)


def test_load_errors_are_one_line(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(FacelmError, match="not a readable .npz"):
        MotionClip.load(bad)
    with pytest.raises(FacelmError, match="no such file"):
        MotionClip.load(tmp_path / "missing.npz")
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    with pytest.raises(FacelmError, match="missing key"):
        MotionClip.load(tmp_path / "other.npz")


def test_resample_30_to_25_slerps_rotations():
    n = 31  # one second at 30 fps, endpoints included
    t = np.arange(n) / 30.0
    angle = 2.5 * t  # a 2.5 rad turn about an oblique axis: component-wise lerp would shrink it
    axis = np.array([0.3, 0.9, 0.3]) / np.linalg.norm([0.3, 0.9, 0.3])
    clip = _clip(n=n, fps=30.0, neck_pose=angle[:, None] * axis, expression=np.outer(t, np.ones(50)))
    out = clip.resample(25.0)
    assert out.fps == 25.0 and out.num_frames == 26
    t25 = np.arange(26) / 25.0
    np.testing.assert_allclose(np.linalg.norm(out.neck_pose, axis=1), 2.5 * t25, atol=1e-4)
    moving = out.neck_pose[1:]  # frame 0 is the identity: no axis
    np.testing.assert_allclose(moving / np.linalg.norm(moving, axis=1, keepdims=True),
                               np.broadcast_to(axis, moving.shape), atol=1e-4)
    np.testing.assert_allclose(out.expression[:, 0], t25, atol=1e-5)


def test_resample_handles_the_pi_wrap():
    # Two frames either side of a half turn: slerp takes the short way, not through zero.
    a = np.array([[0, 0, np.pi - 0.1], [0, 0, -(np.pi - 0.1)]])
    clip = _clip(n=2, fps=2.0, global_pose=a)
    mid = clip.resample(4.0).global_pose[1]
    assert abs(np.linalg.norm(mid) - np.pi) < 1e-3


def test_head_rotation_composes_global_then_neck():
    g = np.tile([[0.0, 0.4, 0.0]], (5, 1))   # body turned left
    n = np.tile([[0.2, 0.0, 0.0]], (5, 1))   # head bowed relative to the body
    clip = _clip(n=5, global_pose=g, neck_pose=n)
    expected = rotations.axis_angle_to_matrix(g[0]) @ rotations.axis_angle_to_matrix(n[0])
    got = rotations.axis_angle_to_matrix(clip.head_rotation()[0])
    np.testing.assert_allclose(got, expected, atol=1e-6)


def test_pack_unpack_and_expression_size():
    clip = _clip(e=50)
    arr = clip.to_array()
    assert arr.shape == (20, 50 + 15)
    back = MotionClip.from_array(arr, 50)
    np.testing.assert_array_equal(back.neck_pose, clip.neck_pose)
    assert clip.with_expression_size(100).expression[:, 50:].sum() == 0
    with pytest.raises(FacelmError):
        MotionClip.from_array(arr[:, :-1], 50)
