"""Motion language model: vocabulary, KV cache, constrained decoding, training on each task, HF backbone.

Everything here builds tiny models and data in the test: no data/ or runs/ needed.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from facelm.errors import FacelmError
from facelm.vocab import TextTokenizer, Vocab, capitalise_sentences, default_specials
from models.motion_lm import LMConfig, MotionLM, sample_next
from training.lm_data import (Example, SequenceSampler, all_questions, collate, crop_spec, qa_answer,
                              sample_question)
from training.text_tokenizer import train_text_tokenizer

SENTENCES = [
    "A person nods slowly while smiling.", "Someone turns their head to the left, looking sad.",
    "The face stays calm and still.", "Is the person nodding?", "What emotion does the face show?",
    "The person shakes the head quickly and looks angry.", "yes", "no", "happy", "sad, then happy",
]


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models run fastest on one thread; on a busy 2-core machine two threads spin-wait for seconds."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tok() -> TextTokenizer:
    return train_text_tokenizer(SENTENCES * 5, vocab_size=300)


@pytest.fixture(scope="module")
def vocab(tok) -> Vocab:
    return Vocab(num_text=tok.size, num_motion=32)


def tiny_model(vocab: Vocab, layers: int = 2, width: int = 64, dropout: float = 0.0, seed: int = 0) -> MotionLM:
    torch.manual_seed(seed)
    return MotionLM(LMConfig(vocab_size=vocab.size, n_layer=layers, n_head=4, d_model=width, block_size=128,
                             dropout=dropout))


# ============================================================================
# vocabulary and text tokenizer
# ============================================================================
def test_vocab_layout_and_json_round_trip(tmp_path, vocab):
    assert vocab.text_offset == len(default_specials())
    assert vocab.motion_offset == vocab.text_offset + vocab.num_text
    assert vocab.size == vocab.motion_offset + 32
    for name in ("<pad>", "<bos>", "<eos>", "<sep>", "<motion>", "</motion>", "<t2m>", "<m2t>", "<qa>",
                 "<cat:action>", "<cat:detail_head_pose>", "<sec:1>", "<sec:12>"):
        assert vocab.specials[vocab.special(name)] == name
    assert vocab.special("eos") == vocab.special("<eos>")
    codes = np.array([0, 5, 31])
    ids = vocab.from_motion_code(codes)
    assert np.all(vocab.is_motion(ids)) and not np.any(vocab.is_text(ids))
    assert np.array_equal(vocab.to_motion_code(ids), codes)
    assert vocab.to_motion_code(vocab.from_motion_code(7)) == 7
    with pytest.raises(FacelmError):
        vocab.from_motion_code([32])
    with pytest.raises(FacelmError):
        vocab.to_motion_code(vocab.special("<eos>"))

    path = tmp_path / "vocab.json"
    vocab.save(path)
    again = Vocab.load(path)
    assert again == vocab and again.to_dict() == vocab.to_dict()
    bad = json.loads(path.read_text())
    bad["motion_offset"] += 1
    path.write_text(json.dumps(bad))
    with pytest.raises(FacelmError, match="motion_offset"):
        Vocab.load(path)
    path.write_text("{not json")
    with pytest.raises(FacelmError, match="vocab.json"):
        Vocab.load(path)


def test_seconds_tokens_and_lengths(vocab):
    assert vocab.specials[vocab.seconds(3.4)] == "<sec:3>"
    assert vocab.specials[vocab.seconds(3.5)] == "<sec:4>"
    assert vocab.specials[vocab.seconds(0.2)] == "<sec:1>"
    assert vocab.specials[vocab.seconds(40)] == "<sec:12>"
    assert vocab.motion_tokens_for(4.0) == 25  # 4 s * 25 fps / 4 frames a token
    assert vocab.motion_tokens_for(0.01) == 1


def test_sequence_formats(vocab, tok):
    text = vocab.encode_text(tok, "A person nods slowly.")
    codes = np.array([3, 1, 4, 1, 5])
    ids, mask = vocab.text_to_motion(text, 2.0, codes)
    names = vocab.describe(ids).split()
    assert names[:3] == ["<bos>", "<t2m>", "<sec:2>"]
    assert names[3 + len(text):3 + len(text) + 2] == ["<sep>", "<motion>"]
    assert names[-2:] == ["</motion>", "<eos>"]
    assert [n for n, m in zip(names, mask) if m] == ["m3", "m1", "m4", "m1", "m5", "</motion>", "<eos>"]
    prompt, pmask = vocab.text_to_motion(text, 2.0)
    assert prompt == ids[:len(prompt)] and not pmask.any() and vocab.describe(prompt).endswith("<motion>")

    ids, mask = vocab.motion_to_text(codes, "emotion", text)
    assert vocab.describe(ids[:4]) == "<bos> <m2t> <cat:emotion> <motion>"
    assert np.array_equal(np.asarray(ids)[mask], text + [vocab.special("<eos>")])
    q = vocab.encode_text(tok, "Is the person nodding?")
    a = vocab.encode_text(tok, "yes")
    ids, mask = vocab.question(codes, q, a)
    assert vocab.describe(ids[:3]) == "<bos> <qa> <motion>"
    assert np.array_equal(np.asarray(ids)[mask], a + [vocab.special("<eos>")])
    with pytest.raises(FacelmError, match="category"):
        vocab.motion_to_text(codes, "colour")


def test_text_tokenizer_round_trip_and_any_input(tok, vocab):
    for s in SENTENCES[:6]:
        assert vocab.decode_text(tok, vocab.encode_text(tok, s)) == capitalise_sentences(s.lower())
    assert vocab.decode_text(tok, vocab.encode_text(tok, s)) == s
    odd = "Zwölf Boxkämpfer 🙂 jagen"  # byte-level: unseen characters still encode
    ids = vocab.encode_text(tok, odd)
    assert all(vocab.is_text(i) for i in ids)
    assert vocab.decode_text(tok, ids) == capitalise_sentences(odd.lower())
    again = TextTokenizer.from_str(tok.to_str())
    assert again.encode("a person nods") == tok.encode("a person nods")
    with pytest.raises(FacelmError):
        TextTokenizer.from_str("{}")


# ============================================================================
# the GPT: KV cache and constrained decoding
# ============================================================================
def test_cached_and_uncached_logits_agree(vocab):
    model = tiny_model(vocab, dropout=0.1).eval()
    ids = torch.randint(0, vocab.size, (2, 30))
    cond = torch.randn(2, 384)
    full, present = model(ids, cond)
    assert full.shape == (2, 30, vocab.size)
    assert present.shape == (2, 2, 2, 4, 31, 16)  # (layers, k/v, B, heads, prefix + T, head_dim)
    # prefill 11, then one token at a time
    logits, past = model(ids[:, :11], cond)
    steps = [logits]
    for t in range(11, 30):
        logits, past = model(ids[:, t:t + 1], None, past)
        steps.append(logits)
    torch.testing.assert_close(torch.cat(steps, 1), full, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(past, present, atol=1e-5, rtol=1e-4)
    # prefill, then a chunk of several tokens
    logits_a, past_a = model(ids[:, :4], cond)
    logits_b, _ = model(ids[:, 4:], None, past_a)
    torch.testing.assert_close(torch.cat([logits_a, logits_b], 1), full, atol=1e-5, rtol=1e-4)
    # the prefix matters: zero conditioning gives other logits
    assert not torch.allclose(model(ids, None)[0], full, atol=1e-4)


def test_constrained_decoding_emits_only_allowed_ids(vocab, tok):
    model = tiny_model(vocab).eval()
    text = vocab.encode_text(tok, "A person nods slowly.")
    prompt, _ = vocab.text_to_motion(text, 3.0)
    n = vocab.motion_tokens_for(3.0)
    uncond, _ = vocab.text_to_motion([], 3.0)
    for kw in ({"temperature": 1.5}, {"temperature": 1.0, "top_k": 5}, {"temperature": 1.0, "top_p": 0.5},
               {"temperature": 0.0}, {"temperature": 1.0, "guidance": 3.0, "uncond_prompt": uncond}):
        out = model.generate(prompt, torch.randn(1, 384), max_new_tokens=n, allowed=vocab.motion_mask(), seed=1, **kw)
        assert len(out) == n and all(vocab.is_motion(i) for i in out), kw
    m2t, _ = vocab.motion_to_text(np.arange(10), "action")
    out = model.generate(m2t, None, max_new_tokens=40, allowed=vocab.text_mask(), stop_id=vocab.special("<eos>"),
                         temperature=1.5, seed=3)
    assert 1 <= len(out) <= 40
    assert all(vocab.is_text(i) for i in out[:-1])
    assert vocab.is_text(out[-1]) or out[-1] == vocab.special("<eos>")
    if len(out) < 40:
        assert out[-1] == vocab.special("<eos>")


def test_sampling_is_seeded_and_knobs_behave():
    g = torch.Generator().manual_seed(0)
    logits = torch.tensor([0.0, 3.0, 2.9, -1.0, 1.0])
    allowed = torch.tensor([True, False, True, True, True])
    assert sample_next(logits, allowed, 0.0, 0, 1.0, g) == 2  # greedy among allowed
    assert {sample_next(logits, None, 1.0, 1, 1.0, g) for _ in range(20)} == {1}  # top-k 1 is greedy
    assert {sample_next(logits, None, 1.0, 0, 0.3, g) for _ in range(20)} == {1}  # nucleus of the top token
    draws = [sample_next(logits, None, 5.0, 0, 1.0, torch.Generator().manual_seed(s)) for s in range(40)]
    assert len(set(draws)) >= 3
    again = [sample_next(logits, None, 5.0, 0, 1.0, torch.Generator().manual_seed(s)) for s in range(40)]
    assert draws == again


# ============================================================================
# data: QA from labels, crops, collation
# ============================================================================
LABELS = {"emotions": ["neutral", "happy"], "head_kinds": ["nod", "turn_left"], "speaking": "calm", "blinks": 2}


def test_qa_answers_follow_the_labels():
    assert qa_answer("nod", LABELS) == "yes" and qa_answer("shake", LABELS) == "no"
    assert qa_answer("turn", LABELS) == "left" and qa_answer("tilt", LABELS) == "none"
    assert qa_answer("look", LABELS) == "neither"
    assert qa_answer("emotion", LABELS) == "neutral, then happy"
    assert qa_answer("speaking", LABELS) == "yes" and qa_answer("speaking_style", LABELS) == "calmly"
    assert qa_answer("head", {"head_kinds": []}) == "stays still"
    rng = np.random.default_rng(0)
    pairs = {sample_question(LABELS, rng) for _ in range(300)}
    assert ("Is the person nodding?", "yes") in pairs and ("Does the head shake from side to side?", "no") in pairs


def test_crop_spec_keeps_what_the_window_shows():
    spec = {"emotions": [{"emotion": "happy", "intensity": "strong", "start": 0.0, "end": 3.0, "onset": 0.5},
                         {"emotion": "sad", "intensity": "slight", "start": 3.0, "end": 8.0, "onset": 0.8}],
            "head": [{"kind": "nod", "speed": "fast", "start": 0.5, "end": 2.0},
                     {"kind": "turn_left", "speed": "slow", "start": 4.0, "end": 7.0}],
            "speech": [], "duration": 8.0}
    sub = crop_spec(spec, 3.5, 7.5)
    assert [e["emotion"] for e in sub["emotions"]] == ["sad"]
    assert [h["kind"] for h in sub["head"]] == ["turn_left"]
    assert sub["head"][0]["start"] == pytest.approx(0.5) and sub["duration"] == pytest.approx(4.0)


def bank_of(vocab: Vocab, n: int = 3, seed: int = 0) -> list[Example]:
    rng = np.random.default_rng(seed)
    prompts = ["A person nods slowly while smiling.", "Someone turns their head to the left, looking sad.",
               "The person shakes the head quickly and looks angry."]
    labels = [{"emotions": ["happy"], "head_kinds": ["nod"], "speaking": "none", "blinks": 1},
              {"emotions": ["sad"], "head_kinds": ["turn_left"], "speaking": "none", "blinks": 0},
              {"emotions": ["angry"], "head_kinds": ["shake"], "speaking": "none", "blinks": 0}]
    out = []
    for i in range(n):
        texts = {c: prompts[i] for c in ("action", "emotion", "detail_expression", "detail_head_pose",
                                         "emotion_scenario", "prompt")}
        out.append(Example(rng.integers(0, vocab.num_motion, 10 + 3 * i).astype(np.int16), texts, [prompts[i]],
                           labels[i], f"clip{i}"))
    return out


def test_collate_targets_are_the_next_trained_tokens(vocab, tok):
    bank = bank_of(vocab)
    emb = {t: np.full(384, k, np.float32) for k, t in enumerate(sorted({p for e in bank for p in e.prompts}))}
    s = SequenceSampler(bank, vocab, tok, emb, block_size=128, seed=0, cfg_drop=0.0)
    seqs = [s.sequence(bank[0], "t2m"), s.sequence(bank[1], "m2t")]
    b = collate(seqs, vocab, emb)
    assert b["ids"].shape == b["targets"].shape == (2, max(len(q.ids) for q in seqs))
    for row, q in enumerate(seqs):
        trained = np.flatnonzero(b["targets"][row] != -100)
        assert np.array_equal(b["targets"][row][trained], np.asarray(q.ids)[trained + 1])
        assert np.array_equal(trained + 1, np.flatnonzero(q.target))
    assert np.all(b["cond"][0] == emb[bank[0].prompts[0]]) and not b["cond"][1].any()  # M2L: zero prefix
    assert np.all(b["ids"][0, len(seqs[0].ids):] == vocab.special("<pad>"))


# ============================================================================
# training: a tiny model learns every task
# ============================================================================
def train_steps(model, sampler: SequenceSampler, steps: int, lr: float = 3e-3, batch: int = 12) -> list[float]:
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    losses = []
    model.train()
    for _ in range(steps):
        b = sampler.batch(batch)
        loss = model.loss(torch.from_numpy(b["ids"]), torch.from_numpy(b["targets"]), torch.from_numpy(b["cond"]))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def test_tiny_model_overfits_each_task(vocab, tok):
    from training.lm_infer import answer, motion_to_text, text_to_motion

    torch.manual_seed(0)
    bank = bank_of(vocab)
    rng = np.random.default_rng(1)
    texts = {p for e in bank for p in e.prompts} | set(all_questions())
    emb = {t: (v / np.linalg.norm(v)).astype(np.float32) for t, v in zip(sorted(texts), rng.normal(size=(len(texts), 384)))}
    sampler = SequenceSampler(bank, vocab, tok, emb, block_size=128, seed=0, cfg_drop=0.0)
    model = tiny_model(vocab, layers=2, width=96)
    losses = train_steps(model, sampler, 260)
    assert np.mean(losses[-10:]) < 0.2 * np.mean(losses[:10]), (losses[:3], losses[-3:])
    model.eval()
    for ex in bank:
        prompt = ex.prompts[0]
        codes = text_to_motion(model, vocab, tok, prompt, ex.seconds, embed=emb[prompt], temperature=0.0)
        assert np.array_equal(codes, ex.codes), ex.clip_id
        assert motion_to_text(model, vocab, tok, ex.codes, "action") == prompt
    q = "Is the person nodding?"
    assert answer(model, vocab, tok, bank[0].codes, q, embed=emb[q]) == "yes"
    assert answer(model, vocab, tok, bank[1].codes, q, embed=emb[q]) == "no"


def test_checkpoint_round_trip_and_load_lm(tmp_path, vocab, tok):
    from training.lm_infer import load_lm

    model = tiny_model(vocab).eval()
    path = tmp_path / "lm.pt"
    torch.save(model.checkpoint(vocab=vocab.to_dict(), text_tokenizer=tok.to_str()), path)
    again, v2, t2 = load_lm(path)
    ids = torch.randint(0, vocab.size, (1, 12))
    torch.testing.assert_close(again(ids)[0], model(ids)[0])
    assert v2 == vocab and t2.encode("a person nods") == tok.encode("a person nods")
    (tmp_path / "bad.pt").write_bytes(b"")
    with pytest.raises(Exception):
        load_lm(tmp_path / "bad.pt")
    with pytest.raises(FacelmError):
        load_lm(tmp_path / "missing.pt")


# ============================================================================
# a Hugging Face backbone (tiny random Llama, the SmolLM2 architecture)
# ============================================================================
def test_hf_llama_backbone_trains_and_generates_motion(tmp_path, vocab, tok):
    from transformers import LlamaConfig

    from models.hf_backbone import HFMotionLM, build_hf_lm
    from training.lm_infer import load_lm, text_to_motion

    config = LlamaConfig(vocab_size=8, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                         tie_word_embeddings=True)
    config.save_pretrained(tmp_path)
    torch.manual_seed(0)
    model, hv, htok = build_hf_lm(tmp_path / "config.json", num_motion=vocab.num_motion, fallback_tokenizer=lambda: tok,
                                  block_size=256)
    assert hv == vocab and model.block_size == 128
    assert model.hf.get_input_embeddings().num_embeddings == vocab.size  # text rows + specials + motion
    # cached and uncached logits agree here too
    model.eval()
    ids = torch.randint(0, vocab.size, (1, 20))
    cond = torch.randn(1, 384)
    full, _ = model(ids, cond)
    a, past = model(ids[:, :8], cond)
    b, _ = model(ids[:, 8:], None, past)
    torch.testing.assert_close(torch.cat([a, b], 1), full, atol=1e-4, rtol=1e-3)

    bank = bank_of(vocab, n=2)
    emb = {p: np.ones(384, np.float32) / 20 for e in bank for p in e.prompts}
    sampler = SequenceSampler(bank, vocab, tok, emb, block_size=128, seed=0, cfg_drop=0.0,
                              task_weights={"t2m": 1.0})
    losses = train_steps(model, sampler, 40, lr=3e-3, batch=6)
    assert np.mean(losses[-5:]) < 0.6 * np.mean(losses[:5])
    codes = text_to_motion(model, vocab, tok, bank[0].prompts[0], 2.0, embed=emb[bank[0].prompts[0]],
                           temperature=0.8, seed=0)
    assert len(codes) == vocab.motion_tokens_for(2.0) and codes.min() >= 0 and codes.max() < vocab.num_motion

    path = tmp_path / "hf_lm.pt"
    torch.save(model.checkpoint(vocab=vocab.to_dict(), text_tokenizer=tok.to_str()), path)
    again, _, _ = load_lm(path)
    assert isinstance(again, HFMotionLM)
    torch.testing.assert_close(again(ids, cond)[0], model.eval()(ids, cond)[0], atol=1e-5, rtol=1e-4)


def test_train_lm_help():
    from training.train_lm import parse_args
    with pytest.raises(SystemExit) as exc:
        parse_args(["--help"])
    assert exc.value.code == 0
