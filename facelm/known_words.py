"""Words the LM's text path learned; others are read as known ones or through the sentence encoder only.

The LM reads a prompt twice: as byte-level BPE tokens and as one all-MiniLM-L6-v2
embedding. A word that never occurred in the LM's training text still encodes (the BPE
is byte-level) but into pieces the model never learned a meaning for, and those pieces
pulled unseen wordings off course: with the unknown words left out of the token path
(the embedding still reads the whole prompt) the annotator's accuracy on held-out
paraphrases rose from 0.58 / 0.475 / 0.87 to 0.69 / 0.515 / 0.955 (emotion / head /
speaking) with the same weights, and held-out prompts in the training wording did not
change. Training drops words the same way (``training.lm_data``), so the model also
learns that a prompt's tokens can be incomplete while its embedding is not.

Aliases: an unknown word may instead be read as a known one. ``resolve`` first tries the
word's own base and inflections (rightwards -> rightward, tilt -> tilts), then the alias
table built from WordNet at export (``export.word_aliases``: livid -> angry, swivel ->
turn), re-inflected like the word (swivels -> turns). An alias may be a phrase, a definition
in known words, whose first word is inflected (bobs -> "moves up and down repeatedly"). A
word with neither is left out.

File format (``lm_words.json`` in a model directory, listed in the manifest's ``lm``
section): ``{"format": "facelm-words/2", "words": [...], "aliases": {base: known base or phrase}}``,
lower-case NFKC words; ``facelm-words/1`` files (no aliases) still load.
"""
from __future__ import annotations

import json
import re
import unicodedata
from pathlib import Path
from typing import Callable, Iterable, Mapping, NamedTuple

from facelm.errors import FacelmError

FORMAT = "facelm-words/2"
READABLE_FORMATS = ("facelm-words/1", FORMAT)
# A word: letters, optionally with one inner apostrophe ("person's"); digits and punctuation are not words here.
WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")
# Two words joined by a hyphen ("stock-still").
COMPOUND = re.compile(r"\b([^\W\d_]+)-([^\W\d_]+)\b")


def normalise(text: str) -> str:
    """The BPE's own normalisation (NFKC, lower case), so both agree on what a word is."""
    return unicodedata.normalize("NFKC", text).lower()


def words_of(texts: Iterable[str]) -> set[str]:
    """Every word of ``texts`` (normalised)."""
    out: set[str] = set()
    for text in texts:
        out.update(WORD.findall(normalise(text)))
    return out


# Regular English endings: (ending, what replaces it in the base, the ending's kind).
ENDINGS = (("ies", "y", "s"), ("es", "", "s"), ("s", "", "s"), ("ied", "y", "ed"), ("ed", "", "ed"),
           ("ed", "e", "ed"), ("ing", "", "ing"), ("ing", "e", "ing"), ("ily", "y", "ly"), ("ly", "", "ly"),
           ("ly", "le", "ly"))
_DOUBLED = re.compile(r"([b-df-hj-np-tv-z])\1(ed|ing)$")


def regular_stems(word: str) -> list[tuple[str, str]]:
    """(base, ending kind) pairs ``word`` may be an inflection of, itself first: wags -> (wag, s)."""
    out = [(word, "")]
    for ending, repl, kind in ENDINGS:
        if word.endswith(ending) and len(word) - len(ending) >= 2:
            out.append((word[: len(word) - len(ending)] + repl, kind))
    doubled = _DOUBLED.search(word)
    if doubled:
        out.append((_DOUBLED.sub(r"\1", word), doubled.group(2)))
    return list(dict.fromkeys(out))


def inflections(base: str, kind: str) -> list[str]:
    """Spellings of ``base`` with an ending of ``kind`` ("" s ed ing ly), most regular first."""
    if kind == "":
        return [base]
    if base == "be":  # the one irregular verb definitions start with (fumes -> "is mad, angry, or furious")
        return {"s": ["is"], "ed": ["was", "were"], "ing": ["being"], "ly": []}[kind]
    last = base[-1:]
    return {
        "s": [base + "s", base + "es", base[:-1] + "ies"],
        "ed": [base + "ed", base + "d", base[:-1] + "ied", base + last + "ed"],
        "ing": [base + "ing", base[:-1] + "ing", base + last + "ing"],
        "ly": [base + "ly", base[:-1] + "ily", base[:-1] + "y"],
    }[kind]


class Rewrite(NamedTuple):
    """A text as the LM reads it. ``text``: for the token path, aliases read as their known words and
    ``unknown`` words left out; ``sentence``: for the sentence encoder, aliases read the same way and
    every other word kept; ``aliased``: (word, known word read) pairs in order."""
    text: str
    unknown: list[str]
    aliased: list[tuple[str, str]]
    sentence: str


def remove_words(text: str, keep: Callable[[str], bool | str]) -> tuple[str, list[str]]:
    """(``text`` without the words ``keep`` refuses, the refused words in order); spacing tidied.

    ``keep`` may also return a replacement string for the word."""
    removed: list[str] = []

    def sub(match: re.Match) -> str:
        verdict = keep(match.group(0))
        if isinstance(verdict, str):
            return verdict
        if verdict:
            return match.group(0)
        removed.append(match.group(0))
        return ""

    kept = WORD.sub(sub, text)
    if not removed:
        return kept, []
    # a hyphen that lost the words on both sides goes; one that lost a word on one side becomes a space
    kept = re.sub(r"(?<![^\W\d_])-(?![^\W\d_])", "", kept)
    kept = re.sub(r"(?<![^\W\d_])-|-(?![^\W\d_])", " ", kept)
    kept = re.sub(r"\s+([,.;:!?])", r"\1", re.sub(r"\s+", " ", kept))
    kept = re.sub(r"[,;:]+(?=[.!?,;:])", "", kept).strip(" ,;:")  # a clause mark left by a removed word
    return (kept if WORD.search(kept) else ""), removed


class KnownWords:
    """``split(text) -> Rewrite``: the text with aliases read as known words and unknown words left out."""

    def __init__(self, words: Iterable[str], aliases: Mapping[str, str] | None = None) -> None:
        self.words = frozenset(normalise(w) for w in words)
        if not self.words:
            raise FacelmError("known words: the list is empty")
        self.aliases = {normalise(k): normalise(v) for k, v in (aliases or {}).items()}

    def __len__(self) -> int:
        return len(self.words)

    def known_form(self, base: str, kind: str) -> str | None:
        """A known spelling of ``base`` with an ending of ``kind``, else ``base`` or another known form."""
        # never across to "ly": an adverb is another part of speech (hard -> hardly)
        for form in inflections(base, kind) + [base] + [f for k in ("s", "ing", "ed") if k != kind
                                                       for f in inflections(base, k)]:
            if form in self.words:
                return form
        return None

    def resolve(self, word: str) -> str | None:
        """The known word the token path reads for ``word`` (itself when known), or None: left out."""
        word = normalise(word)
        if word in self.words:
            return word
        stems = regular_stems(word)
        for base, kind in stems:  # another form of a known word
            form = self.known_form(base, kind)
            if form:
                return form
        for base, kind in stems:  # a WordNet neighbour or definition, inflected like the word
            if base in self.aliases:
                first, *rest = self.aliases[base].split(" ")  # a phrase inflects its first word
                form = self.known_form(first, kind)
                if form:
                    return " ".join([form, *rest])
        return None

    def split(self, text: str) -> Rewrite:
        """See ``Rewrite``. The encoder's sentence reads the aliases too: on the annotator's unseen
        paraphrases that measured better than embedding the raw prompt (emotion / head 0.755 / 0.705
        -> 0.81 / 0.76 with one alias table, artifacts/MODEL_CARD.md)."""
        aliased: list[tuple[str, str]] = []

        def keep(word: str) -> bool | str:
            read = self.resolve(word)
            if read is None:
                return False
            if read == normalise(word):
                return True
            aliased.append((word, read))
            return read

        # In a compound whose one part is known, the other part is left out, not aliased: out of its
        # compound an alias reads it wrongly (stock-still -> "raise-still"); the known part carries it.
        in_compounds: list[str] = []

        def compound(match: re.Match) -> str:
            parts = match.group(1), match.group(2)
            known = [self.resolve(p) == normalise(p) for p in parts]
            if known[0] != known[1]:
                in_compounds.append(parts[known[0]])
                return parts[known[1]]
            return match.group(0)

        kept, unknown = remove_words(COMPOUND.sub(compound, text), keep)
        reads = dict(aliased)
        sentence = WORD.sub(lambda m: reads.get(m.group(0), m.group(0)), text) if aliased else text
        return Rewrite(kept, in_compounds + unknown, aliased, sentence)

    # -- file ---------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {"format": FORMAT, "words": sorted(self.words), "aliases": dict(sorted(self.aliases.items()))}

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), ensure_ascii=False, indent=0) + "\n", encoding="utf-8")

    @classmethod
    def from_file(cls, path: str | Path) -> "KnownWords":
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise FacelmError(f"{path}: not a known-words JSON ({exc})") from None
        if not isinstance(data, dict) or data.get("format") not in READABLE_FORMATS:
            raise FacelmError(f"{path}: format is not one of {', '.join(READABLE_FORMATS)}")
        words = data.get("words")
        if not isinstance(words, list) or not all(isinstance(w, str) and w for w in words):
            raise FacelmError(f"{path}: 'words' must be a list of non-empty strings")
        aliases = data.get("aliases", {})
        if not isinstance(aliases, dict) or not all(isinstance(k, str) and k and isinstance(v, str) and v
                                                    for k, v in aliases.items()):
            raise FacelmError(f"{path}: 'aliases' must map non-empty strings to non-empty strings")
        return cls(words, aliases)
