"""Evaluate the motion language model on the corpus test split; prints JSON.

    python -m training.evaluate --lm runs/lm/lm.pt --tokenizer runs/tokenizer/tokenizer.pt \
        --corpus data/corpus [--evaluator runs/evaluator/evaluator.pt] [--max-prompts N] [--json OUT]

What it measures (every block says how many clips it used):

- ``reference``: real test motions, judged the same way as generated ones. ``real``:
  the annotator's attribute accuracy on real motion (the ceiling for generated
  motion) and the evaluator's R-precision / MM-Dist / Diversity with the test
  prompts and with the unseen paraphrases, FID between two random halves of the
  real set (the noise floor of FID at that size). ``reconstructed``: the same
  through the motion tokenizer (encode, decode), FID against real: what the LM can
  reach at best. ``describe``: the annotator's text reworded with another seed
  against the corpus text (BLEU / ROUGE-L / CIDEr-D of two correct descriptions) and
  the attributes read from the corpus text (the ceiling for Motion2Language).
- ``language2motion`` (needs ``--lm``): for every test clip, its prompt (``held_out``)
  and its paraphrase with held-out wording (``paraphrase``) are turned into motion
  codes with ``training.lm_infer.text_to_motion`` (the clip's duration), decoded by
  the tokenizer and judged: attributes read by the annotator against the clip's
  ground-truth labels (``training.metrics.attributes``), evaluator metrics with FID
  against the real test motions; MultiModality over ``--mm-generations`` samples of
  the first ``--mm-prompts`` prompts.
- ``motion2language``: the tokenized real motion described in every category
  (greedy); BLEU-1/4, ROUGE-L, CIDEr-D and MiniLM cosine against the corpus text,
  and the attributes its text names against the ground truth.
- ``qa``: every question kind of ``training.lm_data`` asked of each clip; exact-match
  accuracy per kind against the answer from the annotator's labels of the real
  motion (what the LM was trained on), beside the majority-answer rate.

Without an LM checkpoint the reference blocks still run and the LM blocks say so.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from facelm.clip import MotionClip
from facelm.errors import FacelmError
from facelm.lm_runtime import DEFAULT_GUIDANCE, DEFAULT_GUIDANCE_DELAY, DEFAULT_TEMPERATURE, DEFAULT_TOP_P
from training.lm_backends import RuntimeLM, TorchLM
from training.metrics import attributes as attr
from training.metrics.distribution import diversity, fid, multimodality
from training.metrics.retrieval import mm_dist, r_precision
from training.metrics.text import bleu, cider_d, embedding_similarity, rouge_l, words
from training.tokenizer_identity import tokenizer_identities

NUM_EXPRESSION = 50
GLOBAL = slice(NUM_EXPRESSION, NUM_EXPRESSION + 3)  # columns of the root rotation in the 65-wide layout
DESCRIBE_CATEGORIES = ("action", "emotion", "detail_expression", "detail_head_pose", "emotion_scenario", "prompt")


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ============================================================================
# the test set
# ============================================================================
@dataclass
class TestSet:
    frames: list[np.ndarray]       # (T, 65): expression | global | neck | jaw | eyes
    texts: list[dict[str, str]]
    paraphrases: list[dict[str, str]]
    labels: list[dict]             # ground truth (corpus metadata)
    specs: list[dict]
    durations: list[float]
    clip_ids: list[str]

    def __len__(self) -> int:
        return len(self.frames)


def load_test(corpus: Path, max_prompts: int | None, seed: int) -> TestSet:
    from training.dataset import CorpusDataset

    ds = CorpusDataset(corpus, split="test", features="flame", include_global=True)
    order = np.arange(len(ds))
    if max_prompts is not None and max_prompts < len(ds):
        order = np.sort(np.random.default_rng(seed).permutation(len(ds))[:max_prompts])
    out = TestSet([], [], [], [], [], [], [])
    for i in order:
        item = ds.item(int(i))
        meta = ds.reader.meta(ds.refs[int(i)])
        out.frames.append(np.ascontiguousarray(item.features))
        out.texts.append(meta["text"])
        out.paraphrases.append(meta.get("text_paraphrase") or meta["text"])
        out.labels.append(meta["labels"])
        out.specs.append(meta["spec"])
        out.durations.append(float(meta["duration"]))
        out.clip_ids.append(meta["clip_id"])
    if not out.frames:
        raise FacelmError(f"{corpus}: the test split holds no clips")
    return out


def without_global(frames: np.ndarray) -> np.ndarray:
    """The evaluator's layout (expression | neck | jaw | eyes) from the 65-wide one."""
    return np.delete(frames, np.arange(GLOBAL.start, GLOBAL.stop), axis=1)


# ============================================================================
# judging a set of motions
# ============================================================================
def annotate_attributes(clips: list[MotionClip], truth: list[dict], per_clip: list | None = None) -> dict:
    """Annotator labels of ``clips`` against ground-truth labels: accuracy per attribute.

    ``per_clip``: when given, one dict per clip (truth, what the annotator read, hits) is appended."""
    from training.annotate import annotate

    rows = []
    for clip, labels in zip(clips, truth):
        want, read = attr.clip_attributes(labels), attr.clip_attributes(annotate(clip, rng=0)["labels"])
        rows.append(attr.compare(want, read))
        if per_clip is not None:
            per_clip.append({"truth": want, "read": read, "hits": rows[-1]})
    return attr.accuracy(rows)


def evaluator_scores(motion: np.ndarray, text: np.ndarray, real: np.ndarray | None, repeats: int) -> dict:
    """R-precision (batches of 32), MM-Dist, Diversity and (given real latents) FID."""
    out: dict[str, Any] = {"n": len(motion)}
    if len(motion) >= 32:
        top = r_precision(text, motion, batch_size=32, top_k=3, repeats=repeats, seed=0)
        out.update(r_precision_top1=top[0], r_precision_top2=top[1], r_precision_top3=top[2])
    out["mm_dist"] = mm_dist(text, motion)
    out["diversity"] = diversity(motion, pairs=300)
    if real is not None:
        out["fid"] = fid(real, motion)
    return out


def clip_of(frames: np.ndarray, include_global: bool) -> MotionClip:
    return MotionClip.from_array(frames, NUM_EXPRESSION, include_global=include_global)


# ============================================================================
# text
# ============================================================================
def caption_scores(candidates: list[str], references: list[str], embedder) -> dict:
    refs = [[r] for r in references]
    sim = embedding_similarity(embedder.embed(candidates), embedder.embed(references))
    return {"bleu1": bleu(candidates, refs, 1), "bleu4": bleu(candidates, refs, 4), "rouge_l": rouge_l(candidates, refs),
            "cider_d": cider_d(candidates, refs), "embedding_similarity": sim, "n": len(candidates)}


def caption_block(generated: dict[str, list[str]], test: TestSet, embedder) -> dict:
    """Per category scores against the corpus text, plus their mean over categories."""
    per = {c: caption_scores(generated[c], [t[c] for t in test.texts], embedder) for c in generated}
    keys = ("bleu1", "bleu4", "rouge_l", "cider_d", "embedding_similarity")
    per["mean"] = {k: float(np.mean([per[c][k] for c in generated])) for k in keys}
    return per


def text_attribute_block(generated: dict[str, list[str]], test: TestSet) -> dict:
    rows = []
    for i, truth in enumerate(test.labels):
        named = attr.text_attributes({c: generated[c][i] for c in generated})
        rows.append(attr.compare(attr.clip_attributes(truth), named, named=True))
    return attr.accuracy(rows)


# ============================================================================
# the blocks
# ============================================================================
def reference_block(test: TestSet, ev, embedder, tokenizer, args) -> tuple[dict, dict]:
    """(reference results, cache of what the LM blocks reuse)."""
    from training.annotate import annotate
    from training.text import realise_prompt

    t0 = time.time()
    prompt_lat = ev.embed_sentences(embedder.embed([t["prompt"] for t in test.texts]))
    para_lat = ev.embed_sentences(embedder.embed([t["prompt"] for t in test.paraphrases]))
    real_lat = ev.embed_clips([without_global(f) for f in test.frames])
    half = np.random.default_rng(args.seed).permutation(len(test))
    a, b = half[: len(test) // 2], half[len(test) // 2:]
    real_clips = [clip_of(f, True) for f in test.frames]
    annotated = [annotate(c, rng=args.seed + 1 + i, split="test") for i, c in enumerate(real_clips)]
    real = {
        "attributes": attr.accuracy([attr.compare(attr.clip_attributes(t), attr.clip_attributes(x["labels"]))
                                     for t, x in zip(test.labels, annotated)]),
        "held_out": evaluator_scores(real_lat, prompt_lat, None, args.repeats),
        "paraphrase": evaluator_scores(real_lat, para_lat, None, args.repeats),
        "fid_half_split": fid(real_lat[a], real_lat[b]) if len(test) >= 4 else None,
    }
    # two correct descriptions of the same motion: the annotator reworded vs the corpus text
    reworded = {c: [x[c] for x in annotated] for c in DESCRIBE_CATEGORIES if c != "prompt"}
    reworded["prompt"] = [realise_prompt(s, np.random.default_rng(args.seed + 7 + i), "test")
                          for i, s in enumerate(test.specs)]
    corpus_text = {c: [t[c] for t in test.texts] for c in DESCRIBE_CATEGORIES}
    describe = {"reworded_annotator": caption_block(reworded, test, embedder),
                "attributes_of_corpus_text": text_attribute_block(corpus_text, test)}
    # what a face that does nothing (or a text that names nothing) scores: neutral, still, silent
    nothing = {"emotion": (), "head": (), "speaking": "none", "head_directions": (), "speaking_binary": False}
    real["attributes_of_doing_nothing"] = attr.accuracy([attr.compare(attr.clip_attributes(t), nothing)
                                                        for t in test.labels])
    ref = {"real": real, "describe": describe}
    cache: dict[str, Any] = {"prompt_lat": prompt_lat, "para_lat": para_lat, "real_lat": real_lat,
                             "real_labels": [x["labels"] for x in annotated]}
    if tokenizer is not None:
        codes, recon = [], []
        for f in test.frames:
            x = torch.from_numpy(f if tokenizer.cfg.include_global else without_global(f))[None]
            ids = tokenizer.encode(x)
            codes.append(ids[0].numpy())
            recon.append(tokenizer.decode(ids)[0, : len(f)].numpy())
        cache["codes"] = codes
        recon_eval = [r if not tokenizer.cfg.include_global else without_global(r) for r in recon]
        recon_lat = ev.embed_clips(recon_eval)
        ref["reconstructed"] = {
            "attributes": annotate_attributes([clip_of(r, tokenizer.cfg.include_global) for r in recon], test.labels),
            "held_out": evaluator_scores(recon_lat, prompt_lat, real_lat, args.repeats),
            "paraphrase": evaluator_scores(recon_lat, para_lat, real_lat, args.repeats),
        }
    else:
        ref["reconstructed"] = {"status": "no tokenizer checkpoint"}
    ref["seconds"] = round(time.time() - t0, 1)
    return ref, cache


def language2motion_block(test: TestSet, lm, ev, embedder, tokenizer, cache: dict, args) -> dict:
    sampling = dict(temperature=args.temperature, top_k=args.top_k, top_p=args.top_p, guidance=args.guidance,
                    guidance_delay=args.guidance_delay)
    if args.candidates > 1:  # best-of-N is a runtime feature (run() checks that --model is given)
        sampling["candidates"] = args.candidates

    def generate(prompt: str, seconds: float, seed: int) -> np.ndarray:
        codes = lm.text_to_motion(prompt, min(seconds, lm.vocab.max_seconds), embed=embedder.embed([prompt])[0],
                                  seed=seed, **sampling)
        frames = tokenizer.decode(torch.as_tensor(np.asarray(codes, np.int64))[None])[0].numpy()
        return frames

    out: dict[str, Any] = {"sampling": sampling}
    first_gen: list[np.ndarray] = []
    for name, texts, lat in (("held_out", test.texts, cache["prompt_lat"]),
                             ("paraphrase", test.paraphrases, cache["para_lat"])):
        t0 = time.time()
        gen = [generate(t["prompt"], d, args.seed + i) for i, (t, d) in enumerate(zip(texts, test.durations))]
        seconds = time.time() - t0
        if name == "held_out":
            first_gen = gen
        eval_frames = [g if not tokenizer.cfg.include_global else without_global(g) for g in gen]
        gen_lat = ev.embed_clips(eval_frames)
        rows: list[dict] = []
        out[name] = {
            "attributes": annotate_attributes([clip_of(g, tokenizer.cfg.include_global) for g in gen], test.labels,
                                              rows),
            "evaluator": evaluator_scores(gen_lat, lat, cache["real_lat"], args.repeats),
            "generation_seconds": round(seconds, 1),
            "examples": [{"prompt": texts[i]["prompt"], "clip_id": test.clip_ids[i]} for i in range(min(3, len(test)))],
        }
        log(f"language2motion {name}: {len(gen)} clips in {seconds:.0f} s")
        if args.per_clip is not None:
            write_per_clip(args.per_clip, name, rows, [t["prompt"] for t in texts], test.clip_ids)
    n_mm = min(args.mm_prompts, len(test))
    if n_mm and args.mm_generations >= 2:
        groups = []
        for i in range(n_mm):
            gens = [first_gen[i]] + [generate(test.texts[i]["prompt"], test.durations[i], 10_000 * (k + 1) + i)
                                     for k in range(1, args.mm_generations)]
            eval_frames = [g if not tokenizer.cfg.include_global else without_global(g) for g in gens]
            groups.append(ev.embed_clips(eval_frames))
        out["multimodality"] = {"value": multimodality(np.stack(groups), pairs=10), "prompts": n_mm,
                                "generations": args.mm_generations}
    return out


def write_per_clip(path: Path, block: str, rows: list[dict], prompts: list[str], clip_ids: list[str]) -> None:
    """Append one JSON line a clip (block, clip, prompt, truth, read, hits): for reading the errors."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as f:
        for row, prompt, clip_id in zip(rows, prompts, clip_ids):
            f.write(json.dumps({"block": block, "clip_id": clip_id, "prompt": prompt, **row},
                               default=_jsonable) + "\n")


def motion2language_block(test: TestSet, lm, embedder, cache: dict, args) -> dict:
    cats = [c for c in DESCRIBE_CATEGORIES if c in vocab_categories(lm.vocab)]
    t0 = time.time()
    generated = {c: [lm.describe(codes, c) for codes in cache["codes"]] for c in cats}
    out = {"captions": caption_block(generated, test, embedder),
           "attributes": text_attribute_block({c: generated[c] for c in cats if c != "prompt"}, test),
           "generation_seconds": round(time.time() - t0, 1),
           "examples": [{"clip_id": test.clip_ids[i], **{c: generated[c][i] for c in cats},
                         "reference_action": test.texts[i]["action"]} for i in range(min(2, len(test)))]}
    return out


def vocab_categories(vocab) -> set[str]:
    return set(vocab.categories)


def qa_block(test: TestSet, lm, embedder, cache: dict, args) -> dict:
    from training.lm_data import OPEN_QUESTIONS, YES_NO_QUESTIONS, qa_answer
    kinds = {**YES_NO_QUESTIONS, **OPEN_QUESTIONS}
    t0 = time.time()
    out: dict[str, Any] = {}
    for kind, pool in kinds.items():
        right, expected = [], []
        for i, codes in enumerate(cache["codes"]):
            question = pool[i % len(pool)]
            want = qa_answer(kind, cache["real_labels"][i])
            got = lm.answer(codes, question, embed=embedder.embed([question])[0])
            right.append(words(got) == words(want))
            expected.append(want)
        majority = Counter(expected).most_common(1)[0][1] / len(expected)
        out[kind] = {"accuracy": float(np.mean(right)), "majority_answer_rate": majority, "n": len(right)}
        if kind in YES_NO_QUESTIONS:  # mostly 'no': the mean of the yes-case and no-case accuracies
            per_answer = [np.mean([r for r, e in zip(right, expected) if e == a]) for a in ("yes", "no")
                          if a in expected]
            out[kind]["balanced_accuracy"] = float(np.mean(per_answer))
    out["mean"] = float(np.mean([v["accuracy"] for v in out.values()]))
    out["generation_seconds"] = round(time.time() - t0, 1)
    return out


# ============================================================================
# entry point
# ============================================================================
def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m training.evaluate", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lm", type=Path, default=Path("runs/lm/lm.pt"), help="language model checkpoint")
    ap.add_argument("--model", type=Path, default=None,
                    help="evaluate an exported model directory (e.g. artifacts) on onnxruntime instead of --lm: "
                         "its LM and text encoder, with the tokenizer.pt it ships")
    ap.add_argument("--tokenizer", type=Path, default=None,
                    help="motion tokenizer checkpoint; it must be the one the LM was trained with (checked by "
                         "sha256; default: the first that is of the LM's training args, artifacts/tokenizer.pt, "
                         "runs/tokenizer/tokenizer.pt)")
    ap.add_argument("--corpus", type=Path, default=Path("data/corpus"), help="corpus directory (its test split)")
    ap.add_argument("--evaluator", type=Path, default=None,
                    help="text-motion evaluator (default: the shipped artifacts/evaluator.pt, so that every "
                         "model version is judged by the same one; else runs/evaluator/evaluator.pt)")
    ap.add_argument("--text-cache", type=Path, default=None,
                    help="sentence-embedding cache (default: runs/evaluator/sentences.npz)")
    ap.add_argument("--max-prompts", type=int, default=None, help="evaluate a random subset of this many test clips")
    ap.add_argument("--mm-prompts", type=int, default=20, help="prompts for MultiModality (0: skip)")
    ap.add_argument("--mm-generations", type=int, default=10, help="generations a prompt for MultiModality")
    ap.add_argument("--no-qa", action="store_true", help="skip question answering")
    ap.add_argument("--no-describe", action="store_true", help="skip Motion2Language")
    ap.add_argument("--temperature", type=float, default=DEFAULT_TEMPERATURE,
                    help="Language2Motion sampling temperature (default: the runtime's)")
    ap.add_argument("--top-k", type=int, default=0, help="Language2Motion top-k (0: off)")
    ap.add_argument("--top-p", type=float, default=DEFAULT_TOP_P, help="Language2Motion nucleus mass (default: the runtime's)")
    ap.add_argument("--guidance", type=float, default=DEFAULT_GUIDANCE,
                    help="classifier-free guidance scale (default: the runtime's, so what ships is what is scored)")
    ap.add_argument("--guidance-delay", type=int, default=DEFAULT_GUIDANCE_DELAY,
                    help="motion tokens sampled before guidance starts (default: the runtime's)")
    ap.add_argument("--candidates", type=int, default=1,
                    help="Language2Motion best of N by the model's own log p(prompt | motion) (facelm.lm_runtime; "
                         "needs --model)")
    ap.add_argument("--repeats", type=int, default=20, help="R-precision reshuffles (T2M uses 20)")
    ap.add_argument("--seed", type=int, default=0, help="subset, sampling and wording seed")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch default)")
    ap.add_argument("--json", type=Path, default=None, help="also write the JSON here")
    ap.add_argument("--per-clip", type=Path, default=None,
                    help="Language2Motion per clip as JSON lines (prompt, truth, what the annotator read); "
                         "the file is replaced")
    return ap.parse_args(argv)


def find_evaluator(path: Path | None) -> Path:
    candidates = [path] if path else [Path("artifacts/evaluator.pt"), Path("runs/evaluator/evaluator.pt")]
    for p in candidates:
        if p.is_file():
            return p
    raise FacelmError(f"no evaluator checkpoint at {', '.join(map(str, candidates))}; train one with "
                      "python -m training.train_evaluator --corpus data/corpus --out runs/evaluator")


def matching_tokenizer(path: Path | None, lm_path: Path, lm_ckpt: dict | None) -> Path:
    """The motion tokenizer to use: ``path``, else the first of (the one named in the LM's training
    args, artifacts/tokenizer.pt, runs/tokenizer/tokenizer.pt) that is the LM's; refused when it is not
    the tokenizer the LM was trained with (by sha256)."""
    want = (lm_ckpt or {}).get("motion_tokenizer_sha256")
    if path is None:
        named = re.search(r"'motion_tokenizer': '([^']+)'", str((lm_ckpt or {}).get("args", "")))
        candidates = ([Path(named.group(1))] if named else []) + [Path("artifacts/tokenizer.pt"),
                                                                   Path("runs/tokenizer/tokenizer.pt")]
        found = [c for c in candidates if c.is_file() and (not want or want in tokenizer_identities(c))]
        path = found[0] if found else candidates[-1]
    if want and path.is_file() and want not in tokenizer_identities(path):
        raise FacelmError(f"{path} is not the motion tokenizer {lm_path} was trained with (sha256 {want[:12]}...); "
                          "pass the right one with --tokenizer")
    return path


def shipped_tokenizer(model_dir: Path) -> Path:
    """The torch tokenizer a model directory ships, refused unless it is the one its LM was trained on."""
    from facelm.model_dir import ModelDir
    path = model_dir / "tokenizer.pt"
    want = ModelDir(model_dir).section("lm").get("trained_on_motion_tokenizer_sha256")
    if want and path.is_file() and want not in tokenizer_identities(path):
        raise FacelmError(f"{path} is not the motion tokenizer the LM of {model_dir} was trained with")
    return path


def run(args) -> dict:
    from models.motion_tokenizer import MotionTokenizer
    from models.tmr import TextMotionEvaluator
    from training.sentence_embed import SentenceEmbedder

    if args.candidates < 1:
        raise FacelmError(f"--candidates must be at least 1, got {args.candidates}")
    if args.candidates > 1 and args.model is None:
        raise FacelmError("--candidates needs --model: best-of-N runs in the onnxruntime runtime")
    if args.per_clip is not None:
        args.per_clip.unlink(missing_ok=True)
    ev_path = find_evaluator(args.evaluator)
    ev = TextMotionEvaluator.from_checkpoint(ev_path)
    cache_path = args.text_cache or Path("runs/evaluator/sentences.npz")
    embedder = SentenceEmbedder(cache=cache_path)
    test = load_test(args.corpus, args.max_prompts, args.seed)
    lm_source = args.model if args.model is not None else args.lm
    if args.model is not None:
        args.tokenizer, lm_ckpt, lm_step = shipped_tokenizer(args.model), None, "exported"
    else:
        lm_ckpt = torch.load(args.lm, map_location="cpu", weights_only=False) if args.lm.is_file() else None
        args.tokenizer = matching_tokenizer(args.tokenizer, args.lm, lm_ckpt)
        lm_step = (lm_ckpt or {}).get("step")
    tokenizer = MotionTokenizer.from_checkpoint(args.tokenizer) if args.tokenizer.is_file() else None
    result: dict[str, Any] = {"meta": {
        "corpus": str(args.corpus), "split": "test", "clips": len(test), "evaluator": str(ev_path),
        "tokenizer": str(args.tokenizer) if tokenizer is not None else None,
        "lm": str(lm_source) if lm_source.exists() else None, "seed": args.seed,
        "date": time.strftime("%Y-%m-%d %H:%M"), "lm_step": lm_step}}
    log(f"reference: {len(test)} test clips")
    result["reference"], cache = reference_block(test, ev, embedder, tokenizer, args)
    embedder.save()
    if not lm_source.exists() or tokenizer is None:
        why = f"no LM at {lm_source}" if not lm_source.exists() else f"no tokenizer checkpoint at {args.tokenizer}"
        result["language2motion"] = result["motion2language"] = result["qa"] = {"status": why}
        return result
    lm = RuntimeLM(args.model) if args.model is not None else TorchLM(args.lm)
    del lm_ckpt
    result["language2motion"] = language2motion_block(test, lm, ev, embedder, tokenizer, cache, args)
    embedder.save()
    result["motion2language"] = {"status": "skipped"} if args.no_describe else \
        motion2language_block(test, lm, embedder, cache, args)
    embedder.save()
    result["qa"] = {"status": "skipped"} if args.no_qa else qa_block(test, lm, embedder, cache, args)
    embedder.save()
    return result


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.set_grad_enabled(False)
    try:
        result = run(args)
    except FacelmError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    text = json.dumps(result, indent=2, default=_jsonable)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")
    print(text)
    return 0


def _jsonable(value):
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, (tuple, set, frozenset)):
        return list(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


if __name__ == "__main__":
    raise SystemExit(main())
