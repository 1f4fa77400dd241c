"""Words the language model's text path learned; the others reach it through the sentence encoder only.

The LM reads a prompt twice: as byte-level BPE tokens and as one all-MiniLM-L6-v2
embedding. A word that never occurred in the LM's training text still encodes (the BPE
is byte-level) but into pieces the model never learned a meaning for, and those pieces
pulled unseen wordings off course: with the unknown words left out of the token path
(the embedding still reads the whole prompt) the annotator's accuracy on held-out
paraphrases rose from 0.58 / 0.475 / 0.87 to 0.69 / 0.515 / 0.955 (emotion / head /
speaking) with the same weights, and held-out prompts in the training wording did not
change. Training drops words the same way (``training.lm_data``), so the model also
learns that a prompt's tokens can be incomplete while its embedding is not.

File format (``lm_words.json`` in a model directory, listed in the manifest's ``lm``
section): ``{"format": "facelm-words/1", "words": [...]}``, lower-case NFKC words.
"""
from __future__ import annotations

import json
import re
import unicodedata
from pathlib import Path
from typing import Callable, Iterable

from facelm.errors import FacelmError

FORMAT = "facelm-words/1"
# A word: letters, optionally with one inner apostrophe ("person's"); digits and punctuation are not words here.
WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")


def normalise(text: str) -> str:
    """The BPE's own normalisation (NFKC, lower case), so both agree on what a word is."""
    return unicodedata.normalize("NFKC", text).lower()


def words_of(texts: Iterable[str]) -> set[str]:
    """Every word of ``texts`` (normalised)."""
    out: set[str] = set()
    for text in texts:
        out.update(WORD.findall(normalise(text)))
    return out


def remove_words(text: str, keep: Callable[[str], bool]) -> tuple[str, list[str]]:
    """(``text`` without the words ``keep`` refuses, the refused words in order); spacing tidied."""
    removed: list[str] = []

    def sub(match: re.Match) -> str:
        if keep(match.group(0)):
            return match.group(0)
        removed.append(match.group(0))
        return ""

    kept = WORD.sub(sub, text)
    if not removed:
        return text, []
    kept = re.sub(r"\s+([,.;:!?])", r"\1", re.sub(r"\s+", " ", kept))
    kept = re.sub(r"[,;:]+(?=[.!?,;:])", "", kept).strip(" ,;:")  # a clause mark left by a removed word
    return (kept if WORD.search(kept) else ""), removed


class KnownWords:
    """``split(text) -> (text without unknown words, unknown words in order)``."""

    def __init__(self, words: Iterable[str]) -> None:
        self.words = frozenset(normalise(w) for w in words)
        if not self.words:
            raise FacelmError("known words: the list is empty")

    def __len__(self) -> int:
        return len(self.words)

    def split(self, text: str) -> tuple[str, list[str]]:
        return remove_words(text, lambda word: normalise(word) in self.words)

    # -- file ---------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {"format": FORMAT, "words": sorted(self.words)}

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), ensure_ascii=False, indent=0) + "\n", encoding="utf-8")

    @classmethod
    def from_file(cls, path: str | Path) -> "KnownWords":
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise FacelmError(f"{path}: not a known-words JSON ({exc})") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise FacelmError(f"{path}: format is not {FORMAT!r}")
        words = data.get("words")
        if not isinstance(words, list) or not all(isinstance(w, str) and w for w in words):
            raise FacelmError(f"{path}: 'words' must be a list of non-empty strings")
        return cls(words)
