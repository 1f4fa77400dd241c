"""Known words: what the LM's text path learned, the split the runtime applies, and training's word dropout."""
from __future__ import annotations

import json

import numpy as np
import pytest

from facelm.errors import FacelmError
from facelm.known_words import FORMAT, KnownWords, remove_words, words_of


def test_words_of_normalises_like_the_bpe():
    assert words_of(["A person NODS, smiling.", "ﬁne person's day 12"]) == {"a", "person", "nods", "smiling",
                                                                            "fine", "person's", "day"}


def test_split_leaves_out_unknown_words_and_reports_them_in_order():
    known = KnownWords(["a", "person", "nods", "and", "smiles", "slowly"])
    assert known.split("A person nods slowly.")[:3] == ("A person nods slowly.", [], [])
    assert known.split("A person nods slowly and grins, elatedly.")[:2] == ("A person nods slowly and.",
                                                                            ["grins", "elatedly"])
    assert known.split("Elated, a person NODS.")[:2] == ("a person NODS.", ["Elated"])
    assert known.split("Somebody bobs!")[:2] == ("", ["Somebody", "bobs"])  # nothing left: embedding only
    assert known.split("nods for 3 s").text == "nods 3"  # digits are not words; "for" and "s" unknown
    # the sentence encoder keeps every word
    assert known.split("Elated, a person NODS.").sentence == "Elated, a person NODS."


def test_other_forms_of_known_words_are_read_as_known_ones():
    known = KnownWords(["nods", "smiling", "rightward", "tilted", "quickly"])
    assert [known.resolve(w) for w in ("nodding", "nod", "smiles", "rightwards", "tilts", "quick")] == \
        ["nods", "nods", "smiling", "rightward", "tilted", None]  # never across to an adverb
    rewrite = known.split("Nodding rightwards")
    assert rewrite.text == "nods rightward"
    assert rewrite.aliased == [("Nodding", "nods"), ("rightwards", "rightward")]


def test_aliases_are_inflected_like_the_word_and_reach_the_sentence_too():
    known = KnownWords(["a", "person", "turns", "turning", "looking", "and", "angry", "quickly", "the",
                        "head"],
                       aliases={"swivel": "turn", "livid": "angry", "swift": "quick", "sad": "happy"})
    assert known.resolve("swivels") == "turns" and known.resolve("swivelling") == "turning"
    assert known.resolve("swiftly") == "quickly" and known.resolve("swivel") == "turns"  # nearest known form
    rewrite = known.split("A person swivels the head swiftly, looking livid and grim.")
    assert rewrite.text == "A person turns the head quickly, looking angry and."
    assert rewrite.unknown == ["grim"]
    assert rewrite.aliased == [("swivels", "turns"), ("swiftly", "quickly"), ("livid", "angry")]
    assert rewrite.sentence == "A person turns the head quickly, looking angry and grim."


def test_a_phrase_alias_inflects_its_first_word():
    known = KnownWords(["moves", "moving", "up", "and", "down", "is", "be", "mad", "someone"],
                       aliases={"bob": "move up and down", "fume": "be mad"})
    assert known.resolve("bobs") == "moves up and down" and known.resolve("bobbing") == "moving up and down"
    assert known.resolve("fumes") == "is mad" and known.resolve("fume") == "be mad"  # be is irregular
    rewrite = known.split("Someone fumes and bobs.")
    assert rewrite.text == rewrite.sentence == "Someone is mad and moves up and down."
    assert rewrite.aliased == [("fumes", "is mad"), ("bobs", "moves up and down")]


def test_a_compound_with_one_known_part_reads_that_part_only():
    known = KnownWords(["a", "person", "stays", "still", "wide", "eyed", "looking"], aliases={"stock": "raise"})
    rewrite = known.split("A person stays stock-still, looking wide-eyed.")
    assert rewrite.text == "A person stays still, looking wide-eyed."  # both parts known: kept as written
    assert rewrite.unknown == ["stock"] and rewrite.aliased == []
    assert rewrite.sentence == "A person stays stock-still, looking wide-eyed."  # the encoder reads it all
    assert known.split("A person stays ice-cold.").text == "A person stays."  # neither part known


def test_remove_words_with_any_rule():
    kept, removed = remove_words("one two three four", lambda w: len(w) > 3)
    assert (kept, removed) == ("three four", ["one", "two"])


def test_file_round_trip_and_clear_errors(tmp_path):
    path = tmp_path / "lm_words.json"
    KnownWords(["Nods", "head"], aliases={"bobs": "nods"}).save(path)
    assert json.loads(path.read_text())["format"] == FORMAT
    loaded = KnownWords.from_file(path)
    assert loaded.words == {"nods", "head"} and loaded.aliases == {"bobs": "nods"}
    path.write_text(json.dumps({"format": "facelm-words/1", "words": ["nods"]}))  # before aliases existed
    assert KnownWords.from_file(path).aliases == {}
    for text, word in (("{not json", "not a known-words JSON"), ('{"format": "x", "words": ["a"]}', "format"),
                       (json.dumps({"format": FORMAT, "words": ["a", 3]}), "non-empty strings"),
                       (json.dumps({"format": FORMAT, "words": ["a"], "aliases": {"b": 1}}), "'aliases'"),
                       (json.dumps({"format": FORMAT, "words": []}), "empty")):
        path.write_text(text)
        with pytest.raises(FacelmError, match=word):
            KnownWords.from_file(path)
    with pytest.raises(FacelmError, match="not a known-words JSON"):
        KnownWords.from_file(tmp_path / "missing.json")


def test_sampler_drops_words_from_tokens_but_not_from_the_embedding():
    """embed_only: no text tokens; word_drop: a subset of the words; the prefix sentence stays whole."""
    from facelm.vocab import Vocab
    from training.lm_data import Example, SequenceSampler
    from training.text_tokenizer import train_text_tokenizer

    prompt = "A person nods slowly and smiles warmly at a friend."
    tok = train_text_tokenizer([prompt] * 20, vocab_size=300)
    vocab = Vocab(num_text=tok.size, num_motion=16)
    ex = Example(np.arange(8, dtype=np.int16), {"action": prompt}, [prompt], {}, "c0")  # either source: same text

    def prompt_text(sampler) -> tuple[str, str | None]:
        seq = sampler.sequence(ex, "t2m")
        text_ids = [i for i in seq.ids if vocab.is_text(i)]
        return (vocab.decode_text(tok, text_ids) if text_ids else ""), seq.cond_text

    full = SequenceSampler([ex], vocab, tok, {}, 128, seed=0, cfg_drop=0.0)
    assert prompt_text(full) == (prompt, prompt)
    only = SequenceSampler([ex], vocab, tok, {}, 128, seed=0, cfg_drop=0.0, embed_only=1.0)
    assert prompt_text(only) == ("", prompt)
    some = SequenceSampler([ex], vocab, tok, {}, 128, seed=0, cfg_drop=0.0, word_drop=1.0)
    texts = [prompt_text(some) for _ in range(20)]
    assert all(cond == prompt for _, cond in texts)
    kept_counts = [len(words_of([t])) for t, _ in texts]
    assert all(n < len(words_of([prompt])) for n in kept_counts if n) and len(set(kept_counts)) > 1
