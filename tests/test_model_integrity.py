"""A tampered, truncated or mismatched model is refused in one line naming the file: runtime and CLI.

Each test works on a copy of the shipped model in tmp_path: files are symlinked to
the shipped ones and copied just before a test damages them, so the shipped model
is never touched.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from facelm.cli import main as cli
from facelm.errors import FacelmError
from facelm.model_dir import ModelDir

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
SHA_CHANGED = "sha256 mismatch (file changed since export)"


@pytest.fixture
def model(tmp_path) -> Path:
    """A model directory whose files link to the shipped ones; manifest.json is a real copy."""
    if not (ARTIFACTS / "manifest.json").is_file():
        pytest.skip("no shipped model")
    out = tmp_path / "model"
    out.mkdir()
    for f in ARTIFACTS.iterdir():
        if f.is_file():
            (out / f.name).symlink_to(f)
    (out / "manifest.json").unlink()
    shutil.copy(ARTIFACTS / "manifest.json", out / "manifest.json")
    return out


def own(path: Path) -> Path:
    """Replace a symlink by a private copy so it can be damaged."""
    target = path.resolve()
    path.unlink()
    shutil.copy(target, path)
    return path


def edit_manifest(model: Path, change) -> None:
    m = json.loads((model / "manifest.json").read_text())
    change(m)
    (model / "manifest.json").write_text(json.dumps(m))


def tamper(path: Path) -> None:
    data = bytearray(own(path).read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, one byte different
    path.write_bytes(bytes(data))


def truncate(path: Path) -> int:
    size = own(path).stat().st_size
    with open(path, "r+b") as f:
        f.truncate(size // 2)
    return size


def runtime(kind: str, model: Path):
    from facelm.audio import AudioToMotion
    from facelm.codec import MotionCodec
    from facelm.lm_runtime import MotionLanguageModel
    from facelm.text_encoder import TextEncoder
    return {"lm": MotionLanguageModel, "codec": MotionCodec, "audio": AudioToMotion,
            "text": TextEncoder}[kind](str(model))


def cli_error(capsys, argv: list[str]) -> tuple[int, str]:
    capsys.readouterr()
    code = cli(argv)
    err = capsys.readouterr().err
    return code, err


# graph file -> (runtime class that loads it, a CLI call that needs it)
CASES = {
    "lm.onnx": ("lm", ["generate", "A person nods.", "-o", "{tmp}/out.npz", "--seconds", "1"]),
    "tokenizer_decoder_step.onnx": ("codec", ["decode", "{tokens}", "-o", "{tmp}/out.npz"]),
    "audio_stream_step.onnx": ("audio", ["speak", "{wav}", "-o", "{tmp}/out.npz"]),
    "text_encoder.onnx": ("text", ["generate", "A person nods.", "-o", "{tmp}/out.npz", "--seconds", "1"]),
}


def fill(argv: list[str], tmp_path: Path, model: Path) -> list[str]:
    tokens = tmp_path / "tokens.json"
    tokens.write_text(json.dumps({"format": "facelm-tokens/1", "ids": [1, 2, 3], "num_codes": 512,
                                  "frames_per_token": 4, "fps": 25.0, "num_frames": 12}))
    wav = tmp_path / "speech.wav"
    import wave
    with wave.open(str(wav), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(16000)
        w.writeframes(bytes(6400))
    return [a.format(tmp=tmp_path, tokens=tokens, wav=wav) for a in argv] + ["--model", str(model)]


@pytest.mark.parametrize("name", list(CASES))
def test_tampered_graph_is_refused_by_runtime_and_cli(model, tmp_path, capsys, name):
    tamper(model / name)
    want = f"{model / name}: {SHA_CHANGED}"
    kind, argv = CASES[name]
    with pytest.raises(FacelmError) as exc:
        runtime(kind, model)
    assert str(exc.value) == want
    assert cli_error(capsys, fill(argv, tmp_path, model)) == (2, f"error: {want}\n")


def test_truncated_graph_is_named_with_its_sizes(model, tmp_path, capsys):
    path = model / "tokenizer_decoder_step.onnx"
    size = truncate(path)
    want = f"{path}: truncated ({size // 2} of {size} bytes)"
    with pytest.raises(FacelmError, match=r"^.*$") as exc:
        runtime("codec", model)
    assert str(exc.value) == want
    assert cli_error(capsys, fill(CASES[path.name][1], tmp_path, model)) == (2, f"error: {want}\n")


def test_unparseable_graph_with_matching_hash_is_refused(model):
    """A manifest rewritten for a broken file: the hashes agree, onnxruntime cannot read it."""
    from export.onnx_utils import sha256
    path = own(model / "audio_stream_step.onnx")
    path.write_bytes(b"not a graph")

    def rewrite(m):
        m["audio"]["stream_step"] |= {"sha256": sha256(path), "bytes": path.stat().st_size}
    edit_manifest(model, rewrite)
    with pytest.raises(FacelmError) as exc:
        runtime("audio", model)
    assert str(exc.value).startswith(f"{path}: onnxruntime cannot load this graph (")
    assert "\n" not in str(exc.value)


def test_missing_file(model):
    (model / "lm_vocab.json").unlink()
    with pytest.raises(FacelmError) as exc:
        runtime("lm", model)
    assert str(exc.value) == f"{model / 'lm_vocab.json'}: model file is missing"


def test_graph_that_disagrees_with_the_manifest(model, tmp_path, capsys):
    """Vocabulary width and input names are checked against the graph itself."""
    def narrower_vocab(m):
        m["lm"]["graph"]["outputs"]["logits"] = ["B", 2000]
    edit_manifest(model, narrower_vocab)
    path = model / "lm.onnx"
    want = f"{path}: graph output 'logits' has shape [batch, 2023], the manifest says [B, 2000]"
    with pytest.raises(FacelmError) as exc:
        runtime("lm", model)
    assert str(exc.value) == want
    assert cli_error(capsys, fill(CASES["lm.onnx"][1], tmp_path, model)) == (2, f"error: {want}\n")

    def renamed_input(m):
        spec = m["tokenizer"]["decoder_step"]["inputs"]
        spec["hidden"] = spec.pop("state")
    edit_manifest(model, renamed_input)
    with pytest.raises(FacelmError) as exc:
        runtime("codec", model)
    assert str(exc.value) == (f"{model / 'tokenizer_decoder_step.onnx'}: graph input 'state' is not in the "
                              "manifest (it lists ids, hidden)")


def test_manifest_of_another_format(model, capsys):
    edit_manifest(model, lambda m: m.update(format="facelm-model/2"))
    want = (f"{model / 'manifest.json'}: manifest format 'facelm-model/2' is not 'facelm-model/1' "
            "(exported for another facelm version)")
    with pytest.raises(FacelmError) as exc:
        ModelDir(model)
    assert str(exc.value) == want
    assert cli_error(capsys, ["check-model", str(model)]) == (2, f"error: {want}\n")


# -- facelm check-model -------------------------------------------------------------------------
def test_check_model_passes_the_shipped_model(model, capsys):
    capsys.readouterr()
    assert cli(["check-model", str(model)]) == 0
    out = capsys.readouterr().out
    manifest = ModelDir(model)
    for _, entry in manifest.entries():
        assert f"{model / entry['file']}" in out
    assert "FAIL" not in out and "checks passed" in out


def test_check_model_reports_every_broken_file(model, capsys):
    tamper(model / "lm.onnx")
    truncate(model / "audio_stream_step.onnx")
    edit_manifest(model, lambda m: m["lm"].update(num_motion=500))
    capsys.readouterr()
    assert cli(["check-model", str(model), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    failed = {c["what"]: c["detail"] for c in report["checks"] if c["status"] == "FAIL"}
    assert failed[str(model / "lm.onnx")] == SHA_CHANGED
    assert failed[str(model / "audio_stream_step.onnx")].startswith("truncated (")
    assert "lm + tokenizer: motion codes" in failed and "lm: vocabulary layout" in failed
    assert not report["ok"]


# -- manifest fields ------------------------------------------------------------------------------
def test_manifest_records_sizes_opsets_and_versions():
    m = ModelDir(ARTIFACTS)
    for name, entry in m.entries():
        assert entry["bytes"] == (ARTIFACTS / entry["file"]).stat().st_size, name
        if entry["file"].endswith(".onnx"):
            assert entry["opset"] >= 17 and entry["ir_version"] >= 8, name
    for section in ("tokenizer", "lm", "audio", "text_encoder"):
        assert {"torch", "onnx", "opset", "code_version"} <= set(m.section(section)["exporter"])
    lm, tok = m.section("lm"), m.section("tokenizer")
    assert lm["special_ids"]["<eos>"] == 2 and lm["motion_offset"] + lm["num_motion"] == lm["config"]["vocab_size"]
    assert len(tok["mean"]) == len(tok["std"]) == tok["input_dim"] and tok["fps"] == 25.0


def test_manifest_refresh_adds_fields_and_refuses_a_changed_file(model):
    from export.manifest import refresh

    def strip(m):
        for section in ("lm", "audio"):
            m[section].pop("exporter", None)
            m[section]["graph" if section == "lm" else "stream_step"].pop("bytes")
    edit_manifest(model, strip)
    refreshed = refresh(model)
    shipped = json.loads((ARTIFACTS / "manifest.json").read_text())
    assert refreshed["lm"]["graph"]["bytes"] == shipped["lm"]["graph"]["bytes"]
    assert refreshed["lm"]["graph"]["sha256"] == shipped["lm"]["graph"]["sha256"]
    assert "exporter" in refreshed["audio"]
    tamper(model / "lm.onnx")
    with pytest.raises(FacelmError, match="sha256 mismatch"):
        refresh(model)


# -- the shipped graphs compute what their shipped torch checkpoints do --------------------------------
@pytest.fixture(scope="module")
def torch_side():
    pytest.importorskip("torch")
    if not (ARTIFACTS / "manifest.json").is_file():
        pytest.skip("no shipped model")
    from export.bench_torch import torch_audio, torch_codec
    model = ModelDir(ARTIFACTS)
    return {"codec": torch_codec(model), "audio": torch_audio(model)}


def test_shipped_tokenizer_graphs_match_tokenizer_pt(torch_side):
    from facelm.codec import MotionCodec
    ort_codec, pt_codec = MotionCodec(ARTIFACTS), torch_side["codec"]
    ids = np.random.default_rng(0).integers(0, ort_codec.num_codes, 40)
    a, b = ort_codec.decode(ids).to_array(False), pt_codec.decode(ids).to_array(False)
    assert np.abs(a - b).max() < 1e-4  # same weights (fp16-rounded in both), fp32 arithmetic
    clip = ort_codec.decode(ids)
    assert (ort_codec.encode(clip) == pt_codec.encode(clip)).mean() >= 0.95  # argmin ties may flip a rare id


def test_shipped_audio_graph_matches_audio_pt(torch_side):
    from facelm.audio import AudioToMotion
    t = np.arange(32000) / 16000
    speech = (0.3 * np.sin(2 * np.pi * 150 * t) * (np.sin(2 * np.pi * 3 * t) > 0)).astype(np.float32)
    rows = []
    for engine in (AudioToMotion(ARTIFACTS), torch_side["audio"]):
        stream = engine.stream()
        rows.append(np.concatenate([stream.push(speech[i:i + 320]) for i in range(0, len(speech), 320)]
                                   + [stream.flush()]))
    assert rows[0].shape == rows[1].shape == (50, rows[0].shape[1])
    assert np.abs(rows[0] - rows[1]).max() < 1e-3


def test_lm_and_tokenizer_must_share_motion_codes(model, capsys):
    """A retrained decoder keeps the codes (the LM still matches); a tokenizer trained anew does not."""
    from facelm.model_dir import speaks_same_codes
    lm = {"trained_on_motion_tokenizer_sha256": "a" * 64, "motion_tokenizer_decoder_sha256": "d" * 64}
    assert speaks_same_codes(lm, {"source_sha256": "a" * 64, "decoder_step": {"sha256": "e" * 64}})
    assert speaks_same_codes(lm, {"source_sha256": "b" * 64, "codes_sha256": "a" * 64})
    assert speaks_same_codes({"motion_tokenizer_codes_sha256": "a" * 64}, {"codes_sha256": "a" * 64})
    assert not speaks_same_codes(lm, {"source_sha256": "b" * 64, "decoder_step": {"sha256": "d" * 64}})
    legacy = {"motion_tokenizer_decoder_sha256": "d" * 64}  # exported before the codes were named
    assert speaks_same_codes(legacy, {"decoder_step": {"sha256": "d" * 64}})
    assert not speaks_same_codes(legacy, {"decoder_step": {"sha256": "e" * 64}})

    edit_manifest(model, lambda m: m["tokenizer"].update(codes_sha256="f" * 64))
    capsys.readouterr()
    assert cli(["check-model", str(model), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    failed = {c["what"] for c in report["checks"] if c["status"] == "FAIL"}
    assert failed == {"lm + tokenizer: same motion codes"}
