"""The motion language model on onnxruntime: prompt -> streamed motion codes, motion -> text.

One graph (``export/lm_graphs.py``) does prefill and decoding with an explicit KV
cache: the first call feeds the prompt ids with the prefix embedding (K = 1) and an
empty cache, each later call one id with the cache. Sampling is numpy
(greedy, temperature, top-k, top-p, seeded); classifier-free guidance runs a second,
unconditional stream (no text, zero embedding) and mixes the logits
``uncond + guidance * (cond - uncond)``. Decoding is constrained by task, exactly as
``training.lm_infer`` does it in torch: Language2Motion emits motion tokens only,
``motion_tokens_for(seconds)`` of them; Motion2Language and QA emit text tokens
until ``<eos>``.

``generate_motion`` returns a ``MotionStream``: an iterator that yields each motion
code as soon as it is sampled, so a streaming decoder can show the first frame
after one prefill and one sample. With ``candidates=N`` it samples N sequences
first and streams the one under which Motion2Language finds the prompt likeliest
(``text_log_likelihood``): the model reading its own motion back. The N samples run
as one batch a step and are scored as one, but the first code still waits for all of
them, so it suits goals more than live streams.
"""
from __future__ import annotations

import math
from typing import Iterator, Sequence

import numpy as np

from facelm.errors import FacelmError
from facelm.known_words import KnownWords, Rewrite
from facelm.model_dir import ModelDir
from facelm.text_encoder import MAX_CHARS, check_text
from facelm.vocab import TextTokenizer, Vocab

MAX_TEXT_TOKENS = 120  # a description's length limit (training.lm_infer's)
MAX_ANSWER_TOKENS = 24
PROMPT_SPECIALS = 8  # room kept for the sequence's special tokens, as in training (training.lm_data)


def sample_next(logits: np.ndarray, allowed: np.ndarray | None, temperature: float, top_k: int, top_p: float,
                rng: np.random.Generator) -> int:
    """One id from (V,) logits: mask, then greedy (temperature <= 0) or temperature / top-k / top-p sampling.

    Works on the allowed ids only (a task allows a fraction of the vocabulary), in float64.
    """
    logits = np.asarray(logits)
    cand = np.arange(logits.size) if allowed is None else np.flatnonzero(allowed)
    z = logits[cand].astype(np.float64)
    if temperature <= 0:
        return int(cand[np.argmax(z)])  # first of equal maxima, as torch.argmax
    z /= temperature
    if top_k and top_k < z.size:
        keep = z >= np.partition(z, -top_k)[-top_k]
        cand, z = cand[keep], z[keep]
    if top_p < 1.0:
        order = np.argsort(-z, kind="stable")
        probs = _softmax(z[order])
        # Drop a token when the mass before it already reaches top_p (the first token always stays).
        keep = order[(np.cumsum(probs) - probs) < top_p]
        cand, z = cand[keep], z[keep]
    cdf = np.cumsum(_softmax(z))
    return int(cand[min(np.searchsorted(cdf, rng.random() * cdf[-1], side="right"), z.size - 1)])


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - np.max(x))
    return e / e.sum()


def _tiled(logits: np.ndarray, past: list[np.ndarray], batch: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """One sequence's logits (V,) and cache as a batch of ``batch`` copies: (B, V), (B, heads, P, hd).

    A batch of one (every stream) is the arrays themselves: no copy on the first-frame path."""
    if batch == 1:
        return logits[None], past
    return np.repeat(logits[None], batch, axis=0), [np.repeat(p, batch, axis=0) for p in past]


# Classifier-free guidance for Language2Motion: on 120 held-out test prompts of the shipped LM, 2.5 against
# 1 (off) raised the annotator's emotion accuracy 0.78 -> 0.87 and speaking 0.92 -> 0.96 (training.evaluate).
DEFAULT_GUIDANCE = 2.5
# Guidance starts at this motion token; the ones before are sampled from the conditional logits alone.
# Guided from the first token, 47 of 150 held-out clips started with the neck over 0.2 rad off rest
# (real clips: none; an avatar's head jumps at the start of a stream), 12 of 150 with the first token
# unguided; accuracy moved within noise (artifacts/MODEL_CARD.md).
DEFAULT_GUIDANCE_DELAY = 1
# Language2Motion sampling; narrower nucleus (0.9, 0.8) was tried against unasked head moves and did not
# remove them (artifacts/MODEL_CARD.md). Every entry point (CLI, node, evaluate) takes its defaults here.
DEFAULT_TEMPERATURE = 0.8
DEFAULT_TOP_P = 0.95
MAX_CANDIDATES = 16  # best-of-N: each candidate is a whole generation before the first frame


class MotionStream:
    """Iterator of motion codes (ints in [0, num_motion)), computed as they are consumed.

    ``num_tokens``: how many it yields; ``frames``: the frames those decode to;
    ``prompt_truncated``: whether the prompt was longer than the model reads;
    ``unknown_words``: the prompt's words the LM's text path never saw in training, each
    once, in order (read through the sentence embedding only, see ``facelm.known_words``);
    ``aliased_words``: (word, known word it was read as) pairs, each once, in order;
    ``candidate_scores``: with best-of-N, each candidate's log p(prompt | its motion), in
    sampling order (empty for one candidate); ``chosen``: the index of the one streamed.
    """

    def __init__(self, codes: Iterator[int], num_tokens: int, frames_per_token: int, prompt_truncated: bool,
                 unknown_words: Sequence[str] = (), aliased_words: Sequence[tuple[str, str]] = (),
                 candidate_scores: Sequence[float] = (), chosen: int = 0):
        self._codes = codes
        self.num_tokens = num_tokens
        self.frames = num_tokens * frames_per_token
        self.prompt_truncated = prompt_truncated
        self.unknown_words = list(unknown_words)
        self.aliased_words = list(aliased_words)
        self.candidate_scores = list(candidate_scores)
        self.chosen = chosen

    def __iter__(self) -> "MotionStream":
        return self

    def __next__(self) -> int:
        return next(self._codes)


def _finite(value, name: str, low: float, high: float, low_open: bool = False) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise FacelmError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(v) or v < low or v > high or (low_open and v == low):
        raise FacelmError(f"{name} must lie in {'(' if low_open else '['}{low:g}, {high:g}], got {value!r}")
    return v


class MotionLanguageModel:
    """Language2Motion, Motion2Language and QA with the exported LM of a model directory."""

    def __init__(self, model: ModelDir | str | None = None):
        self.model = model if isinstance(model, ModelDir) else ModelDir(model)
        spec = self.model.section("lm")
        self.spec = spec
        self.vocab = Vocab.load(self.model.file(spec["vocab"]))
        self.text_tokenizer = TextTokenizer.from_file(self.model.file(spec["text_tokenizer"]))
        # Model dirs exported before the word list existed read every word as tokens.
        self.known_words = (KnownWords.from_file(self.model.file(spec["known_words"]))
                            if "known_words" in spec else None)
        cfg = spec["config"]
        self.block_size = int(cfg["block_size"])
        self.cond_dim = int(cfg["cond_dim"])
        self.num_layers, self.num_heads = int(cfg["n_layer"]), int(cfg["n_head"])
        self.head_dim = int(cfg["d_model"]) // self.num_heads
        if int(cfg["vocab_size"]) != self.vocab.size:
            raise FacelmError(f"{self.model.path}: lm config vocab_size {cfg['vocab_size']} != "
                              f"vocabulary size {self.vocab.size}")
        self._session = self.model.session(spec["graph"])
        self._past_names = [i.name for i in self._session.get_inputs() if i.name.startswith("past_")]
        if len(self._past_names) != 2 * self.num_layers:
            raise FacelmError(f"{self.model.path}: lm graph has {len(self._past_names)} cache inputs, "
                              f"want {2 * self.num_layers}")
        # TensorRT engines are built for batch 1 (facelm.tensorrt_backend): candidates then run one by one.
        self._batched = self.model.options.provider not in ("tensorrt", "tensorrt-engine")
        self._text_encoder = None
        self._uncond_cache: dict[tuple[int, ...], tuple[np.ndarray, list[np.ndarray]]] = {}
        self._motion_mask = self.vocab.motion_mask()
        self._text_mask = self.vocab.text_mask(with_eos=True)
        self.max_motion_tokens = self.vocab.motion_tokens_for(self.vocab.max_seconds)

    def warm_up(self, seconds: float = 1.0) -> None:
        """Load the sentence encoder and run a short generation: a node's first prompt pays no start-up."""
        for _ in self.generate_motion("A person nods.", seconds, seed=0, temperature=0.0):
            pass

    # -- pieces -------------------------------------------------------------------
    @property
    def text_encoder(self):
        if self._text_encoder is None:
            from facelm.text_encoder import TextEncoder
            self._text_encoder = TextEncoder(self.model)
        return self._text_encoder

    def _embedding(self, text: str, embedding) -> np.ndarray:
        if embedding is None:
            return self.text_encoder.embed([text])[0]
        emb = np.asarray(embedding, np.float32).reshape(-1)
        if emb.shape != (self.cond_dim,) or not np.isfinite(emb).all():
            raise FacelmError(f"embedding must be {self.cond_dim} finite numbers, "
                              f"got shape {np.shape(embedding)}")
        return emb

    def run_graph(self, ids: Sequence[int], prefix: np.ndarray | None, past: list[np.ndarray] | None
                  ) -> tuple[np.ndarray, list[np.ndarray]]:
        """One graph call: new ``ids`` (after ``past``; the first call takes ``prefix``, None = zeros).

        Returns the last position's logits (V,) and the cache: per layer a key and a value
        array (1, heads, positions, head_dim), in the graph's order.
        """
        pre = None if prefix is None else np.asarray(prefix, np.float32).reshape(1, self.cond_dim)
        logits, present = self.run_batch(np.asarray([ids], np.int64), pre, past)
        return logits[0], present

    def run_batch(self, ids: np.ndarray, prefix: np.ndarray | None, past: list[np.ndarray] | None
                  ) -> tuple[np.ndarray, list[np.ndarray]]:
        """``run_graph`` for B sequences of one length: ids (B, K), prefix (B, cond_dim) or None;
        returns logits (B, V) and caches (B, heads, positions, head_dim)."""
        batch = ids.shape[0]
        if past is None:
            pre = np.zeros((batch, 1, self.cond_dim), np.float32) if prefix is None else \
                prefix.reshape(batch, 1, self.cond_dim)  # (B, 1, D)
            past = [np.zeros((batch, self.num_heads, 0, self.head_dim), np.float32)] * len(self._past_names)
        else:
            pre = np.zeros((batch, 0, self.cond_dim), np.float32)
        feed = {"ids": ids, "prefix": pre, **dict(zip(self._past_names, past))}
        logits, *present = self._session.run(None, feed)
        return logits, present

    def _decode(self, prompt: list[int], cond: np.ndarray | None, *, max_new: int, allowed: np.ndarray,
                stop_id: int | None, temperature: float, top_k: int, top_p: float,
                rngs: Sequence[np.random.Generator], guidance: float = 1.0, uncond: list[int] | None = None,
                guidance_delay: int = 0) -> Iterator[np.ndarray]:
        """New ids a step at a time, (B,) per step for B = len(rngs) samples of one prompt (the loop of
        ``MotionLM.generate_stream``, on onnxruntime). The prompt is read once and its cache shared;
        ``stop_id`` ends a single sample; guidance applies from step ``guidance_delay`` on."""
        batch = len(rngs)
        use_cfg = guidance != 1.0 and uncond is not None
        logits, past = _tiled(*self.run_graph(prompt, cond, None), batch)
        if use_cfg:
            u_logits, u_past = _tiled(*self._prefill_unconditional(uncond), batch)
        for i in range(max_new):
            mixed = u_logits + guidance * (logits - u_logits) if use_cfg and i >= guidance_delay else logits  # (B, V)
            nxt = np.array([sample_next(row, allowed, temperature, top_k, top_p, rng)
                            for row, rng in zip(mixed, rngs)], np.int64)  # (B,)
            yield nxt
            full = past[0].shape[2] >= self.block_size
            if (stop_id is not None and batch == 1 and nxt[0] == stop_id) or i == max_new - 1 or full:
                return  # (no step for a token nobody will read)
            logits, past = self.run_batch(nxt[:, None], None, past)
            if use_cfg:
                u_logits, u_past = self.run_batch(nxt[:, None], None, u_past)

    def _prefill_unconditional(self, ids: list[int]) -> tuple[np.ndarray, list[np.ndarray]]:
        """The guidance branch's prefill depends only on the length token: computed once per length.

        Safe to share: graph calls return new arrays and never write into the cache they read.
        """
        key = tuple(ids)
        if key not in self._uncond_cache:
            self._uncond_cache[key] = self.run_graph(ids, None, None)
        return self._uncond_cache[key]

    def _check_codes(self, codes) -> np.ndarray:
        arr = np.asarray(codes)
        if arr.ndim != 1 or arr.size == 0 or arr.dtype.kind not in "iu":
            raise FacelmError(f"motion codes must be a non-empty 1-D list of integers, got shape {arr.shape}")
        if arr.size > self.max_motion_tokens:
            raise FacelmError(f"{arr.size} motion tokens are more than the model reads at once "
                              f"({self.max_motion_tokens}, {self.vocab.max_seconds} s)")
        self.vocab.from_motion_code(arr)  # range check
        return arr.astype(np.int64)

    def _text_ids(self, text: str, limit: int) -> tuple[list[int], bool, Rewrite]:
        """(ids, cut, rewrite): the text's tokens with aliases read as known words and the words the
        model never learned left out (``facelm.known_words``)."""
        cut = len(text) > MAX_CHARS
        text = text[:MAX_CHARS]
        rewrite = Rewrite(text, [], [], text)
        if self.known_words is not None:
            rewrite = self.known_words.split(text)
        ids = self.vocab.encode_text(self.text_tokenizer, rewrite.text)
        return ids[:max(1, limit)], cut or len(ids) > limit, rewrite

    @staticmethod
    def _sampling(seed, temperature, top_k, top_p) -> tuple[np.random.Generator, float, int, float]:
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))
                                 or seed < 0):
            raise FacelmError(f"seed must be a non-negative integer, got {seed!r}")
        temperature = _finite(temperature, "temperature", 0.0, 100.0)
        if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 0:
            raise FacelmError(f"top_k must be a non-negative integer (0: off), got {top_k!r}")
        top_p = _finite(top_p, "top_p", 0.0, 1.0, low_open=True)
        return np.random.default_rng(seed), temperature, int(top_k), top_p

    # -- tasks ------------------------------------------------------------------------
    def generate_motion(self, prompt: str, seconds: float = 4.0, seed: int | None = None,
                        temperature: float = DEFAULT_TEMPERATURE, top_k: int = 0, top_p: float = DEFAULT_TOP_P,
                        guidance: float = DEFAULT_GUIDANCE, *,
                        embedding: np.ndarray | None = None, num_tokens: int | None = None,
                        candidates: int = 1, guidance_delay: int = DEFAULT_GUIDANCE_DELAY) -> MotionStream:
        """Language2Motion: a stream of ``motion_tokens_for(seconds)`` motion codes for ``prompt``.

        Arguments are checked now (FacelmError); the model runs as the stream is consumed.
        ``embedding``: the prompt's sentence embedding, when the caller already has it.
        ``num_tokens``: generate this many instead (e.g. one more to cover a frame count
        that is not a multiple of frames_per_token); at most ``max_motion_tokens``.
        ``guidance_delay``: how many motion tokens are sampled before guidance starts (the
        first ones decide the starting pose, which guidance pushes off rest).
        ``candidates``: best of this many samples (module doc); candidate 0 is what one
        candidate with the same seed gives, candidate k is seeded ``(seed, k)``. All of them
        are generated when the stream is made.
        """
        prompt = check_text(prompt, "prompt")
        seconds = _finite(seconds, "seconds", 0.0, float(self.vocab.max_seconds), low_open=True)
        rng, temperature, top_k, top_p = self._sampling(seed, temperature, top_k, top_p)
        guidance = _finite(guidance, "guidance", 0.0, 100.0)
        if isinstance(guidance_delay, bool) or not isinstance(guidance_delay, (int, np.integer)) or guidance_delay < 0:
            raise FacelmError(f"guidance_delay must be a non-negative integer, got {guidance_delay!r}")
        if isinstance(candidates, bool) or not isinstance(candidates, (int, np.integer)) \
                or not 1 <= candidates <= MAX_CANDIDATES:
            raise FacelmError(f"candidates must be an integer in [1, {MAX_CANDIDATES}], got {candidates!r}")
        n = self.vocab.motion_tokens_for(seconds)
        if num_tokens is not None:
            if isinstance(num_tokens, bool) or not isinstance(num_tokens, (int, np.integer)) \
                    or not 1 <= num_tokens <= self.max_motion_tokens:
                raise FacelmError(f"num_tokens must be an integer in [1, {self.max_motion_tokens}], "
                                  f"got {num_tokens!r}")
            n = int(num_tokens)
        text_ids, cut, rewrite = self._text_ids(prompt, self.block_size - 1 - n - PROMPT_SPECIALS)
        if embedding is None and self.text_encoder.truncated(prompt):
            cut = True
        cond = self._embedding(rewrite.sentence, embedding)
        ids, _ = self.vocab.text_to_motion(text_ids, seconds)
        uncond, _ = self.vocab.text_to_motion([], seconds)
        offset = self.vocab.motion_offset

        def sample(rngs: list[np.random.Generator]) -> Iterator[np.ndarray]:
            return self._decode(ids, cond, max_new=n, allowed=self._motion_mask, stop_id=None,
                                temperature=temperature, top_k=top_k, top_p=top_p, rngs=rngs,
                                guidance=guidance, uncond=uncond, guidance_delay=int(guidance_delay))

        scores, chosen = [], 0
        if candidates == 1:
            new_ids = (step[0] for step in sample([rng]))
        else:
            base = int(np.random.default_rng().integers(1 << 62)) if seed is None else int(seed)
            rngs = [np.random.default_rng(base)] + [np.random.default_rng((base, k)) for k in range(1, candidates)]
            # All candidates as one batch a step (about half the time of one by one), else singly.
            groups = [rngs] if self._batched else [[g] for g in rngs]
            drafts = [np.stack(list(sample(group)), axis=1) - offset for group in groups]  # (G, n) each
            scores = [float(x) for d in drafts for x in self._log_likelihoods(d, text_ids, "prompt")]
            drafts = np.concatenate(drafts)  # (N, n)
            chosen = int(np.argmax(scores))
            new_ids = iter(drafts[chosen] + offset)
        return MotionStream((int(i) - offset for i in new_ids), n, self.vocab.frames_per_token, cut,
                            list(dict.fromkeys(rewrite.unknown)), list(dict.fromkeys(rewrite.aliased)),
                            scores, chosen)

    def _text(self, prompt: list[int], cond: np.ndarray | None, greedy: bool, seed, temperature: float,
              max_tokens: int) -> str:
        rng, temperature, _, _ = self._sampling(seed, 0.0 if greedy else temperature, 0, 1.0)
        out = self._decode(prompt, cond, max_new=max_tokens, allowed=self._text_mask,
                           stop_id=self.vocab.special("<eos>"), temperature=temperature, top_k=0, top_p=1.0,
                           rngs=[rng])
        return self.vocab.decode_text(self.text_tokenizer, [int(step[0]) for step in out])

    def describe(self, codes, category: str = "action", *, greedy: bool = True, seed: int | None = 0,
                 temperature: float = 0.8, max_tokens: int = MAX_TEXT_TOKENS) -> str:
        """Motion2Language: a description of motion ``codes`` in one of the vocabulary's categories."""
        ids, _ = self.vocab.motion_to_text(self._check_codes(codes), category)
        return self._text(ids, None, greedy, seed, temperature, max_tokens)

    def text_log_likelihood(self, codes, text: str, category: str = "prompt") -> float:
        """log p(text <eos> | motion codes) under Motion2Language ``category``, teacher-forced.

        The text is read as a prompt is (aliases, unseen words left out). Each step's
        distribution is over what describing may emit (text and ``<eos>``), as in ``describe``.
        """
        text = check_text(text, "text")
        codes = self._check_codes(codes)
        text_ids, _, _ = self._text_ids(text, self.block_size - 1 - len(codes) - PROMPT_SPECIALS)
        return float(self._log_likelihoods(codes[None], text_ids, category)[0])

    def _log_likelihoods(self, codes: np.ndarray, text_ids: list[int], category: str) -> np.ndarray:
        """(B,) log p(text_ids <eos> | each row of ``codes`` (B, N)), the B rows in one batch a step."""
        head = np.array([self.vocab.motion_to_text(row, category)[0] for row in codes], np.int64)  # (B, L)
        room = self.block_size - head.shape[1] - 1  # the <eos> target needs a position too
        targets = [*text_ids[:max(0, room)], self.vocab.special("<eos>")]
        allowed = np.flatnonzero(self._text_mask)
        logits, past = self.run_batch(head, None, None)  # (B, V)
        total = np.zeros(len(codes))
        for i, target in enumerate(targets):
            z = logits[:, allowed].astype(np.float64)  # (B, A)
            top = z.max(axis=1)
            total += logits[:, target] - top - np.log(np.exp(z - top[:, None]).sum(axis=1))
            if i < len(targets) - 1:
                logits, past = self.run_batch(np.full((len(codes), 1), target, np.int64), None, past)
        return total

    def answer(self, codes, question: str, *, embedding: np.ndarray | None = None, greedy: bool = True,
               seed: int | None = 0, temperature: float = 0.8, max_tokens: int = MAX_ANSWER_TOKENS) -> str:
        """QA: the model's (lower-case) answer to ``question`` about motion ``codes``."""
        question = check_text(question, "question")
        codes = self._check_codes(codes)
        q_ids, _, rewrite = self._text_ids(question,
                                           self.block_size - 1 - len(codes) - PROMPT_SPECIALS - max_tokens)
        ids, _ = self.vocab.question(codes, q_ids)
        cond = self._embedding(rewrite.sentence, embedding)
        return self._text(ids, cond, greedy, seed, temperature, max_tokens).lower()
