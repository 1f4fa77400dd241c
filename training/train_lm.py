"""Train the motion language model (Language2Motion, Motion2Language, QA in one GPT).

    python -m training.tokenize --checkpoint runs/tokenizer/tokenizer.pt --corpus data/corpus
    python -m training.train_lm --corpus data/corpus --out runs/lm \\
        --motion-tokenizer runs/tokenizer/tokenizer.pt
    torchrun --nproc-per-node 4 -m training.train_lm ...        # same code, DDP
    python -m training.train_lm ... --backbone hf:path/to/model.gguf   # a Hugging Face causal LM

Stages: the text BPE (``<out>/text_tokenizer.json``, trained on the train split when
absent), the example banks (``training.lm_data``, cached in ``<out>/data``), the MiniLM
sentence embeddings of every prompt and question (cached per corpus in
``<corpus>/embeddings/minilm.npz``), then training with the loss on the target part
only (motion in L2M, the text after <sep> in M2L and QA). ``<out>/last.pt`` is written
every ``--every`` steps or ``--checkpoint-minutes`` (resume: run the same command
again); ``<out>/log.jsonl`` holds training and validation losses and, when a motion
tokenizer is given, a quick attribute check (prompts of validation clips ->
generated motion -> decoded -> annotated, labels compared). The final model is
``<out>/lm.pt`` (config, weights, vocabulary and text tokenizer in one file).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from facelm.vocab import TextTokenizer, Vocab
from models.motion_lm import LMConfig, MotionLM, num_parameters
from training import distributed
from training.checkpointing import load_if_exists, save_atomic
from training.lm_data import (SequenceSampler, build_bank, collate, conditioning_texts, fixed_eval_sequences,
                              training_words)
from training.schedule import warmup_cosine
from training.sentence_embed import SentenceEmbedder


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, required=True, help="corpus directory (python -m training.corpus)")
    ap.add_argument("--tokens", type=Path, default=None, help="motion token folder (default: <corpus>/tokens)")
    ap.add_argument("--out", type=Path, required=True, help="run directory for checkpoints and logs")
    ap.add_argument("--motion-tokenizer", type=Path, default=None,
                    help="motion tokenizer checkpoint: its code count, and decoding for the attribute check")
    ap.add_argument("--backbone", default="gpt",
                    help="'gpt' (models/motion_lm.py) or 'hf:<gguf file | HF folder | config.json>'")
    ap.add_argument("--steps", type=int, default=3000, help="optimisation steps in total")
    ap.add_argument("--minutes", type=float, default=None,
                    help="wall-clock budget: the schedule follows elapsed time too and training stops when it is spent")
    ap.add_argument("--batch", type=int, default=32, help="sequences per step (per process under torchrun)")
    ap.add_argument("--lr", type=float, default=1e-3, help="peak learning rate (AdamW, cosine decay)")
    ap.add_argument("--warmup", type=int, default=150, help="linear warm-up steps")
    ap.add_argument("--weight-decay", type=float, default=0.05, help="AdamW weight decay of matrices")
    ap.add_argument("--layers", type=int, default=LMConfig.n_layer, help="transformer blocks")
    ap.add_argument("--d-model", type=int, default=LMConfig.d_model, help="width")
    ap.add_argument("--heads", type=int, default=LMConfig.n_head, help="attention heads")
    ap.add_argument("--block-size", type=int, default=LMConfig.block_size, help="context (positions)")
    ap.add_argument("--dropout", type=float, default=LMConfig.dropout, help="dropout")
    ap.add_argument("--cfg-drop", type=float, default=0.1, help="share of L2M examples without text (guidance)")
    ap.add_argument("--embed-only", type=float, default=0.1,
                    help="share of L2M/QA examples with the sentence embedding but no text tokens")
    ap.add_argument("--word-drop", type=float, default=0.2,
                    help="share of L2M/QA examples with some words left out of the tokens (not the embedding)")
    ap.add_argument("--text-vocab", type=int, default=3000, help="text BPE size when it is trained here")
    ap.add_argument("--prompt-variants", type=int, default=2, help="extra prompt wordings per train clip")
    ap.add_argument("--crops", type=int, default=1, help="random crops per long train clip")
    ap.add_argument("--max-clips", type=int, default=None, help="use at most this many clips per split")
    ap.add_argument("--every", type=int, default=100, help="log and checkpoint interval (steps)")
    ap.add_argument("--checkpoint-minutes", type=float, default=5.0, help="also checkpoint after this long")
    ap.add_argument("--eval-every", type=int, default=250, help="validation interval (steps)")
    ap.add_argument("--attr-prompts", type=int, default=20, help="validation prompts in the attribute check (0: off)")
    ap.add_argument("--init", type=Path, default=None,
                    help="start from this LM checkpoint's weights (same vocabulary), e.g. to adapt to a retrained "
                         "motion tokenizer; optimiser and schedule start fresh")
    ap.add_argument("--prepare-only", action="store_true", help="build the data caches and embeddings, then stop")
    ap.add_argument("--seed", type=int, default=0, help="random seed")
    ap.add_argument("--device", default="auto", help="cpu, cuda, or auto")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch default)")
    return ap.parse_args(argv)


def lr_at(step: int, args, elapsed_s: float = 0.0) -> float:
    """Linear warm-up, then cosine decay to 5% over the steps (or the --minutes budget, whichever is nearer its end)."""
    budget = elapsed_s / (60 * args.minutes) if args.minutes else 0.0
    return warmup_cosine(step, args.lr, args.warmup, args.steps, progress_floor=budget)


# ============================================================================
# setup
# ============================================================================
def text_tokenizer_for(args, rt) -> TextTokenizer:
    """``<out>/text_tokenizer.json``: taken from --init's checkpoint, else trained here when absent."""
    path = args.out / "text_tokenizer.json"
    if not path.is_file() and args.init is not None and rt.main:
        init = torch.load(args.init, map_location="cpu", weights_only=False)
        if init.get("text_tokenizer"):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(init["text_tokenizer"], encoding="utf-8")
    if not path.is_file():
        if rt.main:
            from training.text_tokenizer import corpus_training_texts, train_text_tokenizer
            tok = train_text_tokenizer(corpus_training_texts(args.corpus, max_clips=args.max_clips), args.text_vocab)
            path.parent.mkdir(parents=True, exist_ok=True)
            tok.save(path)
        _barrier()
    return TextTokenizer.from_file(path)


def prepare_data(args, rt) -> tuple[list, list, dict[str, np.ndarray]]:
    """Train/val banks and the embeddings of every conditioning sentence (rank 0 fills the caches first)."""
    def build():
        kw = dict(tokens=args.tokens, cache_dir=args.out / "data", max_clips=args.max_clips, seed=args.seed,
                  progress=rt.main)
        train = build_bank(args.corpus, "train", prompt_variants=args.prompt_variants, crops_per_clip=args.crops, **kw)
        val = build_bank(args.corpus, "val", **kw)
        embedder = SentenceEmbedder(cache=args.corpus / "embeddings" / "minilm.npz", batch_size=128,
                                    device=str(rt.device))
        texts = sorted(set(conditioning_texts(train)) | set(conditioning_texts(val)))
        texts.sort(key=len)  # similar lengths batch with little padding
        vectors, saved_at = [], time.monotonic()
        for i in tqdm(range(0, len(texts), 1024), desc="sentence embeddings", disable=not rt.main):
            vectors.append(embedder.embed(texts[i:i + 1024]))
            if time.monotonic() - saved_at > 120:  # rewriting a 0.6 GB cache takes seconds: not after every batch
                embedder.save()
                saved_at = time.monotonic()
        embedder.save()
        return train, val, dict(zip(texts, np.concatenate(vectors)))

    if rt.main:
        out = build()
    _barrier()
    if not rt.main:
        out = build()
    return out


def _agree(flag: bool, rt) -> bool:
    """Rank 0's ``flag`` on every rank (plain runs: the flag)."""
    if rt.world == 1:
        return flag
    import torch.distributed as dist
    t = torch.tensor([int(flag)], device=rt.device)
    dist.broadcast(t, 0)
    return bool(t.item())


def _barrier() -> None:
    """Wait for rank 0 to fill the caches (no-op when not under torchrun)."""
    import torch.distributed as dist
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def check_tokens_match(args) -> str:
    """Refuse motion tokens written in other codes than ``--motion-tokenizer``'s; the sha256 naming them
    (``training.tokenizer_identity.codes_sha256``: a decoder retrained on frozen codes keeps the name)."""
    from training.tokenizer_identity import codes_sha256
    if args.motion_tokenizer is None:
        return ""
    want = codes_sha256(args.motion_tokenizer)
    path = (args.tokens or args.corpus / "tokens") / "train.npz"
    if path.is_file():
        with np.load(path) as data:
            got = str(data["tokenizer_sha256"]) if "tokenizer_sha256" in data else ""
        if got != want:
            raise SystemExit(f"error: {path} was written by another tokenizer than {args.motion_tokenizer} "
                             f"(run python -m training.tokenize --checkpoint {args.motion_tokenizer})")
    return want


def build_model(args, rt):
    """(model, vocab, text tokenizer) for ``--backbone``."""
    num_motion = 512
    if args.motion_tokenizer is not None:
        ck = torch.load(args.motion_tokenizer, map_location="cpu", weights_only=False)
        num_motion = int(ck["config"]["num_codes"])
    if args.backbone == "gpt":
        tok = text_tokenizer_for(args, rt)
        vocab = Vocab(num_text=tok.size, num_motion=num_motion)
        cfg = LMConfig(vocab_size=vocab.size, n_layer=args.layers, n_head=args.heads, d_model=args.d_model,
                       block_size=args.block_size, dropout=args.dropout, pad_id=vocab.special("<pad>"))
        return MotionLM(cfg), vocab, tok
    if args.backbone.startswith("hf:"):
        from models.hf_backbone import build_hf_lm
        return build_hf_lm(args.backbone[3:], num_motion=num_motion,
                           fallback_tokenizer=lambda: text_tokenizer_for(args, rt), block_size=args.block_size)
    raise SystemExit(f"error: --backbone must be 'gpt' or 'hf:<path>', got {args.backbone!r}")


# ============================================================================
# evaluation
# ============================================================================
@torch.no_grad()
def validation_losses(model, seqs_by_task: dict, vocab: Vocab, embeddings: dict, device, batch: int = 32) -> dict:
    model.eval()
    out = {}
    for task, seqs in seqs_by_task.items():
        total, count = 0.0, 0
        for i in range(0, len(seqs), batch):
            b = collate(seqs[i:i + batch], vocab, embeddings)
            ids, targets = torch.from_numpy(b["ids"]).to(device), torch.from_numpy(b["targets"]).to(device)
            logits, _ = model(ids, torch.from_numpy(b["cond"]).to(device), use_cache=False)
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=-100,
                                   reduction="sum")
            total += float(loss)
            count += int((targets != -100).sum())
        out[f"val_{task}"] = total / max(1, count)
    model.train()
    return out


# ============================================================================
# training
# ============================================================================
def main(argv=None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    rt = distributed.setup(args.device)
    torch.manual_seed(args.seed + rt.rank)
    args.out.mkdir(parents=True, exist_ok=True)
    tokenizer_sha = check_tokens_match(args)
    model, vocab, tok = build_model(args, rt)
    if args.init is not None:
        init = torch.load(args.init, map_location="cpu", weights_only=False)
        if init.get("vocab") != vocab.to_dict():
            raise SystemExit(f"error: --init {args.init} has another vocabulary than this run")
        model.load_state_dict(init["state_dict"])
        if rt.main:
            print(f"initialised from {args.init} (step {init.get('step')})")
    model.to(rt.device)
    train_bank, val_bank, embeddings = prepare_data(args, rt)
    if args.prepare_only:
        print(f"prepared {len(train_bank)} train / {len(val_bank)} val examples, {len(embeddings)} sentences")
        return 0
    block = getattr(model, "block_size", None) or model.cfg.block_size
    sampler = SequenceSampler(train_bank, vocab, tok, embeddings, block, seed=args.seed * 1000 + rt.rank,
                              cfg_drop=args.cfg_drop, embed_only=args.embed_only, word_drop=args.word_drop)
    val_seqs = fixed_eval_sequences(val_bank, vocab, tok, embeddings, block)
    motion_tok = None
    if args.motion_tokenizer is not None and args.attr_prompts > 0 and rt.main:
        from models.motion_tokenizer import MotionTokenizer
        motion_tok = MotionTokenizer.from_checkpoint(args.motion_tokenizer)

    decay = [p for n, p in model.named_parameters() if p.requires_grad and p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.requires_grad and p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=args.lr, betas=(0.9, 0.95))
    start, trained_s = 0, 0.0
    last = args.out / "last.pt"
    ckpt = load_if_exists(last)
    if ckpt is not None:
        model.load_state_dict(ckpt["state_dict"])
        opt.load_state_dict(ckpt["optimizer"])
        sampler.rng = np.random.default_rng(ckpt["sampler_seed"] + rt.rank)
        start, trained_s = ckpt["step"], float(ckpt.get("trained_s", 0.0))
        if rt.main:
            print(f"resuming from {last} at step {start} ({trained_s / 60:.1f} min trained)")
    ddp = distributed.wrap(model, rt)
    if rt.main:
        print(f"motion LM ({args.backbone}): {num_parameters(model) / 1e6:.2f} M parameters, vocab {vocab.size} "
              f"({vocab.num_text} text, {vocab.num_motion} motion); {len(train_bank)} train examples, "
              f"{len(val_bank)} val, {len(embeddings)} embedded sentences")
    log = open(args.out / "log.jsonl", "a") if rt.main else None
    extra = {"vocab": vocab.to_dict(), "text_tokenizer": tok.to_str(), "motion_tokenizer_sha256": tokenizer_sha,
             "known_words": sorted(training_words(train_bank))}

    def elapsed() -> float:
        return trained_s + time.time() - t0

    def save_last(step: int) -> None:
        save_atomic(model.checkpoint(optimizer=opt.state_dict(), step=step, trained_s=elapsed(),
                                     sampler_seed=int(sampler.rng.integers(1 << 31)),
                                     args={k: str(v) for k, v in vars(args).items()}, **extra), last)

    bar = tqdm(range(start, args.steps), initial=start, total=args.steps, disable=not rt.main, desc="motion LM")
    acc, t0, t_ckpt = {}, time.time(), time.time()
    model.train()
    final_step = args.steps
    for step in bar:
        for g in opt.param_groups:
            g["lr"] = lr_at(step, args, elapsed())
        b = sampler.batch(args.batch)
        ids, targets = torch.from_numpy(b["ids"]).to(rt.device), torch.from_numpy(b["targets"]).to(rt.device)
        logits, _ = ddp(ids, torch.from_numpy(b["cond"]).to(rt.device), use_cache=False)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=-100)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        acc["loss"] = acc.get("loss", 0.0) + float(loss.detach())
        acc["n"] = acc.get("n", 0) + 1
        done = step + 1
        # Every rank must agree on stopping: the budget check is rank 0's clock, broadcast under DDP.
        out_of_time = _agree(bool(args.minutes) and elapsed() >= 60 * args.minutes, rt)
        last_step = done == args.steps or out_of_time
        if not rt.main:
            if out_of_time:
                break
            continue
        stats = None
        if done % args.every == 0 or last_step:
            stats = {"step": done, "loss": acc["loss"] / acc["n"], "lr": g["lr"], "sec": elapsed()}
            acc = {}
            bar.set_postfix(loss=f"{stats['loss']:.3f}")
        if done % args.eval_every == 0 or last_step:
            stats = stats or {"step": done, "sec": elapsed()}
            stats.update(validation_losses(model, val_seqs, vocab, embeddings, rt.device))
            if motion_tok is not None:
                from training.lm_infer import attribute_check
                stats.update(attribute_check(model, vocab, tok, val_bank, motion_tok, args.attr_prompts,
                                             embeddings=embeddings))
                model.train()
            tqdm.write(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in stats.items()}))
        if stats is not None:
            log.write(json.dumps(stats) + "\n")
            log.flush()
        if done % args.every == 0 or time.time() - t_ckpt > 60 * args.checkpoint_minutes:
            save_last(done)
            t_ckpt = time.time()
        if out_of_time:
            final_step = done
            tqdm.write(f"time budget of {args.minutes} min spent at step {done}")
            break
    if rt.main:
        save_last(final_step)
        save_atomic(model.checkpoint(step=final_step, train_args={k: str(v) for k, v in vars(args).items()}, **extra),
                    args.out / "lm.pt")
        print(f"wrote {args.out / 'lm.pt'}")
    distributed.teardown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
