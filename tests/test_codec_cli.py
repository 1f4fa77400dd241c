"""The shipped tokenizer as a codec: facelm encode / decode round-trip a fixed clip."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from facelm.clip import MotionClip
from facelm.model_dir import MANIFEST, ModelDir

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


def _shipped():
    if not (ARTIFACTS / MANIFEST).is_file() or "tokenizer" not in ModelDir(ARTIFACTS).manifest:
        pytest.skip("no shipped tokenizer in artifacts/")
    return ARTIFACTS


def fixed_clip(seconds: float = 4.0) -> MotionClip:
    """A nod, a turn and a smile with speech-like jaw motion: a deterministic clip in the corpus' range."""
    from facelm import face_units

    t = np.arange(int(seconds * 25)) / 25.0
    clip = MotionClip.neutral(len(t))
    clip.neck_pose[:, 0] = 0.15 * np.sin(2 * np.pi * 1.2 * t) * (t < 2)
    clip.neck_pose[:, 1] = 0.35 * np.clip((t - 2) / 0.6, 0, 1)
    units = np.zeros((len(t), face_units.NUM_UNITS), np.float32)
    units += face_units.emotion_vector("happy", 0.8)[None] * np.clip(t / 1.0, 0, 1)[:, None]
    units[:, face_units.UNIT_INDEX["AU26"]] = 0.3 * (1 + np.sin(2 * np.pi * 4 * t)) / 2
    clip.expression, clip.jaw_pose = face_units.UnitBasis().to_expression(units)
    return clip


def _run(*args):
    return subprocess.run([sys.executable, "-m", "facelm", *map(str, args)], capture_output=True, text=True, timeout=120)


def test_encode_decode_round_trip_shipped_model(tmp_path):
    model = _shipped()
    clip = fixed_clip()
    clip.save(tmp_path / "in.npz")
    r = _run("encode", tmp_path / "in.npz", "-o", tmp_path / "tokens.json", "--model", model)
    assert r.returncode == 0, r.stderr
    doc = json.loads((tmp_path / "tokens.json").read_text())
    assert len(doc["ids"]) == clip.num_frames // 4 and doc["num_frames"] == clip.num_frames
    r = _run("decode", tmp_path / "tokens.json", "-o", tmp_path / "out.npz", "--model", model)
    assert r.returncode == 0, r.stderr
    out = MotionClip.load(tmp_path / "out.npz")
    assert out.num_frames == clip.num_frames
    # The codec path round-trips: the face comes back (the tokenizer's accuracy itself is measured by
    # training.eval_tokenizer and stated in the model card; these bounds only catch a broken path).
    units = slice(0, 22)  # coefficients the action-unit basis drives
    assert np.corrcoef(out.expression[:, units].ravel(), clip.expression[:, units].ravel())[0, 1] > 0.9
    assert np.abs(out.neck_pose - clip.neck_pose).mean() < 0.25
    assert np.abs(out.jaw_pose - clip.jaw_pose).mean() < 0.25
    assert np.isfinite(out.to_array()).all()
    # Same input, same tokens: the codec is deterministic.
    r = _run("encode", tmp_path / "in.npz", "-o", tmp_path / "tokens2.json", "--model", model)
    assert json.loads((tmp_path / "tokens2.json").read_text())["ids"] == doc["ids"]


def test_decode_rejects_bad_token_files(tmp_path):
    model = _shipped()
    cases = {"notjson.json": "{nope", "outofrange.json": json.dumps({"ids": [1, 99999]}),
             "strings.json": json.dumps({"ids": ["a"]}), "empty.json": json.dumps({"ids": []})}
    for name, content in cases.items():
        (tmp_path / name).write_text(content)
        r = _run("decode", tmp_path / name, "-o", tmp_path / "x.npz", "--model", model)
        assert r.returncode == 2 and r.stderr.startswith("error: ") and "Traceback" not in r.stderr, (name, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1


def test_missing_model_dir_is_one_line(tmp_path):
    clip = fixed_clip(1.0)
    clip.save(tmp_path / "in.npz")
    r = _run("encode", tmp_path / "in.npz", "-o", tmp_path / "t.json", "--model", tmp_path / "nomodel")
    assert r.returncode == 2 and "no model manifest" in r.stderr and "Traceback" not in r.stderr


def test_generate_with_the_shipped_model_gives_every_frame(tmp_path):
    """A look-ahead decoder holds the last token's frames back until the stream is flushed: none is lost,
    and the LM is taken as speaking the codes of the shipped tokenizer (no warning)."""
    model = _shipped()
    if "lm" not in ModelDir(model).manifest:
        pytest.skip("no shipped LM")
    out = tmp_path / "gen.npz"
    r = _run("generate", "A person nods.", "--seconds", "2.2", "--seed", "0", "-o", out, "--model", model)
    assert r.returncode == 0 and "warning" not in r.stderr, r.stderr
    assert MotionClip.load(out).num_frames == 55


def test_token_files_name_the_codes_they_are_in(tmp_path):
    model = _shipped()
    fixed_clip(1.0).save(tmp_path / "in.npz")
    assert _run("encode", tmp_path / "in.npz", "-o", tmp_path / "t.json", "--model", model).returncode == 0
    doc = json.loads((tmp_path / "t.json").read_text())
    spec = ModelDir(model).section("tokenizer")
    assert doc["codes_sha256"] == spec.get("codes_sha256", spec.get("source_sha256"))
    r = _run("decode", tmp_path / "t.json", "-o", tmp_path / "o.npz", "--model", model)
    assert r.returncode == 0 and "different tokenizer" not in r.stderr
    doc["codes_sha256"] = "0" * 64
    (tmp_path / "other.json").write_text(json.dumps(doc))
    r = _run("decode", tmp_path / "other.json", "-o", tmp_path / "o.npz", "--model", model)
    assert r.returncode == 0 and "was encoded by a different tokenizer model" in r.stderr
