"""Export the motion language model to ONNX (one graph with an explicit KV cache) and check parity.

    python -m export.lm --checkpoint runs/lm/lm.pt --out artifacts/

Writes ``lm.onnx`` (see ``export/lm_graphs.py`` for its inputs and outputs),
``lm_vocab.json`` and ``lm_text_tokenizer.json`` into the model directory and the
manifest's ``lm`` section, then runs the shipped runtime (``facelm.lm_runtime``) on
the exported files against the torch model: greedy Language2Motion (with and without
guidance), Motion2Language and QA must give identical tokens, and the logits of a
teacher-forced sequence must agree within ``LOGIT_TOLERANCE``. The numbers go into
the manifest (``lm.parity``); a mismatch fails the export.
"""
from __future__ import annotations

import argparse
import json
import zlib
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from export.lm_graphs import LMStepGraph
from export.onnx_utils import export_graph, sha256, update_manifest
from facelm.vocab import TextTokenizer, Vocab
from models.motion_lm import MotionLM

GRAPH_FILE = "lm.onnx"
VOCAB_FILE = "lm_vocab.json"
TEXT_TOKENIZER_FILE = "lm_text_tokenizer.json"
LOGIT_TOLERANCE = 1e-3
KV_LAYOUT = ["layers", 2, "batch", "heads", "positions", "head_dim"]

PARITY_PROMPTS = [("A person nods slowly.", 3.0), ("shake the head and frown angrily", 5.0),
                  ("look surprised, then smile", 2.0), ("talk calmly while looking to the left", 8.0)]
PARITY_QUESTION = "Is the person nodding?"


def export_lm(model: MotionLM, vocab: Vocab, text_tokenizer: TextTokenizer, out_dir: Path,
              checkpoint: Path | None = None) -> dict:
    """Write the graph, vocabulary, text tokenizer and the manifest's ``lm`` section (without parity)."""
    model = model.eval()
    cfg = model.cfg
    if cfg.vocab_size != vocab.size:
        raise ValueError(f"model vocab_size {cfg.vocab_size} != vocabulary size {vocab.size}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    L, H, hd = cfg.n_layer, cfg.n_head, cfg.head_dim
    # Sample sizes above 1 everywhere, so torch.export keeps every axis symbolic (0 and 1 included at run time).
    args = (torch.zeros(2, 3, dtype=torch.long), torch.zeros(2, 2, cfg.cond_dim), torch.zeros(L, 2, 2, H, 2, hd))
    batch = torch.export.Dim("batch", min=1, max=64)
    new = torch.export.Dim("new", min=1, max=cfg.block_size)
    prefix = torch.export.Dim("prefix", min=0, max=2)
    past = torch.export.Dim("past", min=0, max=cfg.block_size)
    export_graph(LMStepGraph(model), args, out_dir / GRAPH_FILE, ["ids", "prefix", "past_kv"], ["logits", "present_kv"],
                 dynamic_shapes={"ids": {0: batch, 1: new}, "prefix": {0: batch, 1: prefix},
                                 "past_kv": {2: batch, 4: past}})
    vocab.save(out_dir / VOCAB_FILE)
    text_tokenizer.save(out_dir / TEXT_TOKENIZER_FILE)
    section = {
        "kind": "motion_lm",
        "graph": {"file": GRAPH_FILE, "sha256": sha256(out_dir / GRAPH_FILE),
                  "inputs": {"ids": ["B", "T"], "prefix": ["B", "K (1 first call, else 0)", cfg.cond_dim],
                             "past_kv": KV_LAYOUT},
                  "outputs": {"logits": ["B", cfg.vocab_size], "present_kv": KV_LAYOUT}},
        "vocab": {"file": VOCAB_FILE, "sha256": sha256(out_dir / VOCAB_FILE)},
        "text_tokenizer": {"file": TEXT_TOKENIZER_FILE, "sha256": sha256(out_dir / TEXT_TOKENIZER_FILE)},
        "config": asdict(cfg),
        "kv_layout": KV_LAYOUT,
        "special_ids": {name: vocab.special(name) for name in vocab.specials},
        "text_offset": vocab.text_offset,
        "motion_offset": vocab.motion_offset,
        "num_motion": vocab.num_motion,
        "fps": vocab.fps,
        "frames_per_token": vocab.frames_per_token,
        "max_seconds": vocab.max_seconds,
        "max_context": cfg.block_size,
        "prefix_embedding": "text_encoder" if cfg.cond_dim == 384 else f"{cfg.cond_dim}-d",
    }
    manifest = out_dir / "manifest.json"
    if manifest.is_file():
        tok_spec = json.loads(manifest.read_text()).get("tokenizer")
        if tok_spec:  # which motion tokenizer's codes this LM speaks
            section["motion_tokenizer_decoder_sha256"] = tok_spec["decoder_step"]["sha256"]
            if int(tok_spec["num_codes"]) != vocab.num_motion:
                raise ValueError(f"LM has {vocab.num_motion} motion codes, the tokenizer in {out_dir} has "
                                 f"{tok_spec['num_codes']}")
    if checkpoint is not None:
        section["source_checkpoint"] = {"name": Path(checkpoint).name, "sha256": sha256(checkpoint)}
    update_manifest(out_dir, "lm", section)
    return section


def parity_embedding(out_dir: Path, text: str, dim: int) -> np.ndarray:
    """The runtime's own sentence embedding when the model dir has one, else a fixed unit vector."""
    from facelm.model_dir import ModelDir
    from facelm.text_encoder import TextEncoder
    md = ModelDir(out_dir)
    if "text_encoder" in md.manifest and int(md.manifest["text_encoder"]["dim"]) == dim:
        return TextEncoder(md).embed([text])[0]
    rng = np.random.default_rng(zlib.crc32(text.encode("utf-8")))
    v = rng.standard_normal(dim).astype(np.float32)
    return v / np.linalg.norm(v)


def teacher_forced_logit_error(model: MotionLM, runtime, ids: list[int], cond: np.ndarray) -> float:
    """Max |torch - onnxruntime| over every position's logits: prefill of 3 tokens, then one step at a time."""
    with torch.no_grad():
        ref, _ = model(torch.tensor([ids]), torch.from_numpy(cond[None]))
    ref = ref[0].numpy()
    logits, past = runtime.run_graph(ids[:3], cond, None)
    worst = float(np.abs(logits - ref[2]).max())
    for t in range(3, len(ids)):
        logits, past = runtime.run_graph([ids[t]], None, past)
        worst = max(worst, float(np.abs(logits - ref[t]).max()))
    return worst


def check_parity(model: MotionLM, vocab: Vocab, tok: TextTokenizer, out_dir: Path) -> dict:
    """Torch vs the runtime on the exported files; raises AssertionError on a token mismatch."""
    from facelm.lm_runtime import MotionLanguageModel
    from training.lm_infer import answer, motion_to_text, text_to_motion

    rt = MotionLanguageModel(out_dir)
    report = {"l2m_prompts": 0, "l2m_tokens": 0, "m2l_descriptions": 0, "qa": 0}
    codes_seen = []
    for prompt, seconds in PARITY_PROMPTS:
        emb = parity_embedding(out_dir, prompt, model.cfg.cond_dim)
        for guidance in (1.0, 2.5):
            want = text_to_motion(model, vocab, tok, prompt, seconds, embed=emb, temperature=0.0, guidance=guidance)
            got = np.fromiter(rt.generate_motion(prompt, seconds, temperature=0.0, guidance=guidance, embedding=emb),
                              np.int64)
            assert np.array_equal(want, got), f"greedy motion differs for {prompt!r} (guidance {guidance})"
            report["l2m_prompts"] += 1
            report["l2m_tokens"] += len(got)
        codes_seen.append(want)
    for codes in codes_seen[:2]:
        for category in vocab.categories:
            want = motion_to_text(model, vocab, tok, codes, category)
            got = rt.describe(codes, category)
            assert want == got, f"greedy description differs ({category}): {want!r} vs {got!r}"
            report["m2l_descriptions"] += 1
        emb = parity_embedding(out_dir, PARITY_QUESTION, model.cfg.cond_dim)
        want = answer(model, vocab, tok, codes, PARITY_QUESTION, embed=emb)
        got = rt.answer(codes, PARITY_QUESTION, embedding=emb)
        assert want == got, f"greedy answer differs: {want!r} vs {got!r}"
        report["qa"] += 1
    prompt, seconds = PARITY_PROMPTS[0]
    emb = parity_embedding(out_dir, prompt, model.cfg.cond_dim)
    seq, _ = vocab.text_to_motion(vocab.encode_text(tok, prompt), seconds, codes_seen[0])
    report["max_abs_logit_diff"] = teacher_forced_logit_error(model, rt, seq, emb)
    assert report["max_abs_logit_diff"] < LOGIT_TOLERANCE, f"logits differ by {report['max_abs_logit_diff']:.2e}"
    report["logit_tolerance"] = LOGIT_TOLERANCE
    return report


def load_checkpoint(path: Path) -> tuple[MotionLM, Vocab, TextTokenizer]:
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    if ckpt.get("kind") != "motion_lm":
        raise SystemExit(f"{path}: kind={ckpt.get('kind')!r}; only the GPT ('motion_lm') exports to ONNX here")
    if not ckpt.get("vocab") or not ckpt.get("text_tokenizer"):
        raise SystemExit(f"{path}: checkpoint carries no vocabulary / text tokenizer")
    return MotionLM.from_checkpoint(ckpt), Vocab.from_dict(ckpt["vocab"]), TextTokenizer.from_str(ckpt["text_tokenizer"])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", type=Path, required=True, help="trained LM checkpoint (runs/lm/lm.pt)")
    ap.add_argument("--out", type=Path, required=True, help="model directory to write the graph + manifest into")
    ap.add_argument("--skip-parity", action="store_true", help="do not compare with torch (not for a release)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    model, vocab, tok = load_checkpoint(args.checkpoint)
    section = export_lm(model, vocab, tok, args.out, args.checkpoint)
    if not args.skip_parity:
        section["parity"] = check_parity(model, vocab, tok, args.out)
        update_manifest(args.out, "lm", section)
    size = sum((args.out / section[k]["file"]).stat().st_size for k in ("graph", "vocab", "text_tokenizer")) / 1e6
    print(f"wrote {GRAPH_FILE}, {VOCAB_FILE}, {TEXT_TOKENIZER_FILE} ({size:.1f} MB) to {args.out}")
    if "parity" in section:
        print("parity vs torch:", section["parity"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
