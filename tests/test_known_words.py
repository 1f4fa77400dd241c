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
    assert known.split("A person nods slowly.") == ("A person nods slowly.", [])
    assert known.split("A person nods slowly and grins, elatedly.") == ("A person nods slowly and.",
                                                                        ["grins", "elatedly"])
    assert known.split("Elated, a person NODS.") == ("a person NODS.", ["Elated"])
    assert known.split("Somebody bobs!") == ("", ["Somebody", "bobs"])  # nothing left: embedding only
    assert known.split("nods for 3 s")[0] == "nods 3"  # digits are not words; "for" and "s" unknown


def test_remove_words_with_any_rule():
    kept, removed = remove_words("one two three four", lambda w: len(w) > 3)
    assert (kept, removed) == ("three four", ["one", "two"])


def test_file_round_trip_and_clear_errors(tmp_path):
    path = tmp_path / "lm_words.json"
    KnownWords(["Nods", "head"]).save(path)
    assert json.loads(path.read_text())["format"] == FORMAT
    assert KnownWords.from_file(path).words == {"nods", "head"}
    for text, word in (("{not json", "not a known-words JSON"), ('{"format": "x", "words": ["a"]}', "format"),
                       (json.dumps({"format": FORMAT, "words": ["a", 3]}), "non-empty strings"),
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
