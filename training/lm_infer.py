"""Torch inference with a trained motion language model (evaluation and quick checks).

    model, vocab, tok = load_lm("runs/lm/lm.pt")
    codes = text_to_motion(model, vocab, tok, "A person nods slowly.", seconds=4, seed=0)
    text = motion_to_text(model, vocab, tok, codes, category="action")
    reply = answer(model, vocab, tok, codes, "Is the person nodding?")

Decoding is constrained per task: Language2Motion emits exactly
``vocab.motion_tokens_for(seconds)`` motion tokens (then ``</motion>`` closes the
block); Motion2Language and QA emit only text tokens until ``<eos>``. Prompt
embeddings come from ``training.sentence_embed`` unless ``embed`` is given.

CLI: ``python -m training.lm_infer --lm runs/lm/lm.pt --motion-tokenizer TOK.pt
--prompt "..." --seconds 4 -o out.npz`` (generate, decode, describe it back).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

from facelm.errors import FacelmError
from facelm.lm_runtime import DEFAULT_GUIDANCE, DEFAULT_GUIDANCE_DELAY, DEFAULT_TEMPERATURE, DEFAULT_TOP_P
from facelm.vocab import TextTokenizer, Vocab

MAX_TEXT_TOKENS = 120
_EMBEDDER = None


def load_lm(path: str | Path):
    """(model in eval mode, Vocab, TextTokenizer) from a checkpoint written by ``training.train_lm``."""
    path = Path(path)
    if not path.is_file():
        raise FacelmError(f"language model checkpoint not found: {path}")
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    kind = ckpt.get("kind")
    if kind == "motion_lm":
        from models.motion_lm import MotionLM
        model = MotionLM.from_checkpoint(ckpt)
    elif kind == "hf_motion_lm":
        from models.hf_backbone import HFMotionLM
        model = HFMotionLM.from_checkpoint(ckpt)
    else:
        raise FacelmError(f"{path}: not a motion language model checkpoint (kind={kind!r})")
    if not ckpt.get("vocab") or not ckpt.get("text_tokenizer"):
        raise FacelmError(f"{path}: checkpoint carries no vocabulary / text tokenizer")
    return model.eval(), Vocab.from_dict(ckpt["vocab"]), TextTokenizer.from_str(ckpt["text_tokenizer"])


def sentence_embedding(text: str) -> np.ndarray:
    """(384,) MiniLM embedding (the model is loaded once per process)."""
    global _EMBEDDER
    if _EMBEDDER is None:
        from training.sentence_embed import SentenceEmbedder
        _EMBEDDER = SentenceEmbedder()
    return _EMBEDDER.embed([text])[0]


def _cond(model, embed) -> torch.Tensor:
    device = next(model.parameters()).device
    return torch.as_tensor(np.asarray(embed, np.float32).reshape(1, -1), device=device)


def text_to_motion(model, vocab: Vocab, tok: TextTokenizer, prompt: str, seconds: float, *, embed=None,
                   temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0, seed: int | None = None,
                   guidance: float = 1.0, guidance_delay: int = DEFAULT_GUIDANCE_DELAY) -> np.ndarray:
    """Motion codes (N,) int64 for ``prompt``, N = vocab.motion_tokens_for(seconds); temperature 0 is greedy;
    guidance from the ``guidance_delay``-th token on, as the runtime does."""
    if not 0 < seconds <= vocab.max_seconds:
        raise FacelmError(f"seconds must lie in (0, {vocab.max_seconds}], got {seconds}")
    embed = sentence_embedding(prompt) if embed is None else embed
    n = vocab.motion_tokens_for(seconds)
    ids, _ = vocab.text_to_motion(vocab.encode_text(tok, prompt), seconds)
    uncond, _ = vocab.text_to_motion([], seconds)
    out = model.generate(ids, _cond(model, embed), max_new_tokens=n, allowed=vocab.motion_mask(), stop_id=None,
                         temperature=temperature, top_k=top_k, top_p=top_p, seed=seed, guidance=guidance,
                         uncond_prompt=uncond, guidance_delay=guidance_delay)
    return np.asarray(vocab.to_motion_code(np.asarray(out, np.int64)), np.int64).reshape(-1)


def _generate_text(model, vocab: Vocab, tok: TextTokenizer, prompt_ids: list[int], cond, greedy: bool,
                   seed: int | None, temperature: float, max_tokens: int) -> str:
    out = model.generate(prompt_ids, cond, max_new_tokens=max_tokens, allowed=vocab.text_mask(with_eos=True),
                         stop_id=vocab.special("<eos>"), temperature=0.0 if greedy else temperature, seed=seed)
    return vocab.decode_text(tok, out)


def motion_to_text(model, vocab: Vocab, tok: TextTokenizer, codes, category: str = "action", greedy: bool = True,
                   *, seed: int | None = 0, temperature: float = 0.8, max_tokens: int = MAX_TEXT_TOKENS) -> str:
    """A description of motion ``codes`` in one of the vocabulary's categories."""
    ids, _ = vocab.motion_to_text(np.asarray(codes), category)
    return _generate_text(model, vocab, tok, ids, None, greedy, seed, temperature, max_tokens)


def answer(model, vocab: Vocab, tok: TextTokenizer, codes, question: str, *, embed=None, greedy: bool = True,
           seed: int | None = 0, temperature: float = 0.8, max_tokens: int = 24) -> str:
    """The model's answer to ``question`` about motion ``codes``."""
    embed = sentence_embedding(question) if embed is None else embed
    ids, _ = vocab.question(np.asarray(codes), vocab.encode_text(tok, question))
    return _generate_text(model, vocab, tok, ids, _cond(model, embed), greedy, seed, temperature, max_tokens).lower()


# ============================================================================
# motion codes -> labels (the quick attribute check)
# ============================================================================
def decode_codes(motion_tokenizer, codes) -> "MotionClip":  # noqa: F821
    from facelm.clip import MotionClip
    ids = torch.as_tensor(np.asarray(codes, np.int64)).reshape(1, -1)
    frames = motion_tokenizer.decode(ids)[0].numpy().astype(np.float32)  # (N * fpt, D)
    cfg = motion_tokenizer.cfg
    return MotionClip.from_array(frames, cfg.num_expression, include_global=cfg.include_global, fps=cfg.fps)


def labels_of_codes(motion_tokenizer, codes) -> dict[str, Any]:
    """Labels read (``training.annotate``) from the motion the codes decode to."""
    from training.annotate import annotate
    return annotate(decode_codes(motion_tokenizer, codes), rng=0)["labels"]


def emotion_set(labels: dict) -> frozenset:
    emos = {e for e in labels.get("emotions", []) if e != "neutral"}
    return frozenset(emos or {"neutral"})


def compare_labels(truth: dict, got: dict) -> dict[str, bool]:
    """Per attribute, do the labels agree: emotions (non-neutral set), head moves (set), speaking style."""
    return {"emotion": emotion_set(truth) == emotion_set(got),
            "head": set(truth.get("head_kinds", [])) == set(got.get("head_kinds", [])),
            "speaking": truth.get("speaking", "none") == got.get("speaking", "none")}


def attribute_check(model, vocab: Vocab, tok: TextTokenizer, examples: list, motion_tokenizer, n: int, *,
                    embeddings: dict | None = None, seed: int = 0, temperature: float = 0.7, top_p: float = 0.9,
                    guidance: float = 1.0, tasks: tuple[str, ...] = ("t2m",)) -> dict[str, float]:
    """Quick attribute accuracy on ``n`` examples (``training.lm_data.Example``) against their labels.

    - t2m: generate from the stored prompt, decode, annotate; ``attr_*`` per attribute and
      ``attr_all`` (all three right). ``ceiling_*``: the same for the example's own codes
      decoded (what the motion tokenizer alone loses).
    - m2t: describe the motion as ``action``; ``m2t_*``: does the description name the
      right head moves and emotion (the words of the reference action text's labels).
    - qa: ``qa_acc`` over questions drawn from the labels.
    """
    from training.lm_data import qa_answer, sample_question

    embeddings = embeddings or {}
    hits: dict[str, list[bool]] = {}
    rng = np.random.default_rng(seed)
    for k in rng.choice(len(examples), size=min(n, len(examples)), replace=False):
        ex = examples[int(k)]
        if "t2m" in tasks:
            prompt = ex.prompts[0]
            codes = text_to_motion(model, vocab, tok, prompt, ex.seconds, embed=embeddings.get(prompt),
                                   temperature=temperature, top_p=top_p, seed=int(k), guidance=guidance)
            checks = compare_labels(ex.labels, labels_of_codes(motion_tokenizer, codes))
            checks["all"] = all(checks.values())
            for key, ok in checks.items():
                hits.setdefault(f"attr_{key}", []).append(ok)
            if "ceiling" in tasks:
                checks = compare_labels(ex.labels, labels_of_codes(motion_tokenizer, ex.codes))
                checks["all"] = all(checks.values())
                for key, ok in checks.items():
                    hits.setdefault(f"ceiling_{key}", []).append(ok)
        if "qa" in tasks:
            q, truth = sample_question(ex.labels, rng)
            got = answer(model, vocab, tok, ex.codes, q, embed=embeddings.get(q))
            hits.setdefault("qa_acc", []).append(got.strip(" .") == truth)
            for kind in ("emotion", "head", "speaking"):
                qs = {"emotion": "What emotion does the face show?", "head": "What does the head do?",
                      "speaking": "How is the person speaking?"}[kind]
                want = qa_answer({"head": "head", "speaking": "speaking_style"}.get(kind, kind), ex.labels)
                got = answer(model, vocab, tok, ex.codes, qs, embed=embeddings.get(qs))
                hits.setdefault(f"qa_{kind}", []).append(got.strip(" .") == want)
    return {k: float(np.mean(v)) for k, v in hits.items()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Generate motion from a prompt with a trained LM, then describe it back.")
    ap.add_argument("--lm", type=Path, required=True, help="language model checkpoint (lm.pt)")
    ap.add_argument("--motion-tokenizer", type=Path, required=True, help="motion tokenizer checkpoint")
    ap.add_argument("--prompt", default=None, help="what the face should do")
    ap.add_argument("--check", type=int, default=0, metavar="N",
                    help="instead: attribute check on N clips of --corpus --split (needs tokens of the split)")
    ap.add_argument("--corpus", type=Path, default=Path("data/corpus"), help="corpus for --check")
    ap.add_argument("--split", default="val", help="split for --check")
    ap.add_argument("--tokens", type=Path, default=None, help="token folder for --check (default <corpus>/tokens)")
    ap.add_argument("--text-key", default="text", help="text for --check: text, or text_paraphrase (test split)")
    ap.add_argument("--seconds", type=float, default=4.0, help="length in seconds")
    ap.add_argument("--seed", type=int, default=0, help="sampling seed")
    # the runtime's defaults, so a torch check samples as `facelm generate` does
    ap.add_argument("--temperature", type=float, default=DEFAULT_TEMPERATURE, help="sampling temperature (0: greedy)")
    ap.add_argument("--top-k", type=int, default=0, help="top-k sampling (0: off)")
    ap.add_argument("--top-p", type=float, default=DEFAULT_TOP_P, help="nucleus sampling mass")
    ap.add_argument("--guidance", type=float, default=DEFAULT_GUIDANCE, help="classifier-free guidance scale")
    ap.add_argument("-o", "--out", type=Path, default=None, help="write the decoded clip (.npz)")
    args = ap.parse_args(argv)
    if args.check:
        return _check(args)
    if not args.prompt:
        ap.error("--prompt or --check is required")
    try:
        from models.motion_tokenizer import MotionTokenizer
        model, vocab, tok = load_lm(args.lm)
        codes = text_to_motion(model, vocab, tok, args.prompt, args.seconds, temperature=args.temperature,
                               top_k=args.top_k, top_p=args.top_p, seed=args.seed, guidance=args.guidance)
        mt = MotionTokenizer.from_checkpoint(args.motion_tokenizer)
        clip = decode_codes(mt, codes)
    except FacelmError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.out:
        clip.save(args.out)
        print(f"wrote {args.out} ({clip.num_frames} frames)")
    print("labels:", {k: v for k, v in labels_of_codes(mt, codes).items() if k in ("emotions", "head_kinds", "speaking")})
    for cat in ("action", "emotion", "detail_head_pose"):
        print(f"{cat}: {motion_to_text(model, vocab, tok, codes, cat)}")
    print("nodding?", answer(model, vocab, tok, codes, "Is the person nodding?"))
    return 0


def _check(args) -> int:
    import json

    from models.motion_tokenizer import MotionTokenizer
    from training.lm_data import build_bank

    model, vocab, tok = load_lm(args.lm)
    mt = MotionTokenizer.from_checkpoint(args.motion_tokenizer)
    try:
        bank = build_bank(args.corpus, args.split, tokens=args.tokens, progress=False, text_key=args.text_key)
    except FacelmError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    t0 = __import__("time").time()
    result = attribute_check(model, vocab, tok, bank, mt, args.check, temperature=args.temperature, top_p=args.top_p,
                             guidance=args.guidance, tasks=("t2m", "ceiling", "qa"))
    result.update(n=min(args.check, len(bank)), split=args.split, text=args.text_key, guidance=args.guidance,
                  temperature=args.temperature, sec=round(__import__("time").time() - t0, 1))
    print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in result.items()}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
