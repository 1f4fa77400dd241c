"""TensorRT: the guard where it is absent, the engine cache key and the optimisation profiles.

TensorRT installs only on machines with an NVIDIA GPU. Here the tests check the
one-line error of the builder and the runtime backend, and the pure-Python parts
(cache key, profiles from the manifest); ``test_engines_match_onnxruntime`` builds
and runs real engines where ``tensorrt`` imports (skipped otherwise).
"""
from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from facelm.errors import FacelmError
from facelm.model_dir import ModelDir
from facelm.tensorrt_backend import dim_range, engine_key, engine_path, profile_shapes

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
HAVE_TRT = importlib.util.find_spec("tensorrt") is not None


@pytest.fixture(scope="module")
def model() -> ModelDir:
    if not (ARTIFACTS / "manifest.json").is_file():
        pytest.skip("no shipped model")
    return ModelDir(ARTIFACTS)


def graph_entries(model: ModelDir):
    return [(name.split("/")[0], e) for name, e in model.entries() if e["file"].endswith(".onnx")]


@pytest.mark.skipif(HAVE_TRT, reason="TensorRT is installed here")
def test_runtime_backend_without_tensorrt_is_one_clear_line(model):
    entry = model.section("tokenizer")["decoder_step"]
    with pytest.raises(FacelmError) as exc:
        ModelDir(ARTIFACTS, provider="tensorrt-engine").session(entry)
    assert str(exc.value).startswith("TensorRT is not installed: pip install tensorrt cuda-python")


@pytest.mark.skipif(HAVE_TRT, reason="TensorRT is installed here")
def test_engine_builder_without_tensorrt_exits_2_with_one_line(tmp_path):
    out = subprocess.run([sys.executable, "-m", "export.tensorrt", "--model", str(ARTIFACTS), "--cache",
                          str(tmp_path)], capture_output=True, text=True, timeout=120,
                         cwd=Path(__file__).resolve().parents[1])
    assert out.returncode == 2
    assert out.stderr.startswith("error: TensorRT is not installed") and out.stderr.count("\n") == 1
    assert not any(tmp_path.iterdir())


def test_engine_key_changes_with_each_thing_an_engine_depends_on():
    base = ("a" * 64, "10.3.0", "NVIDIA H100 sm_90", False)
    key = engine_key(*base)
    assert key == engine_key(*base) and len(key) == 16
    for i, other in enumerate(("b" * 64, "10.4.0", "NVIDIA L4 sm_89", True)):
        changed = list(base)
        changed[i] = other
        assert engine_key(*changed) != key
    assert engine_path(Path("/c"), Path("m/lm.onnx"), key) == Path(f"/c/lm-{key}.engine")


def test_profiles_cover_every_shipped_graph_input(model):
    for section_name, entry in graph_entries(model):
        session = ort.InferenceSession(str(ARTIFACTS / entry["file"]), providers=["CPUExecutionProvider"])
        inputs = [(i.name, i.shape) for i in session.get_inputs()]
        shapes = profile_shapes(section_name, model.section(section_name), entry, inputs)
        assert set(shapes) == {n for n, _ in inputs}
        for name, shape in inputs:
            lo, opt, hi = shapes[name]
            assert len(lo) == len(opt) == len(hi) == len(shape)
            for axis, size in enumerate(shape):
                assert lo[axis] <= opt[axis] <= hi[axis], (entry["file"], name)
                if isinstance(size, int):
                    assert lo[axis] == hi[axis] == size  # fixed sizes stay fixed
    lm = model.section("lm")
    lm_inputs = [(i.name, i.shape) for i in ort.InferenceSession(
        str(ARTIFACTS / "lm.onnx"), providers=["CPUExecutionProvider"]).get_inputs()]
    shapes = profile_shapes("lm", lm, lm["graph"], lm_inputs)
    block = lm["config"]["block_size"]
    assert shapes["past_key_0"][0][2] == 0 and shapes["past_key_0"][2][2] == block  # empty cache .. full context
    assert shapes["prefix"][0][1] == 0 and shapes["prefix"][2][1] == 1
    assert shapes["ids"][2][1] == block


def test_profile_ranges_follow_the_manifest(model):
    tok = model.section("tokenizer")
    lo, opt, hi = dim_range("tokenizer", tok, "T")
    assert lo == tok["frames_per_token"] and opt % tok["frames_per_token"] == 0 and hi >= 25 * 12
    assert dim_range("text_encoder", model.section("text_encoder"), "L")[2] == model.section("text_encoder")["max_tokens"]
    with pytest.raises(FacelmError, match="no TensorRT profile range for dimension 'Z' of the lm graphs"):
        dim_range("lm", model.section("lm"), "Z")


@pytest.mark.skipif(not HAVE_TRT, reason="TensorRT is not installed (needs an NVIDIA GPU)")
def test_engines_match_onnxruntime(model, tmp_path):
    """Build every engine, run the LM and the codec on TensorRT and on CPU: same tokens, close frames."""
    from export.tensorrt import build_all
    from facelm.codec import MotionCodec
    from facelm.lm_runtime import MotionLanguageModel
    from facelm.providers import RuntimeOptions

    report = build_all(model, tmp_path, fp16=False, workspace_mb=1024, check=True, force=False)
    assert all(r["max_abs_diff_vs_onnxruntime"] < 1e-2 for r in report), report
    again = build_all(model, tmp_path, fp16=False, workspace_mb=1024, check=False, force=False)
    assert all(r["built"] == "cached" for r in again)
    gpu = ModelDir(ARTIFACTS, options=RuntimeOptions("tensorrt-engine", 1, engine_cache=tmp_path))
    cpu = ModelDir(ARTIFACTS, provider="cpu")
    codes = [list(MotionLanguageModel(m).generate_motion("A person nods.", 2.0, seed=0, temperature=0.0))
             for m in (gpu, cpu)]
    assert codes[0] == codes[1]
    frames = [MotionCodec(m).decode(codes[1]).to_array(False) for m in (gpu, cpu)]
    np.testing.assert_allclose(frames[0], frames[1], atol=1e-3)


def test_fp16_flag_is_refused_clearly_where_tensorrt_removed_it():
    """TensorRT 11 dropped BuilderFlag.FP16: --fp16 then says what to do instead of an AttributeError."""
    from types import SimpleNamespace

    from export.tensorrt import fp16_flag
    assert fp16_flag(SimpleNamespace(BuilderFlag=SimpleNamespace(FP16="fp16"), __version__="10.3.0")) == "fp16"
    with pytest.raises(FacelmError, match=r"^--fp16: TensorRT 11.4.0 has no fp16 builder flag"):
        fp16_flag(SimpleNamespace(BuilderFlag=SimpleNamespace(), __version__="11.4.0"))
