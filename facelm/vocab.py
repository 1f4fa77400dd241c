"""The language model's joint vocabulary and its sequence formats (numpy only: shared by torch and the runtime).

Ids are laid out as ``[specials | text tokens | motion tokens]``:

- specials: ``<pad> <bos> <eos> <sep> <motion> </motion> <t2m> <m2t> <qa>``, one
  ``<cat:NAME>`` per description category and ``<sec:1> .. <sec:12>`` (length control);
- text tokens: a byte-level BPE (``TextTokenizer``, HF ``tokenizers``) shifted by ``text_offset``;
- motion tokens: the motion tokenizer's codes shifted by ``motion_offset``.

Sequence formats (the only place they are spelled out, so training and runtime agree):

- Language2Motion: ``<bos> <t2m> <sec:S> TEXT <sep> <motion> m1..mN </motion> <eos>``
- Motion2Language: ``<bos> <m2t> <cat:C> <motion> m1..mN </motion> <sep> TEXT <eos>``
- QA:              ``<bos> <qa> <motion> m1..mN </motion> QUESTION <sep> ANSWER <eos>``

The model also sees one conditioning "prefix" vector before ``<bos>`` (a sentence
embedding of the prompt or question); that is the model's business, not the vocabulary's.
Each builder returns ``(ids, target_mask)``: the mask marks the tokens a model is
trained to predict (motion in L2M, the text after ``<sep>`` in M2L and QA).
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from facelm.errors import FacelmError

FPS = 25.0
FRAMES_PER_TOKEN = 4
MAX_SECONDS = 12
CATEGORIES = ("action", "emotion", "detail_expression", "detail_head_pose", "emotion_scenario", "prompt")
BASE_SPECIALS = ("<pad>", "<bos>", "<eos>", "<sep>", "<motion>", "</motion>", "<t2m>", "<m2t>", "<qa>")


def default_specials(max_seconds: int = MAX_SECONDS) -> tuple[str, ...]:
    return BASE_SPECIALS + tuple(f"<cat:{c}>" for c in CATEGORIES) + tuple(
        f"<sec:{s}>" for s in range(1, max_seconds + 1))


def seconds_token_value(seconds: float, max_seconds: int = MAX_SECONDS) -> int:
    """Nearest whole second (halves round up), clamped to 1..max_seconds."""
    return int(min(max_seconds, max(1, math.floor(float(seconds) + 0.5))))


def motion_tokens_for(seconds: float, frames_per_token: int = FRAMES_PER_TOKEN, fps: float = FPS) -> int:
    """How many motion tokens ``seconds`` of motion take (at least one)."""
    return max(1, int(round(float(seconds) * fps / frames_per_token)))


# ============================================================================
# text tokenizer (HF ``tokenizers``: no torch)
# ============================================================================
_SENTENCE_START = re.compile(r"(^|[.!?]\s+)([a-z])")


def capitalise_sentences(text: str) -> str:
    """The corpus text is lower-cased for the BPE; its only capitals are sentence starts."""
    return _SENTENCE_START.sub(lambda m: m.group(1) + m.group(2).upper(), text.strip())


class TextTokenizer:
    """A byte-level BPE from a ``tokenizer.json`` (any text encodes; ids are 0-based, unshifted)."""

    def __init__(self, tokenizer) -> None:
        self.tokenizer = tokenizer  # tokenizers.Tokenizer

    @classmethod
    def from_str(cls, text: str) -> "TextTokenizer":
        from tokenizers import Tokenizer
        try:
            return cls(Tokenizer.from_str(text))
        except Exception as exc:  # tokenizers raises its own exception type
            raise FacelmError(f"not a tokenizers JSON: {exc}") from None

    @classmethod
    def from_file(cls, path: str | Path) -> "TextTokenizer":
        path = Path(path)
        if not path.is_file():
            raise FacelmError(f"text tokenizer not found: {path}")
        return cls.from_str(path.read_text(encoding="utf-8"))

    def to_str(self) -> str:
        return self.tokenizer.to_str()

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.to_str(), encoding="utf-8")

    @property
    def size(self) -> int:
        return int(self.tokenizer.get_vocab_size(with_added_tokens=True))

    def encode(self, text: str) -> list[int]:
        return list(self.tokenizer.encode(text, add_special_tokens=False).ids)

    def decode(self, ids: Sequence[int]) -> str:
        return capitalise_sentences(self.tokenizer.decode([int(i) for i in ids], skip_special_tokens=False))


# ============================================================================
# the vocabulary
# ============================================================================
@dataclass
class Vocab:
    num_text: int
    num_motion: int = 512
    specials: tuple[str, ...] = field(default_factory=default_specials)
    frames_per_token: int = FRAMES_PER_TOKEN
    fps: float = FPS

    def __post_init__(self) -> None:
        self.specials = tuple(self.specials)
        if len(set(self.specials)) != len(self.specials):
            raise FacelmError("vocab: duplicate special tokens")
        missing = [s for s in default_specials(1) if s not in self.specials]
        if missing:
            raise FacelmError(f"vocab: missing special tokens {missing}")
        if self.num_text < 1 or self.num_motion < 1:
            raise FacelmError(f"vocab: num_text and num_motion must be positive, got {self.num_text}, {self.num_motion}")
        self._index = {name: i for i, name in enumerate(self.specials)}

    # -- layout ---------------------------------------------------------------
    @property
    def text_offset(self) -> int:
        return len(self.specials)

    @property
    def motion_offset(self) -> int:
        return self.text_offset + self.num_text

    @property
    def size(self) -> int:
        return self.motion_offset + self.num_motion

    def __len__(self) -> int:
        return self.size

    @property
    def max_seconds(self) -> int:
        return sum(1 for s in self.specials if s.startswith("<sec:"))

    @property
    def categories(self) -> tuple[str, ...]:
        return tuple(s[5:-1] for s in self.specials if s.startswith("<cat:"))

    def special(self, name: str) -> int:
        """Id of a special token, by its full name ('<eos>') or bare name ('eos')."""
        key = name if name.startswith("<") else f"<{name}>"
        if key not in self._index:
            raise FacelmError(f"vocab: no special token {name!r}")
        return self._index[key]

    def category(self, name: str) -> int:
        key = f"<cat:{name}>"
        if key not in self._index:
            raise FacelmError(f"unknown description category {name!r} (known: {', '.join(self.categories)})")
        return self._index[key]

    def seconds(self, seconds: float) -> int:
        """Id of the length token for ``seconds`` (nearest whole second)."""
        return self._index[f"<sec:{seconds_token_value(seconds, self.max_seconds)}>"]

    def motion_tokens_for(self, seconds: float) -> int:
        return motion_tokens_for(seconds, self.frames_per_token, self.fps)

    # -- id kinds -------------------------------------------------------------
    def is_motion(self, ids) -> np.ndarray | bool:
        ids = np.asarray(ids)
        out = (ids >= self.motion_offset) & (ids < self.size)
        return bool(out) if out.ndim == 0 else out

    def is_text(self, ids) -> np.ndarray | bool:
        ids = np.asarray(ids)
        out = (ids >= self.text_offset) & (ids < self.motion_offset)
        return bool(out) if out.ndim == 0 else out

    def to_motion_code(self, ids) -> np.ndarray | int:
        arr = np.asarray(ids, dtype=np.int64)
        if not np.all(self.is_motion(arr)):
            raise FacelmError("vocab: id is not a motion token")
        out = arr - self.motion_offset
        return int(out) if out.ndim == 0 else out

    def from_motion_code(self, codes) -> np.ndarray | int:
        arr = np.asarray(codes, dtype=np.int64)
        if arr.size and (arr.min() < 0 or arr.max() >= self.num_motion):
            raise FacelmError(f"motion codes must lie in [0, {self.num_motion}), got [{arr.min()}, {arr.max()}]")
        out = arr + self.motion_offset
        return int(out) if out.ndim == 0 else out

    def from_text_ids(self, text_ids: Iterable[int]) -> list[int]:
        out = [int(i) + self.text_offset for i in text_ids]
        if out and (min(out) < self.text_offset or max(out) >= self.motion_offset):
            raise FacelmError(f"text ids must lie in [0, {self.num_text})")
        return out

    def encode_text(self, tok: TextTokenizer, text: str) -> list[int]:
        """Joint ids of ``text`` (lower-cased, as the BPE was trained)."""
        return self.from_text_ids(tok.encode(text.strip().lower()))

    def decode_text(self, tok: TextTokenizer, ids: Iterable[int]) -> str:
        """The text tokens among ``ids`` as a string (others are skipped)."""
        text_ids = [int(i) - self.text_offset for i in ids if self.is_text(int(i))]
        return tok.decode(text_ids)

    # -- masks for constrained decoding ---------------------------------------
    def motion_mask(self) -> np.ndarray:
        """(size,) bool: the ids Language2Motion may emit inside <motion> ... </motion>."""
        m = np.zeros(self.size, bool)
        m[self.motion_offset:] = True
        return m

    def text_mask(self, with_eos: bool = True) -> np.ndarray:
        """(size,) bool: the ids Motion2Language / QA may emit after <sep> (text and <eos>)."""
        m = np.zeros(self.size, bool)
        m[self.text_offset:self.motion_offset] = True
        if with_eos:
            m[self.special("<eos>")] = True
        return m

    # -- sequence builders ----------------------------------------------------
    def _motion_block(self, codes) -> list[int]:
        ids = self.from_motion_code(np.asarray(codes, dtype=np.int64).reshape(-1))
        return [self.special("<motion>"), *np.atleast_1d(ids).tolist(), self.special("</motion>")]

    def text_to_motion(self, text_ids: Sequence[int], seconds: float, codes=None) -> tuple[list[int], np.ndarray]:
        """Language2Motion. Without ``codes``: the prompt to generate from, ending with <motion>."""
        head = [self.special("<bos>"), self.special("<t2m>"), self.seconds(seconds), *text_ids,
                self.special("<sep>"), self.special("<motion>")]
        if codes is None:
            return head, np.zeros(len(head), bool)
        body = self._motion_block(codes)[1:] + [self.special("<eos>")]  # m1..mN </motion> <eos>
        mask = np.r_[np.zeros(len(head), bool), np.ones(len(body), bool)]
        return head + body, mask

    def motion_to_text(self, codes, category: str, text_ids: Sequence[int] | None = None) -> tuple[list[int], np.ndarray]:
        """Motion2Language. Without ``text_ids``: the prompt to generate from, ending with <sep>."""
        head = [self.special("<bos>"), self.special("<m2t>"), self.category(category),
                *self._motion_block(codes), self.special("<sep>")]
        if text_ids is None:
            return head, np.zeros(len(head), bool)
        body = [*text_ids, self.special("<eos>")]
        return head + body, np.r_[np.zeros(len(head), bool), np.ones(len(body), bool)]

    def question(self, codes, question_ids: Sequence[int], answer_ids: Sequence[int] | None = None
                 ) -> tuple[list[int], np.ndarray]:
        """QA about a motion. Without ``answer_ids``: the prompt to generate from, ending with <sep>."""
        head = [self.special("<bos>"), self.special("<qa>"), *self._motion_block(codes), *question_ids,
                self.special("<sep>")]
        if answer_ids is None:
            return head, np.zeros(len(head), bool)
        body = [*answer_ids, self.special("<eos>")]
        return head + body, np.r_[np.zeros(len(head), bool), np.ones(len(body), bool)]

    def describe(self, ids: Sequence[int]) -> str:
        """Human-readable token names (debugging): specials by name, motion as m<code>, text as t<id>."""
        out = []
        for i in ids:
            i = int(i)
            if i < self.text_offset:
                out.append(self.specials[i])
            elif i < self.motion_offset:
                out.append(f"t{i - self.text_offset}")
            else:
                out.append(f"m{i - self.motion_offset}")
        return " ".join(out)

    # -- persistence ------------------------------------------------------------
    def to_dict(self) -> dict:
        return {"format": "facelm-vocab", "version": 1, "specials": list(self.specials), "num_text": self.num_text,
                "num_motion": self.num_motion, "frames_per_token": self.frames_per_token, "fps": self.fps,
                "text_offset": self.text_offset, "motion_offset": self.motion_offset, "size": self.size}

    @classmethod
    def from_dict(cls, d: dict) -> "Vocab":
        if d.get("format") != "facelm-vocab":
            raise FacelmError(f"not a facelm vocabulary (format={d.get('format')!r})")
        try:
            v = cls(num_text=int(d["num_text"]), num_motion=int(d["num_motion"]), specials=tuple(d["specials"]),
                    frames_per_token=int(d.get("frames_per_token", FRAMES_PER_TOKEN)), fps=float(d.get("fps", FPS)))
        except (KeyError, TypeError, ValueError) as exc:
            raise FacelmError(f"vocabulary field missing or malformed: {exc}") from None
        for key in ("text_offset", "motion_offset", "size"):
            if key in d and int(d[key]) != getattr(v, key):
                raise FacelmError(f"vocabulary field {key}={d[key]} disagrees with its specials/num_text")
        return v

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=1), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> "Vocab":
        path = Path(path)
        try:
            return cls.from_dict(json.loads(path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            raise FacelmError(f"vocabulary not found: {path}") from None
        except json.JSONDecodeError as exc:
            raise FacelmError(f"{path}: not JSON ({exc})") from None
        except FacelmError as exc:
            raise FacelmError(f"{path}: {exc}") from None


__all__ = ["CATEGORIES", "FPS", "FRAMES_PER_TOKEN", "MAX_SECONDS", "TextTokenizer", "Vocab", "capitalise_sentences",
           "default_specials", "motion_tokens_for", "seconds_token_value"]
