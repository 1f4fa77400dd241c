"""Train the streaming audio-to-mouth model on talking stores, with checkpoints and resume.

    python -m training.train_audio --stores data/corpus/talking data/talking_audio_s1 --out runs/audio
    torchrun --nproc-per-node 4 -m training.train_audio ...   # same code, DDP

Each step assembles random windows of speech (``training.audio_data``: clips of
one style joined with silent gaps, speeds 0.9/1.0/1.1), augments them in the
log-mel power domain (``training.audio_augment``) and fits the mouth's FLAME
parameters. Normalisation (log-mel bands from augmented training windows,
targets from the train split) and the config live in the checkpoint;
``last.pt`` resumes a killed run, ``audio.pt`` is the final small checkpoint
(weights only, float16).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from models.audio_to_motion import AudioToMotion, AudioToMotionConfig, num_parameters
from training import distributed
from training.audio_augment import Augmenter
from training.audio_data import MAX_LOOKAHEAD, FeatureBank, WindowBuilder, load_split
from training.checkpointing import load_if_exists, save_atomic
from training.schedule import lr_at


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stores", type=Path, nargs="+", default=[Path("data/corpus/talking")],
                    help="talking-subset store folders (python -m training.talking --store)")
    ap.add_argument("--out", type=Path, required=True, help="run directory for checkpoints and logs")
    ap.add_argument("--cache", type=Path, default=Path("runs/audio_cache"), help="feature bank cache folder")
    ap.add_argument("--steps", type=int, default=6000, help="optimisation steps in total")
    ap.add_argument("--batch", type=int, default=32, help="windows per step (per process under torchrun)")
    ap.add_argument("--window", type=int, default=96, help="motion frames per training window")
    ap.add_argument("--lr", type=float, default=2e-3, help="peak learning rate (AdamW, cosine decay)")
    ap.add_argument("--warmup", type=int, default=200, help="linear warm-up steps")
    ap.add_argument("--weight-decay", type=float, default=0.01)
    ap.add_argument("--lookahead", type=int, default=AudioToMotionConfig.lookahead,
                    help=f"feature frames (10 ms) of audio past a frame's own 40 ms, 0..{MAX_LOOKAHEAD}")
    ap.add_argument("--width", type=int, default=AudioToMotionConfig.width, help="channels")
    ap.add_argument("--dilations", type=int, nargs="+", default=list(AudioToMotionConfig.dilations),
                    help="one residual block per dilation")
    ap.add_argument("--dropout", type=float, default=AudioToMotionConfig.dropout)
    ap.add_argument("--style-dropout", type=float, default=0.3, help="share of windows trained with style 'none'")
    ap.add_argument("--no-augment", action="store_true", help="train on clean eSpeak features")
    ap.add_argument("--vtlp", type=float, default=0.0, help="share of windows with a vocal-tract-length warp")
    ap.add_argument("--clean-share", type=float, default=0.25, help="share of windows left unaugmented")
    ap.add_argument("--no-speeds", action="store_true", help="no 0.9 / 1.1 speed copies")
    ap.add_argument("--max-clips", type=int, default=None, help="use at most this many train clips")
    ap.add_argument("--every", type=int, default=250, help="checkpoint, validation and log interval (steps)")
    ap.add_argument("--seed", type=int, default=0, help="random seed")
    ap.add_argument("--device", default="auto", help="cpu, cuda, or auto")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch default)")
    args = ap.parse_args(argv)
    if not 0 <= args.lookahead <= MAX_LOOKAHEAD:
        ap.error(f"--lookahead must be in 0..{MAX_LOOKAHEAD}")
    return args


def mel_statistics(builder: WindowBuilder, augment: Augmenter | None, batches: int = 24) -> tuple[np.ndarray, np.ndarray]:
    rows = []
    for _ in range(batches):
        mel, _, _ = builder.batch(16)
        rows.append((augment(mel) if augment else mel).reshape(-1, mel.shape[-1]))
    stacked = np.concatenate(rows)
    return stacked.mean(0), stacked.std(0)


@torch.no_grad()
def validate(model: AudioToMotion, builder: WindowBuilder, device, batches: int = 8) -> dict:
    """Loss and jaw-opening correlation on fixed, clean val windows."""
    model.eval()
    builder.rng = np.random.default_rng(1234)
    losses, pj, tj = [], [], []
    for _ in range(batches):
        mel, tgt, style = builder.batch(16)
        mel_t, tgt_t = torch.from_numpy(mel).to(device), torch.from_numpy(tgt).to(device)
        st = torch.from_numpy(style).to(device)
        shifted = model.shift(mel_t)
        losses.append(float(model.loss(shifted, st, tgt_t)["mse"]))
        pred = model(shifted, st)
        pj.append(pred[..., model.cfg.num_expression].flatten().cpu().numpy())
        tj.append(tgt[..., model.cfg.num_expression].ravel())
    model.train()
    p, t = np.concatenate(pj), np.concatenate(tj)
    return {"val_mse": float(np.mean(losses)), "val_jaw_corr": float(np.corrcoef(p, t)[0, 1])}


class LossModule(torch.nn.Module):
    """The training loss as a module's forward, so DistributedDataParallel can wrap it."""

    def __init__(self, model: AudioToMotion):
        super().__init__()
        self.model = model

    def forward(self, mel: torch.Tensor, style: torch.Tensor, target: torch.Tensor) -> dict:
        return self.model.loss(self.model.shift(mel), style, target)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    rt = distributed.setup(args.device)
    torch.manual_seed(args.seed + rt.rank)
    cfg = AudioToMotionConfig(lookahead=args.lookahead, width=args.width, dilations=tuple(args.dilations),
                              dropout=args.dropout)
    train = load_split(args.stores, "train", args.max_clips)
    if rt.main:  # the main process builds (and caches) the feature bank; the others then read the cache
        bank = FeatureBank(train, args.cache)
    if rt.world > 1:
        torch.distributed.barrier()
    if not rt.main:
        bank = FeatureBank(train, args.cache, progress=False)
    builder = WindowBuilder(bank, args.window, cfg.lookahead, seed=args.seed * 1000 + rt.rank,
                            speeds=not args.no_speeds)
    val_builder, val_clips = None, []
    if rt.main:
        val_clips = load_split(args.stores, "val")
        if val_clips:  # a tiny store may have no val clip: then no validation
            val_builder = WindowBuilder(FeatureBank(val_clips, args.cache, progress=False), args.window,
                                        cfg.lookahead, seed=0, speeds=False)
    augment = None if args.no_augment else Augmenter(seed=args.seed * 1000 + rt.rank + 7, p_warp=args.vtlp,
                                                 p_clean=args.clean_share)
    model = AudioToMotion(cfg).to(rt.device)
    targets = np.concatenate([t[1] for t in bank.target])
    mel_mean, mel_std = mel_statistics(WindowBuilder(bank, args.window, cfg.lookahead, seed=99), augment)
    model.set_normalisation(mel_mean, mel_std, targets.mean(0), targets.std(0))
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay, betas=(0.9, 0.99))
    start = 0
    last = args.out / "last.pt"
    ckpt = load_if_exists(last)
    if ckpt is not None:
        model.load_state_dict(ckpt["state_dict"])
        opt.load_state_dict(ckpt["optimizer"])
        builder.rng = np.random.default_rng(ckpt["sampler_seed"] + rt.rank)
        if augment is not None:
            augment.rng = np.random.default_rng(ckpt["sampler_seed"] + 17 + rt.rank)
        start = ckpt["step"]
        if rt.main:
            print(f"resuming from {last} at step {start}")
    ddp = distributed.wrap(LossModule(model), rt)  # DDP all-reduces what its forward touched
    if rt.main:
        args.out.mkdir(parents=True, exist_ok=True)
        hours = sum(c.num_frames for c in train) / cfg.fps / 3600
        print(f"audio-to-motion: {num_parameters(model) / 1e6:.2f} M parameters, {len(train)} train clips "
              f"({hours:.2f} h), {len(val_clips)} val clips, lookahead {cfg.lookahead_ms:.0f} ms, "
              f"receptive field {cfg.receptive_field} frames")
    log = open(args.out / "log.jsonl", "a") if rt.main else None
    bar = tqdm(range(start, args.steps), initial=start, total=args.steps, disable=not rt.main, desc="audio")
    acc, n_acc, t0 = {}, 0, time.time()
    style_rng = np.random.default_rng(args.seed + 31 * rt.rank + start)
    model.train()
    for step in bar:
        for g in opt.param_groups:
            g["lr"] = lr_at(step, args)
        mel, tgt, style = builder.batch(args.batch)
        if augment is not None:
            mel = augment(mel)
        style[style_rng.random(len(style)) < args.style_dropout] = 0
        losses = ddp(torch.from_numpy(mel).to(rt.device), torch.from_numpy(style).to(rt.device),
                     torch.from_numpy(tgt).to(rt.device))
        opt.zero_grad(set_to_none=True)
        losses["total"].backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        for k, v in losses.items():
            acc[k] = acc.get(k, 0.0) + float(v.detach())
        n_acc += 1
        if (step + 1) % args.every == 0 or step + 1 == args.steps:
            stats = {k: v / n_acc for k, v in acc.items()}
            acc, n_acc = {}, 0
            if rt.main:
                if val_builder is not None:
                    stats.update(validate(model, val_builder, rt.device))
                stats.update(step=step + 1, lr=lr_at(step, args), sec=round(time.time() - t0, 1))
                bar.set_postfix(mse=f"{stats['mse']:.3f}", val=f"{stats.get('val_mse', float('nan')):.3f}",
                                jaw_r=f"{stats.get('val_jaw_corr', float('nan')):.3f}")
                log.write(json.dumps(stats) + "\n")
                log.flush()
                save_atomic(model.checkpoint(optimizer=opt.state_dict(), step=step + 1,
                                             sampler_seed=int(builder.rng.integers(1 << 31)),
                                             args={k: str(v) for k, v in vars(args).items()}), last)
    if rt.main:
        small = model.checkpoint(step=args.steps, train_args={k: str(v) for k, v in vars(args).items()})
        small["state_dict"] = {k: v.half() if v.is_floating_point() and "mean" not in k and "std" not in k else v
                               for k, v in small["state_dict"].items()}
        save_atomic(small, args.out / "audio.pt")
        print(f"wrote {args.out / 'audio.pt'}")
    distributed.teardown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
