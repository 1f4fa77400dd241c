"""Export the motion language model to ONNX (one graph with an explicit KV cache) and check parity.

    python -m export.lm --checkpoint runs/lm/lm.pt --out artifacts/

Writes ``lm.onnx`` (see ``export/lm_graphs.py`` for its inputs and outputs),
``lm_vocab.json``, ``lm_text_tokenizer.json`` and ``lm_words.json`` (the words of the training
text, see ``facelm.known_words``) into the model directory and the
manifest's ``lm`` section, then runs the shipped runtime (``facelm.lm_runtime``) on
the exported files against the torch model: greedy Language2Motion (with and without
guidance), Motion2Language and QA must give identical tokens, and the logits of a
teacher-forced sequence must agree within ``LOGIT_TOLERANCE``. The numbers go into
the manifest (``lm.parity``); a mismatch fails the export.

``--int8`` then quantizes the matmul weights (weight-only, blocks of 32): 2.5x
smaller and about twice as fast to decode here; its agreement with torch is measured
and recorded beside the exact fp32 parity, not required to be exact.
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
from export.word_aliases import DEFAULT_THESAURUS, with_aliases
from export.wordnet import DEFAULT_DIR as DEFAULT_WORDNET
from facelm.known_words import KnownWords, Rewrite
from facelm.model_dir import motion_codes_sha256
from facelm.vocab import TextTokenizer, Vocab
from models.motion_lm import MotionLM

GRAPH_FILE = "lm.onnx"
VOCAB_FILE = "lm_vocab.json"
TEXT_TOKENIZER_FILE = "lm_text_tokenizer.json"
WORDS_FILE = "lm_words.json"
LOGIT_TOLERANCE = 1e-3
KV_LAYOUT = ["B", "heads", "positions", "head_dim"]

PARITY_PROMPTS = [("A person nods slowly.", 3.0), ("shake the head and frown angrily", 5.0),
                  ("look surprised, then smile", 2.0), ("talk calmly while looking to the left", 8.0),
                  ("An individual bobs the head, looking elated.", 3.0)]  # words unseen in training
PARITY_QUESTION = "Is the person nodding?"


def check_motion_tokenizer(out_dir: Path, vocab: Vocab, trained_tokenizer_sha256: str | None) -> dict:
    """The model dir's motion tokenizer must be the one the LM speaks; returns the link to record."""
    manifest = Path(out_dir) / "manifest.json"
    tok_spec = json.loads(manifest.read_text()).get("tokenizer") if manifest.is_file() else None
    if not tok_spec:
        return {}
    if int(tok_spec["num_codes"]) != vocab.num_motion:
        raise ValueError(f"LM has {vocab.num_motion} motion codes, the tokenizer in {out_dir} has "
                         f"{tok_spec['num_codes']}")
    source = motion_codes_sha256(tok_spec)
    if source and trained_tokenizer_sha256 and source != trained_tokenizer_sha256:
        raise ValueError(f"the LM was trained on codes of tokenizer {trained_tokenizer_sha256[:12]}, "
                         f"the one in {out_dir} comes from {source[:12]}: export the matching one")
    if source:  # the codes' origin: a decoder retrained on them later still matches
        return {"motion_tokenizer_codes_sha256": source}
    return {"motion_tokenizer_decoder_sha256": tok_spec["decoder_step"]["sha256"]}


def export_lm(model: MotionLM, vocab: Vocab, text_tokenizer: TextTokenizer, out_dir: Path,
              checkpoint: Path | None = None, trained_tokenizer_sha256: str | None = None,
              known_words: KnownWords | None = None) -> dict:
    """Write the graph, vocabulary, text tokenizer and the manifest's ``lm`` section (without parity).

    ``known_words``: the words of the LM's training text (``facelm.known_words``); when given they
    are written as ``lm_words.json`` and the runtime leaves other words out of the token path.

    ``trained_tokenizer_sha256``: sha256 of the motion tokenizer checkpoint whose codes the LM was
    trained on (train_lm records it); refused when the model dir's tokenizer names another source.
    """
    model = model.eval()
    cfg = model.cfg
    if cfg.vocab_size != vocab.size:
        raise ValueError(f"model vocab_size {cfg.vocab_size} != vocabulary size {vocab.size}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tokenizer_link = check_motion_tokenizer(out_dir, vocab, trained_tokenizer_sha256)  # before the slow part
    L, H, hd = cfg.n_layer, cfg.n_head, cfg.head_dim
    # Sample sizes above 1 everywhere: torch.export keeps every axis symbolic (0 and 1 work at run time).
    past = [torch.zeros(2, H, 2, hd) for _ in range(2 * L)]
    args = (torch.zeros(2, 3, dtype=torch.long), torch.zeros(2, 2, cfg.cond_dim), past)
    batch = torch.export.Dim("batch", min=1, max=64)
    new = torch.export.Dim("new", min=1, max=cfg.block_size)
    prefix = torch.export.Dim("prefix", min=0, max=2)
    positions = torch.export.Dim("past", min=0, max=cfg.block_size)
    past_names = LMStepGraph.cache_names(L, "past")
    export_graph(LMStepGraph(model), args, out_dir / GRAPH_FILE, ["ids", "prefix", *past_names],
                 ["logits", *LMStepGraph.cache_names(L, "present")],
                 dynamic_shapes={"ids": {0: batch, 1: new}, "prefix": {0: batch, 1: prefix},
                                 "past": [{0: batch, 2: positions}] * (2 * L)})
    vocab.save(out_dir / VOCAB_FILE)
    text_tokenizer.save(out_dir / TEXT_TOKENIZER_FILE)
    section = {
        "kind": "motion_lm",
        "graph": {"file": GRAPH_FILE, "sha256": sha256(out_dir / GRAPH_FILE),
                  "inputs": {"ids": ["B", "T"], "prefix": ["B", "K (1 first call, else 0)", cfg.cond_dim],
                             "past_key_<layer>": KV_LAYOUT, "past_value_<layer>": KV_LAYOUT},
                  "outputs": {"logits": ["B", cfg.vocab_size], "present_key_<layer>": KV_LAYOUT,
                              "present_value_<layer>": KV_LAYOUT}},
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
    if known_words is not None:
        known_words.save(out_dir / WORDS_FILE)
        section["known_words"] = {"file": WORDS_FILE, "sha256": sha256(out_dir / WORDS_FILE),
                                  "count": len(known_words), "aliases": len(known_words.aliases)}
    else:
        (out_dir / WORDS_FILE).unlink(missing_ok=True)  # a stale list would belong to another model
    if tokenizer_link:
        section.update(tokenizer_link)
    if trained_tokenizer_sha256:
        section["trained_on_motion_tokenizer_sha256"] = trained_tokenizer_sha256
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
    """Max |torch - onnxruntime| over every position's logits: prefill of 3 tokens, then one at a time."""
    with torch.no_grad():
        ref, _ = model(torch.tensor([ids]), torch.from_numpy(cond[None]))
    ref = ref[0].numpy()
    logits, past = runtime.run_graph(ids[:3], cond, None)
    worst = float(np.abs(logits - ref[2]).max())
    for t in range(3, len(ids)):
        logits, past = runtime.run_graph([ids[t]], None, past)
        worst = max(worst, float(np.abs(logits - ref[t]).max()))
    return worst


def check_parity(model: MotionLM, vocab: Vocab, tok: TextTokenizer, out_dir: Path,
                 strict: bool = True) -> dict:
    """Torch vs the runtime on the exported files: greedy L2M (guidance 1, 2.5), M2L per category, QA, logits.

    ``strict``: any token difference or a logit error above LOGIT_TOLERANCE raises AssertionError (the fp32
    graph); otherwise the share of identical outputs is reported (a weight-quantized graph).
    """
    from facelm.lm_runtime import MotionLanguageModel
    from training.lm_infer import answer, motion_to_text, text_to_motion

    rt = MotionLanguageModel(out_dir)
    same: dict[str, list[bool]] = {"l2m": [], "m2l": [], "qa": []}
    tokens = 0

    def compare(kind: str, want, got, what: str) -> None:
        ok = bool(np.array_equal(want, got)) if isinstance(want, np.ndarray) else want == got
        assert ok or not strict, f"greedy {what} differs: {want!r} vs {got!r}"
        same[kind].append(ok)

    codes_seen = []
    for prompt, seconds in PARITY_PROMPTS:
        # The runtime reads aliases and leaves other unseen words out of the tokens (the sentence
        # encoder keeps them, with the aliases read too); torch gets those texts.
        rewrite = (rt.known_words.split(prompt) if rt.known_words is not None
                   else Rewrite(prompt, [], [], prompt))
        token_text = rewrite.text
        emb = parity_embedding(out_dir, rewrite.sentence, model.cfg.cond_dim)
        for guidance in (1.0, 2.5):
            want = text_to_motion(model, vocab, tok, token_text, seconds, embed=emb, temperature=0.0,
                                  guidance=guidance)
            got = np.fromiter(rt.generate_motion(prompt, seconds, temperature=0.0, guidance=guidance,
                                                 embedding=emb), np.int64)
            compare("l2m", want, got, f"motion for {prompt!r} (guidance {guidance})")
            tokens += len(want)
        codes_seen.append(want)
    for codes in codes_seen[:2]:
        for category in vocab.categories:
            compare("m2l", motion_to_text(model, vocab, tok, codes, category), rt.describe(codes, category),
                    f"description ({category})")
        emb = parity_embedding(out_dir, PARITY_QUESTION, model.cfg.cond_dim)
        compare("qa", answer(model, vocab, tok, codes, PARITY_QUESTION, embed=emb),
                rt.answer(codes, PARITY_QUESTION, embedding=emb), "answer")
    prompt, seconds = PARITY_PROMPTS[0]
    emb = parity_embedding(out_dir, prompt, model.cfg.cond_dim)
    seq, _ = vocab.text_to_motion(vocab.encode_text(tok, prompt), seconds, codes_seen[0])
    logit_error = teacher_forced_logit_error(model, rt, seq, emb)
    assert logit_error < LOGIT_TOLERANCE or not strict, f"logits differ by {logit_error:.2e}"
    return {"l2m_sequences": len(same["l2m"]), "l2m_tokens": tokens,
            "l2m_identical": float(np.mean(same["l2m"])),
            "m2l_descriptions": len(same["m2l"]), "m2l_identical": float(np.mean(same["m2l"])),
            "qa_answers": len(same["qa"]), "qa_identical": float(np.mean(same["qa"])),
            "max_abs_logit_diff": logit_error, "logit_tolerance": LOGIT_TOLERANCE if strict else None}


def quantize_weights(path: Path) -> None:
    """Weight-only int8 (blocks of 32, int8 compute) for the matmuls, in place.

    Decoding reads every weight once a token, so it is bound by memory traffic: a quarter
    of the bytes made a step about twice as fast on this CPU under load. The tied
    embedding / output head stays fp32.
    """
    import logging

    import onnx
    from onnxruntime.quantization.matmul_nbits_quantizer import (DefaultWeightOnlyQuantConfig,
                                                                 MatMulNBitsQuantizer)
    logging.getLogger("onnxruntime.quantization").setLevel(logging.WARNING)
    q = MatMulNBitsQuantizer(onnx.load(str(path)), algo_config=DefaultWeightOnlyQuantConfig(
        block_size=32, bits=8, accuracy_level=4, op_types_to_quantize=("MatMul",)))
    q.process()
    onnx.save(q.model.model, str(path))
    onnx.checker.check_model(str(path))


def load_checkpoint(path: Path) -> tuple[MotionLM, Vocab, TextTokenizer, str | None, KnownWords | None]:
    """(model, vocabulary, text tokenizer, sha256 of the motion tokenizer it was trained with or None,
    the words of its training text or None for checkpoints older than the word list)."""
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    if ckpt.get("kind") != "motion_lm":
        raise SystemExit(f"{path}: kind={ckpt.get('kind')!r}; only the GPT ('motion_lm') exports to ONNX")
    if not ckpt.get("vocab") or not ckpt.get("text_tokenizer"):
        raise SystemExit(f"{path}: checkpoint carries no vocabulary / text tokenizer")
    tok = TextTokenizer.from_str(ckpt["text_tokenizer"])
    vocab = Vocab.from_dict(ckpt["vocab"])
    words = KnownWords(ckpt["known_words"]) if ckpt.get("known_words") else None
    return MotionLM.from_checkpoint(ckpt), vocab, tok, ckpt.get("motion_tokenizer_sha256"), words


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", type=Path, required=True, help="trained LM checkpoint (runs/lm/lm.pt)")
    ap.add_argument("--out", type=Path, required=True, help="model directory for the graph + manifest")
    ap.add_argument("--int8", action="store_true",
                    help="ship int8 matmul weights (smaller, faster decoding; parity reported, not exact)")
    ap.add_argument("--skip-parity", action="store_true", help="no comparison with torch (not for a release)")
    ap.add_argument("--wordnet", type=Path, default=DEFAULT_WORDNET,
                    help="WordNet 3.0 database (Debian wordnet-base) for the word aliases (export.word_aliases)")
    ap.add_argument("--thesaurus", type=Path, default=DEFAULT_THESAURUS,
                    help="MyThes thesaurus (Debian mythes-en-us) for words WordNet 3.0 lacks")
    ap.add_argument("--no-aliases", action="store_true",
                    help="ship the word list without aliases: unknown words are only left out")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    model, vocab, tok, tokenizer_sha, words = load_checkpoint(args.checkpoint)
    if words is not None and not args.no_aliases:
        words = with_aliases(words, args.out, args.wordnet, progress=print, thesaurus=args.thesaurus)
    section = export_lm(model, vocab, tok, args.out, args.checkpoint, tokenizer_sha, words)
    if not args.skip_parity:
        section["parity"] = check_parity(model, vocab, tok, args.out)
        update_manifest(args.out, "lm", section)
    if args.int8:
        quantize_weights(args.out / GRAPH_FILE)
        section["graph"]["sha256"] = sha256(args.out / GRAPH_FILE)
        section["weights"] = "int8 matmul weights (MatMulNBits, blocks of 32); fp32 embedding/head"
        update_manifest(args.out, "lm", section)
        if not args.skip_parity:
            section["parity"] = {"fp32_graph": section["parity"],
                                 "int8_graph": check_parity(model, vocab, tok, args.out, strict=False)}
            update_manifest(args.out, "lm", section)
    size = sum((args.out / section[k]["file"]).stat().st_size
               for k in ("graph", "vocab", "text_tokenizer", "known_words") if k in section)
    size /= 1e6
    print(f"wrote the LM ({size:.1f} MB: {GRAPH_FILE}, {VOCAB_FILE}, {TEXT_TOKENIZER_FILE}"
          f"{', ' + WORDS_FILE if 'known_words' in section else ''}) to {args.out}")
    if "parity" in section:
        print("parity vs torch:", json.dumps(section["parity"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
