"""onnxruntime session creation with facelm's defaults and clear errors."""
from __future__ import annotations

import os
from pathlib import Path

import onnxruntime as ort

from facelm.errors import FacelmError


def create_session(path: Path, providers: list[str] | None = None, threads: int | None = None) -> ort.InferenceSession:
    """Load an ONNX graph on CPU (default); a graph onnxruntime cannot parse is a one-line error."""
    opts = ort.SessionOptions()
    # Several small sessions share one process: one intra-op thread each, no spinning,
    # so they do not fight over a robot's few cores.
    opts.intra_op_num_threads = threads or int(os.environ.get("FACELM_THREADS", "1"))
    opts.inter_op_num_threads = 1
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), sess_options=opts, providers=providers or ["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises several private exception types
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
        raise FacelmError(f"{path}: onnxruntime cannot load this graph ({first[:200]})") from None
