"""Evaluation metrics against small cases worked out by hand, and the evaluator's contracts.

No data/ or runs/ dependency: everything is built here.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from training.metrics import (bleu, cider_d, diversity, embedding_similarity, fid, mm_dist, multimodality,
                              r_precision, rouge_l)
from training.metrics.attributes import (accuracy, clip_attributes, compare, emotion_from_text, head_from_text,
                                         is_named_subsequence, speaking_from_text, text_attributes)
from training.metrics.text import lcs_length, words

CAT = "The cat sat on the mat."
REF = "the cat is on the mat"


# ---------------------------------------------------------------------------
# BLEU
# ---------------------------------------------------------------------------
def test_bleu_single_pair_by_hand():
    # n-gram precisions of CAT against REF: 5/6, 3/5, 1/4, 0/3; equal lengths, so no brevity penalty.
    assert bleu([CAT], [[REF]], max_n=1) == pytest.approx(5 / 6)
    assert bleu([CAT], [[REF]], max_n=2) == pytest.approx(math.sqrt(5 / 6 * 3 / 5))
    assert bleu([CAT], [[REF]], max_n=3) == pytest.approx((5 / 6 * 3 / 5 * 1 / 4) ** (1 / 3))
    assert bleu([CAT], [[REF]], max_n=4) == 0.0  # no matching 4-gram and no smoothing


def test_bleu_clips_repeated_words_and_sums_over_the_corpus():
    # "the the the" against "the cat": 'the' counts at most once -> unigram precision 1/3;
    # candidate shorter than... no: 3 > 2, no penalty.
    assert bleu(["the the the"], [["the cat"]], max_n=1) == pytest.approx(1 / 3)
    # Corpus level: matches and totals add up before dividing (2+1)/(2+3), not a mean of 1 and 1/3.
    got = bleu(["a b", "the the the"], [["a b"], ["the cat"]], max_n=1)
    assert got == pytest.approx(3 / 5)


def test_bleu_brevity_penalty_and_closest_reference():
    # candidate "a b" (2 words) against "a b c d": precision 1, BP = exp(1 - 4/2)
    assert bleu(["a b"], [["a b c d"]], max_n=1) == pytest.approx(math.exp(-1.0))
    # with a second reference of length 2 the closest length is 2: no penalty
    assert bleu(["a b"], [["a b c d", "a x"]], max_n=1) == pytest.approx(1.0)
    # the best reference counts per n-gram: "a b" gets 'a' from one and 'b' from the other
    assert bleu(["a b"], [["a x", "y b"]], max_n=1) == pytest.approx(1.0)
    # a tie in closeness (lengths 1 and 3 around 2) takes the shorter: c=2 > r=1, no penalty
    assert bleu(["a b"], [["a", "a b c"]], max_n=1) == pytest.approx(1.0)


def test_bleu_full_marks_and_errors():
    text = "the head turns to the left and stays there"
    assert bleu([text], [[text]]) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        bleu(["a"], [])
    with pytest.raises(ValueError):
        bleu(["a"], [[]])


# ---------------------------------------------------------------------------
# ROUGE-L
# ---------------------------------------------------------------------------
def test_lcs_and_rouge_l_by_hand():
    assert lcs_length(words(CAT), words(REF)) == 5  # the cat on the mat
    assert rouge_l([CAT], [[REF]]) == pytest.approx(5 / 6)  # P = R = 5/6
    # "a b c" vs "a c": LCS 2, P = 2/3, R = 1; F = (1+b^2) P R / (R + b^2 P) with b = 1.2
    p, r, b2 = 2 / 3, 1.0, 1.44
    assert rouge_l(["a b c"], [["a c"]]) == pytest.approx((1 + b2) * p * r / (r + b2 * p))
    # best reference per item, then the mean over items: (1 + 0) / 2
    assert rouge_l(["x y", "q"], [["z", "x y"], ["w"]]) == pytest.approx(0.5)


# ---------------------------------------------------------------------------
# CIDEr-D
# ---------------------------------------------------------------------------
def test_cider_d_two_items_by_hand():
    # Two items with references "a b" and "c d"; every reference n-gram occurs in one
    # item of two: idf = log 2 (an unseen n-gram gets log(2/1) as well).
    # Item 1, "a b" = its reference: cosine 1 for unigrams and bigrams, no 3/4-grams:
    #   10 * (1 + 1 + 0 + 0) / 4 = 5.
    # Item 2, "c e" vs "c d": unigram vectors (L, L) and (L, L) share 'c': L^2 / (2 L^2) = 0.5;
    #   bigrams differ: 10 * 0.5 / 4 = 1.25.  Corpus: (5 + 1.25) / 2.
    assert cider_d(["a b", "c e"], [["a b"], ["c d"]]) == pytest.approx(3.125)


def test_cider_d_length_penalty_clipping_and_idf():
    # "x a b y" against "a b" (the other item "c d" is exact, 5): every n-gram has idf L = log 2.
    # unigrams: (x, a, b, y) . (a, b) = 2 L^2 over norms 2L and sqrt(2) L -> 1/sqrt(2);
    # bigrams: (x a, a b, b y) . (a b) -> 1/sqrt(3); no reference 3/4-grams; length gap 2.
    item = 10 * math.exp(-4 / 72) * (1 / math.sqrt(2) + 1 / math.sqrt(3)) / 4
    assert cider_d(["x a b y", "c d"], [["a b"], ["c d"]]) == pytest.approx((item + 5) / 2)
    # An n-gram present in every item's references has idf 0 and earns nothing.
    assert cider_d(["the", "the"], [["the a"], ["the b"]]) == 0.0
    # Repeating a matching word does not pay: weights are clipped to the reference's.
    once = cider_d(["a b", "c d"], [["a b"], ["c d"]])
    rep = cider_d(["a a a b", "c d"], [["a b"], ["c d"]])
    assert rep < once


# ---------------------------------------------------------------------------
# retrieval and distribution metrics
# ---------------------------------------------------------------------------
def test_r_precision_by_hand():
    # batch of 3 on a line: text 0 at 0.0 is nearest motion 1 (0.4), then motion 0 (0.5):
    # its own motion ranks second. Texts 1 and 2 find theirs first.
    text = np.array([[0.0], [0.4], [3.0]])
    motion = np.array([[0.5], [0.4], [3.0]])
    top = r_precision(text, motion, batch_size=3, top_k=3, seed=None)
    assert top == pytest.approx([2 / 3, 1.0, 1.0])
    assert mm_dist(text, motion) == pytest.approx(0.5 / 3)


def test_r_precision_batches_of_32_and_drops_the_remainder():
    rng = np.random.default_rng(0)
    text = rng.normal(size=(70, 8))
    # motions equal to their texts: every text finds its own motion first
    assert r_precision(text, text.copy(), repeats=3) == pytest.approx([1.0, 1.0, 1.0])
    # motions unrelated to the texts: top-3 about 3/32
    rand = r_precision(text, rng.normal(size=(70, 8)), repeats=20)
    assert 0.02 < rand[2] < 0.2
    with pytest.raises(ValueError):
        r_precision(text[:31], text[:31])


def test_fid_by_hand():
    rng = np.random.default_rng(1)
    real = rng.normal(size=(200, 4))
    assert fid(real, real) == pytest.approx(0.0, abs=1e-6)
    shift = np.array([1.0, -2.0, 0.0, 0.5])
    assert fid(real, real + shift) == pytest.approx(float(shift @ shift), rel=1e-6)
    # 1-D: variances 2 and 8 (ddof 1) -> (sqrt 2 - sqrt 8)^2 = 2
    assert fid(np.array([[-1.0], [1.0]]), np.array([[-2.0], [2.0]])) == pytest.approx(2.0)


def test_diversity_and_multimodality_by_hand():
    simplex = np.eye(5)  # every two distinct points sqrt(2) apart
    assert diversity(simplex, pairs=300) == pytest.approx(math.sqrt(2))
    assert diversity(np.ones((10, 3)), pairs=50) == 0.0
    groups = np.stack([np.eye(4), 3 * np.eye(4)])  # per prompt sqrt(2) and 3 sqrt(2)
    assert multimodality(groups, pairs=10) == pytest.approx(2 * math.sqrt(2))
    with pytest.raises(ValueError):
        multimodality(np.eye(4))


def test_embedding_similarity():
    a = np.array([[1.0, 0.0], [0.0, 2.0]])
    b = np.array([[2.0, 0.0], [1.0, 1.0]])
    assert embedding_similarity(a, b) == pytest.approx((1.0 + math.sqrt(0.5)) / 2)


# ---------------------------------------------------------------------------
# attributes
# ---------------------------------------------------------------------------
TRUTH_LABELS = {  # the corpus ground-truth format: [label, level, start, end], head [kind, start, end]
    "emotion_segments": [["neutral", "none", 0.0, 1.0], ["angry", "moderate", 1.0, 3.0],
                         ["sad", "slight", 3.0, 3.3], ["surprised", "strong", 3.3, 6.0]],
    "head": [["still", 0.0, 0.5], ["turn_left", 0.5, 2.0], ["nod", 2.0, 4.0], ["still", 4.0, 6.0]],
    "speaking": "calm",
}
READ_LABELS = {  # the annotator's format: [label, start, end, intensity], head [kind, start, end, speed]
    "emotion_segments": [["angry", 0.0, 3.1, 0.7], ["surprised", 3.1, 6.0, 0.8]],
    "head": [["turn_left", 0.0, 2.1, "fast"], ["nod", 2.1, 4.0, "normal"]],
    "speaking": "excited",
}


def test_clip_attributes_from_both_label_formats():
    truth, read = clip_attributes(TRUTH_LABELS), clip_attributes(READ_LABELS)
    assert truth["emotion"] == ("angry", "surprised")  # 0.3 s of sad is a passing blend
    assert truth["head"] == ("turn_left", "nod") and truth["head_directions"] == ("turn_left",)
    hits = compare(truth, read)
    assert hits == {"emotion": True, "head": True, "speaking": False, "head_directions": True,
                    "speaking_binary": True, "all": False}
    acc = accuracy([hits, compare(truth, truth)])
    assert acc["speaking"] == 0.5 and acc["emotion"] == 1.0 and acc["all"] == 0.5 and acc["n"] == 2
    assert acc["mean"] == pytest.approx((1 + 1 + 0.5) / 3)


def test_attributes_from_text_use_the_lexicon():
    assert emotion_from_text("The person goes from expressionless to very cheerful and back to neutral.") == ("happy",)
    assert emotion_from_text("This individual turns flabbergasted for a while.") == ("surprised",)  # held-out word
    assert emotion_from_text("The person looks expressionless throughout.") == ()
    # degree words inside a phrase and a negated clause name nothing wrong
    assert head_from_text("The head turns far to the left and stays there, and then bobs up and down.") == \
        ("turn_left", "nod")
    assert head_from_text("The head stays centred the entire time, without tilting, turning or nodding.") == ()
    assert head_from_text("The head moves up and down, then lifts up.") == ("nod", "look_up")
    assert speaking_from_text("The person nods while talking excitedly.") == "excited"
    assert speaking_from_text("Someone converses in a measured tone.") == "calm"
    assert speaking_from_text("The person shakes the head.") == "none"
    got = text_attributes({"emotion": "The person looks annoyed at first, then turns surprised.",
                           "detail_head_pose": "The head turns to the left, then nods.",
                           "action": "The person talks calmly."})
    hits = compare(clip_attributes(TRUTH_LABELS), got, named=True)
    assert hits["emotion"] and hits["head"] and hits["speaking"] and hits["all"]


def test_named_subsequence():
    assert is_named_subsequence(("a", "c"), ("a", "b", "c"))
    assert not is_named_subsequence(("c", "a"), ("a", "b", "c"))
    assert not is_named_subsequence((), ("a",))
    assert is_named_subsequence((), ())
    assert not is_named_subsequence(("a",), ())


# ---------------------------------------------------------------------------
# the evaluator model (tiny, built here)
# ---------------------------------------------------------------------------
def test_evaluator_is_batch_invariant_and_round_trips(tmp_path):
    torch = pytest.importorskip("torch")
    from models.tmr import EvaluatorConfig, TextMotionEvaluator

    torch.manual_seed(0)
    model = TextMotionEvaluator(EvaluatorConfig(motion_dim=6, d_model=16, layers=1, heads=2, ff=32, latent=8,
                                                text_dim=10, max_frames=40)).eval()
    rng = np.random.default_rng(0)
    clips = [rng.normal(size=(n, 6)).astype(np.float32) for n in (9, 33, 17, 60)]
    together = model.embed_clips(clips, batch_size=4)
    alone = np.concatenate([model.embed_clips([c]) for c in clips])
    np.testing.assert_allclose(together, alone, atol=1e-5)  # padding never leaks into a clip
    np.testing.assert_allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-5)
    torch.save(model.checkpoint(), tmp_path / "ev.pt")
    again = TextMotionEvaluator.from_checkpoint(tmp_path / "ev.pt")
    np.testing.assert_allclose(again.embed_clips(clips), together, atol=1e-6)


def test_infonce_leaves_false_negatives_out():
    torch = pytest.importorskip("torch")
    from models.tmr import EvaluatorConfig, TextMotionEvaluator

    model = TextMotionEvaluator(EvaluatorConfig(temperature=1.0))
    motion = torch.nn.functional.normalize(torch.tensor([[1.0, 0.0], [1.0, 0.1], [0.0, 1.0]]), dim=-1)
    text = motion.clone()
    plain = model.loss(motion, text)
    same = torch.tensor([[True, True, False], [True, True, False], [False, False, True]])
    masked = model.loss(motion, text, same)
    # clips 0 and 1 say the same thing: without each other as negatives the loss drops, and
    # equals the loss over the batch {0, 2} for row 0
    assert masked < plain
    logits = motion @ text.T
    row0 = -torch.log_softmax(logits[0, [0, 2]], 0)[0]
    row2 = -torch.log_softmax(logits[2], 0)[2]
    row1 = -torch.log_softmax(logits[1, [1, 2]], 0)[0]
    assert float(masked) == pytest.approx(float((row0 + row1 + row2) / 3), rel=1e-5)


# ---------------------------------------------------------------------------
# the results table in the model card
# ---------------------------------------------------------------------------
def test_model_card_section_keeps_other_text_and_versions(tmp_path):
    from training.metrics.report import render_markdown, update_model_card

    result = {"meta": {"clips": 2}, "reference": {"real": {"attributes": {"emotion": 1.0, "head": 0.5, "speaking": 1.0,
                                                                            "all": 0.5, "n": 2}}},
              "language2motion": {"status": "no LM checkpoint"}}
    table = render_markdown(result, "v1")
    assert "| real motion (reference) | 2 | 100.0 | 50.0 | 100.0 | 50.0 |" in table
    card = tmp_path / "MODEL_CARD.md"
    card.write_text("# Card\n\n## Motion tokenizer\n\nkept words\n\n## Language model\n\nabout the LM\n\n## Audio\n\nx\n")
    update_model_card(card, "v1", table)
    update_model_card(card, "v2", table.replace("#### v1", "#### v2"))
    update_model_card(card, "v1", table.replace("about", "changed"))
    text = card.read_text()
    assert "kept words" in text and "about the LM" in text and text.endswith("## Audio\n\nx\n")
    assert text.count("#### v1") == 1 and text.count("#### v2") == 1
    assert text.index("about the LM") < text.index("#### v1") < text.index("## Audio")


def test_false_negatives_follow_what_each_text_speaks_about():
    pytest.importorskip("torch")
    from training.train_evaluator import negatives_mask

    a = {"emotion": ("happy",), "head": ("nod",), "speaking": "none"}
    b = {"emotion": ("happy",), "head": ("shake",), "speaking": "none"}
    c = {"emotion": ("sad",), "head": ("nod",), "speaking": "none"}
    same = negatives_mask([a, b, c], ["looks happy", "is cheerful", "nods"], ["emotion", "emotion", "detail_head_pose"])
    # [i, j]: text j (of its category) also describes clip i
    assert same.tolist() == [[True, True, True],     # clip a is happy (texts 0, 1) and nods (text 2)
                             [True, True, False],    # clip b is happy but shakes
                             [False, False, True]]   # clip c is sad and nods
    prompt = negatives_mask([a, b], ["x", "x"], ["prompt", "prompt"])  # identical text: never a negative
    assert prompt.all()


def test_hard_negatives_mirror_the_head_and_swap_its_labels():
    pytest.importorskip("torch")
    from training.train_evaluator import extra_negatives_mask, flip_up_down, hard_negatives, mirror_left_right

    rng = np.random.default_rng(0)
    clip = rng.normal(size=(10, 62)).astype(np.float32)
    mirrored = mirror_left_right(clip)
    np.testing.assert_array_equal(mirror_left_right(mirrored), clip)  # an involution
    np.testing.assert_array_equal(mirrored[:, :50], clip[:, :50])     # expression untouched
    assert np.allclose(mirrored[:, 51], -clip[:, 51]) and np.allclose(mirrored[:, 50], clip[:, 50])  # yaw, not pitch
    np.testing.assert_array_equal(mirrored[:, 56:59], clip[:, 59:62] * np.array([1, -1, -1], np.float32))
    assert np.allclose(flip_up_down(clip)[:, 50], -clip[:, 50])
    turn = {"emotion": ("happy",), "head": ("turn_left", "nod"), "speaking": "none"}
    still = {"emotion": ("happy",), "head": (), "speaking": "none"}
    extra, attrs = hard_negatives([clip, clip], [turn, still], rng, count=4)
    assert len(extra) == 1 and attrs[0]["head"] == ("turn_right", "nod")  # only the clip whose labels change
    # an emotion text of the turning clip also describes its mirror; a prompt does not
    mask = extra_negatives_mask([turn, turn], ["emotion", "prompt"], attrs)
    assert mask.tolist() == [[True], [False]]


def test_mirrored_pairs_swap_text_motion_and_labels_together():
    pytest.importorskip("torch")
    from training.train_evaluator import CATEGORIES, SplitData, mirror_left_right, sample_batch, swap_left_right

    assert swap_left_right("Turn left, then the head swings rightwards. Left.") == \
        "Turn right, then the head swings leftwards. Right."
    rng = np.random.default_rng(0)
    turn = {"emotion": (), "head": ("turn_left",), "speaking": "none"}
    still = {"emotion": (), "head": (), "speaking": "none"}
    clips = [rng.normal(size=(8, 62)).astype(np.float32) for _ in range(4)]
    texts = [{c: f"{c} {i} left" for c in CATEGORIES} for i in range(4)]
    data = SplitData(clips, texts, [turn, still, turn, still], ["a", "b", "c", "d"])
    sentences = rng.normal(size=(4, len(CATEGORIES), 384)).astype(np.float32)
    mirror_sent = rng.normal(size=(4, 3, 384)).astype(np.float32)
    b = sample_batch(data, sentences, mirror_sent, rng, size=4, mirror_share=0.5, negative_share=0.0)
    assert len(b.frames) == len(b.sentences) == len(b.attributes) == len(b.texts) == 6  # 4 clips + 2 mirrors
    for extra in range(4, 6):
        assert b.attributes[extra]["head"] == ("turn_right",) and b.texts[extra].endswith("right")
        source = next(i for i in (0, 2) if np.array_equal(mirror_left_right(clips[i]), b.frames[extra]))
        assert b.texts[extra].split()[1] == str(source)
