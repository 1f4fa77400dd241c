"""A reader of Princeton WordNet 3.0 database files (Debian's ``wordnet-base``: /usr/share/wordnet).

Only what word aliases need (``export.word_aliases``): the synsets a word belongs to,
their member words, the synsets a synset points to, and the base forms of an inflected
word (the ``*.exc`` exception lists plus the regular endings). File format, as in
WordNet's wndb(5) manual: a data line is
``offset lex_filenum ss_type w_cnt word lex_id ... p_cnt ptr... | gloss`` with ``w_cnt``
in hex and every pointer ``symbol offset pos source/target``; lines that start with
two spaces are the licence header.
"""
from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from facelm.errors import FacelmError
from facelm.known_words import regular_stems

DEFAULT_DIR = Path("/usr/share/wordnet")
PARTS = {"noun": "n", "verb": "v", "adj": "a", "adv": "r"}
WORD = re.compile(r"[a-z]+")


@dataclass(frozen=True)
class Synset:
    words: tuple[str, ...]
    pointers: tuple[tuple[str, tuple[str, str]], ...]  # (symbol, (pos, offset))
    definition: str = ""  # the gloss without its quoted examples


def definition_of(gloss: str) -> str:
    """A gloss's definition: the text before its first quoted example ("a jeering crowd")."""
    return gloss.split('"', 1)[0].strip().rstrip(";").strip()


class WordNet:
    """``synsets_of(lemma)``, ``synset(key)``, ``lemmas(word)`` over the database in ``root``."""

    def __init__(self, root: str | Path = DEFAULT_DIR):
        self.root = Path(root)
        self._synsets: dict[tuple[str, str], Synset] = {}
        self._index: dict[str, list[tuple[str, str]]] = defaultdict(list)
        self.exceptions: dict[str, list[str]] = defaultdict(list)
        self._definition_counts: Counter | None = None
        # per lemma and part of speech: (senses tagged in WordNet's corpus, synset offsets in sense order)
        self._senses: dict[str, dict[str, tuple[int, list[str]]]] = defaultdict(dict)
        for name, pos in PARTS.items():
            path = self.root / f"data.{name}"
            if not path.is_file():
                raise FacelmError(f"{path}: no WordNet database here (Debian: apt-get install wordnet-base)")
            with open(path, encoding="latin-1") as f:
                for number, line in enumerate(f, 1):
                    if not line.startswith("  ") and line.strip():
                        self._read_line(line, pos, f"{path}:{number}")
            index = self.root / f"index.{name}"
            if index.is_file():  # optional: without it senses keep the data files' order, none tagged
                with open(index, encoding="latin-1") as f:
                    for number, line in enumerate(f, 1):
                        if not line.startswith("  ") and line.strip():
                            self._read_index_line(line, pos, f"{index}:{number}")
            exc = self.root / f"{name}.exc"
            if exc.is_file():
                for line in exc.read_text(encoding="latin-1").splitlines():
                    inflected, *bases = line.split()
                    self.exceptions[inflected].extend(b for b in bases if b not in self.exceptions[inflected])

    def _read_line(self, line: str, pos: str, where: str) -> None:
        head, _, gloss = line.partition(" | ")
        fields = head.split()
        try:
            offset, count = fields[0], int(fields[3], 16)
            words = tuple(re.sub(r"\(\w+\)$", "", fields[4 + 2 * i]).lower() for i in range(count))
            i = 4 + 2 * count
            pointers = []
            for _ in range(int(fields[i])):
                symbol, target, target_pos = fields[i + 1], fields[i + 2], fields[i + 3]
                pointers.append((symbol, ("a" if target_pos == "s" else target_pos, target)))
                i += 4
        except (IndexError, ValueError):
            raise FacelmError(f"{where}: not a WordNet data line") from None
        key = (pos, offset)
        self._synsets[key] = Synset(words, tuple(pointers), definition_of(gloss))
        for w in words:
            self._index[w].append(key)

    def _read_index_line(self, line: str, pos: str, where: str) -> None:
        # lemma pos synset_cnt p_cnt [ptr_symbol...] sense_cnt tagsense_cnt synset_offset...
        fields = line.split()
        try:
            synsets, pointers = int(fields[2]), int(fields[3])
            tagged = int(fields[5 + pointers])
            offsets = fields[6 + pointers: 6 + pointers + synsets]
        except (IndexError, ValueError):
            raise FacelmError(f"{where}: not a WordNet index line") from None
        self._senses[fields[0]][pos] = (tagged, offsets)

    def __contains__(self, lemma: str) -> bool:
        return lemma in self._index

    def all_lemmas(self) -> list[str]:
        return list(self._index)

    def synsets_of(self, lemma: str) -> list[tuple[str, str]]:
        return self._index.get(lemma, [])

    def dominant_senses(self, lemma: str) -> list[tuple[str, str]]:
        """The first (most frequent) sense of each of ``lemma``'s parts of speech whose senses WordNet's
        tagged texts use most: bob -> only the verb's "move up and down repeatedly" (1 tagged sense,
        the noun's 0). Without index files every part of speech's first synset in the data counts."""
        senses = self._senses.get(lemma)
        if not senses:
            firsts: dict[str, tuple[str, str]] = {}
            for key in self.synsets_of(lemma):
                firsts.setdefault(key[0], key)
            return list(firsts.values())
        most = max(tagged for tagged, _ in senses.values())
        return [(pos, offsets[0]) for pos, (tagged, offsets) in senses.items()
                if tagged == most and offsets and (pos, offsets[0]) in self._synsets]

    def synset(self, key: tuple[str, str]) -> Synset | None:
        return self._synsets.get(key)

    def definition_counts(self) -> Counter:
        """{lemma: how many synset definitions use it in any form}: how generic a word is (do, move, head)."""
        if self._definition_counts is None:
            counts: Counter = Counter()
            bases: dict[str, tuple[str, ...]] = {}
            for synset in self._synsets.values():
                for word in set(WORD.findall(synset.definition.lower())):
                    if word not in bases:
                        bases[word] = tuple(dict.fromkeys((word, *self.lemmas(word))))
                    counts.update(bases[word])
            self._definition_counts = counts
        return self._definition_counts

    def lemmas(self, word: str) -> list[str]:
        """The base forms of ``word`` that WordNet lists (``word`` itself first when it does)."""
        forms = [word, *self.exceptions.get(word, []), *(base for base, _ in regular_stems(word))]
        return [b for b in dict.fromkeys(forms) if b in self._index]
