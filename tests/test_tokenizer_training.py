"""The tokenizer's two-stage pipeline end to end on a tiny corpus: train, resume, evaluate, tokenize."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from models.motion_tokenizer import MotionTokenizer


def _run(*args, timeout=240):
    r = subprocess.run([sys.executable, "-m", *map(str, args)], capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, r.stderr[-3000:]
    return r.stdout


@pytest.fixture(scope="module")
def tiny_corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("corpus")
    _run("training.corpus", "--hours", "0.03", "--seed", "3", "--out", out, "--workers", "1", "--no-stats",
         "--shard-hours", "0.01", "--overwrite")
    return out


def test_train_resume_evaluate_tokenize(tiny_corpus, tmp_path):
    run = tmp_path / "run"
    common = ["training.train_tokenizer", "--corpus", tiny_corpus, "--out", run, "--hidden", "32",
              "--codes", "32", "--code-dim", "8", "--batch", "8", "--window", "32", "--every", "5", "--threads", "1"]
    _run(*common, "--steps", "10")
    first = torch.load(run / "last.pt", weights_only=False)
    assert first["step"] == 10 and first["config"]["num_codes"] == 32
    out = _run(*common, "--steps", "15")
    assert "resuming from" in out and "at step 10" in out
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [e["step"] for e in log] == [5, 10, 15] and all(np.isfinite(e["total"]) for e in log)
    model = MotionTokenizer.from_checkpoint(run / "tokenizer.pt")  # loading needs only the path
    assert model.cfg.hidden == 32
    result = json.loads(_run("training.eval_tokenizer", "--checkpoint", run / "tokenizer.pt", "--corpus",
                             tiny_corpus, "--split", "train", "--max-clips", "3", "--realdata", tmp_path / "none"))
    held = result["held_out"]
    assert held["clips"] == 3 and held["zscored_mse"] > 0 and 1 <= held["perplexity"] <= 32
    assert set(held["rmse"]) == {"expression", "neck", "jaw", "eyes"}
    _run("training.tokenize", "--checkpoint", run / "tokenizer.pt", "--corpus", tiny_corpus, "--splits", "train",
         "--out", tmp_path / "tokens")
    tokens = np.load(tmp_path / "tokens" / "train.npz")
    assert tokens["offsets"][-1] == len(tokens["ids"]) > 0 and tokens["ids"].max() < 32


def test_group_weight_override_goes_into_the_checkpoint(tiny_corpus, tmp_path):
    common = ["training.train_tokenizer", "--corpus", tiny_corpus, "--hidden", "32", "--codes", "32",
              "--code-dim", "8", "--batch", "4", "--window", "32", "--every", "2", "--threads", "1", "--steps", "2"]
    _run(*common, "--out", tmp_path / "a")
    _run(*common, "--out", tmp_path / "b", "--init", tmp_path / "a" / "tokenizer.pt", "--group-weight", "neck=6")
    model = MotionTokenizer.from_checkpoint(tmp_path / "b" / "tokenizer.pt")
    assert model.cfg.group_weights["neck"] == 6.0 and model.cfg.group_weights["expression"] == 1.0
    sl = model.cfg.group_slices()
    assert float(model.loss_weights[sl["neck"]][0] / model.loss_weights[sl["expression"]][0]) == pytest.approx(6.0)
    r = subprocess.run([sys.executable, "-m", *map(str, common), "--out", tmp_path / "c", "--group-weight", "lips=2"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and "--group-weight 'lips=2'" in r.stderr


def test_evaluate_scores_the_shipped_model_directory(tiny_corpus, tmp_path):
    """``--model DIR`` runs the exported LM on onnxruntime with the tokenizer the directory ships."""
    from facelm.model_dir import default_model_dir
    result = json.loads(_run("training.evaluate", "--model", default_model_dir(), "--corpus", tiny_corpus,
                             "--max-prompts", "3", "--mm-prompts", "0", "--repeats", "1", "--threads", "1",
                             "--candidates", "2", "--text-cache", tmp_path / "sentences.npz",
                             "--per-clip", tmp_path / "clips.jsonl", timeout=300))
    assert result["meta"]["lm_step"] == "exported" and result["meta"]["tokenizer"].endswith("tokenizer.pt")
    # --per-clip: a line a generated clip; its hits are what the block's accuracy counts
    rows = [json.loads(line) for line in (tmp_path / "clips.jsonl").read_text().splitlines()]
    held = [r for r in rows if r["block"] == "held_out"]
    assert len(held) == result["meta"]["clips"] and {r["block"] for r in rows} == {"held_out", "paraphrase"}
    assert all(r["prompt"] and set(r["truth"]) == set(r["read"]) for r in rows)
    assert sum(r["hits"]["head"] for r in held) / len(held) == \
        result["language2motion"]["held_out"]["attributes"]["head"]
    assert result["language2motion"]["sampling"]["candidates"] == 2  # best of 2, recorded with the scores
    l2m = result["language2motion"]["held_out"]["attributes"]
    assert 1 <= l2m["n"] == result["meta"]["clips"] <= 3 and 0.0 <= l2m["mean"] <= 1.0
    assert set(result["qa"]) >= {"mean"} and len(result["motion2language"]["examples"]) >= 1


def test_evaluate_refuses_best_of_n_without_a_model_directory(tmp_path):
    for extra in (["--lm", tmp_path / "lm.pt", "--candidates", "2"], ["--candidates", "0"]):
        r = subprocess.run([sys.executable, "-m", "training.evaluate", *map(str, extra)], capture_output=True,
                           text=True, timeout=120)
        assert r.returncode == 2 and r.stderr.startswith("error: ") and "--candidates" in r.stderr


def test_decoder_only_training_keeps_the_codes_and_names_them(tiny_corpus, tmp_path):
    """``--decoder-only`` retrains the decoder (here with a token of look-ahead) on frozen codes: the same
    clip encodes to the same ids, the decoder changed, and the checkpoint names the codes' origin, so a
    language model trained on the init's ids is matched to it."""
    import hashlib

    from training.tokenizer_identity import tokenizer_identities
    common = ["training.train_tokenizer", "--corpus", tiny_corpus, "--hidden", "32", "--codes", "32",
              "--code-dim", "8", "--batch", "4", "--window", "32", "--every", "3", "--threads", "1", "--steps", "3"]
    _run(*common, "--out", tmp_path / "a")
    init = tmp_path / "a" / "tokenizer.pt"
    _run(*common, "--out", tmp_path / "b", "--init", init, "--decoder-only", "--lookahead", "1", "--lr", "1e-2")
    before, after = MotionTokenizer.from_checkpoint(init), MotionTokenizer.from_checkpoint(tmp_path / "b" / "tokenizer.pt")
    assert after.cfg.decoder_lookahead == 1 and before.cfg.decoder_lookahead == 0
    clip = torch.randn(1, 64, before.cfg.input_dim) * before.std + before.mean
    assert torch.equal(before.encode(clip), after.encode(clip))
    torch.testing.assert_close(before.quantizer.codebook, after.quantizer.codebook, rtol=0, atol=0)
    assert not torch.equal(before.decoder.conv_out.weight, after.decoder.conv_out.weight)
    init_sha = hashlib.sha256(init.read_bytes()).hexdigest()
    assert torch.load(tmp_path / "b" / "tokenizer.pt", weights_only=False)["codes_sha256"] == init_sha
    assert init_sha in tokenizer_identities(tmp_path / "b" / "tokenizer.pt")
    _run("training.tokenize", "--checkpoint", tmp_path / "b" / "tokenizer.pt", "--corpus", tiny_corpus, "--splits",
         "val", "--out", tmp_path / "tokens")  # token files name the codes, which both checkpoints write
    assert str(np.load(tmp_path / "tokens" / "val.npz")["tokenizer_sha256"]) == init_sha
    r = subprocess.run([sys.executable, "-m", *map(str, common), "--out", tmp_path / "c", "--decoder-only"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and "--decoder-only needs --init" in r.stderr
