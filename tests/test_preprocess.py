"""MMHead-style preprocessing: IQR outliers, exact smoothing, CLI, and a measurement on BEAT2."""
from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from facelm import cli, rotations
from facelm.clip import MotionClip
from facelm.preprocess import PreprocessConfig, preprocess_clip
from facelm.preprocess import outliers, smoothing
from facelm.preprocess.outliers import frame_distances

FPS = 25.0


# -- helpers ----------------------------------------------------------------------
def _difference_matrix(n: int, order: int) -> np.ndarray:
    return np.diff(np.eye(n), n=order, axis=0)


def _jitter(a: np.ndarray) -> float:
    """Mean absolute second difference: how rough a trajectory is frame to frame."""
    return float(np.abs(np.diff(np.asarray(a, np.float64), 2, axis=0)).mean())


def _rmse(a: np.ndarray, b: np.ndarray, rotational: bool) -> float:
    return float(np.sqrt(np.mean(frame_distances(a, b, rotational) ** 2)))


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a, b)[0, 1])


def inject_spikes(clip: MotionClip, rate: float, seed: int) -> tuple[MotionClip, dict[str, set[int]]]:
    """Tracking glitches: ``rate`` of frames per group jump far (expression: 3 std per
    coefficient; neck: 20 degrees about a random axis; jaw: 11 degrees open or shut)."""
    rng = np.random.default_rng(seed)
    n = clip.num_frames
    pick = lambda: rng.choice(n, max(1, int(rate * n)), replace=False)  # noqa: E731
    spikes, new = {}, {}
    e = clip.expression.astype(np.float64)
    idx = pick()
    e[idx] += 3.0 * e.std(axis=0) * rng.standard_normal((idx.size, e.shape[1]))
    spikes["expression"], new["expression"] = set(idx.tolist()), e
    for name, angle in (("neck_pose", 0.35), ("jaw_pose", 0.2)):
        a = getattr(clip, name).astype(np.float64)
        idx = pick()
        if name == "jaw_pose":
            axis = np.zeros((idx.size, 3))
            axis[:, 0] = rng.choice([-1.0, 1.0], idx.size)
        else:
            axis = rng.standard_normal((idx.size, 3))
            axis /= np.linalg.norm(axis, axis=1, keepdims=True)
        a[idx] = rotations.compose_axis_angle(angle * axis, a[idx])
        spikes[name], new[name] = set(idx.tolist()), a
    return replace(clip, **new), spikes


def spike_scores(report, spikes: dict[str, set[int]], n: int) -> dict[str, tuple[float, float]]:
    """Per group: (recall of spiked frames, rate of replaced clean frames)."""
    out = {}
    for name, spiked in spikes.items():
        replaced = set(report.groups[name].replaced_frames)
        out[name] = (len(replaced & spiked) / len(spiked), len(replaced - spiked) / (n - len(spiked)))
    return out


# -- the smoother -------------------------------------------------------------------
@pytest.mark.parametrize("order", [1, 2])
def test_banded_solution_is_the_exact_minimiser(order):
    rng = np.random.default_rng(1)
    n, weight, fidelity = 120, 3.0, 8.0
    x_in = rng.standard_normal((n, 4)).cumsum(axis=0)
    x = smoothing.smooth_linear(x_in, weight / fidelity, order)
    d = _difference_matrix(n, order)
    # Gradient of  weight ||D x||^2 + fidelity ||x - x_in||^2  at the solution.
    grad = 2 * weight * d.T @ (d @ x) + 2 * fidelity * (x - x_in)
    assert np.abs(grad).max() < 1e-9 * np.abs(x_in).max()
    objective = lambda y: weight * np.sum((d @ y) ** 2) + fidelity * np.sum((y - x_in) ** 2)  # noqa: E731
    assert objective(x) < objective(x_in)
    assert objective(x) < objective(x + 1e-3 * rng.standard_normal(x.shape))


def test_cutoff_is_the_half_power_point_of_the_filter():
    alpha = smoothing.alpha_for_cutoff(4.0, FPS)
    assert smoothing.cutoff_hz(alpha, FPS) == pytest.approx(4.0)
    t = np.arange(2000) / FPS
    for f, expected in ((4.0, 2 ** -0.5), (1.0, smoothing.frequency_response(1.0, alpha, FPS))):
        y = smoothing.smooth_linear(np.sin(2 * np.pi * f * t), alpha)
        amplitude = np.abs(y[500:1500]).max()  # away from the ends
        assert amplitude == pytest.approx(expected, abs=0.01)


def test_default_weights_keep_speech_and_nods_and_damp_jitter():
    config = PreprocessConfig()
    face = 1.0 / config.fidelity
    head = config.pose_weight / config.fidelity
    assert 8.0 <= smoothing.cutoff_hz(face, FPS) <= 10.0
    assert 3.5 <= smoothing.cutoff_hz(head, FPS) <= 5.0
    assert smoothing.frequency_response(6.0, face, FPS) > 0.8  # syllables
    assert smoothing.frequency_response(2.0, head, FPS) > 0.9  # nods
    assert smoothing.frequency_response(12.5, face, FPS) < 0.7  # frame-to-frame jitter
    assert smoothing.frequency_response(12.5, head, FPS) < 0.45


def test_quaternion_smoothing_equals_axis_angle_smoothing_for_small_angles():
    rng = np.random.default_rng(2)
    aa = 0.002 * rng.standard_normal((200, 6)).cumsum(axis=0)  # two rotations, under ~0.1 rad
    assert np.abs(aa).max() < 0.15
    direct = smoothing.smooth_linear(aa, 0.4)
    via_quaternions = smoothing.smooth_rotations(aa, 0.4)
    assert np.abs(via_quaternions - direct).max() < 2e-3 * np.abs(direct).max()


def test_rotation_smoothing_is_continuous_across_180_degrees():
    # A head turning from 170 to 190 degrees about z: axis-angle jumps from +pi to -pi.
    rng = np.random.default_rng(3)
    angle = np.radians(np.linspace(170, 190, 100))
    clean = np.zeros((100, 3))
    clean[:, 2] = angle
    clean = rotations.quat_to_axis_angle(rotations.axis_angle_to_quat(clean))  # canonical form
    assert np.abs(np.diff(clean[:, 2])).max() > 6.0  # the wrap is really there
    noisy = rotations.compose_axis_angle(0.01 * rng.standard_normal((100, 3)), clean)
    smoothed = smoothing.smooth_rotations(noisy, 1.0)
    naive = smoothing.smooth_linear(noisy, 1.0)
    # White noise through alpha = 1 keeps sqrt(3 / 5^1.5) = 52 % of its RMS.
    assert _rmse(smoothed, clean, True) < 0.6 * _rmse(noisy, clean, True)
    assert frame_distances(naive, clean, True).max() > 1.0  # smoothing raw axis-angle breaks there
    assert frame_distances(smoothed, clean, True).max() < np.radians(2.0)


def test_rotation_smoothing_ignores_how_each_frame_writes_its_rotation():
    # r and r - 2 pi r/|r| are one rotation but opposite quaternions; a tracker may
    # switch between them from frame to frame. Unwrapped, the result cannot tell.
    rng = np.random.default_rng(9)
    n = 80
    angle = np.radians(np.linspace(200, 230, n)) + 0.01 * rng.standard_normal(n)
    axis = np.array([0.6, 0.0, 0.8])
    consistent = angle[:, None] * axis  # all written with angle > pi
    mixed = consistent.copy()
    mixed[::2] = (angle[::2] - 2 * np.pi)[:, None] * axis  # every other frame the short way
    np.testing.assert_allclose(frame_distances(mixed, consistent, True), 0.0, atol=1e-9)
    reference = smoothing.smooth_rotations(consistent, 2.0)
    assert frame_distances(smoothing.smooth_rotations(mixed, 2.0), reference, True).max() < 1e-9
    assert frame_distances(reference, consistent, True).max() < np.radians(1.5)


def test_smoothing_keeps_bounded_weights_in_range():
    rng = np.random.default_rng(4)
    weights = np.clip(rng.random((300, 52)) ** 4 * 1.2, 0.0, 1.0)
    out = smoothing.smooth_linear(weights, 2.0)
    assert out.min() >= -1e-12 and out.max() <= 1.0 + 1e-12


# -- outliers -----------------------------------------------------------------------
def test_iqr_fence_is_the_papers_rule():
    d = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 30.0, -20.0])
    q1, q3 = np.percentile(d, [25, 75])
    bad = outliers.iqr_outliers(d, 1.5)
    assert bad.tolist() == ((d > q3 + 1.5 * (q3 - q1)) | (d < q1 - 1.5 * (q3 - q1))).tolist()
    assert bad[-1] and bad[-2] and bad.sum() == 2
    assert outliers.iqr_outliers(d, 1.5, two_sided=False).tolist() == [False] * 9 + [True, False]


def test_mean_reference_measures_distance_to_the_mean():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((50, 10))
    np.testing.assert_allclose(outliers.deviations(x, False, "mean"), np.linalg.norm(x - x.mean(0), axis=1))
    rot = np.zeros((50, 3))
    rot[:, 0] = 0.1
    rot[7, 0] = 0.4
    dev = outliers.deviations(rot, True, "mean")
    assert dev[7] == pytest.approx(0.3, abs=0.01) and dev[0] < 0.01


def test_a_held_extreme_is_a_pose_not_an_outlier():
    # A smile held for 1.2 s far from the clip's mean: MMHead's mean fence flags all
    # of it, the default ("both") keeps it because it is reached smoothly and held.
    t = np.arange(300) / FPS
    expression = np.zeros((300, 50))
    expression[:, 0] = 0.3 * np.sin(2 * np.pi * 0.5 * t)
    expression[:, 1] = np.interp(np.arange(300), [150, 160, 190, 200], [0.0, 4.0, 4.0, 0.0])
    clip = replace(MotionClip.neutral(300), expression=expression)
    _, by_mean = preprocess_clip(clip, PreprocessConfig(outlier_reference="mean", smooth=False))
    assert set(range(160, 191)) <= set(by_mean.groups["expression"].replaced_frames)
    _, by_default = preprocess_clip(clip, PreprocessConfig(smooth=False))
    assert not set(range(145, 206)) & set(by_default.groups["expression"].replaced_frames)


def test_replaced_frames_are_interpolated_linearly_and_by_slerp():
    n = 20
    lin = np.arange(n, dtype=np.float64)[:, None] * np.array([[1.0, -2.0]])
    bad = np.zeros(n, bool)
    bad[[0, 5, 6, 7, 19]] = True
    lin_spiked = lin.copy()
    lin_spiked[bad] = 99.0
    fixed = outliers.interpolate_frames(lin_spiked, bad, rotational=False)
    np.testing.assert_allclose(fixed[1:19], lin[1:19])  # a line is rebuilt exactly
    np.testing.assert_allclose(fixed[0], lin[1])  # ends hold the nearest good frame
    np.testing.assert_allclose(fixed[19], lin[18])
    # A rotation about a fixed axis at a constant rate is a great circle: slerp rebuilds it.
    rot = np.outer(np.linspace(0.0, 2.0, n), np.array([0.6, 0.0, 0.8]))
    rot_spiked = rot.copy()
    rot_spiked[5:8] = [0.0, 3.0, 0.0]
    fixed = outliers.interpolate_frames(rot_spiked, bad & (np.arange(n) > 2) & (np.arange(n) < 10), True)
    np.testing.assert_allclose(fixed[:19], rot[:19], atol=1e-9)


def test_constant_and_tiny_clips_pass_unchanged():
    still, report = preprocess_clip(MotionClip.neutral(40))
    assert all(not g.replaced_frames for g in report.groups.values())
    assert np.abs(still.to_array()).max() == 0.0
    short, report = preprocess_clip(MotionClip.neutral(3))
    assert short.num_frames == 3


def test_blinks_survive_by_default():
    clip = MotionClip.neutral(200)
    lids = np.zeros((200, 2), np.float32)
    for start in (30, 90, 150):
        lids[start:start + 3] = [[0.5, 0.5], [1.0, 1.0], [0.5, 0.5]]  # a 3-frame blink
    out, report = preprocess_clip(replace(clip, eyelid=lids))
    assert report.groups["eyelid"].replaced_frames == []
    assert out.eyelid[[31, 91, 151]].min() > 0.85
    _, forced = preprocess_clip(replace(clip, eyelid=lids), PreprocessConfig(outlier_groups=("eyelid",)))
    assert {31, 91, 151} <= set(forced.groups["eyelid"].replaced_frames)  # what the default avoids


def _synthetic_talking_nod(seconds: float = 12.0, seed: int = 6) -> MotionClip:
    """A 1.5 Hz nod, a 5 Hz jaw, expression at 0.3-5 Hz with amplitude falling as 1/f
    (real faces put most energy low: 94 % of BEAT2's expression energy is below 3 Hz)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * FPS)) / FPS
    n = t.size
    expression = np.zeros((n, 50))
    for k in range(10):
        f = rng.uniform(0.3, 5.0)
        expression[:, k] = rng.uniform(1.0, 3.0) / (1 + f) * np.sin(2 * np.pi * f * t + rng.uniform(0, 6.3))
    neck = np.stack([0.2 * np.sin(2 * np.pi * 1.5 * t), 0.1 * np.sin(2 * np.pi * 0.3 * t), 0.03 * np.sin(2 * np.pi * 0.7 * t)], 1)
    jaw = np.zeros((n, 3))
    jaw[:, 0] = 0.12 * (1 + np.sin(2 * np.pi * 5.0 * t)) / 2
    eyes = np.tile(np.array([0.05, 0.1, 0.0]), (n, 2))
    return MotionClip(expression, np.zeros((n, 3)), neck, jaw, eyes, fps=FPS)


def test_spikes_on_a_synthetic_nod_are_removed_and_motion_kept():
    clean = _synthetic_talking_nod()
    noisy, spikes = inject_spikes(clean, rate=0.02, seed=7)
    out, report = preprocess_clip(noisy)
    for name, (recall, false_rate) in spike_scores(report, spikes, clean.num_frames).items():
        assert recall == 1.0, name
        assert false_rate <= 0.02, name
        rotational = name != "expression"
        before = _rmse(getattr(noisy, name), getattr(clean, name), rotational)
        after = _rmse(getattr(out, name), getattr(clean, name), rotational)
        assert after < 0.35 * before, name  # jaw: 0.28 (its 5 Hz sine keeps 85 % through the smoother)
        # Spikes make the track rough; afterwards it is no rougher than the clean one.
        assert _jitter(getattr(out, name)) < 0.8 * _jitter(getattr(noisy, name)), name  # jaw: 0.67
        assert _jitter(getattr(out, name)) < 1.05 * _jitter(getattr(clean, name)), name
    assert _corr(out.neck_pose[:, 0], clean.neck_pose[:, 0]) > 0.99  # the nod
    assert _corr(out.jaw_pose[:, 0], clean.jaw_pose[:, 0]) > 0.97  # 5 Hz syllables
    assert _rmse(out.eye_pose, clean.eye_pose, True) < 1e-4  # constant gaze untouched


# -- the command ------------------------------------------------------------------------
def test_cli_writes_clip_and_report(tmp_path, capsys):
    clean = _synthetic_talking_nod(6.0)
    noisy, spikes = inject_spikes(clean, rate=0.02, seed=8)
    src, dst = tmp_path / "in.npz", tmp_path / "out.npz"
    noisy.save(src)
    assert cli.main(["preprocess", str(src), "-o", str(dst), "--report"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert set(doc["groups"]["neck_pose"]["replaced_frames"]) >= spikes["neck_pose"]
    assert doc["groups"]["expression"]["cutoff_hz"] == pytest.approx(9.1, abs=0.1)
    out = MotionClip.load(dst)
    assert out.num_frames == noisy.num_frames and out.fps == FPS
    assert _rmse(out.neck_pose, clean.neck_pose, True) < 0.25 * _rmse(noisy.neck_pose, clean.neck_pose, True)

    assert cli.main(["preprocess", str(src), "-o", str(dst), "--no-outliers", "--no-smooth"]) == 0
    assert "0 frame(s) replaced" in capsys.readouterr().out
    np.testing.assert_array_equal(MotionClip.load(dst).to_array(), noisy.to_array())


@pytest.mark.parametrize("argv, message", [
    (["missing.npz"], "no such file"),
    (["in.npz", "--fidelity", "0"], "--fidelity"),
    (["in.npz", "--iqr-scale", "-1"], "--iqr-scale"),
    (["in.npz", "--outlier-groups", "mouth"], "outlier groups"),
])
def test_cli_user_errors_exit_2(tmp_path, capsys, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    MotionClip.neutral(10).save(tmp_path / "in.npz")
    assert cli.main(["preprocess", *argv, "-o", "out.npz"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and "Traceback" not in err


# -- real motion: BEAT2 --------------------------------------------------------------
def load_beat2(path) -> MotionClip:
    """SMPL-X joints to the clip contract: neck = joint 12 o head 15, jaw 22, eyes 23/24.

    The pelvis (joint 0) stands in for the global pose so that group carries real motion.
    """
    data = np.load(path)
    joints = data["poses"].reshape(-1, 55, 3).astype(np.float64)
    clip = MotionClip(
        expression=data["expressions"], global_pose=joints[:, 0],
        neck_pose=rotations.compose_axis_angle(joints[:, 12], joints[:, 15]),
        jaw_pose=joints[:, 22], eye_pose=joints[:, 23:25].reshape(-1, 6),
        fps=float(data["mocap_frame_rate"]), source=str(path))
    return clip.resample(FPS)


def test_beat2_spikes_removed_and_real_motion_kept(realdata):
    clean = load_beat2(realdata / "beat2" / "2_scott_0_1_1.npz")
    noisy, spikes = inject_spikes(clean, rate=0.02, seed=0)
    out, report = preprocess_clip(noisy)
    measured = {}
    for name, (recall, false_rate) in spike_scores(report, spikes, clean.num_frames).items():
        rotational = name != "expression"
        before = _rmse(getattr(noisy, name), getattr(clean, name), rotational)
        after = _rmse(getattr(out, name), getattr(clean, name), rotational)
        measured[name] = dict(recall=recall, false_rate=false_rate, rmse_before=before, rmse_after=after,
                              jitter_in=_jitter(getattr(noisy, name)), jitter_out=_jitter(getattr(out, name)),
                              jitter_clean=_jitter(getattr(clean, name)))
    measured["corr_jaw_open"] = _corr(out.jaw_pose[:, 0], clean.jaw_pose[:, 0])
    measured["corr_neck"] = [_corr(out.neck_pose[:, k], clean.neck_pose[:, k]) for k in range(3)]
    print(json.dumps(measured, indent=1))  # the numbers docs/preprocess.md quotes (pytest -s)
    # Measured (seed 0): recall 1.0 everywhere; false 0.9 % / 0.3 % / 1.0 %; RMSE down 4-15x.
    for name in spikes:
        m = measured[name]
        assert m["recall"] >= 0.95, name
        assert m["false_rate"] <= 0.03, name
        assert m["rmse_after"] < 0.4 * m["rmse_before"], name
        assert m["jitter_out"] < 0.6 * m["jitter_in"], name
        assert m["jitter_out"] < 1.1 * m["jitter_clean"], name
    assert measured["corr_jaw_open"] > 0.95
    assert min(measured["corr_neck"]) > 0.98

    # The clean take itself: little is replaced and the motion stays.
    same, report = preprocess_clip(clean)
    for name in ("expression", "neck_pose", "jaw_pose", "eye_pose"):
        assert len(report.groups[name].replaced_frames) <= 0.02 * clean.num_frames, name
    assert _corr(same.jaw_pose[:, 0], clean.jaw_pose[:, 0]) > 0.95
    assert np.mean([_corr(same.expression[:, k], clean.expression[:, k]) for k in range(100)]) > 0.97
