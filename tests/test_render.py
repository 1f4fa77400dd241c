"""facelm render: schematic face, curves, FLAME skinning, GIF/MP4/PNG output, errors."""
from __future__ import annotations

import pickle
import sys
import types

import numpy as np
import pytest
from PIL import Image, ImageSequence

from facelm import cli, rotations
from facelm.clip import MotionClip
from facelm.errors import FacelmError
from facelm.face_units import ARKIT_INDEX, UnitBasis, units_vector
from facelm.render import FrameComposer, RenderOptions, render_clip, render_file
from facelm.render import palette as pal
from facelm.render.drive import face_drive
from facelm.render.flame_model import FlameModel
from facelm.render.palette import palette_image, to_palette
from facelm.render.writers import GifStream

SIZE = 128


# -- clips --------------------------------------------------------------------
def posed_clip(poses: list[dict], fps: float = 25.0) -> MotionClip:
    """One frame a pose: keys neck, jaw, eye (rotations) and units ({AU: intensity})."""
    clip = MotionClip.neutral(len(poses), fps=fps)
    basis = UnitBasis()
    for i, p in enumerate(poses):
        for key, name in (("neck", "neck_pose"), ("jaw", "jaw_pose"), ("eye", "eye_pose"), ("global", "global_pose")):
            if key in p:
                getattr(clip, name)[i] = p[key]
        if "units" in p:
            e, j = basis.to_expression(units_vector(p["units"])[None])
            clip.expression[i] = e[0]
            clip.jaw_pose[i] += j[0]
    return clip


def moving_clip(frames: int = 30, fps: float = 25.0) -> MotionClip:
    """A nod and a smile that change every frame."""
    t = np.linspace(0.0, 1.0, frames)
    return posed_clip([{"neck": [0.3 * np.sin(3 * s), 0.2 * s, 0.0],
                        "units": {"AU12": float(s), "AU26": float(1 - s)}} for s in t], fps=fps)


def near(img: Image.Image, color, tol: int = 40) -> np.ndarray:
    """Mask of pixels within ``tol`` (per channel) of ``color``."""
    a = np.asarray(img.convert("RGB")).astype(int)
    return (np.abs(a - np.array(color)) <= tol).all(axis=2)


def centroid(mask: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(mask)
    assert xs.size, "nothing to measure"
    return np.array([xs.mean(), ys.mean()])


def iris(img: Image.Image) -> np.ndarray:
    return near(img, pal.IRIS, 25) | near(img, pal.PUPIL, 10)


# -- schematic face -------------------------------------------------------------
@pytest.fixture(scope="module")
def faces():
    poses = {
        "neutral": {}, "jaw": {"jaw": [0.35, 0, 0]}, "left": {"neck": [0, 0.5, 0]},
        "down": {"neck": [0.35, 0, 0]}, "tilt_right": {"neck": [0, 0, 0.35]},
        "smile": {"units": {"AU12": 1.0}}, "blink": {"units": {"AU45": 1.0}},
        "brows_up": {"units": {"AU1": 1.0, "AU2": 1.0}}, "look_left": {"eye": [0, 0.4, 0, 0, 0.4, 0]},
        "global_left": {"global": [0, 0.5, 0]},
    }
    comp = FrameComposer(posed_clip(list(poses.values())), size=256, curves=False)
    return {name: comp.face_view.draw(i) for i, name in enumerate(poses)}


def test_jaw_opening_shows_the_mouth_interior(faces):
    dark = lambda img: int(near(img, pal.MOUTH, 8).sum())  # noqa: E731
    assert dark(faces["neutral"]) < 10
    assert dark(faces["jaw"]) > 150


def test_head_turn_left_moves_the_face_to_image_right(faces):
    # ry > 0 turns to the subject's left, which faces the viewer's right.
    dx = centroid(iris(faces["left"]))[0] - centroid(iris(faces["neutral"]))[0]
    assert dx > 10
    # global o neck: a root rotation turns the head the same way.
    assert np.allclose(centroid(iris(faces["global_left"])), centroid(iris(faces["left"])), atol=1.0)


def test_nod_down_moves_the_eyes_down_and_tilt_right_lifts_the_image_right_eye(faces):
    assert centroid(iris(faces["down"]))[1] - centroid(iris(faces["neutral"]))[1] > 8
    mask = iris(faces["tilt_right"])
    half = int(centroid(mask)[0])  # between the two eyes
    left_img, right_img = mask.copy(), mask.copy()
    left_img[:, half:] = False
    right_img[:, :half] = False
    # Top of the head toward the subject's right (image left): the image-right eye rises.
    assert centroid(right_img)[1] < centroid(left_img)[1] - 8


def test_smile_lifts_the_lip_corners(faces):
    def corner_height(img):
        ys, xs = np.nonzero(near(img, pal.LIPS, 30))
        ends = (xs <= xs.min() + 3) | (xs >= xs.max() - 3)
        middle = np.abs(xs - (xs.min() + xs.max()) / 2) <= 4
        return ys[ends].mean() - ys[middle].mean()  # negative: corners above the middle
    assert abs(corner_height(faces["neutral"])) < 2
    assert corner_height(faces["smile"]) < -4


def test_blink_hides_the_eyes_and_brows_rise(faces):
    white = lambda img: int(near(img, pal.EYE_WHITE, 40).sum() + iris(img).sum())  # noqa: E731
    assert white(faces["neutral"]) > 100
    assert white(faces["blink"]) < 0.1 * white(faces["neutral"])
    # Brow-coloured pixels that appear vs those that vanish (hair shades cancel out).
    up, neutral = near(faces["brows_up"], pal.BROW, 2), near(faces["neutral"], pal.BROW, 2)
    assert centroid(up & ~neutral)[1] < centroid(neutral & ~up)[1] - 4


def test_gaze_moves_the_irises_within_a_still_head(faces):
    assert centroid(iris(faces["look_left"]))[0] - centroid(iris(faces["neutral"]))[0] > 3


def test_arkit_key_drives_the_face_directly():
    clip = MotionClip.neutral(2)
    arkit = np.zeros((2, 52), np.float32)
    arkit[1, ARKIT_INDEX["MouthSmileLeft"]] = 1.0
    arkit[1, ARKIT_INDEX["JawOpen"]] = 1.0
    arkit[1, ARKIT_INDEX["EyeBlinkRight"]] = 1.0
    clip.arkit = arkit
    drive = face_drive(MotionClip.from_mapping({**{k: getattr(clip, k) for k in
                                                  ("expression", "global_pose", "neck_pose", "jaw_pose", "eye_pose")},
                                               "arkit": arkit}))
    assert drive.source.startswith("ARKit")
    assert drive.smile[1].tolist() == [1.0, 0.0] and drive.blink[1].tolist() == [0.0, 1.0]
    assert drive.jaw[1, 0] > 0.3 and drive.jaw[0, 0] == 0.0  # no jaw rotation stored: from JawOpen


def test_expression_outside_the_unit_basis_is_not_read_as_units():
    clip = MotionClip.neutral(50, num_expression=100)
    clip.expression[:] = np.random.default_rng(0).normal(0, 1, clip.expression.shape)  # like real FLAME
    drive = face_drive(clip)
    assert not drive.action_known
    assert not np.any(drive.blink) and not np.any(drive.smile)
    assert face_drive(moving_clip()).action_known


# -- outputs --------------------------------------------------------------------
def gif_frames(path):
    with Image.open(path) as g:
        return [(np.asarray(f.convert("RGB")), f.info.get("duration")) for f in ImageSequence.Iterator(g)]


def test_gif_has_every_frame_at_the_clip_rate_and_matches_the_composer(tmp_path):
    clip = moving_clip(30)
    out = tmp_path / "a.gif"
    result = render_clip(clip, out, RenderOptions(size=SIZE))
    frames = gif_frames(out)
    assert len(frames) == 30 == result.frames
    assert frames[0][0].shape == (SIZE, SIZE + 192, 3)
    assert sum(d for _, d in frames) == 1200  # 30 frames at 25 fps
    assert not np.array_equal(frames[3][0], frames[20][0])
    comp = FrameComposer(clip, size=SIZE)
    for k in (0, 17, 29):  # delta-coded frames decode to exactly what was drawn
        want = np.asarray(to_palette(comp.frame(k), palette_image()).convert("RGB"))
        assert np.array_equal(frames[k][0], want)


def test_gif_keeps_time_at_30_fps_and_merges_still_frames(tmp_path):
    out = tmp_path / "still.gif"
    stream = GifStream(str(out), 30.0)
    still = Image.new("RGB", (32, 16), pal.SKIN)
    for _ in range(30):
        stream.write(still)
    stream.close()
    frames = gif_frames(out)
    assert len(frames) == 1 and frames[0][1] == 1000  # 30 identical frames: one, shown 1 s
    render_clip(moving_clip(30, fps=30.0), out, RenderOptions(size=64))
    durations = [d for _, d in gif_frames(out)]
    assert set(durations) == {30, 40} and sum(durations) == 1000


def test_mp4_has_every_frame(tmp_path):
    imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg")
    out = tmp_path / "a.mp4"
    render_clip(moving_clip(20), out, RenderOptions(size=SIZE))
    reader = imageio_ffmpeg.read_frames(str(out))
    meta = next(reader)
    frames = [np.frombuffer(f, np.uint8) for f in reader]
    assert meta["size"] == (SIZE + 192, SIZE) and len(frames) == 20
    assert np.abs(frames[0].astype(int) - frames[-1].astype(int)).mean() > 1.0


def test_mp4_carries_the_clips_audio(tmp_path):
    imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg")
    import wave
    wav = tmp_path / "a.wav"
    with wave.open(str(wav), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        tone = (8000 * np.sin(2 * np.pi * 440 * np.arange(32000) / 16000)).astype(np.int16)
        w.writeframes(tone.tobytes())
    clip = moving_clip(25)
    clip.audio_path = str(wav)
    out = tmp_path / "a.mp4"
    render_clip(clip, out, RenderOptions(size=64, start=0.4))
    meta = next(imageio_ffmpeg.read_frames(str(out)))
    assert meta["audio_codec"] == "aac"
    render_clip(clip, out, RenderOptions(size=64, audio=False))
    assert "audio_codec" not in next(imageio_ffmpeg.read_frames(str(out)))


def test_png_contact_sheet_and_no_curves(tmp_path):
    out = tmp_path / "sheet.png"
    render_clip(moving_clip(40), out, RenderOptions(size=SIZE))
    img = Image.open(out)
    assert img.size == (4 * SIZE, 3 * SIZE)  # 8 faces in 2 rows, curves below
    tiles = [np.asarray(img.crop((c * SIZE, 0, (c + 1) * SIZE, SIZE))) for c in range(4)]
    assert not np.array_equal(tiles[0], tiles[3])
    render_clip(moving_clip(3), out, RenderOptions(size=SIZE, curves=False))
    assert Image.open(out).size == (3 * SIZE, SIZE)


def test_start_seconds_and_fps_select_what_is_rendered(tmp_path):
    clip = moving_clip(50)  # 2 s at 25 fps
    out = tmp_path / "part.gif"
    assert render_clip(clip, out, RenderOptions(size=64, start=1.0, seconds=0.4)).frames == 10
    assert render_clip(clip, out, RenderOptions(size=64, fps=10.0)).frames == 20


# -- errors ---------------------------------------------------------------------
def test_user_errors_are_one_line(tmp_path, capsys):
    clip_path = tmp_path / "c.npz"
    moving_clip(5).save(clip_path)
    with pytest.raises(FacelmError, match="unsupported output"):
        render_file(clip_path, tmp_path / "x.avi")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(FacelmError, match="bad.npz"):
        render_file(bad, tmp_path / "x.gif")
    with pytest.raises(FacelmError, match="past the clip's end"):
        render_file(clip_path, tmp_path / "x.gif", RenderOptions(start=9.0))
    with pytest.raises(FacelmError, match="at most 50 fps"):
        render_file(clip_path, tmp_path / "x.gif", RenderOptions(fps=60.0))
    assert cli.main(["render", str(bad), "-o", str(tmp_path / "y.png")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1


def test_cli_writes_the_file(tmp_path, capsys):
    clip_path = tmp_path / "c.npz"
    moving_clip(12).save(clip_path)
    out = tmp_path / "c.gif"
    assert cli.main(["render", str(clip_path), "-o", str(out), "--size", "64", "--no-curves"]) == 0
    assert "12 frames" in capsys.readouterr().out and len(gif_frames(out)) == 12


# -- FLAME model path -------------------------------------------------------------
def _icosphere(levels: int = 2):
    t = (1 + 5 ** 0.5) / 2
    v = [(-1, t, 0), (1, t, 0), (-1, -t, 0), (1, -t, 0), (0, -1, t), (0, 1, t), (0, -1, -t), (0, 1, -t),
         (t, 0, -1), (t, 0, 1), (-t, 0, -1), (-t, 0, 1)]
    f = [(0, 11, 5), (0, 5, 1), (0, 1, 7), (0, 7, 10), (0, 10, 11), (1, 5, 9), (5, 11, 4), (11, 10, 2),
         (10, 7, 6), (7, 1, 8), (3, 9, 4), (3, 4, 2), (3, 2, 6), (3, 6, 8), (3, 8, 9), (4, 9, 5),
         (2, 4, 11), (6, 2, 10), (8, 6, 7), (9, 8, 1)]
    verts = [np.array(p, float) / np.linalg.norm(p) for p in v]
    for _ in range(levels):
        cache, nf = {}, []
        def mid(a, b):
            key = (min(a, b), max(a, b))
            if key not in cache:
                m = verts[a] + verts[b]
                verts.append(m / np.linalg.norm(m))
                cache[key] = len(verts) - 1
            return cache[key]
        for a, b, c in f:
            ab, bc, ca = mid(a, b), mid(b, c), mid(c, a)
            nf += [(a, ab, ca), (b, bc, ab), (c, ca, bc), (ab, bc, ca)]
        f = nf
    return np.array(verts) * 0.1, np.array(f)


def flame_like_model(seed: int = 0, num_expression: int = 100) -> dict:
    """A small random model in FLAME 2020's layout: a sphere 'head' with 5 joints.

    Weights: the lower front is the jaw, two front patches are the eyes, the bottom cap
    the root, the rest the neck. Joints: averages of a few vertices (J_regressor)."""
    rng = np.random.default_rng(seed)
    v, f = _icosphere(2)
    n = len(v)
    weights = np.zeros((n, 5))
    jaw = (v[:, 1] < -0.02) & (v[:, 2] > 0.03)
    eye_l = np.linalg.norm(v - [0.04, 0.03, 0.085], axis=1) < 0.03
    eye_r = np.linalg.norm(v - [-0.04, 0.03, 0.085], axis=1) < 0.03
    root = v[:, 1] < -0.085
    weights[root, 0] = 1
    weights[jaw & ~root, 2] = 1
    weights[eye_l, 3] = 1
    weights[eye_r, 4] = 1
    weights[weights.sum(axis=1) == 0, 1] = 1
    centre_of = lambda pts: np.argsort(np.linalg.norm(v - pts, axis=1))[:3]  # noqa: E731
    j_reg = np.zeros((5, n))
    for j, at in enumerate([[0, -0.1, 0], [0, -0.06, -0.02], [0, -0.01, -0.03], [0.04, 0.03, 0.085], [-0.04, 0.03, 0.085]]):
        j_reg[j, centre_of(np.array(at))] = 1 / 3
    return {
        "v_template": v, "f": f.astype(np.uint32), "weights": weights, "J_regressor": j_reg,
        "shapedirs": rng.normal(0, 1e-3, (n, 3, 300 + num_expression)),
        "posedirs": rng.normal(0, 1e-3, (n, 3, 36)),
        "kintree_table": np.array([[2**32 - 1, 0, 1, 1, 1], [0, 1, 2, 3, 4]], np.int64),
        "bs_style": "lbs",
    }, {"jaw": jaw & ~root, "eyes": eye_l | eye_r, "root": root}


@pytest.fixture(scope="module")
def flame():
    content, groups = flame_like_model()
    return FlameModel.from_mapping(content), content, groups


def test_rest_pose_is_template_plus_expression_offsets(flame):
    model, content, _ = flame
    e = np.random.default_rng(1).normal(0, 1, 100).astype(np.float32)
    out = model.pose(e, np.zeros((5, 3)))
    want = content["v_template"] + np.einsum("vck,k->vc", content["shapedirs"][:, :, 300:], e)
    assert np.allclose(out, want, atol=1e-5)
    # A 50-coefficient clip uses the first 50 directions.
    assert np.allclose(model.pose(e[:50], np.zeros((5, 3))),
                       content["v_template"] + np.einsum("vck,k->vc", content["shapedirs"][:, :, 300:350], e[:50]), atol=1e-5)


def test_jaw_rotation_moves_only_jaw_vertices_about_the_jaw_joint(flame):
    _, content, groups = flame
    rigid = FlameModel.from_mapping({**content, "posedirs": np.zeros_like(content["posedirs"])})
    angle = 0.3
    pose = np.zeros((5, 3))
    pose[2, 0] = angle
    out = rigid.pose(np.zeros(100), pose)
    rest = content["v_template"]
    jaw = groups["jaw"]
    assert np.allclose(out[~jaw], rest[~jaw], atol=1e-7)
    joint = rigid.j_regressor @ rest
    r = rotations.axis_angle_to_matrix(np.array([angle, 0, 0]))
    assert np.allclose(out[jaw], (rest[jaw] - joint[2]) @ r.T + joint[2], atol=1e-6)
    chin = np.argmin(np.where(jaw, rest[:, 1] - rest[:, 2], np.inf))  # lowest, most forward
    assert out[chin, 1] < rest[chin, 1]  # +x opens: the chin drops


def test_neck_turns_the_head_and_pose_correctives_add_before_skinning(flame):
    model, content, groups = flame
    pose = np.zeros((5, 3))
    pose[1] = [0.1, 0.4, -0.2]
    out = model.pose(np.zeros(100), pose)
    rest = content["v_template"].astype(np.float32)
    joints = model.j_regressor @ rest
    r = rotations.axis_angle_to_matrix(pose[1])
    feature = np.concatenate([(r - np.eye(3)).reshape(-1), np.zeros(27)])
    corrected = rest + np.einsum("vck,k->vc", content["posedirs"], feature)
    head = ~groups["root"]  # neck, jaw and eyes all follow the neck
    assert np.allclose(out[head], (corrected[head] - joints[1]) @ r.T + joints[1], atol=1e-6)
    assert np.allclose(out[groups["root"]], corrected[groups["root"]], atol=1e-6)


def test_global_rotation_is_rigid_about_the_root(flame):
    model, content, _ = flame
    pose = np.zeros((5, 3))
    pose[0] = [0.0, 0.0, 0.5]
    out = model.pose(np.zeros(100), pose)
    root = model.j_regressor[0] @ content["v_template"]
    r = rotations.axis_angle_to_matrix(pose[0])
    assert np.allclose(out, (content["v_template"] - root) @ r.T + root, atol=1e-6)


class _FakeCh:
    """Pickles the way chumpy's Ch does (NEWOBJ + a state dict holding 'x' and a set)."""

    def __init__(self, x):
        self.x = x
        self._dirty_vars = set()


def test_model_pickle_with_sparse_and_chumpy_arrays_loads_like_dense(tmp_path, flame, monkeypatch):
    sparse = pytest.importorskip("scipy.sparse")
    model, content, _ = flame
    fake = types.ModuleType("chumpy.ch")
    _FakeCh.__module__, _FakeCh.__qualname__ = "chumpy.ch", "Ch"
    fake.Ch = _FakeCh
    monkeypatch.setitem(sys.modules, "chumpy", types.ModuleType("chumpy"))
    monkeypatch.setitem(sys.modules, "chumpy.ch", fake)
    packed = {**content, "J_regressor": sparse.csc_matrix(content["J_regressor"]),
              "shapedirs": _FakeCh(content["shapedirs"]), "v_template": _FakeCh(content["v_template"])}
    path = tmp_path / "generic_model.pkl"
    path.write_bytes(pickle.dumps(packed, protocol=2))
    monkeypatch.delitem(sys.modules, "chumpy.ch")  # loading must not need it
    loaded = FlameModel.load(path)
    pose = np.random.default_rng(2).normal(0, 0.2, (5, 3))
    e = np.ones(100, np.float32)
    assert np.allclose(loaded.pose(e, pose), model.pose(e, pose), atol=1e-6)


def test_model_pickle_that_runs_code_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"v_template": Evil()}))
    with pytest.raises(FacelmError, match="builtins.print.*not allowed"):
        FlameModel.load(path)


def test_malformed_models_name_the_key(flame):
    _, content, _ = flame
    with pytest.raises(FacelmError, match="'weights'"):
        FlameModel.from_mapping({**content, "weights": content["weights"][:, :4]})
    with pytest.raises(FacelmError, match="missing key.*J_regressor"):
        FlameModel.from_mapping({k: v for k, v in content.items() if k != "J_regressor"})
    with pytest.raises(FacelmError, match="'shapedirs'"):
        FlameModel.from_mapping({**content, "shapedirs": content["shapedirs"][:, :, :300]})


def test_flame_render_moves_the_mouth_with_the_jaw(tmp_path, flame):
    _, content, _ = flame
    model_path = tmp_path / "model.npz"  # without pose correctives: only skinning moves vertices
    rigid = {**content, "posedirs": np.zeros_like(content["posedirs"])}
    np.savez(model_path, **{k: v for k, v in rigid.items() if k != "bs_style"})
    clip = posed_clip([{}, {"jaw": [0.4, 0, 0]}, {"neck": [0, 0.5, 0]}])
    clip_path = tmp_path / "c.npz"
    clip.save(clip_path)
    out = tmp_path / "m.gif"
    render_file(clip_path, out, RenderOptions(size=SIZE, curves=False), flame_path=model_path)
    (rest, _), (jaw, _), (turn, _) = gif_frames(out)
    skin = near(Image.fromarray(rest), pal.SKIN, 120)
    assert skin.sum() > 0.2 * SIZE * SIZE  # a shaded head fills the panel
    changed = np.abs(rest.astype(int) - jaw.astype(int)).sum(axis=2) > 30
    changed[:16] = False  # the time label
    rows = np.nonzero(changed.any(axis=1))[0]
    assert rows.size and rows.min() >= 0.45 * SIZE  # only the lower (jaw) half changes
    assert not np.array_equal(rest, turn)


def test_real_beat2_clip_renders(realdata, tmp_path):
    from facelm.importers import import_clip
    clip = import_clip(realdata / "beat2" / "2_scott_0_1_1.npz").clip
    out = tmp_path / "beat2.png"
    render_clip(clip, out, RenderOptions(size=SIZE, seconds=4.0))
    assert Image.open(out).size == (4 * SIZE, 3 * SIZE)
    # Real FLAME coefficients are not read as the synthetic units (no phantom wink).
    assert not face_drive(clip).action_known
