"""Aliases for words the LM never read: the closest known word among their WordNet neighbours.

    python -m export.word_aliases --model artifacts livid swivels bobs

prints how the runtime reads those words with the aliases built now from the model
directory's word list and sentence encoder (``export.lm`` builds the same table into
``lm_words.json``; ``facelm.known_words`` applies it).

Why: the LM's token path only knows the 571 words of its training text. Through the
sentence embedding alone (all-MiniLM-L6-v2) a logistic probe trained on the training
prompts names the emotion of the annotator's held-out paraphrases only 72 % of the time,
because WordPiece splits rare words ("livid", "petrified") into pieces that carry little.
WordNet knows them: livid is similar to angry, swivel is a kind of turn.

How: for every single-word WordNet lemma that is not a form of a known word, the
candidates are the known words' lemmas among its synset members and the synsets its
synsets point to by similar-to (&), also-see (^), pertainym (\\, adverb -> adjective),
hypernym (@), derivation (+) and attribute (=); antonyms (!) are never followed. Of
the candidates the one closest in meaning wins: the mean cosine of MiniLM embeddings
of the two words over ``TEMPLATES`` (a word alone is ambiguous; in a sentence about a
face it is less so), and only when that reaches the relation's threshold in
``MIN_SIMILARITY``: a hypernym must be closer than a synonym (bob -> do is a hypernym
at 0.62, swivel -> turn one at 0.68, livid -> angry a similar-to at 0.60). WordNet's own
relations choose the candidates, so the embedding never picks an antonym it happens
to place close (MiniLM puts "sorrowful" nearest "joyful" as a single word).
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from facelm.errors import FacelmError
from facelm.known_words import KnownWords, normalise
from export.wordnet import DEFAULT_DIR, WordNet

# Pointer symbols followed, and per relation the least mean cosine an alias needs.
MIN_SIMILARITY = {"synonym": 0.5, "&": 0.5, "^": 0.5, "\\": 0.5, "=": 0.5, "+": 0.55, "@": 0.65}
TEMPLATES = ("{}", "The person looks {}.", "The person {} the head.", "Someone {} while talking.")
_LEMMA = re.compile(r"[a-z]{3,}")

Embed = Callable[[list[str]], np.ndarray]  # texts -> (N, D) unit vectors


def related_lemmas(wn: WordNet, lemma: str) -> dict[str, float]:
    """{related lemma: least similarity it needs}: members of ``lemma``'s synsets and of the synsets
    they point to by a relation of ``MIN_SIMILARITY`` (the most lenient relation counts)."""
    out: dict[str, float] = {}

    def add(words, relation: str) -> None:
        for w in words:
            out[w] = min(out.get(w, 1.0), MIN_SIMILARITY[relation])

    for key in wn.synsets_of(lemma):
        synset = wn.synset(key)
        add(synset.words, "synonym")
        for symbol, target in synset.pointers:
            linked = wn.synset(target) if symbol in MIN_SIMILARITY else None
            if linked is not None:
                add(linked.words, symbol)
    out.pop(lemma, None)
    return out


def known_lemmas(known: KnownWords, wn: WordNet) -> set[str]:
    """WordNet lemmas of which a known word is a form (nods -> nod), so an alias can be inflected."""
    return {base for word in known.words for base in wn.lemmas(word)
            if known.known_form(base, "") is not None}


def template_vectors(words: list[str], embed: Embed, batch: int = 2048) -> np.ndarray:
    """(N, T * D) per word its template embeddings side by side; dot / T = mean cosine over templates."""
    parts = []
    for template in TEMPLATES:
        texts = [template.format(w) for w in words]
        parts.append(np.concatenate([embed(texts[i:i + batch]) for i in range(0, len(texts), batch)]))
    return np.concatenate(parts, axis=1).astype(np.float32)  # (N, T * D)


def alias_candidates(known: KnownWords, wn: WordNet, lemmas: Iterable[str] | None = None
                     ) -> dict[str, dict[str, float]]:
    """Per unknown WordNet lemma (of ``lemmas``, default all) the known lemmas it is related to,
    each with its threshold. Aliases ``known`` already has are ignored."""
    known = KnownWords(known.words)
    targets = known_lemmas(known, wn)
    out = {}
    for lemma in (wn.all_lemmas() if lemmas is None else lemmas):
        if not _LEMMA.fullmatch(lemma) or lemma in targets or known.resolve(lemma) is not None:
            continue
        cands = {c: need for c, need in sorted(related_lemmas(wn, lemma).items()) if c in targets}
        if cands:
            out[lemma] = cands
    return out


def build_aliases(known: KnownWords, wn: WordNet, embed: Embed, lemmas: Iterable[str] | None = None,
                  progress: Callable[[str], None] | None = None) -> dict[str, str]:
    """{unknown lemma: known lemma} (see the module doc) for ``lemmas`` (default: all of WordNet)."""
    candidates = alias_candidates(known, wn, lemmas)
    words = sorted(set(candidates) | {c for cands in candidates.values() for c in cands})
    if progress:
        progress(f"word aliases: {len(candidates)} WordNet lemmas with a known neighbour; "
                 f"embedding {len(words)} words x {len(TEMPLATES)} templates")
    vectors = template_vectors(words, embed) if words else np.zeros((0, 0), np.float32)
    row = {w: i for i, w in enumerate(words)}
    aliases = {}
    for lemma, cands in candidates.items():
        names = list(cands)
        sims = vectors[[row[c] for c in names]] @ vectors[row[lemma]] / len(TEMPLATES)  # (C,)
        sims = np.where(sims >= np.array([cands[c] for c in names]), sims, -np.inf)
        best = int(np.argmax(sims))
        if np.isfinite(sims[best]):
            aliases[lemma] = names[best]
    return dict(sorted(aliases.items()))


def with_aliases(known: KnownWords, model_dir: str | Path, wordnet: WordNet | str | Path = DEFAULT_DIR,
                 lemmas: Iterable[str] | None = None, progress: Callable[[str], None] | None = None
                 ) -> KnownWords:
    """``known`` plus the alias table built from ``wordnet`` (a loaded one or its directory), judged
    by the sentence encoder of ``model_dir`` (the one the runtime ships)."""
    from facelm.model_dir import ModelDir
    from facelm.text_encoder import TextEncoder

    md = ModelDir(model_dir)
    if "text_encoder" not in md.manifest:
        raise FacelmError(f"{model_dir}: word aliases need the sentence encoder in the model dir "
                          "(python -m export.text_encoder --out DIR first)")
    wn = wordnet if isinstance(wordnet, WordNet) else WordNet(wordnet)
    aliases = build_aliases(known, wn, TextEncoder(md).embed, lemmas, progress)
    return KnownWords(known.words, aliases)


def describe_words(known: KnownWords, words: Iterable[str]) -> list[str]:
    lines = []
    for word in words:
        read = known.resolve(word)
        lines.append(f"{word} -> {read if read is not None else '(left out: embedding only)'}")
    return lines


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=Path("artifacts"),
                    help="model directory with lm_words.json and the sentence encoder")
    ap.add_argument("--wordnet", type=Path, default=DEFAULT_DIR, help="WordNet 3.0 database directory")
    ap.add_argument("words_to_show", nargs="+", metavar="WORD", help="words to look up")
    args = ap.parse_args(argv)
    known = KnownWords.from_file(args.model / "lm_words.json")
    wn = WordNet(args.wordnet)
    lemmas = {base for word in args.words_to_show for base in wn.lemmas(normalise(word))}
    known = with_aliases(known, args.model, wn, lemmas=sorted(lemmas))  # the database is read once
    for line in describe_words(known, args.words_to_show):
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
