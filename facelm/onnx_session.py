"""onnxruntime session creation with facelm's settings (``facelm.providers``) and one-line errors."""
from __future__ import annotations

from pathlib import Path

import onnxruntime as ort

from facelm.errors import FacelmError
from facelm.providers import RuntimeOptions, optimized_cache_path, provider_options, resolve_providers, \
    session_options


def create_session(path: Path, providers: list[str] | None = None, threads: int | None = None,
                   options: RuntimeOptions | None = None, trt_profile: dict | None = None) -> ort.InferenceSession:
    """Load an ONNX graph; a graph onnxruntime cannot parse is a one-line error naming it.

    ``options`` (default: from the environment) picks the provider, threads and caches;
    ``providers``/``threads`` override them for a caller that needs an exact list;
    ``trt_profile`` gives the TensorRT execution provider its optimisation profile.
    """
    options = options or RuntimeOptions.from_env(threads=threads)
    if threads is not None:
        options = RuntimeOptions(options.provider, int(threads), options.optimized_cache, options.engine_cache,
                                 options.fp16)
    providers = providers or resolve_providers(options.provider if options.provider != "tensorrt-engine"
                                               else "cpu")
    source = Path(path)
    opts = session_options(options, source)
    if options.optimized_cache is not None:
        cached = optimized_cache_path(options.optimized_cache, source, options.provider)
        if cached.is_file():  # made from this very graph (the name carries its sha256): skip optimising again
            source = cached
            opts.optimized_model_filepath = ""
            opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    try:
        return ort.InferenceSession(str(source), sess_options=opts, providers=providers,
                                    provider_options=provider_options(providers, options, trt_profile))
    except Exception as exc:  # onnxruntime raises several private exception types
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
        raise FacelmError(f"{path}: onnxruntime cannot load this graph ({first[:200]})") from None
