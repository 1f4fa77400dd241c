"""Build TensorRT engines for a model directory's ONNX graphs (TensorRT Python API).

    python -m export.tensorrt --model artifacts [--fp16] [--cache DIR] [--check]

One engine per graph, explicit batch, one optimisation profile spanning the
lengths the runtime uses (``facelm.tensorrt_backend.dim_range``), an optional
fp16 precision and a workspace limit. Engines land in the cache under a key of
TensorRT version + GPU name/compute capability + the graph's sha256 + precision,
so a cached engine is reused only where it is valid; ``--check`` then runs each
engine and the same graph on onnxruntime's CPU provider with one input and prints
the largest difference. Needs an NVIDIA GPU with ``tensorrt`` and ``cuda-python``.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from facelm.errors import FacelmError
from facelm.model_dir import ModelDir
from facelm.providers import RuntimeOptions
from facelm.tensorrt_backend import (DEFAULT_CACHE, TensorRTSession, engine_key, engine_path, gpu_identity,
                                     import_tensorrt, profile_shapes)


def graphs(model: ModelDir) -> list[tuple[str, dict]]:
    """(section, entry) of every ONNX graph in the manifest."""
    return [(name.split("/")[0], entry) for name, entry in model.entries() if entry["file"].endswith(".onnx")]


def build_engine(onnx_path: Path, shapes: dict, fp16: bool, workspace_mb: int) -> bytes:
    """Parse the graph, add one profile (input name -> (min, opt, max) shapes), build and serialise."""
    trt = import_tensorrt()
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    # TensorRT 10 networks are always explicit-batch (the flag is gone); 8.x must ask for it.
    flags = 0 if int(trt.__version__.split(".")[0]) >= 10 else \
        1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise FacelmError(f"{onnx_path}: TensorRT cannot parse this graph ({errors[:300]})")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_mb << 20)
    if fp16:
        config.set_flag(fp16_flag(trt))
    profile = builder.create_optimization_profile()
    for t in (network.get_input(i) for i in range(network.num_inputs)):
        if t.name not in shapes:
            raise FacelmError(f"{onnx_path}: TensorRT sees an input '{t.name}' onnxruntime does not")
        profile.set_shape(t.name, *shapes[t.name])
    config.add_optimization_profile(profile)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise FacelmError(f"{onnx_path}: TensorRT could not build an engine (see its log above)")
    return bytes(serialized)


def fp16_flag(trt):
    """The builder flag that lets TensorRT 8-10 pick fp16 kernels; TensorRT 11 removed it (strong typing only)."""
    flag = getattr(trt.BuilderFlag, "FP16", None)
    if flag is None:
        raise FacelmError(f"--fp16: TensorRT {trt.__version__} has no fp16 builder flag (strongly typed networks "
                          "only): convert the ONNX graph to mixed precision first (NVIDIA ModelOpt AutoCast), "
                          "or build fp32")
    return flag


def sample_feed(session, shapes: dict) -> dict[str, np.ndarray]:
    """Inputs at the profile's opt shapes: ids/masks/styles 1 (valid everywhere), floats small noise."""
    rng = np.random.default_rng(0)
    feed = {}
    for node in session.get_inputs():
        shape = shapes[node.name][1]
        feed[node.name] = np.ones(shape, np.int64) if "int" in node.type else \
            (0.1 * rng.standard_normal(shape)).astype(np.float32)
    return feed


def check_engine(model: ModelDir, entry: dict, engine: bytes, shapes: dict) -> float:
    """Largest |TensorRT - onnxruntime CPU| over the outputs for one input at the opt shapes."""
    path = model.file(entry)
    cpu = ModelDir(model.path, options=RuntimeOptions("cpu", 1)).session(entry)
    feed = sample_feed(cpu, shapes)
    want = cpu.run(None, feed)
    have = TensorRTSession(engine, str(path)).run([o.name for o in cpu.get_outputs()], feed)
    return max(float(np.max(np.abs(h.astype(np.float64) - w))) if w.size else 0.0 for h, w in zip(have, want))


def build_all(model: ModelDir, cache: Path, fp16: bool, workspace_mb: int, check: bool, force: bool) -> list[dict]:
    trt = import_tensorrt()
    gpu = gpu_identity()
    cache.mkdir(parents=True, exist_ok=True)
    report = []
    for section_name, entry in graphs(model):
        path = model.file(entry)
        section = model.section(section_name)
        key = engine_key(entry["sha256"], trt.__version__, gpu, fp16)
        target = engine_path(cache, path, key)
        shapes = profile_shapes(section_name, section, entry, _onnx_inputs(model, entry))
        row = {"graph": str(path), "engine": str(target), "key": key}
        t0 = time.perf_counter()
        if target.is_file() and not force:
            engine, row["built"] = target.read_bytes(), "cached"
        else:
            engine = build_engine(path, shapes, fp16, workspace_mb)
            target.write_bytes(engine)
            row["built"] = f"{time.perf_counter() - t0:.1f} s"
        # The profile the engine was built with, beside it (what lengths it takes).
        target.with_suffix(".json").write_text(json.dumps(
            {"tensorrt": trt.__version__, "gpu": gpu, "fp16": fp16, "onnx_sha256": entry["sha256"],
             "profile": {k: [list(x) for x in v] for k, v in shapes.items()}}, indent=1))
        if check:
            row["max_abs_diff_vs_onnxruntime"] = check_engine(model, entry, engine, shapes)
        report.append(row)
    return report


def _onnx_inputs(model: ModelDir, entry: dict) -> list[tuple[str, list]]:
    session = ModelDir(model.path, options=RuntimeOptions("cpu", 1)).session(entry)
    return [(i.name, i.shape) for i in session.get_inputs()]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m export.tensorrt", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=None,
                    help="model directory with manifest.json (default: $FACELM_MODEL or the shipped artifacts/)")
    ap.add_argument("--cache", type=Path, default=None,
                    help=f"engine cache directory (default $FACELM_TRT_CACHE or {DEFAULT_CACHE})")
    ap.add_argument("--fp16", action="store_true", help="allow fp16 kernels (faster, about 1e-3 relative error)")
    ap.add_argument("--workspace-mb", type=int, default=1024, help="builder workspace limit in MiB (default 1024)")
    ap.add_argument("--check", action="store_true",
                    help="run each engine against onnxruntime CPU on one input and print the largest difference")
    ap.add_argument("--force", action="store_true", help="rebuild engines already in the cache")
    args = ap.parse_args(argv)
    try:
        model = ModelDir(args.model)
        cache = args.cache or RuntimeOptions.from_env().engine_cache or DEFAULT_CACHE
        report = build_all(model, cache, args.fp16, args.workspace_mb, args.check, args.force)
    except FacelmError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for row in report:
        extra = f", max |trt - ort| {row['max_abs_diff_vs_onnxruntime']:.2e}" \
            if "max_abs_diff_vs_onnxruntime" in row else ""
        print(f"{row['graph']} -> {row['engine']} ({row['built']}{extra})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
