"""Train the contrastive text-motion evaluator (``models.tmr``) on a corpus, with checkpoints and resume.

    python -m training.train_evaluator --corpus data/corpus --out runs/evaluator
    torchrun --nproc-per-node 4 -m training.train_evaluator ...   # same code, DDP

Each step draws ``--batch`` train clips and for each one of its texts: the prompt or
one of the five annotation categories. Texts enter as frozen all-MiniLM-L6-v2
embeddings (``training.sentence_embed``), computed once and cached in
``<out>/sentences.npz``. The loss is a symmetric InfoNCE over in-batch negatives;
a pair whose text would also describe the other clip (the same text, or the same
ground-truth attributes that text's category speaks about) is not used as a
negative. The head's direction is sharpened two ways, because frozen MiniLM
embeddings of "turns to the left" and "turns to the right" are nearly equal (cosine
0.98): clips whose head turns or tilts are also added mirrored left to right with
their left/right-swapped text as a pair of their own (``--mirror``), so each is the
other's hardest negative; clips that look up or down are added flipped as
motion-only negatives (``--hard-negatives``). Every ``--every`` steps the val split's R-precision (prompts, batches of
32) is measured; the best checkpoint becomes ``<out>/evaluator.pt`` and the run
ends with the test split's retrieval scores in ``<out>/report.json``.
"""
from __future__ import annotations

import argparse
import json
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from models.tmr import EvaluatorConfig, TextMotionEvaluator, num_parameters, pad_batch
from training import distributed
from training.checkpointing import load_if_exists, save_atomic
from training.dataset import CorpusDataset
from training.metrics.attributes import clip_attributes
from training.metrics.retrieval import mm_dist, r_precision
from training.schedule import lr_at

CATEGORIES = ("prompt", "action", "emotion", "detail_expression", "detail_head_pose", "emotion_scenario")
# The ground-truth attributes a text of each category speaks about (false negatives share them).
CATEGORY_ATTRIBUTES = {
    "prompt": ("emotion", "head", "speaking"),
    "action": ("emotion", "head", "speaking"),
    "emotion": ("emotion",),
    "emotion_scenario": ("emotion",),
    "detail_expression": ("emotion", "speaking"),
    "detail_head_pose": ("head",),
}


@dataclass
class SplitData:
    """A split in memory: features (T_i, D), the texts of each clip by category, attributes."""

    clips: list[np.ndarray]
    texts: list[dict[str, str]]
    attributes: list[dict]
    clip_ids: list[str]


def load_split(corpus: Path, split: str, text_key: str = "text", max_clips: int | None = None) -> SplitData:
    ds = CorpusDataset(corpus, split=split, features="flame", include_global=False, text_key=text_key)
    n = len(ds) if max_clips is None else min(max_clips, len(ds))
    clips, texts, attrs, ids = [], [], [], []
    for i in range(n):
        item = ds.item(i)
        clips.append(np.ascontiguousarray(item.features))
        texts.append({c: item.text.get(c, "") for c in CATEGORIES})
        attrs.append(clip_attributes(item.labels))
        ids.append(item.clip_id)
    return SplitData(clips, texts, attrs, ids)


def embed_texts(embedder, data: SplitData) -> np.ndarray:
    """(N, len(CATEGORIES), 384) sentence embeddings of every clip's texts."""
    flat = [t[c] for t in data.texts for c in CATEGORIES]
    return embedder.embed(flat).reshape(len(data.texts), len(CATEGORIES), -1)


def negatives_mask(attrs: list[dict], texts: list[str], cats: list[str]) -> torch.Tensor:
    """(B, B) bool, [a, b] True when text b (of category cats[b]) also describes clip a."""
    b = len(texts)
    same = np.zeros((b, b), bool)
    for j in range(b):
        keys = CATEGORY_ATTRIBUTES[cats[j]]
        want = tuple(attrs[j][k] for k in keys)
        for i in range(b):
            same[i, j] = texts[i] == texts[j] or tuple(attrs[i][k] for k in keys) == want
    return torch.from_numpy(same)


# Feature columns (expression 50 | neck 3 | jaw 3 | eyes 2 x 3) and what mirroring does to the head's labels.
NECK, JAW, EYES = 50, 53, 56
SWAP_LEFT_RIGHT = {"turn_left": "turn_right", "turn_right": "turn_left", "tilt_left": "tilt_right",
                   "tilt_right": "tilt_left"}
SWAP_UP_DOWN = {"look_up": "look_down", "look_down": "look_up"}


def mirror_left_right(frames: np.ndarray) -> np.ndarray:
    """The head and eyes mirrored left to right (rotations about y and z negated, eyes swapped);
    the expression is left as it is."""
    out = frames.copy()
    out[:, NECK + 1: NECK + 3] *= -1
    out[:, JAW + 1: JAW + 3] *= -1
    eyes = frames[:, EYES: EYES + 6].reshape(-1, 2, 3)[:, ::-1] * np.array([1.0, -1.0, -1.0], np.float32)
    out[:, EYES: EYES + 6] = eyes.reshape(-1, 6)
    return out


def flip_up_down(frames: np.ndarray) -> np.ndarray:
    """The head's pitch negated: looking up becomes looking down (a nod stays a nod)."""
    out = frames.copy()
    out[:, NECK] *= -1
    return out


def hard_negatives(clips: list[np.ndarray], attrs: list[dict], rng: np.random.Generator, count: int,
                   swaps: tuple[str, ...] = ("left_right", "up_down")) -> tuple[list[np.ndarray], list[dict]]:
    """Up to ``count`` mirrored or flipped copies of clips whose head moves that changes, with the
    changed attributes: negatives that differ from a positive only in the head's direction."""
    options = []
    for i, a in enumerate(attrs):
        if "left_right" in swaps and any(k in SWAP_LEFT_RIGHT for k in a["head"]):
            options.append((i, mirror_left_right, SWAP_LEFT_RIGHT))
        if "up_down" in swaps and any(k in SWAP_UP_DOWN for k in a["head"]):
            options.append((i, flip_up_down, SWAP_UP_DOWN))
    picks = rng.permutation(len(options))[:count] if options else []
    motions, new_attrs = [], []
    for p in picks:
        i, transform, swap = options[int(p)]
        head = tuple(swap.get(k, k) for k in attrs[i]["head"])
        motions.append(transform(clips[i]))
        new_attrs.append({**attrs[i], "head": head})
    return motions, new_attrs


# Categories whose left/right words follow the head and eyes only (detail_expression also names
# the left/right brow or lip corner, which mirroring the head does not move).
MIRROR_CATEGORIES = ("prompt", "action", "detail_head_pose")
_LEFT_RIGHT = re.compile(r"\b(left|right)", re.IGNORECASE)


def swap_left_right(text: str) -> str:
    """'turns to the left' -> 'turns to the right' (also leftward(s) / rightward(s))."""
    def swap(m: re.Match) -> str:
        word = "right" if m.group(1).lower() == "left" else "left"
        return word.capitalize() if m.group(1)[0].isupper() else word
    return _LEFT_RIGHT.sub(swap, text)


def can_mirror(attrs: dict) -> bool:
    return any(k in SWAP_LEFT_RIGHT for k in attrs["head"])


def mirrored_sentences(embedder, data: SplitData) -> np.ndarray:
    """(N, len(MIRROR_CATEGORIES), 384) embeddings of the left/right-swapped texts (zeros where the
    clip's head has no left or right move: such clips are never mirrored)."""
    keys = [(i, k) for i, a in enumerate(data.attributes) if can_mirror(a) for k in range(len(MIRROR_CATEGORIES))]
    out = np.zeros((len(data.texts), len(MIRROR_CATEGORIES), 384), np.float32)
    if keys:
        vectors = embedder.embed([swap_left_right(data.texts[i][MIRROR_CATEGORIES[k]]) for i, k in keys])
        for (i, k), v in zip(keys, vectors):
            out[i, k] = v
    return out


@dataclass
class Batch:
    frames: list[np.ndarray]
    sentences: np.ndarray        # (B', 384)
    attributes: list[dict]
    texts: list[str]
    categories: list[str]
    negatives: list[np.ndarray]  # motion-only hard negatives
    negative_attributes: list[dict]


def sample_batch(data: SplitData, sentences: np.ndarray, mirror_sent: np.ndarray, rng: np.random.Generator,
                 size: int, mirror_share: float, negative_share: float) -> Batch:
    """``size`` clips with one text each; then, for a share of the clips whose head turns or tilts,
    their mirror image with the left/right-swapped text as a further pair (each pair is the other's
    hardest negative); then up/down flipped clips as motion-only negatives."""
    idx = rng.choice(len(data.clips), size=size, replace=False)
    cat_idx = rng.integers(0, len(CATEGORIES), size=size)
    b = Batch([data.clips[i] for i in idx], sentences[idx, cat_idx], [data.attributes[i] for i in idx],
              [data.texts[i][CATEGORIES[c]] for i, c in zip(idx, cat_idx)], [CATEGORIES[c] for c in cat_idx], [], [])
    mirrorable = [i for i in idx if can_mirror(data.attributes[i])]
    extra_sent = []
    for i in rng.permutation(mirrorable)[: int(mirror_share * size)]:
        k = int(rng.integers(len(MIRROR_CATEGORIES)))
        cat = MIRROR_CATEGORIES[k]
        b.frames.append(mirror_left_right(data.clips[i]))
        extra_sent.append(mirror_sent[i, k])
        b.attributes.append({**data.attributes[i], "head": tuple(SWAP_LEFT_RIGHT.get(h, h)
                                                                 for h in data.attributes[i]["head"])})
        b.texts.append(swap_left_right(data.texts[i][cat]))
        b.categories.append(cat)
    if extra_sent:
        b.sentences = np.concatenate([b.sentences, np.stack(extra_sent)])
    b.negatives, b.negative_attributes = hard_negatives(b.frames[:size], b.attributes[:size], rng,
                                                        int(negative_share * size), swaps=("up_down",))
    return b


def extra_negatives_mask(text_attrs: list[dict], cats: list[str], extra_attrs: list[dict]) -> torch.Tensor:
    """(B, K) bool, [j, e]: text j (describing clip j) also describes extra motion e."""
    same = np.zeros((len(cats), len(extra_attrs)), bool)
    for j, (a, c) in enumerate(zip(text_attrs, cats)):
        keys = CATEGORY_ATTRIBUTES[c]
        for e, b in enumerate(extra_attrs):
            same[j, e] = all(a[k] == b[k] for k in keys)
    return torch.from_numpy(same)


@torch.no_grad()
def retrieval_scores(model: TextMotionEvaluator, clips: list[np.ndarray], sentences: np.ndarray,
                     repeats: int = 5) -> dict:
    """R-precision top-1/2/3 (batches of 32) and MM-Dist of sentences (N, 384) vs their clips."""
    model.eval()
    motion = model.embed_clips(clips)
    text = model.embed_sentences(sentences)
    top = r_precision(text, motion, batch_size=32, top_k=3, repeats=repeats, seed=0)
    return {"top1": top[0], "top2": top[1], "top3": top[2], "mm_dist": mm_dist(text, motion), "n": len(clips)}


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=None, help="corpus directory (python -m training.corpus)")
    ap.add_argument("--out", type=Path, required=True, help="run directory for checkpoints, logs and the text cache")
    ap.add_argument("--steps", type=int, default=1500, help="optimisation steps in total")
    ap.add_argument("--batch", type=int, default=96, help="clips per step (per process under torchrun)")
    ap.add_argument("--lr", type=float, default=5e-4, help="peak learning rate (AdamW, cosine decay)")
    ap.add_argument("--warmup", type=int, default=100, help="linear warm-up steps")
    ap.add_argument("--d-model", type=int, default=EvaluatorConfig.d_model, help="transformer width")
    ap.add_argument("--layers", type=int, default=EvaluatorConfig.layers, help="transformer layers")
    ap.add_argument("--latent", type=int, default=EvaluatorConfig.latent, help="joint embedding size")
    ap.add_argument("--temperature", type=float, default=EvaluatorConfig.temperature, help="InfoNCE temperature")
    ap.add_argument("--mirror", type=float, default=0.25,
                    help="clips mirrored left to right with left/right-swapped texts, added as pairs (share of the batch)")
    ap.add_argument("--hard-negatives", type=float, default=0.15,
                    help="up/down flipped clips added as text-to-motion negatives (share of the batch)")
    ap.add_argument("--max-clips", type=int, default=None, help="use at most this many clips a split (smoke runs)")
    ap.add_argument("--prepare-only", action="store_true",
                    help="only compute and cache the sentence embeddings of every split, then exit")
    ap.add_argument("--ship", type=Path, default=None,
                    help="write <out>/evaluator.pt with float16 weights to this path (e.g. artifacts/evaluator.pt) "
                         "and exit")
    ap.add_argument("--every", type=int, default=100, help="validation, checkpoint and log interval (steps)")
    ap.add_argument("--seed", type=int, default=0, help="random seed")
    ap.add_argument("--device", default="auto", help="cpu, cuda, or auto")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch default)")
    return ap.parse_args(argv)


def main(argv=None) -> int:
    from training.sentence_embed import SentenceEmbedder

    args = parse_args(argv)
    if args.ship:
        best = torch.load(args.out / "evaluator.pt", map_location="cpu", weights_only=False)
        model = TextMotionEvaluator.from_checkpoint(best)
        meta = {k: best[k] for k in ("step", "val", "train_args") if k in best}
        save_atomic(model.checkpoint(half=True, **meta), args.ship)
        print(f"wrote {args.ship} ({args.ship.stat().st_size / 1e6:.1f} MB, float16 weights, step {meta.get('step')})")
        return 0
    if args.corpus is None:
        raise SystemExit("error: --corpus is required for training")
    if args.threads:
        torch.set_num_threads(args.threads)
    rt = distributed.setup(args.device)
    torch.manual_seed(args.seed + rt.rank)
    rng = np.random.default_rng(args.seed * 1000 + rt.rank)
    args.out.mkdir(parents=True, exist_ok=True)
    train = load_split(args.corpus, "train", max_clips=args.max_clips)
    val = load_split(args.corpus, "val", max_clips=args.max_clips)
    embedder = SentenceEmbedder(cache=args.out / "sentences.npz")
    t0 = time.time()
    train_sent, val_sent = embed_texts(embedder, train), embed_texts(embedder, val)
    mirror_sent = mirrored_sentences(embedder, train) if args.mirror > 0 else np.zeros((len(train.clips), 0, 384))
    if args.prepare_only:
        for key in ("text", "text_paraphrase"):
            embed_texts(embedder, load_split(args.corpus, "test", text_key=key, max_clips=args.max_clips))
    if rt.main:
        embedder.save()
        print(f"sentence embeddings: {len(embedder)} cached ({time.time() - t0:.0f} s)")
    if args.prepare_only:
        return 0

    cfg = EvaluatorConfig(motion_dim=train.clips[0].shape[1], d_model=args.d_model, layers=args.layers,
                          ff=2 * args.d_model, latent=args.latent, temperature=args.temperature)
    model = TextMotionEvaluator(cfg).to(rt.device)
    stacked = np.concatenate(train.clips)
    model.set_normalisation(torch.from_numpy(stacked.mean(0)), torch.from_numpy(stacked.std(0)))
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    start, best = 0, -1.0
    last = args.out / "last.pt"
    ckpt = load_if_exists(last)
    if ckpt is not None:
        model.load_state_dict(ckpt["state_dict"])
        opt.load_state_dict(ckpt["optimizer"])
        rng = np.random.default_rng(ckpt["rng_seed"])
        start, best = ckpt["step"], ckpt["best"]
        if rt.main:
            print(f"resuming from {last} at step {start}")
    if rt.main:
        print(f"evaluator: {num_parameters(model) / 1e6:.2f} M parameters, {len(train.clips)} train clips, "
              f"{len(val.clips)} val clips")
    log = open(args.out / "log.jsonl", "a") if rt.main else None
    run_loss, run_n, t0 = 0.0, 0, time.time()
    for step in range(start, args.steps):
        for g in opt.param_groups:
            g["lr"] = lr_at(step, args)
        b = sample_batch(train, train_sent, mirror_sent, rng, args.batch, args.mirror, args.hard_negatives)
        frames, lengths = pad_batch(b.frames)
        same = negatives_mask(b.attributes, b.texts, b.categories).to(rt.device)
        model.train()
        extra_lat = extra_same = None
        if b.negatives:
            extra_frames, extra_lengths = pad_batch(b.negatives)
            extra_lat = model.encode_motion(extra_frames.to(rt.device), extra_lengths.to(rt.device))
            extra_same = extra_negatives_mask(b.attributes, b.categories, b.negative_attributes).to(rt.device)
        loss = model.loss(model.encode_motion(frames.to(rt.device), lengths.to(rt.device)),
                          model.encode_text(torch.from_numpy(b.sentences).to(rt.device)), same, extra_lat, extra_same)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if rt.world > 1:  # each process contrasts its own batch; gradients are averaged by hand
            for p in model.parameters():
                if p.grad is not None:
                    torch.distributed.all_reduce(p.grad)
                    p.grad /= rt.world
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        run_loss, run_n = run_loss + float(loss.detach()), run_n + 1
        if (step + 1) % args.every == 0 or step + 1 == args.steps:
            if rt.main:
                val_scores = retrieval_scores(model, val.clips, val_sent[:, 0])
                stats = {"step": step + 1, "loss": run_loss / run_n, "lr": lr_at(step, args),
                         "sec": round(time.time() - t0, 1), "val": val_scores}
                log.write(json.dumps(stats) + "\n")
                log.flush()
                print(f"step {step + 1}: loss {stats['loss']:.3f}  val R@1/2/3 {val_scores['top1']:.3f}/"
                      f"{val_scores['top2']:.3f}/{val_scores['top3']:.3f}  ({stats['sec']:.0f} s)", flush=True)
                if val_scores["top3"] + 0.5 * val_scores["top1"] > best:
                    best = val_scores["top3"] + 0.5 * val_scores["top1"]
                    save_atomic(model.checkpoint(step=step + 1, val=val_scores,
                                                 train_args={k: str(v) for k, v in vars(args).items()}),
                                args.out / "evaluator.pt")
                save_atomic(model.checkpoint(optimizer=opt.state_dict(), step=step + 1, best=best,
                                             rng_seed=int(rng.integers(1 << 31))), last)
            run_loss, run_n = 0.0, 0
    if rt.main:
        report = final_report(args, embedder)
        (args.out / "report.json").write_text(json.dumps(report, indent=2))
        print(json.dumps(report, indent=2))
    distributed.teardown()
    return 0


def final_report(args, embedder) -> dict:
    """The best checkpoint's retrieval on val and test (prompts, paraphrases, every category)."""
    model = TextMotionEvaluator.from_checkpoint(args.out / "evaluator.pt")
    out = {"checkpoint": str(args.out / "evaluator.pt"), "step": int(torch.load(
        args.out / "evaluator.pt", map_location="cpu", weights_only=False)["step"]), "config": asdict(model.cfg)}
    for split, key in (("val", "text"), ("test", "text"), ("test", "text_paraphrase")):
        data = load_split(args.corpus, split, text_key=key, max_clips=args.max_clips)
        sent = embed_texts(embedder, data)
        out[f"{split}_{key}"] = {c: retrieval_scores(model, data.clips, sent[:, k]) for k, c in enumerate(CATEGORIES)}
    embedder.save()
    return out


if __name__ == "__main__":
    raise SystemExit(main())
