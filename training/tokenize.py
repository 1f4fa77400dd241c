"""Write motion token ids for every clip of a corpus (stage two's input, as in T2M-GPT).

    python -m training.tokenize --checkpoint runs/tokenizer/tokenizer.pt --corpus data/corpus

Writes ``<corpus>/tokens/<split>.npz`` with ``ids`` (all clips' tokens concatenated),
``offsets`` (clip i owns ids[offsets[i]:offsets[i+1]]), ``clip_ids``, plus the
tokenizer's sha256 so a language model never trains on tokens of another tokenizer.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from models.motion_tokenizer import MotionTokenizer
from training.dataset import CorpusDataset
from training.tokenizer_identity import codes_sha256


def tokenize_split(model: MotionTokenizer, corpus: Path, split: str) -> dict:
    ds = CorpusDataset(corpus, split=split, features="flame", include_global=model.cfg.include_global)
    width = model.cfg.input_dim
    ids, offsets, clip_ids = [], [0], []
    for item in tqdm(ds.clips(), total=len(ds), desc=f"tokenize {split}"):
        frames = torch.from_numpy(np.ascontiguousarray(item.features[:, :width]))[None]
        tok = model.encode(frames)[0].numpy().astype(np.int16)
        ids.append(tok)
        offsets.append(offsets[-1] + len(tok))
        clip_ids.append(item.clip_id)
    return {"ids": np.concatenate(ids) if ids else np.zeros(0, np.int16), "offsets": np.array(offsets, np.int64),
            "clip_ids": np.array(clip_ids)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", type=Path, required=True, help="tokenizer checkpoint (.pt)")
    ap.add_argument("--corpus", type=Path, required=True, help="corpus directory")
    ap.add_argument("--splits", nargs="+", default=["train", "val", "test"], help="splits to tokenize")
    ap.add_argument("--out", type=Path, default=None, help="output folder (default: <corpus>/tokens)")
    args = ap.parse_args(argv)
    torch.set_grad_enabled(False)
    model = MotionTokenizer.from_checkpoint(args.checkpoint)
    digest = codes_sha256(args.checkpoint)  # names the codes, which a retrained decoder keeps
    out = args.out or args.corpus / "tokens"
    out.mkdir(parents=True, exist_ok=True)
    for split in args.splits:
        arrays = tokenize_split(model, args.corpus, split)
        np.savez(out / f"{split}.npz", **arrays, tokenizer_sha256=np.array(digest))
        print(f"{split}: {len(arrays['clip_ids'])} clips, {len(arrays['ids'])} tokens -> {out / (split + '.npz')}")
    (out / "index.json").write_text(json.dumps({"tokenizer_sha256": digest, "splits": args.splits,
                                                "frames_per_token": model.cfg.frames_per_token}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
