"""Rebuild a torch checkpoint of the motion LM from an exported model directory.

    python -m training.recover_lm --model artifacts --out runs/lm_shipped/lm.pt

The ONNX graph holds every weight of ``models/motion_lm.py``'s GPT: biases and norms
keep their parameter names (``model.<name>``); the exporter folds each linear
layer's weight into a transposed constant feeding a MatMul, whose output the
layer's named bias is then added to. So a weight is found as the MatMul constant
whose result meets ``<layer>.bias`` (the tied output head has its own name). The
manifest gives the config, vocabulary, text tokenizer and known words; logits of the rebuilt
model are checked against onnxruntime before the checkpoint is written.

Use: warm-start training (``train_lm --init``) when only the exported model is at hand,
e.g. to adapt the shipped LM to a retrained motion tokenizer.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import numpy_helper

from facelm.errors import FacelmError
from facelm.known_words import KnownWords
from facelm.model_dir import ModelDir
from facelm.vocab import TextTokenizer, Vocab
from models.motion_lm import LMConfig, MotionLM

PREFIX = "model."


def onnx_weights(graph: onnx.GraphProto) -> dict[str, np.ndarray]:
    """Parameter name -> array, from named initializers and MatMul constants followed by a named bias."""
    inits = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    out = {name[len(PREFIX):]: value for name, value in inits.items() if name.startswith(PREFIX)}
    for node in graph.node:
        if node.op_type != "MatMul" or node.input[1] not in inits or node.input[1].startswith(PREFIX):
            continue
        for add in consumers.get(node.output[0], []):
            bias = next((i for i in add.input if i.startswith(PREFIX) and i.endswith(".bias")), None)
            if add.op_type == "Add" and bias is not None:
                out[bias[len(PREFIX):-len(".bias")] + ".weight"] = inits[node.input[1]].T  # (in, out) -> (out, in)
    return out


def recover(model_dir: str | Path) -> dict:
    """A ``training.train_lm``-style checkpoint dict rebuilt from ``model_dir``'s LM graph."""
    md = ModelDir(model_dir)
    spec = md.section("lm")
    if spec.get("kind") != "motion_lm":
        raise FacelmError(f"{md.path}: lm kind {spec.get('kind')!r} cannot be rebuilt (only motion_lm)")
    cfg = LMConfig(**spec["config"])
    model = MotionLM(cfg)
    weights = onnx_weights(onnx.load(str(md.file(spec["graph"]))).graph)
    weights.setdefault("tok_emb.weight", weights.get("head.weight"))  # tied
    state = model.state_dict()
    missing = sorted(set(state) - {k for k, v in weights.items() if v is not None})
    if missing:
        raise FacelmError(f"{md.path}: lm graph lacks weights for {', '.join(missing[:4])}"
                          f"{' ...' if len(missing) > 4 else ''}")
    for name, value in state.items():
        if tuple(weights[name].shape) != tuple(value.shape):
            raise FacelmError(f"{md.path}: lm weight {name} has shape {weights[name].shape}, want {tuple(value.shape)}")
        state[name] = torch.from_numpy(np.array(weights[name], np.float32))  # a writable copy
    model.load_state_dict(state)
    vocab = Vocab.load(md.file(spec["vocab"]))
    tok = TextTokenizer.from_file(md.file(spec["text_tokenizer"]))
    words = sorted(KnownWords.from_file(md.file(spec["known_words"])).words) if "known_words" in spec else None
    return model.checkpoint(vocab=vocab.to_dict(), text_tokenizer=tok.to_str(), step=None, known_words=words,
                            motion_tokenizer_sha256=spec.get("trained_on_motion_tokenizer_sha256"),
                            recovered_from=str(md.path / spec["graph"]["file"]))


def max_logit_difference(ckpt: dict, model_dir: str | Path, seed: int = 0) -> float:
    """Largest |logit| difference, torch vs onnxruntime, on the first call for a random prompt."""
    from facelm.lm_runtime import MotionLanguageModel
    runtime = MotionLanguageModel(str(model_dir))
    model = MotionLM.from_checkpoint(ckpt)
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, model.cfg.vocab_size, 24).tolist()
    cond = rng.standard_normal(model.cfg.cond_dim).astype(np.float32)
    cond /= np.linalg.norm(cond)
    onnx_logits, _ = runtime.run_graph(ids, cond, None)
    with torch.no_grad():
        torch_logits = model(torch.tensor([ids]), torch.from_numpy(cond)[None])[0]
    onnx_last = np.asarray(onnx_logits).reshape(-1, model.cfg.vocab_size)[-1]
    torch_last = torch_logits.reshape(-1, model.cfg.vocab_size)[-1].numpy()
    return float(np.abs(onnx_last - torch_last).max())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m training.recover_lm", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=Path("artifacts"), help="exported model directory")
    ap.add_argument("--out", type=Path, required=True, help="checkpoint to write (.pt)")
    ap.add_argument("--tolerance", type=float, default=1e-3, help="largest logit difference accepted vs onnxruntime")
    args = ap.parse_args(argv)
    try:
        ckpt = recover(args.model)
        diff = max_logit_difference(ckpt, args.model)
    except FacelmError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if diff > args.tolerance:
        print(f"error: rebuilt LM differs from the graph by {diff:.3g} in logits (> {args.tolerance})", file=sys.stderr)
        return 1
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(ckpt, args.out)
    print(json.dumps({"out": str(args.out), "max_logit_difference": diff}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
