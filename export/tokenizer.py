"""Export the motion tokenizer to ONNX (encoder + incremental decoder step) and check parity.

    python -m export.tokenizer --checkpoint artifacts/tokenizer.pt --out artifacts/
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

from export.onnx_utils import export_graph, sha256, update_manifest
from export.tokenizer_graphs import DecoderStepGraph, EncoderGraph
from models.motion_tokenizer import MotionTokenizer

ENCODER_FILE = "tokenizer_encoder.onnx"
DECODER_FILE = "tokenizer_decoder_step.onnx"


def export_tokenizer(model: MotionTokenizer, out_dir: Path, checkpoint_name: str | None = None,
                     source_sha256: str | None = None, codes_sha256: str | None = None) -> dict:
    """Write both graphs and the manifest's ``tokenizer`` section; returns that section."""
    cfg = model.cfg
    out_dir = Path(out_dir)
    fpt = cfg.frames_per_token
    enc = EncoderGraph(model).eval()
    frames = torch.randn(1, 8 * fpt, cfg.input_dim)
    n = torch.export.Dim("n_tokens", min=1, max=4096)
    export_graph(enc, (frames,), out_dir / ENCODER_FILE, ["frames"], ["ids"],
                 dynamic_shapes={"frames": {1: fpt * n}})
    dec = DecoderStepGraph(model).eval()
    ids = torch.zeros(1, dtype=torch.long)
    state = torch.zeros(1, dec.state_size)
    export_graph(dec, (ids, state), out_dir / DECODER_FILE, ["ids", "state"], ["frames", "next_state"])
    section = {
        "num_codes": cfg.num_codes,
        "frames_per_token": fpt,
        "fps": cfg.fps,
        "num_expression": cfg.num_expression,
        "include_global": cfg.include_global,
        "input_dim": cfg.input_dim,
        "mean": model.mean.tolist(),
        "std": model.std.tolist(),
        "encoder_receptive_field": model.encoder_receptive_field(),
        "encode_delay_frames": fpt - 1,
        "decoder_lookahead": cfg.decoder_lookahead,
        "encoder": {"file": ENCODER_FILE, "sha256": sha256(out_dir / ENCODER_FILE),
                    "inputs": {"frames": ["1", "T", cfg.input_dim]}, "outputs": {"ids": ["1", "T/fpt"]}},
        "decoder_step": {"file": DECODER_FILE, "sha256": sha256(out_dir / DECODER_FILE),
                         "state_size": dec.state_size,
                         "inputs": {"ids": ["B"], "state": ["B", dec.state_size]},
                         "outputs": {"frames": ["B", fpt, cfg.input_dim], "next_state": ["B", dec.state_size]}},
    }
    if source_sha256:
        section["source_sha256"] = source_sha256  # the training checkpoint: a language model names the one it used
    if codes_sha256 and codes_sha256 != source_sha256:
        section["codes_sha256"] = codes_sha256  # a decoder retrained on the codes of that checkpoint
    if checkpoint_name:
        section["checkpoint"] = {"file": checkpoint_name, "sha256": sha256(out_dir / checkpoint_name)}
    update_manifest(out_dir, "tokenizer", section)
    return section


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", type=Path, required=True, help="trained tokenizer checkpoint (.pt)")
    ap.add_argument("--out", type=Path, required=True, help="model directory to write graphs + manifest into")
    ap.add_argument("--ship", action="store_true",
                    help="also write a slim checkpoint (fp16 weights, no optimizer) as OUT/tokenizer.pt")
    args = ap.parse_args(argv)
    ckpt = torch.load(args.checkpoint, map_location="cpu", weights_only=False)
    model = MotionTokenizer.from_checkpoint(ckpt)
    codes = ckpt.get("codes_sha256")
    ckpt_name = None
    if args.ship:
        # Round the weights to fp16 first so the shipped checkpoint and the graphs agree exactly.
        model = model.half().float().eval()
        args.out.mkdir(parents=True, exist_ok=True)
        slim = model.checkpoint(source=str(args.checkpoint), **({"codes_sha256": codes} if codes else {}))
        slim["state_dict"] = {k: v.half() if v.is_floating_point() else v for k, v in slim["state_dict"].items()}
        torch.save(slim, args.out / "tokenizer.pt")
        ckpt_name = "tokenizer.pt"
    section = export_tokenizer(model, args.out, ckpt_name, sha256(args.checkpoint), codes)
    print(f"wrote {section['encoder']['file']} and {section['decoder_step']['file']} to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
