"""Export the audio-to-mouth model to ONNX (one streaming step graph) and check parity.

    python -m export.audio --checkpoint runs/audio/audio.pt --out artifacts/

Writes ``audio_stream_step.onnx`` (and copies the checkpoint as ``audio.pt`` when
``--copy-checkpoint``) and merges the manifest's ``audio`` section. Parity: the
graph on onnxruntime against torch on random log-mel, offline (one call) and
streamed in uneven chunks; the worst difference is printed and stored in the
section, and the export fails above ``--tolerance``.
"""
from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import numpy as np
import torch

from export.audio_graphs import StreamStepGraph
from export.onnx_utils import export_graph, sha256, update_manifest
from facelm.audio.features import FeatureSpec
from models.audio_to_motion import AudioToMotion

GRAPH_FILE = "audio_stream_step.onnx"
CHECKPOINT_FILE = "audio.pt"
TOLERANCE = 1e-4  # raw FLAME units (jaw radians, expression coefficients)


def export_stream_graph(model: AudioToMotion, path: Path) -> StreamStepGraph:
    graph = StreamStepGraph(model).eval()
    cfg = model.cfg
    mel = torch.randn(1, cfg.frames_per_step * 6, cfg.n_mels)
    style = torch.zeros(1, dtype=torch.long)
    state = torch.zeros(1, graph.state_size)
    steps = torch.export.Dim("steps", min=1, max=100000)
    export_graph(graph, (mel, style, state), path, ["mel", "style", "state"], ["motion", "next_state"],
                 dynamic_shapes={"mel": {1: cfg.frames_per_step * steps}, "style": None, "state": None})
    return graph


def parity(model: AudioToMotion, path: Path, seed: int = 0, steps: int = 60) -> dict:
    """Worst |torch - onnxruntime| offline and streamed, and |streamed - offline| on onnxruntime."""
    import onnxruntime as ort

    cfg = model.cfg
    rng = np.random.default_rng(seed)
    mel = (rng.normal(0, 1, (1, cfg.frames_per_step * steps, cfg.n_mels)) * model.mel_std.numpy()
           + model.mel_mean.numpy()).astype(np.float32)
    style = np.array([len(cfg.styles) - 1], np.int64)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    graph = StreamStepGraph(model).eval()
    state0 = np.zeros((1, graph.state_size), np.float32)
    with torch.no_grad():
        ref = model(torch.from_numpy(mel), torch.from_numpy(style)).numpy()
    offline = sess.run(None, {"mel": mel, "style": style, "state": state0})[0]
    chunks, state, outs, at = [1, 3, 2, 7, 1, 5], state0, [], 0
    while at < steps:
        n = min(chunks[len(outs) % len(chunks)], steps - at)
        m = mel[:, at * cfg.frames_per_step:(at + n) * cfg.frames_per_step]
        y, state = sess.run(None, {"mel": m, "style": style, "state": state})
        outs.append(y)
        at += n
    streamed = np.concatenate(outs, axis=1)
    return {"torch_vs_ort": float(np.abs(ref - offline).max()),
            "stream_vs_offline": float(np.abs(streamed - offline).max()),
            "torch_vs_ort_stream": float(np.abs(ref - streamed).max())}


def export_audio(model: AudioToMotion, out_dir: Path, checkpoint_name: str | None = None,
                 tolerance: float = TOLERANCE, extra: dict | None = None) -> dict:
    """Write the graph, check parity, merge the manifest's ``audio`` section; returns the section."""
    out_dir = Path(out_dir)
    cfg = model.cfg
    graph = export_stream_graph(model, out_dir / GRAPH_FILE)
    checks = parity(model, out_dir / GRAPH_FILE)
    worst = max(checks.values())
    if worst > tolerance:
        raise SystemExit(f"parity check failed: {checks} (tolerance {tolerance})")
    section = {
        "kind": "audio_to_mouth",
        "fps": cfg.fps,
        "features": FeatureSpec().as_dict(),
        "frames_per_step": cfg.frames_per_step,
        "lookahead_frames": cfg.lookahead,
        "lookahead_ms": cfg.lookahead_ms,
        "receptive_field_frames": cfg.receptive_field,
        "num_expression": cfg.num_expression,
        "outputs": ["expression"] * cfg.num_expression + ["jaw_x", "jaw_y", "jaw_z"],
        "styles": list(cfg.styles),
        "parity": {**checks, "tolerance": tolerance},
        "stream_step": {"file": GRAPH_FILE, "sha256": sha256(out_dir / GRAPH_FILE),
                        "state_size": graph.state_size,
                        "inputs": {"mel": ["B", "4t", cfg.n_mels], "style": ["B"], "state": ["B", graph.state_size]},
                        "outputs": {"motion": ["B", "t", cfg.out_dim], "next_state": ["B", graph.state_size]}},
        **(extra or {}),
    }
    if checkpoint_name:
        section["checkpoint"] = {"file": checkpoint_name, "sha256": sha256(out_dir / checkpoint_name)}
    update_manifest(out_dir, "audio", section)
    return section


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", type=Path, required=True, help="trained checkpoint (training.train_audio)")
    ap.add_argument("--out", type=Path, required=True, help="model directory to write the graph + manifest into")
    ap.add_argument("--copy-checkpoint", action="store_true", help=f"copy the checkpoint into OUT as {CHECKPOINT_FILE}")
    ap.add_argument("--tolerance", type=float, default=TOLERANCE, help="largest allowed parity difference")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    model = AudioToMotion.from_checkpoint(args.checkpoint)
    args.out.mkdir(parents=True, exist_ok=True)
    name = None
    if args.copy_checkpoint:
        if args.checkpoint.resolve() != (args.out / CHECKPOINT_FILE).resolve():
            shutil.copyfile(args.checkpoint, args.out / CHECKPOINT_FILE)
        name = CHECKPOINT_FILE
    elif args.checkpoint.resolve().parent == args.out.resolve():
        name = args.checkpoint.name
    section = export_audio(model, args.out, name, args.tolerance)
    print(f"wrote {GRAPH_FILE} to {args.out}; parity {section['parity']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
