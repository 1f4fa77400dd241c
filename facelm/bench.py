"""``facelm bench``: the runtime's latency, speed, memory and start-up against ARCHITECTURE's targets.

One run measures the onnxruntime runtime and, when torch and the checkout's
``models/`` are importable, the same runtime classes with the torch modules behind
their sessions (``export.bench_torch``): one table, two columns. The onnxruntime
column never imports torch; memory and start-up are measured in a child process
with torch made unimportable, as a robot runs it.

Definitions (all in process unless stated):
- prompt -> first frame: sentence embedding + prompt BPE + LM prefill + first
  sample + first decoder step (``facelm.lm_bench``), at the runtime's default
  classifier-free guidance (two LM streams when it is not 1);
- per-token latency: each LM step after the first, p50/p95; decoder latency: one
  streaming-decoder step (4 frames) per token;
- generation speed: frames a second of LM + decoder / 25 fps;
- audio chunk -> frame: 20 ms chunks pushed into the streaming audio model;
  total latency = half a frame (the moment a frame shows is its middle) + the
  model's lookahead + one chunk (waiting for the chunk that completes it) +
  compute p95 of a push; compute a frame = push time / frames it returned;
- peak RSS and start-up: a child process (torch unimportable) loads every model
  and generates once; start-up is spawn -> exit of that child. Node start-up
  (spawn -> lifecycle active) once ``facelm.ros.motion_player`` exists.
"""
from __future__ import annotations

import importlib
import importlib.util
import json
import math
import os
import platform
import re
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from facelm.errors import FacelmError
from facelm.lm_bench import BEST_OF
from facelm.model_dir import ModelDir

CHECKOUT = Path(__file__).resolve().parents[1]
NO_TORCH = "import sys; sys.modules['torch'] = None\n"
AUDIO_CHUNK_MS = 20.0
NODE = "motion_player"  # the node whose spawn -> active time the bench reports, once it exists

# key -> (row label, unit, target text, passes(value) or None for no ARCHITECTURE target)
TARGETS = {
    "first_frame_ms_p50": ("prompt -> first frame, in process (p50)", "ms", "<= 20", lambda v: v <= 20),
    "best_of_first_frame_ms_p50": (f"prompt -> first frame, best of {BEST_OF} candidates (p50)", "ms", "-", None),
    "token_ms_p50": ("LM latency a token (p50)", "ms", "-", None),
    "token_ms_p95": ("LM latency a token (p95)", "ms", "-", None),
    "realtime_factor": ("generation speed (frames/s / 25)", "x", ">= 50", lambda v: v >= 50),
    "decoder_ms_p50": ("decoder latency a token, 4 frames (p50)", "ms", "-", None),
    "decoder_ms_p95": ("decoder latency a token, 4 frames (p95)", "ms", "-", None),
    "audio_total_ms": ("audio chunk -> frame, total latency", "ms", "<= 100", lambda v: v <= 100),
    "audio_compute_ms": ("audio compute a frame (p95)", "ms", "<= 10", lambda v: v <= 10),
    "peak_rss_mb": ("peak RSS, all models loaded", "MB", "<= 500", lambda v: v <= 500),
    "startup_s": ("runtime start-up: spawn -> models loaded, first generation", "s", "-", None),
    "node_ready_s": (f"node start-up ({NODE}: spawn -> active)", "s", "<= 3", lambda v: v <= 3),
    "flame_first_ms": ("prompt published -> first /face/flame frame, other process", "ms", "<= 40",
                       lambda v: v <= 40),
    "flame_interval_p99_ms": ("25 Hz output interval p99", "ms", "40 +- 3", lambda v: abs(v - 40) <= 3),
}
ROS_ONLY = ("flame_first_ms", "flame_interval_p99_ms")  # need the ROS nodes and a subscriber process


# -- measurements on one backend ------------------------------------------------------------------
def measure_audio(engine, seconds: float, chunk_ms: float = AUDIO_CHUNK_MS) -> dict:
    """Push ``seconds`` of a speech-like signal in ``chunk_ms`` chunks; time each push."""
    rate = 16000
    n = int(seconds * rate)
    t = np.arange(n) / rate
    rng = np.random.default_rng(0)
    # Voiced bursts at syllable rate over noise: compute does not depend on content, but keep it speech-like.
    signal = (0.3 * np.sin(2 * np.pi * 140 * t) * (np.sin(2 * np.pi * 4 * t) > 0)
              + 0.02 * rng.standard_normal(n)).astype(np.float32)
    step = int(rate * chunk_ms / 1000)
    stream = engine.stream()
    stream.push(signal[:rate])  # warm-up second, not timed
    stream.reset()
    push_s, per_frame = [], []
    for i in range(0, n - step + 1, step):
        t0 = time.perf_counter()
        frames = stream.push(signal[i:i + step], rate)
        dt = time.perf_counter() - t0
        if len(frames):
            push_s.append(dt)
            per_frame.append(dt / len(frames))
    compute_p95 = float(np.percentile(push_s, 95) * 1e3)
    frame_ms = 1000.0 / engine.fps
    return {"audio_total_ms": frame_ms / 2 + engine.lookahead_ms + chunk_ms + compute_p95,
            "audio_compute_ms": float(np.percentile(per_frame, 95) * 1e3),
            "audio_breakdown": {"half_frame_ms": frame_ms / 2, "lookahead_ms": engine.lookahead_ms,
                                "chunk_ms": chunk_ms, "compute_p95_ms": compute_p95}}


def measure_lm(lm, codec, repeats: int, seconds: float) -> dict:
    """Language2Motion as ``facelm generate`` runs it (the runtime's default guidance)."""
    from facelm.lm_bench import measure_generation
    from facelm.lm_runtime import DEFAULT_GUIDANCE

    r = measure_generation(repeats=repeats, seconds=seconds, lm=lm, codec=codec, guidance=DEFAULT_GUIDANCE)
    return {"first_frame_ms_p50": r["first_frame_ms_p50"], "token_ms_p50": r["token_ms_p50"],
            "token_ms_p95": r["token_ms_p95"], "realtime_factor": r["realtime_factor_median"],
            "decoder_ms_p50": r["decoder_ms_per_token_p50"], "decoder_ms_p95": r["decoder_ms_per_token_p95"]}


def measure_decoder(codec, tokens: int) -> dict:
    """The decoder alone (for a backend without an LM): ``tokens`` steps of a streaming decode."""
    dec = codec.streaming_decoder()
    rng = np.random.default_rng(0)
    ids = rng.integers(0, codec.num_codes, tokens + 5)
    for i in ids[:5]:
        dec.push(i)
    times = []
    for i in ids[5:]:
        t0 = time.perf_counter()
        dec.push(i)
        times.append(time.perf_counter() - t0)
    return {"decoder_ms_p50": float(np.percentile(times, 50) * 1e3),
            "decoder_ms_p95": float(np.percentile(times, 95) * 1e3)}


# -- child processes: memory, load time, node start-up ---------------------------------------------
FOOTPRINT = """
import json, resource, sys, time
{prelude}
t0 = time.perf_counter()
{load}
for _ in lm.generate_motion("A person nods.", 2.0, seed=0):
    pass
audio.stream().push(__import__("numpy").zeros(16000, "float32"))
print(json.dumps({{"load_s": time.perf_counter() - t0,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "torch_imported": sys.modules.get("torch") is not None}}))
"""
LOAD_ORT = """
from facelm.model_dir import ModelDir
from facelm.lm_runtime import MotionLanguageModel
from facelm.codec import MotionCodec
from facelm.audio import AudioToMotion
model = ModelDir({model!r}, provider={provider!r}, threads={threads})
lm = MotionLanguageModel(model); codec = MotionCodec(model); audio = AudioToMotion(model)
lm.text_encoder
"""
LOAD_TORCH = """
from facelm.model_dir import ModelDir
from facelm.lm_runtime import MotionLanguageModel
from export.bench_torch import torch_backend
model = ModelDir({model!r})
b = torch_backend(model, {lm_checkpoint!r}, {threads}); codec, audio = b["codec"], b["audio"]
lm = b["lm"] or MotionLanguageModel(model)
lm.text_encoder
"""


def _child_json(code: str, timeout: float = 300) -> dict:
    """Run ``python -c code``; its last stdout line as JSON, plus ``startup_s`` (spawn -> exit)."""
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout,
                         cwd=CHECKOUT)
    if out.returncode != 0:
        raise FacelmError(f"bench child failed: {(out.stderr.strip().splitlines() or ['?'])[-1]}")
    return json.loads(out.stdout.strip().splitlines()[-1]) | {"startup_s": time.perf_counter() - t0}


def measure_footprint(model: ModelDir, torch_side: bool = False, lm_checkpoint: str | None = None) -> dict:
    if torch_side:
        load = LOAD_TORCH.format(model=str(model.path), lm_checkpoint=lm_checkpoint, threads=model.options.threads)
        return _child_json(FOOTPRINT.format(prelude="", load=load))
    load = LOAD_ORT.format(model=str(model.path), provider=model.options.provider, threads=model.options.threads)
    result = _child_json(FOOTPRINT.format(prelude=NO_TORCH, load=load))
    if result["torch_imported"]:
        raise FacelmError("the runtime imported torch")
    return result


def node_installed() -> bool:
    try:
        return importlib.util.find_spec(f"facelm.ros.{NODE}") is not None
    except ModuleNotFoundError:
        return False


def measure_node_startup(model: ModelDir, timeout: float = 30.0) -> dict:
    """spawn -> the node's '<name> active' log line (configure loads the models), when it is installed."""
    if not node_installed():
        return {"node_ready_s": "not measured: no node yet"}
    from facelm.ros_env import reserved_domain_id

    with reserved_domain_id() as domain:  # a domain of its own: it must not meet a running face
        seconds = _spawn_until_active(model, domain, timeout)
    if seconds is None:
        return {"node_ready_s": f"not measured: {NODE} did not log 'active' within {timeout:.0f} s"}
    return {"node_ready_s": seconds}


def _spawn_until_active(model: ModelDir, domain: int, timeout: float) -> float | None:
    import queue
    import threading

    from facelm.ros_env import spawn_ros_python, stop_process

    # The model and provider through the environment every facelm node reads (ModelDir's defaults).
    env = {"FACELM_MODEL": str(model.path), "FACELM_PROVIDER": model.options.provider,
           "FACELM_THREADS": str(model.options.threads), "RCUTILS_COLORIZED_OUTPUT": "0",
           "RCUTILS_LOGGING_BUFFERED_STREAM": "1"}
    t0 = time.perf_counter()
    proc = spawn_ros_python(["-m", f"facelm.ros.{NODE}", "--ros-args", "-p", "autostart:=true"],
                            domain_id=domain, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, text=True)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout], daemon=True).start()
    active = re.compile(rf"{NODE}.*\bactive\b")
    try:
        while (left := timeout - (time.perf_counter() - t0)) > 0:
            try:
                if active.search(lines.get(timeout=left)):
                    return time.perf_counter() - t0
            except queue.Empty:
                break
        return None
    finally:
        stop_process(proc)


# -- the two columns -------------------------------------------------------------------------------
def torch_available() -> str | None:
    """None when the torch column can run, else why not."""
    if importlib.util.find_spec("torch") is None:
        return "torch not installed"
    if not (CHECKOUT / "models").is_dir() or not (CHECKOUT / "export").is_dir():
        return "not a checkout (models/, export/ missing)"
    return None


def onnxruntime_column(model: ModelDir, repeats: int, seconds: float) -> dict:
    from facelm.audio import AudioToMotion
    from facelm.codec import MotionCodec
    from facelm.lm_bench import measure_best_of
    from facelm.lm_runtime import MotionLanguageModel

    lm = MotionLanguageModel(model)
    codec = MotionCodec(model)
    col = measure_lm(lm, codec, repeats, seconds)
    col["best_of_first_frame_ms_p50"] = measure_best_of(lm, codec, max(3, repeats // 3))["best_of_first_frame_ms_p50"]
    col |= measure_audio(AudioToMotion(model), seconds)
    col |= measure_footprint(model)
    col |= measure_node_startup(model)
    col |= {k: "not in bench: facelm demo measures it across processes" for k in ROS_ONLY}
    return col


def torch_column(model: ModelDir, repeats: int, seconds: float, lm_checkpoint: str | None) -> dict:
    if str(CHECKOUT) not in sys.path:
        sys.path.insert(0, str(CHECKOUT))
    bench_torch = importlib.import_module("export.bench_torch")  # torch from here on, only for this column
    backend = bench_torch.torch_backend(model, Path(lm_checkpoint) if lm_checkpoint else None,
                                        model.options.threads)
    no_lm = "n/a: no torch LM checkpoint shipped (--lm-checkpoint)"
    if backend["lm"] is not None:
        col = measure_lm(backend["lm"], backend["codec"], repeats, seconds)
    else:
        col = {k: no_lm for k in ("first_frame_ms_p50", "token_ms_p50", "token_ms_p95", "realtime_factor")}
        col |= measure_decoder(backend["codec"], tokens=repeats * 10)
    col |= measure_audio(backend["audio"], seconds)
    col |= measure_footprint(model, torch_side=True, lm_checkpoint=lm_checkpoint)
    col |= {k: "n/a: nodes run onnxruntime" for k in ("node_ready_s", *ROS_ONLY)}
    col["best_of_first_frame_ms_p50"] = "n/a: best-of-N is a runtime feature"
    return col


def run_bench(model: ModelDir, *, quick: bool = False, seconds: float = 12.0, torch: str = "auto",
              lm_checkpoint: str | None = None) -> dict:
    repeats = 5 if quick else 30
    seconds = min(seconds, 4.0) if quick else seconds
    columns = {"onnxruntime": onnxruntime_column(model, repeats, seconds)}
    why_not = torch_available() if torch != "off" else "off (--torch off)"
    if why_not and torch == "on":
        raise FacelmError(f"torch column asked for but {why_not}")
    columns["torch"] = torch_column(model, repeats, seconds, lm_checkpoint) if not why_not else None
    rows = []
    for key, (label, unit, target, passes) in TARGETS.items():
        row = {"key": key, "what": label, "unit": unit, "target": target}
        for name, col in columns.items():
            value = col.get(key) if col else f"n/a: {why_not}"
            row[name] = value
            if isinstance(value, float) and not math.isfinite(value):
                raise FacelmError(f"bench: {name} {label} is not finite")
        ort_value = row["onnxruntime"]
        row["pass"] = passes(ort_value) if passes and isinstance(ort_value, (int, float)) else None
        rows.append(row)
    return {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "machine": machine(),
            "model": str(model.path), "provider": model.options.provider, "threads": model.options.threads,
            "clip_seconds": seconds, "repeats": repeats, "guidance": _guidance(), "rows": rows,
            "audio_breakdown": {k: (c or {}).get("audio_breakdown") for k, c in columns.items()}}


def _guidance() -> float:
    from facelm.lm_runtime import DEFAULT_GUIDANCE
    return DEFAULT_GUIDANCE


def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import onnxruntime
    return {"cpu": cpu, "cpus": os.cpu_count(), "load_average_1min": round(os.getloadavg()[0], 2),
            "python": platform.python_version(), "onnxruntime": onnxruntime.__version__,
            "torch": _torch_version()}


def _torch_version() -> str | None:
    mod = sys.modules.get("torch")  # reported only when the torch column already imported it
    return getattr(mod, "__version__", None) if mod is not None else None


# -- output ----------------------------------------------------------------------------------------
def _cell(value, unit: str) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{value:.0f}{unit}" if unit == "x" else f"{value:.2f} {unit}" if value < 10 else f"{value:.1f} {unit}"
    return str(value)


def format_table(result: dict, markdown: bool = False) -> str:
    head = ["measure", "target", "onnxruntime", "torch", "pass"]
    body = [[r["what"], r["target"] + ("" if r["target"] == "-" else f" {r['unit']}"),
             _cell(r["onnxruntime"], r["unit"]), _cell(r["torch"], r["unit"]),
             {True: "pass", False: "FAIL", None: "-"}[r["pass"]]] for r in result["rows"]]
    m = result["machine"]
    footer = (f"{result['date']}; {m['cpus']} x {m['cpu']}, load {m['load_average_1min']}; onnxruntime "
              f"{m['onnxruntime']} ({result['provider']}, {result['threads']} thread(s)), torch {m['torch'] or '-'}; "
              f"{result['clip_seconds']:g} s clips, {result['repeats']} repeats, guidance {result['guidance']:g}")
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(row) + " |" for row in body]
        return "\n".join(lines) + f"\n\n{footer}"
    widths = [max(len(x[i]) for x in [head, *body]) for i in range(len(head))]
    fmt = lambda row: "  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip()  # noqa: E731
    return "\n".join([fmt(head), fmt(["-" * w for w in widths]), *map(fmt, body), footer])
