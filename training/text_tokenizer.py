"""Train the language model's text BPE (byte-level, HF ``tokenizers``) on train-split text.

    python -m training.text_tokenizer --corpus data/corpus --out runs/lm/text_tokenizer.json

Training text: every train clip's prompt and five annotation categories, freshly
worded prompts from the train wording pool, and the QA questions and answers. Only the
train split is read, so held-out paraphrase wording gets no merges of its own (being
byte-level, the BPE still encodes any input). Text is lower-cased (NFKC first): the
corpus's only capitals start sentences, which ``facelm.vocab`` restores on decoding.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Iterable

from facelm.vocab import TextTokenizer

DEFAULT_VOCAB_SIZE = 3000


def train_text_tokenizer(texts: Iterable[str], vocab_size: int = DEFAULT_VOCAB_SIZE, min_frequency: int = 2
                         ) -> TextTokenizer:
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=min_frequency, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), special_tokens=[])
    tok.train_from_iterator(texts, trainer=trainer)
    return TextTokenizer(tok)


def corpus_training_texts(corpus: Path, prompt_variants: int = 2, seed: int = 0, max_clips: int | None = None
                          ) -> list[str]:
    """Train-split text (no paraphrases) + QA; prompts re-worded from specs as the LM data does."""
    import numpy as np

    from training.dataset import CorpusDataset
    from training.lm_data import all_answers, all_questions
    from training.text import realise_prompt

    ds = CorpusDataset(corpus, split="train")
    rng = np.random.default_rng(seed)
    texts: list[str] = []
    for k, ref in enumerate(ds.refs):
        if max_clips is not None and k >= max_clips:
            break
        meta = ds.reader.meta(ref)
        texts += list(meta["text"].values())
        texts += [realise_prompt(meta["spec"], rng, "train") for _ in range(prompt_variants)]
    return texts + all_questions() * 20 + all_answers() * 20


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, required=True, help="corpus directory (its train split is read)")
    ap.add_argument("--out", type=Path, required=True, help="output tokenizer JSON (text_tokenizer.json)")
    ap.add_argument("--vocab-size", type=int, default=DEFAULT_VOCAB_SIZE, help="BPE vocabulary size")
    ap.add_argument("--max-clips", type=int, default=None, help="read at most this many clips")
    args = ap.parse_args(argv)
    texts = corpus_training_texts(args.corpus, max_clips=args.max_clips)
    tok = train_text_tokenizer(texts, args.vocab_size)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tok.save(args.out)
    lengths = [len(tok.encode(t)) for t in texts[:2000]]
    print(f"wrote {args.out}: {tok.size} tokens from {len(texts)} texts; "
          f"mean {sum(lengths) / len(lengths):.1f} tokens a text (first 2000)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
