"""Motion tokenizer: streaming = offline, torch = onnxruntime, model files verified.

Uses a small randomly initialised tokenizer (parity does not need training); the
shipped, trained model is exercised in test_codec_cli.py.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from export.tokenizer import DECODER_FILE, ENCODER_FILE, export_tokenizer
from facelm.codec import MotionCodec
from facelm.errors import FacelmError
from facelm.model_dir import ModelDir
from models.motion_tokenizer import MotionTokenizer, TokenizerConfig

FRAME_TOL = 1e-4  # torch vs onnxruntime, raw FLAME units


@pytest.fixture(scope="module")
def small_model():
    torch.manual_seed(0)
    model = MotionTokenizer(TokenizerConfig(hidden=48, code_dim=16, num_codes=64)).eval()
    # Spread the codebook so nearest-code ties are impossible.
    model.quantizer.codebook.copy_(torch.randn(64, 16))
    model.set_normalisation(torch.randn(model.cfg.input_dim) * 0.1, torch.rand(model.cfg.input_dim) + 0.5)
    return model


@pytest.fixture(scope="module")
def exported(small_model, tmp_path_factory):
    out = tmp_path_factory.mktemp("tok")
    export_tokenizer(small_model, out)
    return out


def _frames(model, n, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(1, n, model.cfg.input_dim, generator=g) * model.std + model.mean


def test_streaming_decode_equals_offline_torch(small_model):
    ids = small_model.encode(_frames(small_model, 96))
    offline = small_model.decode(ids)
    state = small_model.decoder.init_state(1)
    chunks = []
    for k in range(ids.shape[1]):
        f, state = small_model.decode_step(ids[:, k], state)
        chunks.append(f)
    torch.testing.assert_close(torch.cat(chunks, 1), offline, atol=1e-5, rtol=0)


def test_encoder_is_causal_with_stated_delay(small_model):
    x = _frames(small_model, 80)
    ids = small_model.encode(x)
    y = x.clone()
    y[:, 44:] += 3.0  # change frames from 44 on: tokens 0..10 cover frames 0..43
    assert torch.equal(small_model.encode(y)[:, :11], ids[:, :11])
    assert not torch.equal(small_model.encode(y)[:, 11:], ids[:, 11:])


def test_onnx_matches_torch(small_model, exported):
    codec = MotionCodec(exported)
    x = _frames(small_model, 120, seed=3)
    ids_torch = small_model.encode(x)[0].numpy()
    ids_ort = codec.encode_frames(x[0].numpy())
    np.testing.assert_array_equal(ids_ort, ids_torch)
    frames_ort = codec.decode(ids_ort).to_array(include_global=False)
    frames_torch = small_model.decode(torch.from_numpy(ids_ort)[None])[0].numpy()
    np.testing.assert_allclose(frames_ort, frames_torch, atol=FRAME_TOL, rtol=0)


def test_streaming_encoder_equals_offline(small_model, exported):
    codec = MotionCodec(exported)
    x = _frames(small_model, 4 * 70, seed=5)[0].numpy()  # longer than the encoder's window
    offline = codec.encode_frames(x)
    enc = codec.streaming_encoder()
    assert enc.window < len(x)
    got = []
    for start in range(0, len(x), 7):  # bursty arrival, not aligned to tokens
        got += enc.push(x[start:start + 7])
    np.testing.assert_array_equal(np.array(got), offline)


def test_codec_rejects_bad_input(exported):
    codec = MotionCodec(exported)
    with pytest.raises(FacelmError, match="shape"):
        codec.encode_frames(np.zeros((8, 5), np.float32))
    with pytest.raises(FacelmError, match="NaN"):
        codec.encode_frames(np.full((8, codec.input_dim), np.nan, np.float32))
    with pytest.raises(FacelmError, match="lie in"):
        codec.decode([0, 64])
    with pytest.raises(FacelmError, match="outside"):
        codec.streaming_decoder().push(-1)


@pytest.mark.parametrize("damage", ["truncate", "flip", "delete", "manifest"])
def test_tampered_model_is_refused_naming_the_file(exported, tmp_path, damage):
    import shutil
    model_dir = tmp_path / "m"
    shutil.copytree(exported, model_dir)
    target = model_dir / DECODER_FILE
    if damage == "truncate":
        target.write_bytes(target.read_bytes()[:1000])
    elif damage == "flip":
        data = bytearray(target.read_bytes())
        data[len(data) // 2] ^= 0xFF
        target.write_bytes(bytes(data))
    elif damage == "delete":
        target.unlink()
    else:
        (model_dir / "manifest.json").write_text("{not json")
    with pytest.raises(FacelmError) as err:
        MotionCodec(model_dir)
    msg = str(err.value)
    assert "\n" not in msg
    assert (DECODER_FILE in msg) if damage != "manifest" else ("manifest.json" in msg)


def test_manifest_names_every_file_with_hashes(exported):
    md = ModelDir(exported)
    files = {e["file"] for _, e in md.entries()}
    assert {ENCODER_FILE, DECODER_FILE} <= files
    assert len(md.verify()) == len(files)
    spec = json.loads((exported / "manifest.json").read_text())["tokenizer"]
    assert spec["frames_per_token"] == 4 and len(spec["mean"]) == spec["input_dim"]


@pytest.fixture(scope="module")
def lookahead_model():
    torch.manual_seed(1)
    model = MotionTokenizer(TokenizerConfig(hidden=48, code_dim=16, num_codes=64, decoder_lookahead=2)).eval()
    model.quantizer.codebook.copy_(torch.randn(64, 16))
    model.set_normalisation(torch.randn(model.cfg.input_dim) * 0.1, torch.rand(model.cfg.input_dim) + 0.5)
    return model


def test_lookahead_decoder_streams_like_offline(lookahead_model, tmp_path):
    """A look-ahead decoder emits a token's frames L tokens later and is flushed by repeating the last
    token: torch steps, onnxruntime steps and offline decoding give the same frames, none lost."""
    model, L, fpt = lookahead_model, 2, 4
    ids = torch.randint(0, 64, (1, 9))
    offline = model.decode(ids)  # (1, 36, D)
    assert offline.shape[1] == 9 * fpt
    state, chunks = model.decoder.init_state(1), []
    for k in list(range(9)) + [8] * L:
        f, state = model.decode_step(ids[:, k], state)
        chunks.append(f)
    torch.testing.assert_close(torch.cat(chunks[L:], 1), offline, atol=1e-5, rtol=0)

    export_tokenizer(model, tmp_path)
    codec = MotionCodec(tmp_path)
    assert codec.lookahead == L
    dec = codec.streaming_decoder()
    rows = [dec.push(int(i)) for i in ids[0]]
    assert [len(r) for r in rows] == [0] * L + [fpt] * (9 - L)
    tail = dec.flush()
    assert tail.shape == (L * fpt, codec.input_dim)
    np.testing.assert_allclose(np.concatenate(rows + [tail]), offline[0].numpy(), atol=FRAME_TOL, rtol=0)
    np.testing.assert_allclose(codec.decode(ids[0].numpy()).to_array(include_global=False), offline[0].numpy(),
                               atol=FRAME_TOL, rtol=0)
    assert len(dec.push(3)) == 0 and len(dec.flush()) == fpt  # after a flush the next stream starts fresh
    assert len(dec.flush()) == 0  # nothing pushed, nothing held back
