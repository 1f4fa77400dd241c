"""Importers: safe pickles, detection, each layout's mapping, and the real sample files."""
from __future__ import annotations

import csv
import os
import pickle
import shutil

import numpy as np
import pytest

from facelm import face_units, rotations
from facelm.clip import MotionClip
from facelm.errors import FacelmError
from facelm.importers import ImportOptions, import_clip, safe_pickle
from facelm.importers.common import Source
from facelm.importers.registry import detect

RNG = np.random.default_rng(7)


# -- writers for each layout ----------------------------------------------------
def write_pickle(path, obj, protocol=4):
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=protocol)
    return path


def mmhead_motion(n=40):
    m = RNG.normal(0, 0.1, (n, 56)).astype(np.float32)
    m[:, 50:53] = [0.2, -0.1, 0.05]  # neck
    m[:, 53:56] = [0.15, 0.0, 0.0]  # jaw
    return m


def beat2_npz(path, n=31, rate=30, poses=None, expressions=None):
    poses = np.zeros((n, 165), np.float32) if poses is None else poses
    expressions = RNG.normal(0, 1, (n, 100)) if expressions is None else expressions
    np.savez(path, poses=poses, expressions=expressions, trans=np.zeros((n, 3)), betas=np.zeros(300),
             model=np.array("smplx2020"), gender=np.array("neutral"), mocap_frame_rate=np.int32(rate))
    return path


LL_HEADER = (["Timecode", "BlendShapeCount"] + list(face_units.ARKIT_NAMES)
             + ["HeadYaw", "HeadPitch", "HeadRoll"]
             + [f"{s}Eye{a}" for s in ("Left", "Right") for a in ("Yaw", "Pitch", "Roll")])


def timecode(k, step=2, ticks=60, start=13 * 3600 + 13 * 60 + 4):
    """Timecode of frame k: ``step`` ticks a frame, ``ticks`` a second."""
    total = k * step
    sec, ff = start + total // ticks, total % ticks
    h, m, s = sec // 3600 % 24, sec // 60 % 60, sec % 60
    return f"{h:02d}:{m:02d}:{s:02d}:{ff:02d}.{500:03d}"


def livelink_csv(path, n=30, values=None, timecodes=None, extra_rows=()):
    """A Live Link Face CSV; ``values`` maps column name -> (n,) array (others 0)."""
    values = values or {}
    timecodes = timecodes or [timecode(k) for k in range(n)]
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(LL_HEADER)
        for k in range(n):
            row = [timecodes[k], 61] + [float(np.asarray(values.get(c, np.zeros(n)))[k]) for c in LL_HEADER[2:]]
            w.writerow(row)
        for row in extra_rows:
            w.writerow(row)
    return path


def livelink(path, **opts):
    return import_clip(path, options=ImportOptions(**opts))


# -- safe pickles ------------------------------------------------------------------
@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
def test_safe_pickle_reads_numpy_and_containers_in_every_protocol(tmp_path, protocol):
    obj = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "s": np.float64(2.5), "l": [1, (2, 3)],
           "o": np.array([1, "x"], dtype=object)}
    back = safe_pickle.load(write_pickle(tmp_path / "x.pkl", obj, protocol))
    np.testing.assert_array_equal(back["a"], obj["a"])
    assert back["s"] == 2.5 and back["l"] == [1, (2, 3)] and list(back["o"]) == [1, "x"]


class _Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickle_is_refused_and_nothing_runs(tmp_path):
    marker = tmp_path / "pwned"
    path = write_pickle(tmp_path / "evil.pkl", {"expression": _Exploit(marker)})
    with pytest.raises(FacelmError, match=r"evil\.pkl: pickle refers to (posix|os)\.system, which is not allowed"):
        safe_pickle.load(path)
    assert not marker.exists()
    # A plain pickle.load would have run it: the file is a real exploit.
    with open(path, "rb") as f:
        pickle.load(f)
    assert marker.exists()


def test_builtins_beyond_containers_and_odd_codecs_are_refused():
    evil_eval = b"cbuiltins\neval\n(S'1+1'\ntR."
    with pytest.raises(FacelmError, match="builtins.eval"):
        safe_pickle.loads(evil_eval, "e.pkl")
    rot13 = b"c_codecs\nencode\n(S'abc'\nS'rot13'\ntR."
    with pytest.raises(FacelmError, match="not a readable pickle"):
        safe_pickle.loads(rot13, "r.pkl")
    torch_ref = b"\x80\x02ctorch._utils\n_rebuild_tensor_v2\nq\x00."
    with pytest.raises(FacelmError, match="torch tensors: save them as numpy"):
        safe_pickle.loads(torch_ref, "t.pkl")


def test_truncated_pickle_is_a_one_line_error(tmp_path):
    data = pickle.dumps(mmhead_motion(), protocol=4)
    (tmp_path / "cut.pkl").write_bytes(data[: len(data) // 2])
    with pytest.raises(FacelmError, match=r"cut\.pkl: pickle is truncated"):
        import_clip(tmp_path / "cut.pkl")


# -- detection -------------------------------------------------------------------------
def test_detection_is_by_content_not_extension(tmp_path):
    files = {
        "mmhead": write_pickle(tmp_path / "a.bin", mmhead_motion()),
        "tdmm": write_pickle(tmp_path / "b.dat", {"expression": np.zeros((5, 50)), "pose": np.zeros((5, 3)),
                                                   "jaw": np.zeros((5, 3)), "eyelid": np.zeros((5, 2))}),
        "beat2": beat2_npz(tmp_path / "c.npz"),
        "livelink": livelink_csv(tmp_path / "d.txt"),
    }
    np.savez(tmp_path / "e.npz", exp=np.zeros((5, 50)), pose=np.zeros((5, 6)))
    files["diffposetalk"] = tmp_path / "e.npz"
    MotionClip.neutral(5).save(tmp_path / "f.npz")
    files["facelm"] = tmp_path / "f.npz"
    os.rename(files["beat2"], tmp_path / "c.pkl")  # a lying extension
    files["beat2"] = tmp_path / "c.pkl"
    for name, path in files.items():
        assert detect(Source(path)).NAME == name, path


@pytest.mark.parametrize("make, words", [
    (lambda p: np.savez(p / "x.npz", foo=np.zeros(3)), "unknown layout (an npz with arrays foo)"),
    (lambda p: (p / "x.npz").write_bytes(b"\x01\x02garbage\x00" * 8), "unknown layout (binary data"),
    (lambda p: (p / "x.npz").write_text("a,b,c\n1,2,3\n"), "unknown layout (text starting 'a,b,c'"),
    (lambda p: (p / "x.npz").write_bytes(b""), "file is empty"),
])
def test_unknown_content_names_what_was_seen(tmp_path, make, words):
    make(tmp_path)
    with pytest.raises(FacelmError) as err:
        import_clip(tmp_path / "x.npz")
    assert str(err.value).startswith(f"{tmp_path / 'x.npz'}: ") and words in str(err.value)


def test_forced_format_and_unknown_format_name(tmp_path):
    path = write_pickle(tmp_path / "m.pkl", mmhead_motion())
    assert import_clip(path, format="MMHead").format == "mmhead"
    with pytest.raises(FacelmError, match="unknown format 'vicon'"):
        import_clip(path, format="vicon")
    with pytest.raises(FacelmError, match=r"m\.pkl: expected npz content, but the file looks like pickle"):
        import_clip(path, format="beat2")


# -- MMHead ----------------------------------------------------------------------------
def test_mmhead_columns_and_text_annotations_from_an_ancestor(tmp_path):
    motion = mmhead_motion()
    clip_dir = tmp_path / "MMHead" / "facial_motion"
    clip_dir.mkdir(parents=True)
    path = write_pickle(clip_dir / "CELEBVHQ_x_0.pkl", {"motion": motion, "name": "CELEBVHQ_x_0"})
    for cat, text in [("action", "He nods."), ("emotion", "Calm."), ("detail_head_pose", "Head down.")]:
        (tmp_path / "MMHead" / "text_annotations" / cat).mkdir(parents=True)
        (tmp_path / "MMHead" / "text_annotations" / cat / "CELEBVHQ_x_0.txt").write_text(text + "\n")
    clip = import_clip(path).clip
    assert clip.fps == 25 and clip.num_frames == 40  # 25 fps in, 25 out: untouched
    np.testing.assert_allclose(clip.expression, motion[:, :50], atol=1e-6)
    np.testing.assert_allclose(clip.neck_pose, motion[:, 50:53], atol=1e-6)
    np.testing.assert_allclose(clip.jaw_pose, motion[:, 53:56], atol=1e-6)
    assert not clip.global_pose.any() and not clip.eye_pose.any()
    assert clip.text == {"action": "He nods.", "emotion": "Calm.", "detail_head_pose": "Head down."}


def test_mmhead_text_root_option_and_bare_array(tmp_path):
    path = write_pickle(tmp_path / "clip7.pkl", mmhead_motion(), protocol=2)
    elsewhere = tmp_path / "ann" / "text_annotations" / "emotion"
    elsewhere.mkdir(parents=True)
    (elsewhere / "clip7.txt").write_text("Happy.")
    assert import_clip(path).clip.text == {}
    res = import_clip(path, options=ImportOptions(text_root=str(tmp_path / "ann")))
    assert res.clip.text == {"emotion": "Happy."}


def test_mmhead_wrong_width_and_nan(tmp_path):
    bad = mmhead_motion()
    bad[3, 7] = np.nan
    with pytest.raises(FacelmError, match=r"'motion' has NaN/inf in 1 frame\(s\), first at frame 3"):
        import_clip(write_pickle(tmp_path / "nan.pkl", bad))
    with pytest.raises(FacelmError, match=r"MMHead motion must be one \(T, 56\) array, found ndarray of shape \(40, 55\)"):
        import_clip(write_pickle(tmp_path / "w.pkl", mmhead_motion()[:, :55]), format="mmhead")


# -- TDMM-LM / SMIRK -----------------------------------------------------------------
def test_tdmm_dict_of_arrays_and_list_of_frames_agree(tmp_path):
    n = 30
    fields = {"expression": RNG.normal(size=(n, 50)), "pose": RNG.normal(0, 0.2, (n, 3)),
              "jaw": RNG.normal(0, 0.1, (n, 3)), "eyelid": RNG.uniform(0, 1, (n, 2)),
              "identity": np.zeros((n, 300)), "camera_pose": np.zeros((n, 3))}
    as_dict = import_clip(write_pickle(tmp_path / "d.pkl", fields)).clip
    frames = [{k: v[i][None] for k, v in fields.items()} for i in range(n)]  # (1, k) per frame
    as_list = import_clip(write_pickle(tmp_path / "l.pkl", frames)).clip
    smirk = {f"{k}_params": v for k, v in fields.items() if k != "identity"}
    as_smirk = import_clip(write_pickle(tmp_path / "s.pkl", smirk)).clip
    for clip in (as_dict, as_list, as_smirk):
        np.testing.assert_allclose(clip.neck_pose, fields["pose"], atol=1e-6)  # head motion -> neck
        np.testing.assert_allclose(clip.jaw_pose, fields["jaw"], atol=1e-6)
        np.testing.assert_allclose(clip.eyelid, fields["eyelid"], atol=1e-6)
        assert not clip.global_pose.any() and clip.num_frames == n


def test_tdmm_fps_in_resamples_and_errors(tmp_path):
    fields = {"expression": np.zeros((31, 50)), "pose": np.zeros((31, 3)), "jaw": np.zeros((31, 3))}
    res = import_clip(write_pickle(tmp_path / "t.pkl", fields), options=ImportOptions(fps_in=30))
    assert res.source_fps == 30 and res.clip.num_frames == 26
    frames = [{"expression": np.zeros(50), "pose": np.zeros(3), "jaw": np.zeros(3)} for _ in range(4)]
    del frames[2]["jaw"]
    with pytest.raises(FacelmError, match="frame 2 has no 'jaw'"):
        import_clip(write_pickle(tmp_path / "f.pkl", frames))
    fields["jaw"] = np.zeros((30, 3))
    with pytest.raises(FacelmError, match="arrays disagree on the frame count"):
        import_clip(write_pickle(tmp_path / "n.pkl", fields))


# -- BEAT2 --------------------------------------------------------------------------------
def test_beat2_joints_compose_neck_and_head_and_resample_30_to_25(tmp_path):
    n = 31
    poses = np.zeros((n, 55, 3))
    poses[:, 0] = [0.5, 0.4, 0.3]  # pelvis: the body root, not the head's
    poses[:, 9] = [0.1, 0.0, 0.2]  # spine3
    poses[:, 12] = [0.0, 0.3, 0.0]  # neck turns left
    poses[:, 15] = [0.2, 0.0, 0.0]  # head nods down
    poses[:, 22] = [0.25, 0.0, 0.0]
    poses[:, 23] = [0.01, 0.02, 0.03]
    poses[:, 24] = [0.04, 0.05, 0.06]
    res = import_clip(beat2_npz(tmp_path / "b.npz", n, poses=poses.reshape(n, 165)))
    clip = res.clip
    assert res.source_fps == 30 and clip.fps == 25 and clip.num_frames == 26  # 1 s + 1 frame
    assert clip.num_expression == 100
    want = rotations.compose_axis_angle(np.array([0.0, 0.3, 0.0]), np.array([0.2, 0.0, 0.0]))
    other_order = rotations.compose_axis_angle(np.array([0.2, 0.0, 0.0]), np.array([0.0, 0.3, 0.0]))
    assert not np.allclose(want, other_order, atol=1e-3)  # the order is tested, not assumed
    np.testing.assert_allclose(clip.neck_pose, np.tile(want, (26, 1)), atol=1e-5)
    np.testing.assert_allclose(clip.jaw_pose[:, 0], 0.25, atol=1e-6)
    np.testing.assert_allclose(clip.eye_pose[0], [0.01, 0.02, 0.03, 0.04, 0.05, 0.06], atol=1e-6)
    assert not clip.global_pose.any()


def test_beat2_bad_shapes_and_nan(tmp_path):
    with pytest.raises(FacelmError, match=r"'poses' must have shape \(T, 165\), got \(31, 160\)"):
        import_clip(beat2_npz(tmp_path / "a.npz", poses=np.zeros((31, 160))))
    e = RNG.normal(size=(31, 100))
    e[10] = np.nan
    with pytest.raises(FacelmError, match="'expressions' has NaN/inf in 1 frame"):
        import_clip(beat2_npz(tmp_path / "b.npz", expressions=e))


# -- DiffPoseTalk ------------------------------------------------------------------------------
def test_diffposetalk_pose_is_head_then_jaw(tmp_path):
    pose = np.zeros((50, 6))
    pose[:, :3] = [0.1, -0.2, 0.0]
    pose[:, 3] = 0.3
    np.savez(tmp_path / "d.npz", exp=np.ones((50, 50)), pose=pose, shape=np.zeros((50, 100)))
    clip = import_clip(tmp_path / "d.npz").clip
    np.testing.assert_allclose(clip.neck_pose[0], [0.1, -0.2, 0.0], atol=1e-6)
    np.testing.assert_allclose(clip.jaw_pose[0], [0.3, 0, 0], atol=1e-6)
    np.savez(tmp_path / "e.npz", exp=np.ones((50, 50)), pose=np.zeros((50, 3)))
    with pytest.raises(FacelmError, match=r"'pose' must be \(T, 6\) = head rotation 3 \+ jaw 3"):
        import_clip(tmp_path / "e.npz")


# -- facelm npz ----------------------------------------------------------------------------
def test_facelm_npz_is_validated_and_resampled(tmp_path):
    MotionClip.neutral(61, fps=60).save(tmp_path / "c.npz")
    assert import_clip(tmp_path / "c.npz").clip.num_frames == 26


# -- Live Link Face ------------------------------------------------------------------------------
def test_livelink_head_signs_follow_the_head_pose_table(tmp_path):
    n = 30
    pitch_only = livelink(livelink_csv(tmp_path / "p.csv", n, {"HeadPitch": np.full(n, 0.2)})).clip
    np.testing.assert_allclose(pitch_only.neck_pose[0], [0.2, 0, 0], atol=1e-6)  # rx > 0: head down
    yaw = livelink_csv(tmp_path / "y.csv", n, {"HeadYaw": np.full(n, 0.3), "HeadRoll": np.full(n, 0.1)})
    cam = livelink(yaw).clip.neck_pose[0]
    face = livelink(yaw, livelink_angles="face").clip.neck_pose[0]
    # camera reading: yaw > 0 turns to the subject's right (ry < 0), roll > 0 tilts left (rz < 0)
    np.testing.assert_allclose(cam, rotations.euler_to_axis_angle(-0.3, 0.0, -0.1), atol=1e-6)
    assert cam[1] < 0 and cam[2] < 0
    np.testing.assert_allclose(face, rotations.euler_to_axis_angle(0.3, 0.0, 0.1), atol=1e-6)


def test_livelink_eyes_jaw_eyelids_and_arkit_key(tmp_path):
    n = 30
    vals = {"LeftEyeYaw": np.full(n, 0.2), "RightEyePitch": np.full(n, 0.1),
            "JawOpen": np.linspace(0, 0.9, n), "EyeBlinkLeft": np.full(n, 0.7), "EyeBlinkRight": np.full(n, 0.1)}
    res = livelink(livelink_csv(tmp_path / "e.csv", n, vals))
    clip = res.clip
    # camera reading: 'LeftEye' is the subject's right eye, FLAME's second slot
    np.testing.assert_allclose(clip.eye_pose[0, 3:], [0, -0.2, 0], atol=1e-6)
    np.testing.assert_allclose(clip.eye_pose[0, :3], [0.1, 0, 0], atol=1e-6)
    j = face_units.ARKIT_INDEX["JawOpen"]
    np.testing.assert_allclose(clip.jaw_pose[:, 0], face_units.JAW_DROP_RADIANS * clip.arkit[:, j], atol=1e-6)
    np.testing.assert_allclose(clip.eyelid[0], [0.7, 0.1], atol=1e-6)
    np.testing.assert_allclose(clip.expression, clip.arkit @ face_units.default_arkit_to_flame().T, atol=1e-4)
    assert clip.arkit.shape == (clip.num_frames, 52) and clip.fps == 25
    assert clip.num_frames == 25  # 29 steps of 1/30 s = 0.967 s -> frames at 0..0.96 s
    assert abs(res.source_fps - 30) < 1e-6


def test_livelink_drops_truncated_and_garbage_rows_and_fills_gaps(tmp_path):
    n = 60
    jaw = np.linspace(0, 1, n)
    tcs = [timecode(k) for k in range(n)]
    bad = [[timecode(n + 1), "61"],  # truncated (two columns)
           ["not-a-timecode", "61"] + ["0"] * (len(LL_HEADER) - 2),
           [timecode(n + 2), "61"] + ["nan"] * (len(LL_HEADER) - 2),
           [timecode(3), "61"] + ["0"] * (len(LL_HEADER) - 2)]  # goes back in time
    path = livelink_csv(tmp_path / "g.csv", n, {"JawOpen": jaw}, timecodes=tcs, extra_rows=bad)
    # remove frames 20..29 to make a 1/3 s gap
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:21] + lines[31:]) + "\n")
    res = livelink(path)
    assert res.details["dropped"] == {"truncated": 1, "unparsable": 2, "out_of_order": 1}
    assert res.frames_in == 50 and res.details["gaps"] == 1
    assert abs(res.details["longest_gap_s"] - 11 / 30) < 1e-6
    clip = res.clip
    # uniform 25 fps grid across the gap; JawOpen was linear in time so it stays exact
    t = np.arange(clip.num_frames) / 25
    np.testing.assert_allclose(clip.arkit[:, face_units.ARKIT_INDEX["JawOpen"]], t * 30 / (n - 1), atol=1e-5)
    assert "dropped rows: 1 truncated, 2 unparsable, 1 out of order" in res.summary("o.npz")


def test_livelink_timecode_rate_detection_and_midnight(tmp_path):
    n = 75  # 30 ticks a second, one tick a frame: FF never reaches 30
    path = livelink_csv(tmp_path / "t30.csv", n, timecodes=[timecode(k, step=1, ticks=30) for k in range(n)])
    res = livelink(path)
    assert abs(res.source_fps - 30) < 1e-6 and res.clip.num_frames == 62
    midnight = [timecode(k, start=86399) for k in range(n)]  # 23:59:59 -> 00:00:01
    assert midnight[0].startswith("23:59:59") and midnight[-1].startswith("00:00:01")
    res = livelink(livelink_csv(tmp_path / "m.csv", n, timecodes=midnight))
    assert res.frames_in == n and res.details["dropped"]["out_of_order"] == 0


def test_livelink_custom_arkit_map_and_bad_maps(tmp_path):
    n = 30
    path = livelink_csv(tmp_path / "a.csv", n, {"JawOpen": np.full(n, 0.6), "BrowInnerUp": np.full(n, 0.4)})
    m = np.zeros((100, 52))
    m[0, face_units.ARKIT_INDEX["JawOpen"]] = 1.0
    m[99, face_units.ARKIT_INDEX["BrowInnerUp"]] = -2.0
    np.savez(tmp_path / "map.npz", matrix=m)
    clip = livelink(path, arkit_map=str(tmp_path / "map.npz")).clip
    assert clip.num_expression == 100
    np.testing.assert_allclose(clip.expression[0, [0, 99]], [0.6, -0.8], atol=1e-6)
    assert np.abs(clip.expression[0, 1:99]).max() == 0
    np.savez(tmp_path / "bad.npz", matrix=np.zeros((50, 51)))
    with pytest.raises(FacelmError, match=r"'matrix' must be \(50, 52\) or \(100, 52\)"):
        livelink(path, arkit_map=str(tmp_path / "bad.npz"))
    np.savez(tmp_path / "nokey.npz", m=np.zeros((50, 52)))
    with pytest.raises(FacelmError, match="needs a 'matrix' array, has m"):
        livelink(path, arkit_map=str(tmp_path / "nokey.npz"))


def test_livelink_empty_and_header_only(tmp_path):
    (tmp_path / "h.csv").write_text(",".join(LL_HEADER) + "\n")
    with pytest.raises(FacelmError, match="header but no frames"):
        livelink(tmp_path / "h.csv")
    (tmp_path / "e.csv").write_text("")
    with pytest.raises(FacelmError, match="e.csv: file is empty"):
        import_clip(tmp_path / "e.csv", format="livelink")
    with pytest.raises(FacelmError, match="--fps-in does not apply"):
        livelink(livelink_csv(tmp_path / "x.csv"), fps_in=30)


# -- the real sample files ---------------------------------------------------------------------------
def test_real_beat2_clip(realdata):
    path = realdata / "beat2" / "2_scott_0_1_1.npz"
    res = import_clip(path)
    clip = res.clip
    assert res.format == "beat2" and res.source_fps == 30 and res.frames_in == 1906
    assert clip.fps == 25 and clip.num_frames == 1588 and clip.num_expression == 100
    assert clip.audio_path and clip.audio_path.endswith("2_scott_0_1_1.wav")
    raw = np.load(path)["poses"].reshape(-1, 55, 3).astype(np.float64)
    # 25 fps frame 5 is 30 fps frame 6 (both at 0.2 s): no interpolation there
    np.testing.assert_allclose(clip.neck_pose[5], rotations.compose_axis_angle(raw[6, 12], raw[6, 15]), atol=1e-5)
    np.testing.assert_allclose(clip.jaw_pose[5], raw[6, 22], atol=1e-6)
    # plausible ranges for a seated speaker
    assert np.linalg.norm(clip.neck_pose, axis=1).max() < 1.0
    assert np.abs(clip.eye_pose).max() < 0.3 and np.abs(clip.expression).max() < 10
    assert clip.expression[:, 50:].std() > 0.1  # the upper 50 coefficients carry signal


@pytest.mark.parametrize("name, frames_in, frames_out", [("alex_rom_3.csv", 4030, 3360), ("S07-001.csv", 2028, 1691)])
def test_real_livelink_clips(realdata, tmp_path, name, frames_in, frames_out):
    path = realdata / "livelinkface" / name
    res = import_clip(path)
    clip = res.clip
    assert res.format == "livelink" and abs(res.source_fps - 30) < 0.01
    assert res.frames_in == frames_in and clip.num_frames == frames_out and clip.fps == 25
    assert clip.arkit.shape == (frames_out, 52)
    j = face_units.ARKIT_INDEX["JawOpen"]
    with open(path) as f:
        rows = list(csv.reader(f))
    raw_jaw = np.array([float(r[rows[0].index("JawOpen")]) for r in rows[1:]])
    assert clip.arkit[:, j].max() > raw_jaw.max() - 0.02  # the peak survives resampling
    if name == "alex_rom_3.csv":
        assert raw_jaw.max() > 0.94  # the range-of-motion take opens the jaw fully (0.948)
    # FLAME's left eye turns left (ry > 0) when the blendshapes say the left eye looks out
    a = clip.arkit
    gaze_left = a[:, face_units.ARKIT_INDEX["EyeLookOutLeft"]] - a[:, face_units.ARKIT_INDEX["EyeLookInLeft"]]
    assert np.corrcoef(clip.eye_pose[:, 1], gaze_left)[0, 1] > 0.9
    # ...and it is that eye's own shapes, not its partner's, that explain the angle (vergence tells them apart)
    gaze_right_eye = a[:, face_units.ARKIT_INDEX["EyeLookInRight"]] - a[:, face_units.ARKIT_INDEX["EyeLookOutRight"]]
    fit = np.linalg.lstsq(np.stack([gaze_left, gaze_right_eye, np.ones(len(a))], 1), clip.eye_pose[:, 1], rcond=None)[0]
    assert fit[0] > 0.4 and fit[0] > 2 * abs(fit[1]), fit  # measured 0.54 vs 0.06, 0.46 vs 0.14
    # appended truncated rows are dropped and change nothing
    copy = tmp_path / name
    shutil.copy(path, copy)
    with open(copy, "a") as f:
        f.write(rows[-1][0][:-3] + "999,61\n" + "23:59:59:58.000,61,0.1\n")
    again = import_clip(copy)
    assert again.details["dropped"]["truncated"] == 2 and res.details["dropped"]["truncated"] == 0
    np.testing.assert_array_equal(again.clip.arkit, clip.arkit)
