"""Aliases for words the LM never read: the closest known word among their WordNet neighbours.

    python -m export.word_aliases --model artifacts livid swivels bobs

prints how the runtime reads those words with the aliases built now from the model
directory's word list and sentence encoder (``export.lm`` builds the same table into
``lm_words.json``; ``facelm.known_words`` applies it). ``--write`` rebuilds the model
directory's table in place, for a release whose LM graph is unchanged.

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
to place close (MiniLM puts "sorrowful" nearest "joyful" as a single word). A hypernym
as general as be, make or give (``MAX_HYPERNYM_DEFINITIONS``) is never a candidate.

Where no relation gives an alias, the lemma's own definitions are read: their words of
the same part of speech (for an adjective, nouns too), from clauses that negate nothing
and rare enough in WordNet's definitions to mean something (``MAX_GLOSS_DEFINITIONS``),
are the candidates, chosen the same way (derisive, "expressing contempt or ridicule" ->
contempt; hurried, "moving rapidly or performed quickly" -> quickly).

Senses: WordNet's index lists a lemma's senses most used first, with how many its tagged
texts use; a lemma's dominant senses are the first of each part of speech used most. A
lemma still without an alias reads as a known synonym in a sense dominant for both words
(``shared_sense_synonym``: quail -> cringe; MiniLM, reading quail as a bird, placed them
too far apart). Where a dominant sense is defined in known words only, the lemma reads as
that definition (``definition_phrase``): bob, "move up and down repeatedly"; wordlessly,
"without speaking"; gape, "look with amazement". The phrase also replaces an alias that
only a derivation, a hypernym or a definition's single word gave (gape had read as its
hypernym "look"): that word names the kind of thing, the definition names the thing.
Synonyms and similar-to aliases stay. The runtime inflects a phrase's first word like the
word it reads (bobs -> "moves up and down repeatedly").

Words WordNet 3.0 does not list at all are looked up in the MyThes thesaurus, built from an
earlier WordNet (``export.thesaurus``): its synonyms and similar, generic and related terms
are candidates with the thresholds of the matching WordNet relations (petrified: numb,
similar to afraid).
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from facelm.errors import FacelmError
from facelm.known_words import KnownWords, normalise, regular_stems
from export.thesaurus import DEFAULT_PATH as DEFAULT_THESAURUS
from export.thesaurus import Thesaurus
from export.wordnet import DEFAULT_DIR, WordNet
from export.wordnet import WORD as DEFINITION_WORD

# Pointer symbols followed, and per relation the least mean cosine an alias needs; "gloss": a word
# of the lemma's own definition (derisive: "expressing contempt or ridicule"), read only for lemmas
# no relation gave an alias.
MIN_SIMILARITY = {"synonym": 0.5, "&": 0.5, "^": 0.5, "\\": 0.5, "=": 0.5, "+": 0.55, "@": 0.65, "gloss": 0.55}
# How many of WordNet's 117,659 definitions may use a word (in any form) for it to stand for a
# hyponym: be, make, give and time are in more; move (904) and turn (383) are not.
MAX_HYPERNYM_DEFINITIONS = 1000
# And for a word of a definition to stand for the defined word: way, up, show and become are in
# more; fear (133) and rapidly (109) are not.
MAX_GLOSS_DEFINITIONS = 200
# The parts of speech a word of a definition may have to stand for the defined word: the same one,
# or for an adjective also the noun of the quality it shows (derisive: "expressing contempt").
GLOSS_PARTS = {"n": "n", "v": "v", "a": "an", "r": "r"}
# A definition clause with one of these says what the word is not ("not clearly understood").
_NEGATION = re.compile(r"\b(?:not|no|never|nor|without|lacking|lack|absence|un\w+)\b")
TEMPLATES = ("{}", "The person looks {}.", "The person {} the head.", "Someone {} while talking.")
# A definition read as a phrase has at most this many words, and one not in ``FUNCTION_WORDS``.
MAX_PHRASE_WORDS = 6
FUNCTION_WORDS = frozenset("a an the and or of to in on at by for with as is be it that this which who what "
                           "from into".split())
_PHRASE = re.compile(r"[a-z][a-z' ,-]*")  # a definition clause of words only: no digits, brackets or quotes
_LEMMA = re.compile(r"[a-z]{3,}")

Embed = Callable[[list[str]], np.ndarray]  # texts -> (N, D) unit vectors


def related_lemmas(wn: WordNet, lemma: str) -> dict[str, float]:
    """{related lemma: least similarity it needs}: members of ``lemma``'s synsets and of the synsets
    they point to by a relation of ``MIN_SIMILARITY`` (the most lenient relation counts)."""
    out: dict[str, float] = {}
    counts = wn.definition_counts()

    def add(words, relation: str) -> None:
        for w in words:
            if relation != "@" or counts[w] <= MAX_HYPERNYM_DEFINITIONS:
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


def defining_lemmas(wn: WordNet, lemma: str) -> dict[str, float]:
    """{lemma: the similarity it needs} for the words of ``lemma``'s definitions: their base forms
    as a part of speech of ``GLOSS_PARTS``, from clauses that negate nothing, rarer than
    ``MAX_GLOSS_DEFINITIONS``."""
    counts = wn.definition_counts()
    out: dict[str, float] = {}
    for key in wn.synsets_of(lemma):
        parts = GLOSS_PARTS[key[0]]
        for clause in wn.synset(key).definition.lower().split(";"):
            if _NEGATION.search(clause):
                continue
            for word in DEFINITION_WORD.findall(clause):
                for base in wn.lemmas(word):
                    if counts[base] <= MAX_GLOSS_DEFINITIONS and any(pos in parts for pos, _ in wn.synsets_of(base)):
                        out[base] = MIN_SIMILARITY["gloss"]
    out.pop(lemma, None)
    return out


def known_lemmas(known: KnownWords, wn: WordNet) -> set[str]:
    """WordNet lemmas of which a known word is a form (nods -> nod): they need no alias."""
    return {base for word in known.words for base in wn.lemmas(word) if known.known_form(base, "") is not None}


def alias_targets(known: KnownWords, wn: WordNet) -> set[str]:
    """What an alias may read as: ``known_lemmas``, so an alias can be inflected, and the adjectives
    of known adverbs (vigorous), for adverbs (vivaciously -> vigorously)."""
    adverbs = {base for word in known.words for base, kind in regular_stems(word)
               if kind == "ly" and base in wn and known.known_form(base, "ly") is not None}
    return known_lemmas(known, wn) | adverbs


def template_vectors(words: list[str], embed: Embed, batch: int = 2048) -> np.ndarray:
    """(N, T * D) per word its template embeddings side by side; dot / T = mean cosine over templates."""
    parts = []
    for template in TEMPLATES:
        texts = [template.format(w) for w in words]
        parts.append(np.concatenate([embed(texts[i:i + batch]) for i in range(0, len(texts), batch)]))
    return np.concatenate(parts, axis=1).astype(np.float32)  # (N, T * D)


def thesaurus_candidates(known: KnownWords, wn: WordNet, thesaurus: Thesaurus,
                         words: Iterable[str] | None = None) -> dict[str, dict[str, float]]:
    """Per word of ``words`` (default: every headword) that WordNet does not list and that is no form of
    a known word, its thesaurus terms that are known words or their lemmas, each with the threshold of the matching
    WordNet relation (``MIN_SIMILARITY``; antonyms never)."""
    known = KnownWords(known.words)
    targets, counts = alias_targets(known, wn), wn.definition_counts()
    out = {}
    for word in (thesaurus.words() if words is None else words):
        if not _LEMMA.fullmatch(word) or word in wn or known.resolve(word) is not None:
            continue
        cands: dict[str, float] = {}
        for term, relation in thesaurus.terms(word):
            need = MIN_SIMILARITY.get(relation)
            if need is None or (term not in targets and term not in known.words) \
                    or (relation == "@" and counts[term] > MAX_HYPERNYM_DEFINITIONS):
                continue
            cands[term] = min(cands.get(term, 1.0), need)
        if cands:
            out[word] = dict(sorted(cands.items()))
    return out


def unknown_lemmas(known: KnownWords, wn: WordNet, lemmas: Iterable[str] | None = None) -> list[str]:
    """The WordNet lemmas of ``lemmas`` (default all) that are no form of a known word: those an
    alias may be built for. Aliases ``known`` already has are ignored."""
    known = KnownWords(known.words)
    forms = known_lemmas(known, wn)
    return [lemma for lemma in (wn.all_lemmas() if lemmas is None else lemmas)
            if _LEMMA.fullmatch(lemma) and lemma not in forms and known.resolve(lemma) is None]


def alias_candidates(known: KnownWords, wn: WordNet, lemmas: Iterable[str] | None = None,
                     definitions: bool = False) -> dict[str, dict[str, float]]:
    """Per unknown WordNet lemma (of ``lemmas``, default all) the known lemmas it is related to
    (``definitions``: that its definitions use), each with its threshold. Aliases ``known``
    already has are ignored."""
    targets = alias_targets(KnownWords(known.words), wn)
    neighbours = defining_lemmas if definitions else related_lemmas
    out = {}
    for lemma in unknown_lemmas(known, wn, lemmas):
        cands = {c: need for c, need in sorted(neighbours(wn, lemma).items()) if c in targets}
        if cands:
            out[lemma] = cands
    return out


def shared_sense_synonym(wn: WordNet, lemma: str, forms: set[str]) -> str | None:
    """A lemma of ``forms`` in a synset that is a dominant sense (``WordNet.dominant_senses``) of both
    it and ``lemma`` (quail and cringe: "draw back, as with fear or pain"), else None. Both words
    mostly mean that, so no embedding needs to confirm the sense (MiniLM reads quail as a bird)."""
    for key in wn.dominant_senses(lemma):
        for word in wn.synset(key).words:
            if word != lemma and word in forms and key in wn.dominant_senses(word):
                return word
    return None


def definition_phrase(known: KnownWords, wn: WordNet, lemma: str) -> str | None:
    """The first clause of a definition of ``lemma``'s dominant senses (``WordNet.dominant_senses``)
    that is all known words (the first, which the runtime inflects, in some form), at most
    ``MAX_PHRASE_WORDS`` and not only function words; a noun's
    leading article dropped (moue: "disdainful grimace"). None where no clause is."""
    for key in wn.dominant_senses(lemma):
        for clause in wn.synset(key).definition.lower().split(";"):
            clause = " ".join(clause.split())
            words = DEFINITION_WORD.findall(clause)
            if (_PHRASE.fullmatch(clause) and 0 < len(words) <= MAX_PHRASE_WORDS
                    and known.known_form(words[0], "") and all(w in known.words for w in words[1:])
                    and not FUNCTION_WORDS.issuperset(words)):
                if key[0] == "n" and len(words) > 1 and words[0] in ("a", "an", "the"):
                    clause = clause.split(" ", 1)[1]
                return clause.strip(" ,")
    return None


def closest(candidates: dict[str, dict[str, float]], vector: Callable[[str], np.ndarray]) -> dict[str, str]:
    """{lemma: its candidate of highest mean template cosine, where that reaches the candidate's threshold}."""
    aliases: dict[str, str] = {}
    for lemma, cands in candidates.items():
        names = list(cands)
        sims = np.stack([vector(c) for c in names]) @ vector(lemma) / len(TEMPLATES)  # (C,)
        sims = np.where(sims >= np.array([cands[c] for c in names]), sims, -np.inf)
        best = int(np.argmax(sims))
        if np.isfinite(sims[best]):
            aliases[lemma] = names[best]
    return aliases


def build_aliases(known: KnownWords, wn: WordNet, embed: Embed, lemmas: Iterable[str] | None = None,
                  progress: Callable[[str], None] | None = None, thesaurus: Thesaurus | None = None
                  ) -> dict[str, str]:
    """{unknown lemma: known lemma or phrase} (see the module doc) for ``lemmas`` (default: all of WordNet
    and of ``thesaurus``): by WordNet's relations, for the lemmas they give none by the words of their
    definitions, then shared-sense synonyms and definition phrases; words WordNet lacks by ``thesaurus``."""
    lemmas = None if lemmas is None else list(lemmas)
    related = alias_candidates(known, wn, lemmas)
    if thesaurus is not None:
        related.update(thesaurus_candidates(known, wn, thesaurus, lemmas))
    defined = alias_candidates(known, wn, lemmas, definitions=True)
    words = sorted({w for table in (related, defined) for lemma, cands in table.items() for w in (lemma, *cands)})
    if progress:
        progress(f"word aliases: {len(related)} WordNet lemmas with a known neighbour, {len(defined)} with "
                 f"a known word in a definition; embedding {len(words)} words x {len(TEMPLATES)} templates")
    vectors = template_vectors(words, embed) if words else np.zeros((0, 0), np.float32)
    row = {w: i for i, w in enumerate(words)}

    def vector(word: str) -> np.ndarray:
        return vectors[row[word]]

    aliases = closest(related, vector)
    # a definition phrase replaces what only a derivation, a hypernym or a definition's word gave
    replaceable = {lemma for lemma, alias in aliases.items() if related[lemma][alias] > MIN_SIMILARITY["synonym"]}
    from_definitions = closest({k: v for k, v in defined.items() if k not in aliases}, vector)
    aliases.update(from_definitions)
    replaceable |= set(from_definitions)
    unknown, forms = unknown_lemmas(known, wn, lemmas), known_lemmas(KnownWords(known.words), wn)
    for lemma in unknown:
        synonym = None if lemma in aliases else shared_sense_synonym(wn, lemma, forms)
        if synonym:
            aliases[lemma] = synonym
    for lemma in unknown:
        if lemma not in aliases or lemma in replaceable:
            phrase = definition_phrase(known, wn, lemma)
            if phrase:
                aliases[lemma] = phrase
    return dict(sorted(aliases.items()))


def with_aliases(known: KnownWords, model_dir: str | Path, wordnet: WordNet | str | Path = DEFAULT_DIR,
                 lemmas: Iterable[str] | None = None, progress: Callable[[str], None] | None = None,
                 thesaurus: Thesaurus | str | Path | None = DEFAULT_THESAURUS) -> KnownWords:
    """``known`` plus the alias table built from ``wordnet`` (a loaded one or its directory) and
    ``thesaurus`` (a loaded one, its file, or None: not read), judged by the sentence encoder of
    ``model_dir`` (the one the runtime ships)."""
    from facelm.model_dir import ModelDir
    from facelm.text_encoder import TextEncoder

    md = ModelDir(model_dir)
    if "text_encoder" not in md.manifest:
        raise FacelmError(f"{model_dir}: word aliases need the sentence encoder in the model dir "
                          "(python -m export.text_encoder --out DIR first)")
    wn = wordnet if isinstance(wordnet, WordNet) else WordNet(wordnet)
    if thesaurus is not None and not isinstance(thesaurus, Thesaurus):
        thesaurus = Thesaurus(thesaurus)
    aliases = build_aliases(known, wn, TextEncoder(md).embed, lemmas, progress, thesaurus)
    return KnownWords(known.words, aliases)


def rewrite_model_aliases(model_dir: str | Path, wordnet: str | Path = DEFAULT_DIR,
                          progress: Callable[[str], None] | None = None,
                          thesaurus: str | Path | None = DEFAULT_THESAURUS) -> KnownWords:
    """Rebuild ``model_dir``'s alias table (same word list, same LM graph) and record it in the
    manifest's ``lm`` section, as ``export.lm`` would have."""
    import copy

    from export.onnx_utils import sha256, update_manifest
    from facelm.model_dir import ModelDir

    md = ModelDir(model_dir)
    section = copy.deepcopy(md.section("lm"))
    entry = section.get("known_words")
    if not entry:
        raise FacelmError(f"{model_dir}: the LM ships no word list to add aliases to")
    path = md.file(entry)
    known = with_aliases(KnownWords.from_file(path), model_dir, wordnet, progress=progress,
                         thesaurus=thesaurus)  # a new table
    known.save(path)
    entry.update(sha256=sha256(path), count=len(known), aliases=len(known.aliases))
    update_manifest(Path(model_dir), "lm", section)
    return known


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
    ap.add_argument("--thesaurus", type=Path, default=DEFAULT_THESAURUS,
                    help="MyThes thesaurus for words WordNet 3.0 lacks (Debian mythes-en-us)")
    ap.add_argument("--no-thesaurus", action="store_true", help="build from WordNet alone")
    ap.add_argument("--write", action="store_true",
                    help="rebuild the model directory's whole alias table (lm_words.json and the manifest) "
                         "instead of only showing words")
    ap.add_argument("words_to_show", nargs="*", metavar="WORD", help="words to look up")
    args = ap.parse_args(argv)
    thesaurus = None if args.no_thesaurus else args.thesaurus
    if args.write:
        known = rewrite_model_aliases(args.model, args.wordnet, progress=print, thesaurus=thesaurus)
        print(f"{args.model}: {len(known.aliases)} aliases for {len(known)} known words")
        for line in describe_words(known, args.words_to_show):
            print(line)
        return 0
    if not args.words_to_show:
        ap.error("name words to show, or --write")
    known = KnownWords.from_file(args.model / "lm_words.json")
    wn = WordNet(args.wordnet)
    thesaurus = None if thesaurus is None else Thesaurus(thesaurus)
    lemmas = {base for word in args.words_to_show for base in wn.lemmas(normalise(word))}
    lemmas |= {w for word in args.words_to_show for w, _ in regular_stems(normalise(word))
               if thesaurus is not None and w in thesaurus}
    known = with_aliases(known, args.model, wn, lemmas=sorted(lemmas), thesaurus=thesaurus)  # read once
    for line in describe_words(known, args.words_to_show):
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
