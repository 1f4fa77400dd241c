"""``facelm convert`` end to end in a subprocess: output, summary, one-line errors."""
from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from facelm.clip import MotionClip

REPO = Path(__file__).resolve().parents[1]


def convert(*args: str | os.PathLike) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "facelm", "convert", *map(str, args)],
                          cwd=REPO, capture_output=True, text=True, timeout=60)


def assert_one_line_error(out: subprocess.CompletedProcess, path: Path, words: str) -> None:
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), out.stderr
    assert str(path) in lines[0] and words in lines[0], lines[0]


def test_convert_mmhead_pickle_writes_a_valid_clip(tmp_path):
    motion = np.zeros((50, 56), np.float32)
    motion[:, 50] = 0.3  # neck rx: head down
    src = tmp_path / "clip.pkl"
    src.write_bytes(pickle.dumps({"motion": motion}))
    out = convert(src, "-o", tmp_path / "out.npz", "--fps-in", "50", "--expression-size", "100")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"wrote {tmp_path / 'out.npz'}: mmhead, 50 frames at 50 fps -> 25 frames at 25 fps")
    clip = MotionClip.load(tmp_path / "out.npz")
    assert clip.num_frames == 25 and clip.num_expression == 100
    np.testing.assert_allclose(clip.neck_pose[:, 0], 0.3, atol=1e-6)


class _Exploit:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _truncated(p: Path) -> None:
    data = pickle.dumps(np.zeros((40, 56)), protocol=2)
    p.write_bytes(data[:-40])


def _beat2(p: Path, poses_width: int = 165, nan: bool = False) -> None:
    e = np.zeros((30, 100))
    if nan:
        e[4, 2] = np.nan
    with open(p, "wb") as f:  # through a handle: keep the given name, .npz or not
        np.savez(f, poses=np.zeros((30, poses_width)), expressions=e, mocap_frame_rate=30)


@pytest.mark.parametrize("name, make, words", [
    ("cut.pkl", _truncated, "pickle is truncated"),
    ("shape.npz", lambda p: _beat2(p, poses_width=162), "'poses' must have shape (T, 165), got (30, 162)"),
    ("nan.npz", lambda p: _beat2(p, nan=True), "'expressions' has NaN/inf in 1 frame(s), first at frame 4"),
    ("what.bin", lambda p: p.write_bytes(b"\x01\x02\x03 not motion \x00" * 20), "unknown layout"),
    ("empty.csv", lambda p: p.write_text(""), "file is empty"),
    ("header.csv", lambda p: p.write_text("Timecode,BlendShapeCount,EyeBlinkLeft,JawOpen\n"), "missing column(s)"),
    ("gone.npz", lambda p: None, "no such file"),
])
def test_user_errors_are_one_line_exit_2(tmp_path, name, make, words):
    path = tmp_path / name
    make(path)
    assert_one_line_error(convert(path, "-o", tmp_path / "o.npz"), path, words)
    assert not (tmp_path / "o.npz").exists()


def test_malicious_pickle_is_refused_by_the_cli(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps([_Exploit(marker)]))
    assert_one_line_error(convert(path, "-o", tmp_path / "o.npz"), path, "system, which is not allowed")
    assert not marker.exists()


def test_forced_wrong_format_is_a_one_line_error(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, exp=np.zeros((10, 50)), pose=np.zeros((10, 6)))
    assert_one_line_error(convert(path, "-o", tmp_path / "o.npz", "--format", "beat2"), path,
                          "missing poses, expressions (not a BEAT2 npz)")


def test_convert_real_beat2(realdata, tmp_path):
    out = convert(realdata / "beat2" / "2_scott_0_1_1.npz", "-o", tmp_path / "b.npz")
    assert out.returncode == 0, out.stderr
    assert "beat2, 1906 frames at 30 fps -> 1588 frames at 25 fps" in out.stdout
    clip = MotionClip.load(tmp_path / "b.npz")
    assert clip.num_expression == 100 and clip.fps == 25
