"""Prebuilt TensorRT engines behind the onnxruntime session interface (``run``, ``get_inputs``).

``python -m export.tensorrt`` builds one engine per ONNX graph of a model
directory; the runtime (``ModelDir(provider="tensorrt-engine")``) finds it by its
cache key and runs it with the same call the onnxruntime session answers, so the
LM, codec and audio runtimes use either unchanged.

An engine is valid only for the TensorRT version, the GPU (name and compute
capability) and the exact graph it was built from, and for its precision:
``engine_key`` hashes the four, and the cache holds ``<graph stem>-<key>.engine``.
Dynamic sizes get one optimisation profile each (min / opt / max), taken from the
manifest's named dimensions by ``dim_range``: a call outside it is a one-line error.

The pure-Python parts (key, profiles) import nothing heavy; the engine parts need
the ``tensorrt`` and ``cuda-python`` packages and an NVIDIA GPU, and say so when absent.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from facelm.errors import FacelmError

ENGINE_SUFFIX = ".engine"
DEFAULT_CACHE = Path.home() / ".cache" / "facelm" / "tensorrt"
MAX_AUDIO_STEPS = 100  # motion frames one audio call may complete (4 s of speech) in an engine
MAX_CLIP_SECONDS = 60  # longest clip the tokenizer encoder engine takes in one call


# -- what an engine is for -------------------------------------------------------------------
def engine_key(onnx_sha256: str, trt_version: str, gpu: str, fp16: bool) -> str:
    """16 hex digits naming (graph, TensorRT version, GPU name + compute capability, precision)."""
    text = json.dumps({"onnx": onnx_sha256, "tensorrt": trt_version, "gpu": gpu, "fp16": bool(fp16)},
                      sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def engine_path(cache: Path, graph: Path, key: str) -> Path:
    return Path(cache) / f"{Path(graph).stem}-{key}{ENGINE_SUFFIX}"


def dim_range(section_name: str, section: dict[str, Any], label: str) -> tuple[int, int, int]:
    """(min, opt, max) of a dynamic size the manifest names ``label`` in ``section_name``'s graphs.

    Robots run one stream: batch 1. Lengths range over what the runtime asks: the LM
    prompt and cache up to its context, a prompt's WordPiece tokens up to the encoder's
    limit, the streaming encoder's window, audio calls of up to ``MAX_AUDIO_STEPS`` frames.
    """
    label = str(label)
    if label in ("B", "1"):
        return 1, 1, 1
    if section_name == "lm":
        block = int(section["config"]["block_size"])
        if label.startswith("K"):  # prefix embedding: 1 on the first call, 0 after
            return 0, 1, 1
        if label == "positions":
            return 0, 64, block
        if label == "T":
            return 1, 1, block
    if section_name == "text_encoder" and label == "L":
        return 1, 16, int(section["max_tokens"])
    if section_name == "tokenizer" and label == "T":
        fpt = int(section["frames_per_token"])
        window = -(-int(section["encoder_receptive_field"]) // fpt) * fpt + fpt  # the streaming encoder's
        return fpt, window, int(MAX_CLIP_SECONDS * float(section["fps"]))
    if section_name == "audio" and label == "4t":
        steps = int(section["frames_per_step"])
        return steps, steps, steps * MAX_AUDIO_STEPS
    raise FacelmError(f"no TensorRT profile range for dimension {label!r} of the {section_name} graphs")


def profile_shapes(section_name: str, section: dict[str, Any], entry: dict[str, Any],
                   inputs: list[tuple[str, list]]) -> dict[str, tuple[tuple[int, ...], ...]]:
    """Per graph input: (min, opt, max) shapes, from its shape in the graph (fixed sizes kept)
    and the manifest's label for each dynamic axis."""
    from facelm.model_dir import io_pattern

    declared = entry.get("inputs", {})
    shapes = {}
    for name, shape in inputs:
        label = next((n for n in declared if io_pattern(n).match(name)), None)
        if label is None:
            raise FacelmError(f"{entry['file']}: graph input '{name}' is not in the manifest")
        lows, opts, highs = [], [], []
        for axis, size in enumerate(shape):
            if isinstance(size, int) and size >= 0:
                lo = opt = hi = size
            else:
                lo, opt, hi = dim_range(section_name, section, declared[label][axis])
            lows.append(lo), opts.append(opt), highs.append(hi)
        shapes[name] = (tuple(lows), tuple(opts), tuple(highs))
    return shapes


# -- the packages --------------------------------------------------------------------------------
def import_tensorrt():
    try:
        import tensorrt
    except ImportError:
        raise FacelmError("TensorRT is not installed: pip install tensorrt cuda-python on a machine with an "
                          "NVIDIA GPU (or use --provider cpu|cuda)") from None
    return tensorrt


def import_cudart():
    """CUDA runtime bindings of cuda-python (their module moved in 12.6)."""
    try:
        from cuda.bindings import runtime
    except ImportError:
        try:
            from cuda import cudart as runtime
        except ImportError:
            raise FacelmError("cuda-python is not installed: pip install cuda-python (the TensorRT backend "
                              "copies tensors to the GPU with it)") from None
    return runtime


def _cuda(result):
    """cuda-python calls return (error, values...): raise on an error, return the values."""
    err, *values = result if isinstance(result, tuple) else (result,)
    if int(err) != 0:
        raise FacelmError(f"CUDA error {err}")
    return values[0] if len(values) == 1 else values


def gpu_identity(device: int = 0) -> str:
    """'NVIDIA H100 80GB HBM3 sm_90': what an engine is tied to besides the TensorRT version."""
    cudart = import_cudart()
    prop = _cuda(cudart.cudaGetDeviceProperties(device))
    name = prop.name.decode() if isinstance(prop.name, bytes) else str(prop.name)
    return f"{name.strip(chr(0)).strip()} sm_{prop.major}{prop.minor}"


# -- running an engine ---------------------------------------------------------------------------
@dataclass(frozen=True)
class TensorInfo:
    """What onnxruntime's NodeArg tells: name, shape (None for a dynamic size), type."""

    name: str
    shape: list
    type: str


class TensorRTSession:
    """One engine, one execution context, device buffers grown as calls need them."""

    def __init__(self, engine_bytes: bytes, label: str):
        trt = import_tensorrt()
        self._trt, self._cudart, self.label = trt, import_cudart(), label
        self._logger = trt.Logger(trt.Logger.WARNING)
        self.engine = trt.Runtime(self._logger).deserialize_cuda_engine(engine_bytes)
        if self.engine is None:
            raise FacelmError(f"{label}: TensorRT cannot load this engine (built by another version or GPU?)")
        self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        is_input = {n: self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT for n in names}
        self._inputs = [n for n in names if is_input[n]]
        self._outputs = [n for n in names if not is_input[n]]
        self._dtype = {n: np.dtype(trt.nptype(self.engine.get_tensor_dtype(n))) for n in names}
        self._buffers: dict[str, tuple[int, int]] = {}  # name -> (device pointer, capacity in bytes)
        self._stream = _cuda(self._cudart.cudaStreamCreate())

    def _info(self, name: str) -> TensorInfo:
        shape = [None if d < 0 else int(d) for d in self.engine.get_tensor_shape(name)]
        return TensorInfo(name, shape, f"tensor({self._dtype[name].name})")

    def get_inputs(self) -> list[TensorInfo]:
        return [self._info(n) for n in self._inputs]

    def get_outputs(self) -> list[TensorInfo]:
        return [self._info(n) for n in self._outputs]

    def _buffer(self, name: str, nbytes: int) -> int:
        ptr, capacity = self._buffers.get(name, (0, 0))
        if nbytes > capacity:
            if ptr:
                _cuda(self._cudart.cudaFree(ptr))
            capacity = max(nbytes, 2 * capacity, 256)  # grow geometrically: a KV cache grows a row a call
            ptr = int(_cuda(self._cudart.cudaMalloc(capacity)))
            self._buffers[name] = (ptr, capacity)
        return ptr

    def run(self, output_names, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        cudart = self._cudart
        h2d, d2h = cudart.cudaMemcpyKind.cudaMemcpyHostToDevice, cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost
        for name in self._inputs:
            if name not in feed:
                raise FacelmError(f"{self.label}: input '{name}' not given")
            arr = np.ascontiguousarray(feed[name], dtype=self._dtype[name])
            if not self.context.set_input_shape(name, arr.shape):
                lo, _, hi = self.engine.get_tensor_profile_shape(name, 0)
                raise FacelmError(f"{self.label}: input '{name}' of shape {list(arr.shape)} is outside the "
                                  f"engine's profile {list(lo)}..{list(hi)} (rebuild with python -m export.tensorrt)")
            ptr = self._buffer(name, arr.nbytes)
            if arr.nbytes:
                _cuda(cudart.cudaMemcpyAsync(ptr, arr.ctypes.data, arr.nbytes, h2d, self._stream))
            self.context.set_tensor_address(name, ptr)
        results = {}
        for name in self._outputs:
            out = np.empty(tuple(self.context.get_tensor_shape(name)), self._dtype[name])
            self.context.set_tensor_address(name, self._buffer(name, out.nbytes))
            results[name] = out
        if not self.context.execute_async_v3(int(self._stream)):  # TensorRT takes the raw handle
            raise FacelmError(f"{self.label}: TensorRT execution failed")
        for name, out in results.items():
            if out.nbytes:
                _cuda(cudart.cudaMemcpyAsync(out.ctypes.data, self._buffers[name][0], out.nbytes, d2h,
                                             self._stream))
        _cuda(cudart.cudaStreamSynchronize(self._stream))
        wanted = output_names or self._outputs
        return [results[n] for n in wanted]

    def __del__(self):
        cudart = getattr(self, "_cudart", None)
        for ptr, _ in getattr(self, "_buffers", {}).values():
            if cudart is not None:
                cudart.cudaFree(ptr)


def load_engine_session(path: Path, entry: dict[str, Any], options) -> TensorRTSession:
    """The cached engine built from graph ``path`` for this GPU and TensorRT version."""
    trt = import_tensorrt()
    cache = options.engine_cache or DEFAULT_CACHE
    key = engine_key(entry["sha256"], trt.__version__, gpu_identity(), options.fp16)
    engine = engine_path(cache, path, key)
    if not engine.is_file():
        raise FacelmError(f"{path}: no TensorRT engine for it in {cache} (TensorRT {trt.__version__}, "
                          f"{gpu_identity()}, fp16={options.fp16}); build one: python -m export.tensorrt "
                          f"--model {path.parent} --cache {cache}{' --fp16' if options.fp16 else ''}")
    return TensorRTSession(engine.read_bytes(), str(path))
