"""Execution providers by name with a logged CPU fallback; session settings for several sessions a process."""
from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from facelm import providers
from facelm.errors import FacelmError
from facelm.model_dir import ModelDir
from facelm.onnx_session import create_session
from facelm.providers import CPU, RuntimeOptions, resolve_providers

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
HAVE = ort.get_available_providers()


@pytest.fixture(autouse=True)
def fresh_announcements(monkeypatch):
    monkeypatch.setattr(providers, "_announced", set())


@pytest.fixture
def decoder_entry():
    if not (ARTIFACTS / "manifest.json").is_file():
        pytest.skip("no shipped model")
    return ModelDir(ARTIFACTS).section("tokenizer")["decoder_step"]


def test_names_map_to_provider_lists_ending_on_cpu():
    everything = ["TensorrtExecutionProvider", "CUDAExecutionProvider", CPU]
    assert resolve_providers("cpu", everything) == [CPU]
    assert resolve_providers("cuda", everything) == ["CUDAExecutionProvider", CPU]
    assert resolve_providers("tensorrt", everything) == everything
    assert resolve_providers("tensorrt", ["CUDAExecutionProvider", CPU]) == ["CUDAExecutionProvider", CPU]
    with pytest.raises(FacelmError, match="unknown onnxruntime provider 'npu'"):
        resolve_providers("npu", everything)


def test_missing_provider_falls_back_to_cpu_with_one_log_line(caplog):
    with caplog.at_level(logging.WARNING, logger="facelm"):
        assert resolve_providers("cuda", [CPU]) == [CPU]
        assert resolve_providers("cuda", [CPU]) == [CPU]  # said once, not at every session
    lines = [r.getMessage() for r in caplog.records if r.name == "facelm"]
    assert lines == ["provider cuda: onnxruntime has no CUDAExecutionProvider here (it has "
                     "CPUExecutionProvider); running on CPUExecutionProvider"]


@pytest.mark.skipif("CUDAExecutionProvider" in HAVE, reason="this onnxruntime has CUDA: no fallback to see")
def test_real_session_on_a_missing_provider_runs_on_cpu(decoder_entry, caplog):
    with caplog.at_level(logging.WARNING, logger="facelm"):
        session = ModelDir(ARTIFACTS, provider="cuda").session(decoder_entry)
    assert session.get_providers() == [CPU]
    assert any("running on CPUExecutionProvider" in r.getMessage() for r in caplog.records)
    frames, _ = session.run(None, {"ids": np.array([3], np.int64), "state": np.zeros((1, 11264), np.float32)})
    assert frames.shape == (1, 4, 62) and np.isfinite(frames).all()


def test_cli_flag_and_environment_pick_the_provider(tmp_path):
    """check-model --provider cuda on a CPU build: the fallback line on stderr, exit 0."""
    if "CUDAExecutionProvider" in HAVE:
        pytest.skip("this onnxruntime has CUDA")
    out = subprocess.run([sys.executable, "-m", "facelm", "check-model", str(ARTIFACTS), "--provider", "cuda"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stderr.count("running on CPUExecutionProvider") == 1
    bad = subprocess.run([sys.executable, "-m", "facelm", "check-model", str(ARTIFACTS)], capture_output=True,
                         text=True, timeout=120, env={**os.environ, "FACELM_PROVIDER": "quantum"})
    assert bad.returncode == 2
    assert bad.stderr == "error: unknown provider 'quantum', choose one of cpu, cuda, tensorrt, tensorrt-engine\n"


def _from(env: dict) -> RuntimeOptions:
    """RuntimeOptions.from_env() under ``env`` (restored after)."""
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        return RuntimeOptions.from_env()
    finally:
        for k, v in old.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)


def test_options_from_arguments_and_environment():
    assert _from({"FACELM_PROVIDER": "CUDA", "FACELM_THREADS": "2"}) == RuntimeOptions("cuda", 2)
    assert RuntimeOptions.from_env("tensorrt", 3).provider == "tensorrt"
    with pytest.raises(FacelmError, match="threads must be an integer >= 1, got 0"):
        _from({"FACELM_THREADS": "0"})
    with pytest.raises(FacelmError, match="threads must be an integer >= 1, got 'many'"):
        _from({"FACELM_THREADS": "many"})


def test_session_settings_for_several_sessions_in_one_process(decoder_entry):
    session = create_session(ARTIFACTS / decoder_entry["file"], options=RuntimeOptions("cpu", 2))
    opts = session.get_session_options()
    assert opts.intra_op_num_threads == 2 and opts.inter_op_num_threads == 1
    assert opts.execution_mode == ort.ExecutionMode.ORT_SEQUENTIAL
    assert opts.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    assert opts.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert opts.get_session_config_entry("session.inter_op.allow_spinning") == "0"
    assert ModelDir(ARTIFACTS, threads=3).session(decoder_entry).get_session_options().intra_op_num_threads == 3


def test_optimized_model_cache_is_written_then_used(decoder_entry, tmp_path):
    graph = ARTIFACTS / decoder_entry["file"]
    options = RuntimeOptions("cpu", 1, optimized_cache=tmp_path)
    first = create_session(graph, options=options)
    cached = list(tmp_path.glob("tokenizer_decoder_step-*-cpu.ort.onnx"))
    assert len(cached) == 1 and cached[0].stat().st_size > 0
    second = create_session(graph, options=options)
    assert second.get_session_options().graph_optimization_level == ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    feed = {"ids": np.array([7], np.int64), "state": np.zeros((1, 11264), np.float32)}
    for a, b in zip(first.run(None, feed), second.run(None, feed)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_tensorrt_provider_gets_the_profile_of_each_graph():
    """The TensorRT EP is handed explicit min/opt/max shapes (so the LM's growing cache keeps one engine)."""
    model = ModelDir(ARTIFACTS, provider="tensorrt")
    profile = model.trt_profile(model.section("lm")["graph"])
    opts = providers.provider_options(["TensorrtExecutionProvider", CPU], model.options, profile)
    trt = opts[0]
    assert opts[1] == {} and trt["trt_fp16_enable"] == "0"
    assert trt["trt_profile_min_shapes"].startswith("ids:1x1,prefix:1x0x384,past_key_0:1x4x0x64,")
    assert "past_value_3:1x4x256x64" in trt["trt_profile_max_shapes"]
    assert trt["trt_profile_opt_shapes"].count(",") == len(profile) - 1
    cached = providers.provider_options(["TensorrtExecutionProvider"],
                                        RuntimeOptions("tensorrt", 1, engine_cache=Path("/c"), fp16=True))[0]
    assert cached == {"trt_fp16_enable": "1", "trt_engine_cache_enable": "1", "trt_engine_cache_path": "/c",
                      "trt_timing_cache_enable": "1"}


def test_global_flags_apply_to_every_command(tmp_path):
    """``facelm --provider cuda decode ...``: the command runs, on CPU here, after the one fallback line."""
    import json
    tokens = tmp_path / "tokens.json"
    tokens.write_text(json.dumps({"format": "facelm-tokens/1", "ids": [5, 6, 7], "num_codes": 512,
                                  "frames_per_token": 4, "fps": 25.0, "num_frames": 12}))

    def facelm(*argv):
        return subprocess.run([sys.executable, "-m", "facelm", *argv], capture_output=True, text=True, timeout=120,
                              env={k: v for k, v in os.environ.items() if not k.startswith("FACELM_")})

    out = facelm("--provider", "cuda", "--threads", "2", "decode", str(tokens), "-o", str(tmp_path / "c.npz"))
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "c.npz").is_file()
    if "CUDAExecutionProvider" not in HAVE:
        assert out.stderr.count("provider cuda: onnxruntime has no CUDAExecutionProvider") == 1
    bad = facelm("--threads", "0", "decode", str(tokens), "-o", str(tmp_path / "d.npz"))
    assert (bad.returncode, bad.stderr) == (2, "error: threads must be an integer >= 1, got 0\n")
