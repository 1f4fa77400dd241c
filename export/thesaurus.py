"""A reader of MyThes thesaurus files (Debian's ``mythes-en-us``: /usr/share/mythes/th_en_US_v2.dat).

Why a second lexicon: the English MyThes thesaurus was built from an earlier WordNet and keeps
about 330 words WordNet 3.0 dropped, mostly participial adjectives (petrified: numb, similar to
afraid). ``export.word_aliases`` reads it only for words WordNet 3.0 does not list.

File format: a first line naming the encoding, then per headword a line ``word|n`` followed
by ``n`` meaning lines ``(pos)|term|term|...``; a term may end in a note of its relation:
``(similar term)``, ``(generic term)``, ``(related term)``, ``(antonym)``; a bare term is a
synonym.
"""
from __future__ import annotations

from pathlib import Path

from facelm.errors import FacelmError

DEFAULT_PATH = Path("/usr/share/mythes/th_en_US_v2.dat")
# The note after a term -> the WordNet pointer symbol of the same relation (export.word_aliases' thresholds).
RELATIONS = {"": "synonym", "similar term": "&", "generic term": "@", "related term": "^", "antonym": "!"}


class Thesaurus:
    """``terms(word)``: (term, relation) pairs of every meaning of ``word``, relation as in ``RELATIONS``."""

    def __init__(self, path: str | Path = DEFAULT_PATH):
        self.path = Path(path)
        if not self.path.is_file():
            raise FacelmError(f"{self.path}: no MyThes thesaurus here (Debian: apt-get install mythes-en-us)")
        self._entries: dict[str, list[tuple[str, str]]] = {}
        lines = self.path.read_text(encoding="utf-8", errors="replace").split("\n")
        i = 1  # line 0 names the encoding
        while i < len(lines):
            if not lines[i].strip():
                i += 1
                continue
            head, _, count = lines[i].rpartition("|")
            if not head or not count.isdigit() or i + int(count) >= len(lines):
                raise FacelmError(f"{self.path}:{i + 1}: not a MyThes headword line")
            terms = self._entries.setdefault(head.lower(), [])
            for line in lines[i + 1: i + 1 + int(count)]:
                terms.extend(self._read_meaning(line, f"{self.path}:{i + 1}"))
            i += 1 + int(count)

    @staticmethod
    def _read_meaning(line: str, where: str) -> list[tuple[str, str]]:
        pos, *terms = line.split("|")
        if not (pos.startswith("(") and pos.endswith(")")):
            raise FacelmError(f"{where}: not a MyThes meaning line")
        out = []
        for term in terms:
            word, _, note = term.partition(" (")
            relation = RELATIONS.get(note.rstrip(")"))
            if relation and word:
                out.append((word.strip().lower(), relation))
        return out

    def __contains__(self, word: str) -> bool:
        return word in self._entries

    def words(self) -> list[str]:
        return list(self._entries)

    def terms(self, word: str) -> list[tuple[str, str]]:
        return self._entries.get(word, [])
