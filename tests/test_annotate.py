"""The annotator: behaviour read back from motion alone, and the text written about it."""
from __future__ import annotations

import dataclasses
import json
import re

import numpy as np
import pytest

from facelm import face_units
from facelm.clip import MotionClip
from training.annotate import TEXT_KEYS, annotate, labels_from_summary, main, score_recovery
from training.motion_analysis import HEAD_KINDS, analyse
from training.text import HELDOUT_PHRASES, HELDOUT_WORDS, LEXICON, LIMITS, Phrasing, realise_prompt

behaviour = pytest.importorskip("training.behaviour")
composer = pytest.importorskip("training.composer")

DIGIT = re.compile(r"\d")
NUMBER_WORDS = re.compile(r"\b(zero|one|two|three|four|five|six|seven|eight|nine|ten|twenty|hundred|percent)\b", re.I)
# Words that carry a head direction in any phrasing (train or held-out).
DIRECTION_WORDS = {
    "left": ("left", "leftward", "leftwards"), "right": ("right", "rightward", "rightwards"),
    "up": ("up", "upward", "upwards", "skyward", "raise", "lift", "back"),
    "down": ("down", "downward", "downwards", "lower", "drop", "bow", "hang"),
}
HELD_WORD = re.compile(r"\b(" + "|".join(re.escape(w) for w in HELDOUT_WORDS) + r")\b", re.I)


@pytest.fixture(scope="module")
def corpus():
    """200 composed clips with their specs (one batch: about a second to compose)."""
    rng = np.random.default_rng(20250101)
    specs = [behaviour.sample_spec(rng, clip_id=f"t{i}") for i in range(200)]
    batch = composer.compose_batch(specs)
    clips = [batch.clip(i) for i in range(len(specs))]
    summaries = [analyse(c) for c in clips]
    return specs, clips, summaries


def _scores(specs, summaries):
    return {k: (v["accuracy"], v["n"]) for k, v in score_recovery(specs, summaries).items()}


# ---------------------------------------------------------------------------
# recovery of the composer's ground truth
# ---------------------------------------------------------------------------
def test_recovers_composed_emotions_head_and_speaking(corpus):
    specs, _, summaries = corpus
    scores = _scores(specs, summaries)
    print("recovery over 200 composed clips:", scores)
    assert scores["emotion"][0] >= 0.98 and scores["emotion"][1] > 250
    assert scores["head"][0] >= 0.98 and scores["head"][1] > 250
    assert scores["moving_head"][0] >= 0.98 and scores["moving_head"][1] > 120
    assert scores["speaking"][0] >= 0.95


def test_recovery_without_arkit_reads_flame_only(corpus):
    """Generated motion has no ARKit track: the FLAME read-back path must do as well."""
    specs, clips, _ = corpus
    specs, clips = specs[:80], clips[:80]
    summaries = [analyse(dataclasses.replace(c, arkit=None, eyelid=None)) for c in clips]
    assert all("ARKit" not in " ".join(s.caveats) for s in summaries)
    scores = _scores(specs, summaries)
    assert scores["emotion"][0] >= 0.98 and scores["head"][0] >= 0.98


def test_head_kinds_match_the_spec_vocabulary():
    assert set(HEAD_KINDS) == set(behaviour.HEAD_KINDS)


def _clip(units: np.ndarray, neck: np.ndarray, fps: float = 25.0) -> MotionClip:
    expression, jaw = face_units.UnitBasis().to_expression(units.astype(np.float32))
    t = len(units)
    return MotionClip(expression, np.zeros((t, 3)), neck, jaw, np.zeros((t, 6)), fps=fps)


@pytest.mark.parametrize("axis, sign, kind", [
    (0, -1, "look_up"), (0, +1, "look_down"), (1, -1, "turn_right"),
    (1, +1, "turn_left"), (2, -1, "tilt_left"), (2, +1, "tilt_right")])
def test_held_pose_follows_mmhead_table(axis, sign, kind):
    """A hand-made clip (no composer): ramp to 0.3 rad on one axis, hold, come back."""
    t = np.arange(125) / 25.0
    neck = np.zeros((125, 3))
    neck[:, axis] = sign * 0.3 * np.clip(np.minimum((t - 1.0) / 0.5, (4.5 - t) / 0.5), 0, 1)
    kinds = [e.kind for e in analyse(_clip(np.zeros((125, face_units.NUM_UNITS)), neck)).head]
    assert kinds == ["still", kind, "still"]


@pytest.mark.parametrize("kind, axis", [("nod", 0), ("shake", 1)])
def test_sine_oscillations_are_nods_and_shakes(kind, axis):
    t = np.arange(150) / 25.0
    neck = np.zeros((150, 3))
    on = (t >= 1.0) & (t < 4.0)
    wave = np.sin(2 * np.pi * 1.5 * (t - 1.0))
    neck[on, axis] = 0.15 * (0.5 * (1 - np.cos(2 * np.pi * 1.5 * (t[on] - 1.0))) if kind == "nod" else wave[on])
    events = analyse(_clip(np.zeros((150, face_units.NUM_UNITS)), neck)).head
    assert [e.kind for e in events if e.kind != "still"] == [kind]
    assert next(e for e in events if e.kind == kind).speed == "normal"


def test_emotion_transition_and_resampling():
    """happy -> sad built from prototypes reads as that chain, at 25 fps and at 30 fps."""
    t = np.arange(200) / 25.0
    w = np.clip((t - 3.5) / 0.6, 0, 1)[:, None]
    units = (1 - w) * face_units.emotion_vector("happy", 0.8) + w * face_units.emotion_vector("sad", 0.8)
    clip = _clip(units, np.zeros((200, 3)))
    assert labels_from_summary(analyse(clip))["emotions"] == ["happy", "sad"]
    clip30 = clip.resample(30.0)
    summary30 = analyse(clip30)
    assert summary30.source_fps == 30.0 and any("resampled" in c for c in summary30.caveats)
    assert labels_from_summary(summary30)["emotions"] == ["happy", "sad"]


# ---------------------------------------------------------------------------
# the text
# ---------------------------------------------------------------------------
def test_text_is_nonempty_numberless_and_within_limits(corpus):
    specs, clips, summaries = corpus
    for i in range(0, 200, 4):
        for split in ("train", "paraphrase"):
            out = annotate(clips[i], spec=specs[i], rng=i, split=split, summary=summaries[i])
            for key in TEXT_KEYS + ("prompt",):
                text = out[key]
                assert text.strip() and text[0].isupper() and text.endswith("."), (key, text)
                assert not DIGIT.search(text) and not NUMBER_WORDS.search(text), (key, text)
                assert "  " not in text and " ," not in text and "{" not in text, (key, text)
            for key, limit in LIMITS.items():
                assert len(out[key].split()) <= limit, (key, out[key])
            assert set(out["labels"]) >= {"emotions", "head_kinds", "head_directions", "speaking"}


def test_train_and_val_text_never_use_heldout_phrasing(corpus):
    specs, clips, summaries = corpus
    for i in range(200):
        for split in ("train", "val"):
            out = annotate(clips[i], spec=specs[i], rng=1000 + i, split=split, summary=summaries[i])
            for key in TEXT_KEYS + ("prompt",):
                low = out[key].lower()
                hit = HELD_WORD.search(low)
                assert hit is None, (split, key, hit and hit.group(0), out[key])
                assert not [p for p in HELDOUT_PHRASES if re.search(rf"\b{re.escape(p)}\b", low)], out[key]
    # and no train phrasing in the lexicon contains a held-out word, in any form
    for key, options in LEXICON.items():
        for phrase in options.train:
            assert HELD_WORD.search(phrase.replace("{p}", "their")) is None, (key, phrase)


def test_paraphrase_split_uses_heldout_wording_and_keeps_meaning(corpus):
    specs, _, _ = corpus
    head_specs = [s for s in specs if s.category == "head"][:15]
    assert head_specs
    for k, spec in enumerate(specs[:60]):
        prompt = realise_prompt(spec, np.random.default_rng(k), "paraphrase")
        assert HELD_WORD.search(prompt.lower()), prompt
    for k, spec in enumerate(head_specs):
        kind = next(h.kind for h in spec.head if h.kind != "still")
        prompt = realise_prompt(spec, np.random.default_rng(k), "paraphrase").lower()
        if "_" in kind:  # the direction survives the rewording
            assert _names_direction(kind, prompt), (kind, prompt)


def _names_direction(kind: str, text: str) -> bool:
    words = re.findall(r"[a-z]+", text.lower())
    return any(w.startswith(stem) for w in words for stem in DIRECTION_WORDS[kind.split("_")[1]])


def test_prompts_vary_and_name_what_the_spec_asks(corpus):
    specs, _, _ = corpus
    one = next(s for s in specs if s.category == "emotion_head")
    prompts = {realise_prompt(one, np.random.default_rng(k)) for k in range(60)}
    assert len(prompts) >= 40, prompts
    for spec in specs:
        if spec.category != "head":
            continue
        kind = next(h.kind for h in spec.head if h.kind != "still")
        prompt = realise_prompt(spec, np.random.default_rng(3)).lower()
        options = [o.replace("{p}", "their").split()[0][:3] for o in LEXICON[f"v.head.{kind}"].train]
        assert any(o in prompt for o in options), (kind, prompt)
        if "_" in kind:
            assert _names_direction(kind, prompt), (kind, prompt)


def test_many_phrasings_per_fact():
    """Distinct surface forms each fact gets from the train pool."""
    ph = Phrasing(np.random.default_rng(0), "train")
    for key in ("v.head.nod", "v.head.turn_left", "adj.happy", "adj.sad", "v.speak", "speak.excited",
                "au.AU1", "au.AU4", "conn.then"):
        seen = {ph.verb(key) if key.startswith(("v.", "au.")) else ph.pick(key) for _ in range(200)}
        assert len(seen) >= 3, (key, seen)


# ---------------------------------------------------------------------------
# real clips and the CLI
# ---------------------------------------------------------------------------
def _load_beat2(path) -> MotionClip:
    """BEAT2 via the importer when present, else a tiny inline reader."""
    try:
        from facelm.importers import import_clip
        return import_clip(path).clip
    except ImportError:
        from facelm import rotations
        d = np.load(path, allow_pickle=True)
        p = d["poses"].reshape(len(d["poses"]), 55, 3)
        neck = rotations.compose_axis_angle(p[:, 12], p[:, 15])
        zeros = np.zeros((len(p), 3))
        return MotionClip(d["expressions"], zeros, neck, p[:, 22], np.concatenate([p[:, 23], p[:, 24]], 1), fps=30.0)


def test_beat2_clip_annotates(realdata):
    path = realdata / "beat2" / "2_scott_0_1_1.npz"
    if not path.exists():
        pytest.skip("BEAT2 clip absent")
    clip = _load_beat2(path)
    out = annotate(clip, rng=1)
    for key in TEXT_KEYS:
        assert out[key].strip() and not DIGIT.search(out[key])
        assert len(out[key].split()) <= LIMITS[key]
    assert out["labels"]["speaking"] != "none"  # the speaker talks throughout
    summary = analyse(clip)
    assert any("first 50" in c for c in summary.caveats)


@pytest.mark.parametrize("name", ["alex_rom_3.csv", "S07-001.csv"])
def test_live_link_face_clip_annotates(realdata, name):
    importers = pytest.importorskip("facelm.importers")
    path = realdata / "livelinkface" / name
    if not path.exists():
        pytest.skip(f"{name} absent")
    clip = importers.import_clip(path).clip
    out = annotate(clip, rng=2)
    assert all(out[k].strip() and not DIGIT.search(out[k]) for k in TEXT_KEYS)


def test_cli_prints_json_and_errors_cleanly(corpus, tmp_path, capsys):
    specs, clips, _ = corpus
    path = tmp_path / "clip.npz"
    clips[0].save(path)
    assert main([str(path), "--json", "--seed", "3"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(TEXT_KEYS) <= set(data) and "labels" in data and "analysis" in data
    assert main([str(path)]) == 0
    assert "detail_head_pose:" in capsys.readouterr().out
    assert main([str(tmp_path / "missing.npz")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "Traceback" not in err
