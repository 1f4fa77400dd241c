"""Which engine runs a graph, and how: execution provider choice and session settings.

``--provider cpu|cuda|tensorrt`` (or ``$FACELM_PROVIDER``, or ``ModelDir(provider=...)``)
maps to an onnxruntime execution-provider list that always ends with the CPU
provider, so a graph with an operator the accelerator lacks still runs. When the
asked provider is not in this onnxruntime build, the session runs on CPU and the
``facelm`` logger says so once, in one line. ``tensorrt-engine`` is not an
onnxruntime provider: it runs prebuilt TensorRT engines (``facelm.tensorrt_backend``).

Settings are tuned for several small sessions in one process (the LM, the text
encoder, the motion decoder and the audio model of one robot): few intra-op
threads each, no inter-op pool, no spinning threads burning a core between
25 Hz calls, sequential execution and every graph optimisation.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from facelm.errors import FacelmError

log = logging.getLogger("facelm")

CPU = "CPUExecutionProvider"
# Preference lists: the first is what the name asks for; CPU stays last as the fallback.
PROVIDERS = {
    "cpu": [CPU],
    "cuda": ["CUDAExecutionProvider", CPU],
    "tensorrt": ["TensorrtExecutionProvider", "CUDAExecutionProvider", CPU],
}
NATIVE_TENSORRT = "tensorrt-engine"
CHOICES = (*PROVIDERS, NATIVE_TENSORRT)
DEFAULT_THREADS = 1
_announced: set[tuple[str, tuple[str, ...]]] = set()


@dataclass(frozen=True)
class RuntimeOptions:
    """How a model directory's graphs are run (one object shared by all its sessions)."""

    provider: str = "cpu"
    threads: int = DEFAULT_THREADS
    optimized_cache: Path | None = None  # directory for onnxruntime's optimised graphs (faster start-up)
    engine_cache: Path | None = None  # TensorRT engines (tensorrt EP cache or tensorrt-engine backend)
    fp16: bool = False  # TensorRT only

    @classmethod
    def from_env(cls, provider: str | None = None, threads: int | None = None) -> "RuntimeOptions":
        """Arguments first, then $FACELM_PROVIDER / $FACELM_THREADS / $FACELM_ORT_CACHE / $FACELM_TRT_CACHE."""
        provider = (provider or os.environ.get("FACELM_PROVIDER") or "cpu").strip().lower()
        if provider not in CHOICES:
            raise FacelmError(f"unknown provider {provider!r}, choose one of {', '.join(CHOICES)}")
        raw_threads = threads if threads is not None else os.environ.get("FACELM_THREADS", DEFAULT_THREADS)
        try:
            threads = int(raw_threads)
        except (TypeError, ValueError):
            raise FacelmError(f"threads must be an integer >= 1, got {raw_threads!r}") from None
        if threads < 1:
            raise FacelmError(f"threads must be an integer >= 1, got {threads}")
        ort_cache, trt_cache = os.environ.get("FACELM_ORT_CACHE"), os.environ.get("FACELM_TRT_CACHE")
        return cls(provider, threads, Path(ort_cache) if ort_cache else None,
                   Path(trt_cache) if trt_cache else None, os.environ.get("FACELM_TRT_FP16", "0") == "1")


def available_providers() -> list[str]:
    import onnxruntime as ort
    return list(ort.get_available_providers())


def resolve_providers(name: str, available: list[str] | None = None) -> list[str]:
    """The onnxruntime provider list for ``name``, reduced to what this build has (CPU at least).

    Logs one line on the ``facelm`` logger the first time an asked provider is missing.
    """
    if name not in PROVIDERS:
        raise FacelmError(f"unknown onnxruntime provider {name!r}, choose one of {', '.join(PROVIDERS)}")
    have = available_providers() if available is None else available
    wanted = PROVIDERS[name]
    chosen = [p for p in wanted if p in have] or [CPU]
    if chosen[0] != wanted[0]:
        key = (name, tuple(chosen))
        if key not in _announced:
            _announced.add(key)
            log.warning("provider %s: onnxruntime has no %s here (it has %s); running on %s",
                        name, wanted[0], ", ".join(have) or "none", chosen[0])
    return chosen


def provider_options(providers: list[str], options: RuntimeOptions, trt_profile: dict | None = None) -> list[dict]:
    """Per-provider settings: the TensorRT EP keeps its engines in a cache, fp16 when asked, and
    gets explicit optimisation profiles (input -> (min, opt, max) shapes, ``tensorrt_backend.profile_shapes``)
    so a growing KV cache stays inside one engine instead of rebuilding it at new lengths."""
    out = []
    for p in providers:
        if p == "TensorrtExecutionProvider":
            trt = {"trt_fp16_enable": "1" if options.fp16 else "0"}
            if options.engine_cache is not None:
                trt |= {"trt_engine_cache_enable": "1", "trt_engine_cache_path": str(options.engine_cache),
                        "trt_timing_cache_enable": "1"}
            if trt_profile:
                trt |= trt_profile_options(trt_profile)
            out.append(trt)
        else:
            out.append({})
    return out


def trt_profile_options(profile: dict) -> dict[str, str]:
    """The TensorRT EP's profile options: ``name:1x4x0x64,name2:...`` for min, opt and max."""
    def spec(which: int) -> str:
        return ",".join(f"{name}:{'x'.join(str(d) for d in shapes[which])}" for name, shapes in profile.items())
    return {"trt_profile_min_shapes": spec(0), "trt_profile_opt_shapes": spec(1), "trt_profile_max_shapes": spec(2)}


def session_options(options: RuntimeOptions, graph: Path | None = None):
    """onnxruntime SessionOptions for one of several sessions sharing a robot's few cores."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = options.threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Spinning keeps a waiting thread busy for latency; with several sessions on 2-4 cores it
    # steals the core another session needs, and between 25 Hz calls it only burns power.
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.add_session_config_entry("session.inter_op.allow_spinning", "0")
    opts.log_severity_level = 3
    if options.optimized_cache is not None and graph is not None:
        options.optimized_cache.mkdir(parents=True, exist_ok=True)
        opts.optimized_model_filepath = str(optimized_cache_path(options.optimized_cache, graph,
                                                                   options.provider))
    return opts


def optimized_cache_path(cache: Path, graph: Path, provider: str = "cpu") -> Path:
    """Where onnxruntime writes ``graph`` optimised: named by its content and provider (an optimised graph
    may hold provider-specific nodes), so a new graph or another provider never reuses it."""
    from facelm.model_dir import file_sha256
    return Path(cache) / f"{Path(graph).stem}-{file_sha256(Path(graph))[:16]}-{provider}.ort.onnx"


def add_provider_args(parser) -> None:
    """``--provider`` and ``--threads`` for a command that runs graphs (defaults from the environment)."""
    parser.add_argument("--provider", choices=CHOICES, default=None,
                        help="what runs the graphs: cpu, cuda or tensorrt (onnxruntime execution providers, "
                             "falling back to CPU with a log line when absent) or tensorrt-engine (prebuilt "
                             "TensorRT engines); default $FACELM_PROVIDER or cpu")
    parser.add_argument("--threads", type=int, default=None,
                        help="intra-op threads a graph session uses (default $FACELM_THREADS or 1)")
