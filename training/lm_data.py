"""Training sequences for the motion language model, from a tokenized corpus.

Inputs: ``<corpus>`` (clips, their text in five MMHead categories + prompt, the labels
read from motion, the behaviour spec) and ``<corpus>/tokens/<split>.npz`` (motion codes
from ``python -m training.tokenize``).

``build_bank(corpus, split, ...)`` turns a split into ``Example``s -- motion codes with
every text that may go with them -- once, and caches them (pickle, keyed by the
token file's tokenizer hash):

- every clip, with its stored prompt plus ``prompt_variants`` freshly worded prompts
  realised from its behaviour spec (train wording pool only: the held-out paraphrase
  wording never enters training, and neither does ``text_paraphrase``);
- for the train split, ``crops_per_clip`` random token-aligned crops of clips of at
  least ``MIN_CROP_SOURCE_S``: the spec is cut to the window, and the crop's motion is
  re-annotated (``training.annotate``) so its texts, labels and prompt describe the crop.

``SequenceSampler`` mixes the tasks (``facelm.vocab`` formats) into batches:
Language2Motion from a prompt (sometimes the action text: wording variety),
Motion2Language per category, and QA generated from the labels; classifier-free
guidance drops the text and embedding of a share of Language2Motion examples.
Another share keeps the full sentence embedding but only some of the prompt's (or
question's) words as tokens, or none (``word_drop``, ``embed_only``): the runtime leaves
words the model never saw out of the token path (``facelm.known_words``), so the model
must learn to read what the tokens miss from the embedding.
"""
from __future__ import annotations

import hashlib
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from facelm.clip import MotionClip
from facelm.errors import FacelmError
from facelm.known_words import remove_words, words_of
from facelm.vocab import TextTokenizer, Vocab

FPS = 25.0
FRAMES_PER_TOKEN = 4
MIN_CROP_SOURCE_S = 4.0
MIN_CROP_S = 2.0
BANK_VERSION = 2

# Task mixture and the categories Motion2Language trains on (weights, normalised below).
TASK_WEIGHTS = {"t2m": 0.5, "m2t": 0.32, "qa": 0.18}
M2T_CATEGORY_WEIGHTS = {"action": 0.25, "emotion": 0.18, "detail_head_pose": 0.2, "detail_expression": 0.15,
                        "emotion_scenario": 0.07, "prompt": 0.15}
# Language2Motion prompts: a realised prompt, else one of these annotation texts.
T2M_TEXT_PROMPT_SHARE = 0.15
T2M_TEXT_PROMPT_KEYS = ("action",)
# Share of the words removed from a prompt picked for word dropout.
WORD_DROP_RATE = 0.4


# ============================================================================
# QA from labels
# ============================================================================
HEAD_KINDS = ("nod", "shake", "turn_left", "turn_right", "tilt_left", "tilt_right", "look_up", "look_down")
YES_NO_QUESTIONS = {
    "nod": ["Is the person nodding?", "Does the head nod?", "Does this person nod their head?"],
    "shake": ["Is the person shaking their head?", "Does the head shake from side to side?",
              "Does this person shake their head?"],
    "turn_left": ["Does the head turn to the left?", "Does the person turn their head left?"],
    "turn_right": ["Does the head turn to the right?", "Does the person turn their head right?"],
    "tilt_left": ["Does the head tilt to the left?", "Does the person tilt their head left?"],
    "tilt_right": ["Does the head tilt to the right?", "Does the person tilt their head right?"],
    "look_up": ["Does the person look up?", "Is the head raised?"],
    "look_down": ["Does the person look down?", "Is the head lowered?"],
    "speaking": ["Is the person speaking?", "Is this person talking?", "Does the person say something?"],
    "blink": ["Does the person blink?", "Do the eyes blink?"],
}
OPEN_QUESTIONS = {
    "emotion": ["What emotion does the face show?", "How does the person feel?", "What is the mood of the face?",
                "Which emotion is shown?"],
    "turn": ["Which way does the head turn?", "Does the head turn left or right?"],
    "tilt": ["Which way does the head tilt?", "Does the head tilt left or right?"],
    "look": ["Does the person look up or down?", "Which way does the person look, up or down?"],
    "speaking_style": ["How is the person speaking?", "In what manner does the person talk?"],
    "head": ["What does the head do?", "How does the head move?"],
}
HEAD_WORDS = {"nod": "nod", "shake": "shake", "turn_left": "turn left", "turn_right": "turn right",
              "tilt_left": "tilt left", "tilt_right": "tilt right", "look_up": "look up", "look_down": "look down"}


def _then(words: list[str], empty: str) -> str:
    out: list[str] = []
    for w in words:
        if not out or out[-1] != w:
            out.append(w)
    return ", then ".join(out) if out else empty


def qa_answer(kind: str, labels: dict[str, Any]) -> str:
    """The answer to a question ``kind`` from labels read from motion (``annotate.labels_from_summary``)."""
    kinds = labels.get("head_kinds", [])
    if kind in HEAD_KINDS:
        return "yes" if kind in kinds else "no"
    if kind == "speaking":
        return "no" if labels.get("speaking", "none") == "none" else "yes"
    if kind == "blink":
        return "yes" if labels.get("blinks", 0) > 0 else "no"
    if kind == "emotion":
        return _then(list(labels.get("emotions", [])), "neutral")
    if kind in ("turn", "tilt", "look"):
        words = {"turn": ("turn_left", "left", "turn_right", "right"), "tilt": ("tilt_left", "left", "tilt_right", "right"),
                 "look": ("look_up", "up", "look_down", "down")}[kind]
        mapping = {words[0]: words[1], words[2]: words[3]}
        return _then([mapping[k] for k in kinds if k in mapping], "none" if kind != "look" else "neither")
    if kind == "speaking_style":
        return {"none": "not speaking", "calm": "calmly", "excited": "excitedly"}[labels.get("speaking", "none")]
    if kind == "head":
        return _then([HEAD_WORDS[k] for k in kinds], "stays still")
    raise KeyError(kind)


def sample_question(labels: dict[str, Any], rng: np.random.Generator) -> tuple[str, str]:
    """(question, answer); yes/no head questions ask about a present move half the time."""
    kinds = list(YES_NO_QUESTIONS) + list(OPEN_QUESTIONS)
    kind = kinds[int(rng.integers(len(kinds)))]
    if kind in HEAD_KINDS and labels.get("head_kinds") and rng.random() < 0.5:
        present = [k for k in labels["head_kinds"] if k in HEAD_KINDS]
        kind = present[int(rng.integers(len(present)))] if present else kind
    pool = YES_NO_QUESTIONS.get(kind) or OPEN_QUESTIONS[kind]
    return pool[int(rng.integers(len(pool)))], qa_answer(kind, labels)


def all_questions() -> list[str]:
    return [q for pool in (*YES_NO_QUESTIONS.values(), *OPEN_QUESTIONS.values()) for q in pool]


def all_answers() -> list[str]:
    """Answer vocabulary (for the text tokenizer's training text)."""
    out = ["yes", "no", "neutral", "none", "neither", "left", "right", "up", "down", "calmly", "excitedly",
           "not speaking", "stays still", *HEAD_WORDS.values(), "left, then right", "right, then left"]
    return out + ["neutral", "happy", "sad", "angry", "surprised", "fearful", "disgusted", "contempt"]


# ============================================================================
# examples
# ============================================================================
@dataclass
class Example:
    codes: np.ndarray  # (N,) int16 motion codes
    texts: dict[str, str]  # category -> text (action, emotion, ..., prompt)
    prompts: list[str]  # Language2Motion prompts (the first is the stored one)
    labels: dict[str, Any]  # read from motion
    clip_id: str
    start_token: int = 0
    spec: dict | None = field(default=None, repr=False)

    @property
    def seconds(self) -> float:
        return len(self.codes) * FRAMES_PER_TOKEN / FPS


def crop_spec(spec: dict, start_s: float, end_s: float) -> dict:
    """The behaviour spec cut to [start_s, end_s) and shifted to start at 0 (for prompts about a crop).

    A segment stays when most of it lies inside or it covers most of the window (the
    rule of ``dataset.window_labels``); the emotion with the largest overlap always stays.
    """
    def overlap(seg):
        return min(seg["end"], end_s) - max(seg["start"], start_s)

    def inside(seg):
        span = seg["end"] - seg["start"]
        return span > 0 and overlap(seg) / span >= 0.5 or overlap(seg) >= 0.5 * (end_s - start_s)

    def cut(seg):
        s = dict(seg)
        s["start"], s["end"] = max(0.0, seg["start"] - start_s), min(end_s, seg["end"]) - start_s
        if "onset" in s:
            s["onset"] = max(0.0, seg.get("onset", 0.0) - max(0.0, start_s - seg["start"]))
        return s

    emotions = [cut(s) for s in spec["emotions"] if inside(s)]
    if not emotions and spec["emotions"]:
        emotions = [cut(max(spec["emotions"], key=overlap))]
    head = [cut(s) for s in spec["head"] if inside(s)]
    speech = [cut(s) for s in spec.get("speech", []) if inside(s)]
    return {**spec, "emotions": emotions, "head": head, "speech": speech, "duration": end_s - start_s}


def _token_file(corpus: Path, split: str, tokens: Path | None) -> Path:
    path = (tokens or corpus / "tokens") / f"{split}.npz"
    if not path.is_file():
        raise FacelmError(f"motion tokens not found: {path} (run python -m training.tokenize)")
    return path


def build_bank(corpus: str | Path, split: str, *, tokens: str | Path | None = None, cache_dir: str | Path | None = None,
               prompt_variants: int = 2, crops_per_clip: int = 1, max_clips: int | None = None, seed: int = 0,
               progress: bool = True, text_key: str = "text") -> list[Example]:
    """Examples of ``split`` (see the module doc); cached in ``cache_dir`` when given.

    ``text_key="text_paraphrase"`` reads the held-out wording of test clips (evaluation only).
    """
    if text_key != "text" and split == "train":
        raise FacelmError("held-out paraphrase text never enters training")
    from training.annotate import annotate
    from training.dataset import CorpusDataset
    from training.text import realise_prompt

    corpus = Path(corpus)
    token_path = _token_file(corpus, split, Path(tokens) if tokens else None)
    with np.load(token_path) as data:
        ids, offsets, clip_ids = data["ids"], data["offsets"], [str(c) for c in data["clip_ids"]]
        digest = str(data["tokenizer_sha256"]) if "tokenizer_sha256" in data else ""
    if split != "train":
        prompt_variants, crops_per_clip = 0, 0
    key = hashlib.sha1(f"{BANK_VERSION}|{corpus.resolve()}|{split}|{digest}|{prompt_variants}|{crops_per_clip}|"
                       f"{max_clips}|{seed}|{text_key}".encode()).hexdigest()[:16]
    cache = Path(cache_dir) / f"bank_{split}_{key}.pkl" if cache_dir else None
    if cache is not None and cache.is_file():
        with open(cache, "rb") as f:
            return pickle.load(f)

    ds = CorpusDataset(corpus, split=split, features="flame", include_global=True)
    index = {ref_id: i for i, ref_id in enumerate(ds.reader.meta(r)["clip_id"] for r in ds.refs)}
    rng = np.random.default_rng(seed)
    n = len(clip_ids) if max_clips is None else min(max_clips, len(clip_ids))
    bank: list[Example] = []
    it = range(n)
    if progress:
        from tqdm import tqdm
        it = tqdm(it, desc=f"lm data {split}")
    for c in it:
        codes = ids[offsets[c]:offsets[c + 1]].astype(np.int16)
        i = index.get(clip_ids[c])
        if i is None:
            raise FacelmError(f"{token_path}: clip {clip_ids[c]} is not in the corpus {corpus}")
        meta = ds.reader.meta(ds.refs[i])
        if text_key not in meta:
            raise FacelmError(f"clip {clip_ids[c]} of split {split!r} has no {text_key!r}")
        text = dict(meta[text_key])  # text_paraphrase only for evaluation (refused for train above)
        spec = meta["spec"]
        prompts = [text["prompt"]] + [realise_prompt(spec, rng, "train") for _ in range(prompt_variants)]
        bank.append(Example(codes, text, list(dict.fromkeys(prompts)), meta["read_labels"], clip_ids[c], 0, spec))
        for _ in range(crops_per_clip if meta["duration"] >= MIN_CROP_SOURCE_S else 0):
            bank.append(_crop(ds, i, codes, spec, meta["clip_id"], rng, annotate, realise_prompt))
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp")
        with open(tmp, "wb") as f:
            pickle.dump(bank, f, protocol=pickle.HIGHEST_PROTOCOL)
        tmp.replace(cache)
    return bank


def _crop(ds, i: int, codes: np.ndarray, spec: dict, clip_id: str, rng: np.random.Generator, annotate, realise_prompt
          ) -> Example:
    """A random token-aligned crop, its spec cut to it and its motion re-annotated."""
    n = len(codes)
    min_tok = int(MIN_CROP_S * FPS / FRAMES_PER_TOKEN)
    length = int(rng.integers(min_tok, max(min_tok + 1, n - min_tok // 2)))
    start = int(rng.integers(0, n - length + 1))
    frames = ds.item(i, start * FRAMES_PER_TOKEN, min(ds.lengths[i], (start + length) * FRAMES_PER_TOKEN)).features
    clip = MotionClip.from_array(frames, 50, include_global=True)
    start_s, end_s = start * FRAMES_PER_TOKEN / FPS, (start + length) * FRAMES_PER_TOKEN / FPS
    sub = crop_spec(spec, start_s, end_s)
    ann = annotate(clip, spec=sub, rng=rng, split="train")
    labels = ann.pop("labels")
    return Example(codes[start:start + length].copy(), ann, [ann["prompt"]], labels, clip_id, start, sub)


def bank_texts(bank: list[Example]) -> list[str]:
    """Every text a bank may put in a sequence (for the BPE's training text)."""
    out = []
    for ex in bank:
        out += list(ex.texts.values()) + ex.prompts
    return out


def training_words(bank: list[Example]) -> set[str]:
    """The words the LM's text path sees in training: the bank's texts and the QA questions and answers."""
    return words_of(bank_texts(bank) + all_questions() + all_answers())


def conditioning_texts(bank: list[Example]) -> list[str]:
    """Every sentence that may be embedded as a prefix (prompts, action texts, questions)."""
    out = set(all_questions())
    for ex in bank:
        out.update(ex.prompts)
        out.update(ex.texts[k] for k in T2M_TEXT_PROMPT_KEYS if k in ex.texts)
    return sorted(out)


# ============================================================================
# sequences and batches
# ============================================================================
@dataclass
class Sequence:
    ids: list[int]
    target: np.ndarray  # bool, same length
    cond_text: str | None  # the sentence embedded as prefix (None: zeros)
    task: str


class SequenceSampler:
    """Random task sequences from a bank; ``batch(n)`` gives padded tensors' numpy arrays."""

    def __init__(self, bank: list[Example], vocab: Vocab, tok: TextTokenizer, embeddings: dict[str, np.ndarray],
                 block_size: int, seed: int = 0, cfg_drop: float = 0.1, task_weights: dict | None = None,
                 embed_only: float = 0.0, word_drop: float = 0.0) -> None:
        """``cfg_drop``: share of L2M examples with neither text nor embedding; ``embed_only``: share of
        L2M and QA examples with the embedding but no text tokens; ``word_drop``: share with the
        embedding of the whole sentence but ``WORD_DROP_RATE`` of its words left out of the tokens."""
        if not bank:
            raise FacelmError("no training examples")
        self.bank, self.vocab, self.tok, self.embeddings = bank, vocab, tok, embeddings
        self.block_size = block_size
        self.rng = np.random.default_rng(seed)
        self.cfg_drop, self.embed_only, self.word_drop = cfg_drop, embed_only, word_drop
        tw = task_weights or TASK_WEIGHTS
        self.tasks, self.task_p = list(tw), np.array(list(tw.values()), float) / sum(tw.values())
        self.cats = [c for c in M2T_CATEGORY_WEIGHTS if c in vocab.categories]
        self.cat_p = np.array([M2T_CATEGORY_WEIGHTS[c] for c in self.cats], float)
        self.cat_p /= self.cat_p.sum()
        self._text_ids: dict[str, list[int]] = {}

    def text_ids(self, text: str, limit: int | None = None, cache: bool = True) -> list[int]:
        ids = self._text_ids.get(text) if cache else None
        if ids is None:
            ids = self.vocab.encode_text(self.tok, text)
            if cache:
                self._text_ids[text] = ids
        return ids if limit is None else ids[:max(1, limit)]

    def conditioning_ids(self, text: str, limit: int | None = None) -> list[int]:
        """Token ids of a prompt or question, sometimes with words (or all of them) left out."""
        if self.embed_only + self.word_drop <= 0:
            return self.text_ids(text, limit)
        r = self.rng.random()
        if r < self.embed_only:
            return []
        if r < self.embed_only + self.word_drop:  # a one-off text: not worth caching
            kept, _ = remove_words(text, lambda _word: self.rng.random() >= WORD_DROP_RATE)
            return self.text_ids(kept, limit, cache=False)
        return self.text_ids(text, limit)

    def sequence(self, ex: Example, task: str) -> Sequence:
        v, rng = self.vocab, self.rng
        room = self.block_size - 1 - len(ex.codes) - 8  # prefix, specials
        if task == "t2m":
            if rng.random() < T2M_TEXT_PROMPT_SHARE:
                prompt = ex.texts[T2M_TEXT_PROMPT_KEYS[int(rng.integers(len(T2M_TEXT_PROMPT_KEYS)))]]
            else:
                prompt = ex.prompts[int(rng.integers(len(ex.prompts)))]
            if rng.random() < self.cfg_drop:  # unconditional: no text, zero embedding
                ids, target = v.text_to_motion([], ex.seconds, ex.codes)
                return Sequence(ids, target, None, task)
            ids, target = v.text_to_motion(self.conditioning_ids(prompt, room), ex.seconds, ex.codes)
            return Sequence(ids, target, prompt, task)
        if task == "m2t":
            cat = self.cats[int(rng.choice(len(self.cats), p=self.cat_p))]
            ids, target = v.motion_to_text(ex.codes, cat, self.text_ids(ex.texts[cat], room))
            return Sequence(ids, target, None, task)
        question, answer = sample_question(ex.labels, rng)
        ids, target = v.question(ex.codes, self.conditioning_ids(question), self.text_ids(answer, room - 16))
        return Sequence(ids, target, question, task)

    def sample(self) -> Sequence:
        ex = self.bank[int(self.rng.integers(len(self.bank)))]
        task = self.tasks[int(self.rng.choice(len(self.tasks), p=self.task_p))]
        return self.sequence(ex, task)

    def collate(self, seqs: list[Sequence]) -> dict[str, np.ndarray]:
        return collate(seqs, self.vocab, self.embeddings)

    def batch(self, n: int, pool: int = 4) -> dict[str, np.ndarray]:
        """``n`` sequences; drawn ``pool`` batches at a time and grouped by length (less padding)."""
        if not getattr(self, "_queue", None):
            seqs = sorted((self.sample() for _ in range(n * pool)), key=lambda s: len(s.ids))
            chunks = [seqs[i * n:(i + 1) * n] for i in range(pool)]
            self._queue = [chunks[int(i)] for i in self.rng.permutation(pool)]
        return self.collate(self._queue.pop())


def collate(seqs: list[Sequence], vocab: Vocab, embeddings: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Right-padded ``ids`` (B, T), ``targets`` (B, T) (-100 where not trained), ``cond`` (B, 384), ``task``."""
    T = max(len(s.ids) for s in seqs)
    pad = vocab.special("<pad>")
    ids = np.full((len(seqs), T), pad, np.int64)
    targets = np.full((len(seqs), T), -100, np.int64)
    dim = len(next(iter(embeddings.values()))) if embeddings else 384
    cond = np.zeros((len(seqs), dim), np.float32)
    for b, s in enumerate(seqs):
        n = len(s.ids)
        ids[b, :n] = s.ids
        # logits[t] predicts ids[t+1]: the target of position t is ids[t+1] when ids[t+1] is trained.
        nxt = np.asarray(s.ids[1:], np.int64)
        targets[b, :n - 1] = np.where(s.target[1:], nxt, -100)
        if s.cond_text is not None:
            cond[b] = embeddings[s.cond_text]
    return {"ids": ids, "targets": targets, "cond": cond, "task": np.array([s.task for s in seqs])}


def fixed_eval_sequences(bank: list[Example], vocab: Vocab, tok: TextTokenizer, embeddings: dict[str, np.ndarray],
                         block_size: int, per_task: int = 128, seed: int = 1234) -> dict[str, list[Sequence]]:
    """The same validation sequences every time (no guidance dropout), per task."""
    s = SequenceSampler(bank, vocab, tok, embeddings, block_size, seed=seed, cfg_drop=0.0)
    out = {}
    for task in TASK_WEIGHTS:
        out[task] = [s.sequence(bank[int(s.rng.integers(len(bank)))], task) for _ in range(per_task)]
    return out


__all__ = ["Example", "Sequence", "SequenceSampler", "all_answers", "all_questions", "bank_texts", "build_bank",
           "collate", "conditioning_texts", "crop_spec", "fixed_eval_sequences", "qa_answer", "sample_question"]
