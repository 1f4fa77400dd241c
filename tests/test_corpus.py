"""The corpus on disk: generation, manifest, splits, reproducible shards, reader, stats, loader."""
from __future__ import annotations

import json

import numpy as np
import pytest

from facelm.errors import FacelmError
from training.behaviour import BehaviourSpec
from training.composer import compose
from training.corpus import CorpusConfig, generate, heldout_identities, main, shard_specs
from training.corpus_store import FEATURES, CorpusReader, Shard, write_shard
from training.dataset import CorpusDataset

TINY = dict(hours=0.03, seed=3, shard_hours=0.015, identities=8, batch_clips=8)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    manifest = generate(CorpusConfig(**TINY), root, workers=1, progress=False)
    return root, manifest


def test_manifest_counts_hours_and_hashes(corpus):
    root, manifest = corpus
    assert manifest == json.loads((root / "manifest.json").read_text())
    assert manifest["seed"] == 3 and manifest["fps"] == 25 and len(manifest["shards"]) == 2
    assert manifest["hours"] == pytest.approx(0.03, abs=2 / 3600)
    assert manifest["clips"] == sum(s["clips"] for s in manifest["shards"])
    assert manifest["frames"] == sum(s["frames"] for s in manifest["shards"])
    assert sum(v["clips"] for v in manifest["splits"].values()) == manifest["clips"]
    reader = CorpusReader(root)
    assert reader.verify() == []
    assert len(reader.refs()) == manifest["clips"]
    neck = reader.shard(0).array("neck_pose")
    assert isinstance(neck.base, np.memmap) or isinstance(neck, np.memmap)  # mapped, not loaded


def test_stored_clips_are_the_composed_specs_with_text(corpus):
    root, _ = corpus
    reader = CorpusReader(root)
    for ref in reader.refs()[::4]:
        meta = reader.meta(ref)
        spec = BehaviourSpec.from_dict(meta["spec"])
        stored, fresh = reader.clip(ref), compose(spec)
        assert stored.num_frames == ref.num_frames == meta["num_frames"]
        for key in FEATURES:
            # composed in a batch there, alone here: float32 products may take another BLAS kernel
            np.testing.assert_allclose(getattr(stored, key), getattr(fresh, key), rtol=0, atol=1e-6, err_msg=key)
        assert meta["labels"]["emotions"] == spec.emotion_labels() and meta["split"] == ref.split
        text = meta["text"]
        if text:  # the annotator is importable: five MMHead categories + the prompt
            assert {"action", "emotion", "detail_expression", "detail_head_pose", "emotion_scenario",
                    "prompt"} <= set(text)
            assert all(isinstance(text[k], str) and text[k] for k in ("action", "prompt"))
            assert ("text_paraphrase" in meta) == (ref.split == "test")


def test_same_seed_gives_identical_shards(corpus, tmp_path):
    root, manifest = corpus
    again = generate(CorpusConfig(**TINY), tmp_path, workers=1, progress=False, stats=False)
    assert [s["sha256"] for s in again["shards"]] == [s["sha256"] for s in manifest["shards"]]
    other = shard_specs(CorpusConfig(**{**TINY, "seed": 4}), 0, 0.015)
    assert [s.clip_id for s, _, _ in other] != [s.clip_id for s, _, _ in shard_specs(CorpusConfig(**TINY), 0, 0.015)]


def test_splits_are_disjoint_and_hold_out_identities():
    cfg = CorpusConfig(hours=0.4, seed=5, shard_hours=0.2, identities=20)
    items = [it for k in range(2) for it in shard_specs(cfg, k, 0.2)]
    ids = [spec.clip_id for spec, _, _ in items]
    assert len(ids) == len(set(ids))
    held = {f"id{i:04d}" for i in heldout_identities(cfg)}
    assert len(held) == 2
    by_split = {s: {spec.identity.identity_id for spec, split, _ in items if split == s} for s in ("train", "val", "test")}
    assert by_split["train"] and by_split["test"]
    assert not held & (by_split["train"] | by_split["val"])  # unseen performers only in test
    assert all(unseen == (spec.identity.identity_id in held) for spec, _, unseen in items)
    total = sum(spec.num_frames for spec, _, _ in items) / 25 / 3600
    assert total == pytest.approx(0.4, abs=2 / 3600)


def test_loader_clips_and_windows(corpus):
    root, manifest = corpus
    ds = CorpusDataset(root, "train")
    assert len(ds) == manifest["splits"]["train"]["clips"] and ds.width == 65
    assert sum(item.features.shape[0] for item in ds.clips(shuffle=True, seed=1)) == ds.frames
    windows = list(ds.windows(40, seed=2, count=20))
    assert windows[0].features.shape == (40, 65) and windows[0].features.dtype == np.float32
    again = list(ds.windows(40, seed=2, count=20))
    assert all(np.array_equal(a.features, b.features) for a, b in zip(windows, again))
    reader = CorpusReader(root)
    refs = {reader.meta(r)["clip_id"]: r for r in reader.refs("train")}
    for w in windows[:5]:
        clip = reader.clip(refs[w.clip_id]).frames(w.start, w.start + 40)
        np.testing.assert_array_equal(w.features, clip.to_array())
        assert set(w.window_labels) == {"emotions", "head", "speaking"}
    assert CorpusDataset(root, "train", features="arkit").item(0).features.shape[1] == 52 + 15
    with pytest.raises(FacelmError, match="no clip"):
        ds.sample_window(np.random.default_rng(0), 100000)


def test_torch_window_dataset(corpus):
    torch = pytest.importorskip("torch")
    ds = CorpusDataset(corpus[0], "train").torch_windows(32, epoch_size=4)
    x, prompt = ds[0]
    assert isinstance(x, torch.Tensor) and tuple(x.shape) == (32, 65) and isinstance(prompt, str)


def test_stats_files(corpus):
    root, manifest = corpus
    stats = json.loads((root / "stats.json").read_text())
    assert stats["clips"] == manifest["clips"]
    assert sum(stats["durations_s"]["histogram"]["counts"]) == manifest["clips"]
    assert sum(stats["categories"].values()) == manifest["clips"]
    assert sum(stats["dominant_emotion_clips"].values()) == manifest["clips"]
    for name in ("durations", "emotions", "actions", "head_pose", "words", "head_rotation"):
        assert (root / f"{name}.png").stat().st_size > 5000


def test_compressed_shards_read_back(tmp_path):
    arrays = {k: np.random.default_rng(0).normal(size=(10, w)).astype(np.float32) for k, w in FEATURES.items()}
    meta = [{"clip_id": "a", "split": "train"}, {"clip_id": "b", "split": "test"}]
    info = write_shard(tmp_path / "s.npz", arrays, np.array([0, 4, 10]), meta, compress=True)
    assert info["clips"] == 2 and info["frames"] == 10
    shard = Shard(tmp_path / "s.npz")
    np.testing.assert_array_equal(shard.array("arkit"), arrays["arkit"])
    assert shard.meta()[1]["clip_id"] == "b" and list(shard.split) == [0, 2]
    with pytest.raises(FacelmError, match="offsets"):
        write_shard(tmp_path / "t.npz", arrays, np.array([0, 4, 4]), meta)


def test_cli_errors_and_resume(corpus, tmp_path, capsys):
    root, manifest = corpus
    assert main(["--hours", "0", "--out", str(tmp_path / "x")]) == 2
    assert main(["--hours", "0.03", "--out", str(root), "--no-stats"]) == 2
    assert "already holds a corpus" in capsys.readouterr().err
    args = ["--hours", "0.03", "--seed", "3", "--shard-hours", "0.015", "--identities", "8", "--workers", "1",
            "--out", str(root), "--resume", "--no-stats"]
    assert main(args) == 0
    assert json.loads((root / "manifest.json").read_text())["shards"] == manifest["shards"]
    assert "h of motion per minute" in capsys.readouterr().out
    with pytest.raises(FacelmError, match="manifest"):
        CorpusReader(tmp_path)
