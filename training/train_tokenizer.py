"""Train the motion tokenizer (VQ-VAE) on a corpus split, with checkpoints and resume.

    python -m training.train_tokenizer --corpus data/corpus --out runs/tokenizer
    torchrun --nproc-per-node 4 -m training.train_tokenizer ...   # same code, DDP

Each step draws random windows of ``--window`` frames from the train split;
normalisation statistics come from the train split and are stored in the
checkpoint with the config, so ``MotionTokenizer.from_checkpoint(path)`` is all a
user needs.
"""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from models.motion_tokenizer import MotionTokenizer, TokenizerConfig, num_parameters
from training import distributed
from training.checkpointing import load_if_exists, save_atomic
from training.motion_data import WindowSampler, load_split_features
from training.schedule import lr_at
from training.tokenizer_identity import codes_sha256


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, required=True, help="corpus directory (python -m training.corpus)")
    ap.add_argument("--out", type=Path, required=True, help="run directory for checkpoints and logs")
    ap.add_argument("--steps", type=int, default=6000, help="optimisation steps in total")
    ap.add_argument("--batch", type=int, default=64, help="windows per step (per process under torchrun)")
    ap.add_argument("--window", type=int, default=64, help="frames per training window (multiple of 4)")
    ap.add_argument("--lr", type=float, default=2e-3, help="peak learning rate (AdamW, cosine decay)")
    ap.add_argument("--warmup", type=int, default=200, help="linear warm-up steps")
    ap.add_argument("--hidden", type=int, default=TokenizerConfig.hidden, help="conv channels")
    ap.add_argument("--codes", type=int, default=TokenizerConfig.num_codes, help="codebook size")
    ap.add_argument("--code-dim", type=int, default=TokenizerConfig.code_dim, help="code vector size")
    ap.add_argument("--include-global", action="store_true", help="also model the global (root) rotation")
    ap.add_argument("--max-clips", type=int, default=None, help="use at most this many train clips")
    ap.add_argument("--init", type=Path, default=None,
                    help="start from this tokenizer checkpoint's weights and config (e.g. the shipped artifacts/tokenizer.pt)")
    ap.add_argument("--group-weight", nargs="*", default=[], metavar="GROUP=W",
                    help="override loss weights per parameter group, e.g. neck=6 eyes=2 (also over --init's)")
    ap.add_argument("--decoder-only", action="store_true",
                    help="train the decoder alone: encoder and codebook stay as --init has them, so token ids "
                         "(and an LM trained on them) stay valid")
    ap.add_argument("--lookahead", type=int, default=None,
                    help="tokens the decoder reads ahead before emitting a token's frames (default: --init's, else 0)")
    ap.add_argument("--every", type=int, default=250, help="checkpoint and log interval (steps)")
    ap.add_argument("--seed", type=int, default=0, help="random seed")
    ap.add_argument("--device", default="auto", help="cpu, cuda, or auto")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch default)")
    return ap.parse_args(argv)


def parse_group_weights(items: list[str], cfg: TokenizerConfig) -> dict[str, float]:
    groups = set(cfg.group_slices())
    out = {}
    for item in items:
        name, _, value = item.partition("=")
        try:
            weight = float(value)
        except ValueError:
            weight = -1.0
        if name not in groups or not weight > 0:
            raise SystemExit(f"error: --group-weight {item!r}: want GROUP=W with GROUP in {sorted(groups)} and W > 0")
        out[name] = weight
    return out


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    rt = distributed.setup(args.device)
    torch.manual_seed(args.seed + rt.rank)
    if args.init is not None:
        model = MotionTokenizer.from_checkpoint(args.init).float().to(rt.device)  # keeps its config and statistics
        cfg = model.cfg
    else:
        cfg = TokenizerConfig(hidden=args.hidden, num_codes=args.codes, code_dim=args.code_dim,
                              include_global=args.include_global)
        model = MotionTokenizer(cfg).to(rt.device)
    if args.decoder_only and args.init is None:
        raise SystemExit("error: --decoder-only needs --init (the encoder and codebook to keep)")
    # Token ids keep their meaning only while the encoder and codebook do: a language model
    # trained on the init's ids can then be decoded by this checkpoint.
    lineage = {"codes_sha256": codes_sha256(args.init)} if args.decoder_only else {}
    if args.lookahead is not None:
        if not 0 <= args.lookahead <= 4:
            raise SystemExit(f"error: --lookahead {args.lookahead}: want 0..4 tokens")
        cfg.decoder_lookahead = args.lookahead
    if args.group_weight:
        model.set_group_weights({**cfg.group_weights, **parse_group_weights(args.group_weight, cfg)})
    features = load_split_features(args.corpus, "train", cfg.num_expression, cfg.include_global, args.max_clips)
    sampler = WindowSampler(features, args.window, seed=args.seed * 1000 + rt.rank)
    stacked = np.concatenate(features)
    if args.init is None:
        model.set_normalisation(torch.from_numpy(stacked.mean(0)), torch.from_numpy(stacked.std(0)))
    if args.decoder_only:
        model.encoder.requires_grad_(False)
    trained = model.decoder.parameters() if args.decoder_only else model.parameters()
    opt = torch.optim.AdamW(trained, lr=args.lr, weight_decay=0.0, betas=(0.9, 0.99))
    start = 0
    last = args.out / "last.pt"
    ckpt = load_if_exists(last)
    if ckpt is not None:
        model.load_state_dict(ckpt["state_dict"])
        opt.load_state_dict(ckpt["optimizer"])
        sampler.rng = np.random.default_rng(ckpt["sampler_seed"])
        start = ckpt["step"]
        if rt.main:
            print(f"resuming from {last} at step {start}")
    ddp = distributed.wrap(model, rt)
    if rt.main:
        args.out.mkdir(parents=True, exist_ok=True)
        print(f"tokenizer: {num_parameters(model) / 1e6:.2f} M parameters, {len(features)} clips, "
              f"{len(stacked) / cfg.fps / 3600:.2f} h of train motion")
    log = open(args.out / "log.jsonl", "a") if rt.main else None
    bar = tqdm(range(start, args.steps), initial=start, total=args.steps, disable=not rt.main, desc="tokenizer")
    window_ids, acc, t0 = [], {}, time.time()
    for step in bar:
        for g in opt.param_groups:
            g["lr"] = lr_at(step, args)
        batch = torch.from_numpy(sampler.sample(args.batch)).to(rt.device)  # (B, W, D)
        ddp.train()
        if args.decoder_only:  # no EMA codebook updates, no dead-code resets
            model.encoder.eval()
            model.quantizer.eval()
        _, ids, losses = ddp(batch)
        opt.zero_grad(set_to_none=True)
        losses["total"].backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        window_ids.append(ids.detach().flatten().cpu())
        for k, v in losses.items():
            acc[k] = acc.get(k, 0.0) + float(v.detach())
        if (step + 1) % args.every == 0 or step + 1 == args.steps:
            n = len(window_ids)
            stats = {k: v / n for k, v in acc.items()}
            stats.update(step=step + 1, lr=lr_at(step, args), sec=time.time() - t0,
                         perplexity=model.quantizer.perplexity(torch.cat(window_ids), cfg.num_codes))
            window_ids, acc = [], {}
            if rt.main:
                bar.set_postfix(mse=f"{stats['mse']:.4f}", ppl=f"{stats['perplexity']:.0f}")
                log.write(json.dumps(stats) + "\n")
                log.flush()
                save_atomic(model.checkpoint(optimizer=opt.state_dict(), step=step + 1, **lineage,
                                             sampler_seed=int(sampler.rng.integers(1 << 31)),
                                             args={k: str(v) for k, v in vars(args).items()}), last)
    if rt.main:
        save_atomic(model.checkpoint(step=args.steps, **lineage, train_args={k: str(v) for k, v in vars(args).items()}),
                    args.out / "tokenizer.pt")
        print(f"wrote {args.out / 'tokenizer.pt'} (config: {json.dumps(asdict(cfg))[:120]}...)")
    distributed.teardown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
