"""Word aliases: the WordNet reader, the choice of a known neighbour, and the table on the real database."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from export.word_aliases import TEMPLATES, alias_candidates, build_aliases
from export.wordnet import DEFAULT_DIR, WordNet
from facelm.errors import FacelmError
from facelm.known_words import KnownWords

ROOT = Path(__file__).resolve().parents[1]
HEADER = "  1 This is a small database in the format of WordNet 3.0 (wndb), written for this test.\n"
# offset lex_filenum ss_type w_cnt word lex_id ... p_cnt pointers | gloss
ADJ = [
    "00000100 00 a 01 angry 0 002 & 00000200 a 0000 ! 00000300 a 0101 | feeling anger",
    "00000200 00 s 01 livid 0 001 & 00000100 a 0000 | furiously angry",
    "00000300 00 a 01 calm 0 001 ! 00000100 a 0101 | not agitated",
    "00000400 00 a 01 happy 0 001 ! 00000500 a 0101 | feeling joy",
    "00000500 00 a 01 sad 0 001 ! 00000400 a 0101 | feeling sorrow",
    '00000600 00 a 01 placid 0 000 | not angry; calm and happy; "a placid lake"',
    "00000700 00 s 01 irate 0 001 & 00000100 a 0000 | happy in this made-up database",
]
NOUN = [
    "00000100 00 n 01 person 0 000 | a human being",
    "00000200 00 n 01 glee 0 000 | a happy person's delight",
]
VERB = [
    "00000100 00 v 02 turn 0 rotate 0 000 01 + 01 00 | change orientation",
    "00000200 00 v 01 swivel 0 001 @ 00000100 v 0000 01 + 01 00 | turn on a pivot",
    "00000300 00 v 01 bob 0 001 @ 00000100 v 0000 01 + 01 00 | move up and down",
]


def write_wordnet(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, lines in (("adj", ADJ), ("verb", VERB), ("noun", NOUN), ("adv", [])):
        text = HEADER + "".join(line + "  \n" for line in lines)
        (root / f"data.{name}").write_text(text, encoding="latin-1")
    (root / "verb.exc").write_text("swivelled swivel\n")
    return root


def test_reader_parses_synsets_pointers_and_base_forms(tmp_path):
    wn = WordNet(write_wordnet(tmp_path / "wn"))
    assert "livid" in wn and "rotate" in wn and "1" not in wn
    (key,) = wn.synsets_of("swivel")
    assert wn.synset(key).pointers == (("@", ("v", "00000100")),)
    assert wn.synset(("v", "00000100")).words == ("turn", "rotate")
    assert wn.lemmas("swivels") == ["swivel"] and wn.lemmas("swivelled") == ["swivel"]
    (tmp_path / "wn" / "data.adj").write_text(HEADER + "00000100 00 a zz angry\n")
    with pytest.raises(FacelmError, match="not a WordNet data line"):
        WordNet(tmp_path / "wn")
    with pytest.raises(FacelmError, match="wordnet-base"):
        WordNet(tmp_path / "nowhere")


def test_candidates_follow_relations_never_antonyms(tmp_path):
    wn = WordNet(write_wordnet(tmp_path / "wn"))
    known = KnownWords(["angry", "calm", "happy", "turns", "a", "person"], aliases={"livid": "calm"})
    cands = alias_candidates(known, wn)
    assert cands["livid"] == {"angry": 0.5}  # similar-to; the alias already in ``known`` is ignored
    assert cands["swivel"] == {"turn": 0.65} and cands["bob"] == {"turn": 0.65}  # hypernyms need more
    assert "placid" not in cands  # no relation: its definition is read instead
    defined = alias_candidates(known, wn, definitions=True)
    assert defined["swivel"] == {"turn": 0.55}  # "turn on a pivot"
    # a negated clause names nothing ("not angry"); a noun names no adjective ("a happy person's")
    assert defined["placid"] == {"calm": 0.55, "happy": 0.55} and defined["glee"] == {"person": 0.55}
    assert "rotate" in cands  # a synonym of a known word's lemma
    assert "sad" not in cands  # its only relation is the antonym happy
    assert "turn" not in cands and "angry" not in cands  # forms of known words need no alias


def test_words_in_many_definitions_stand_for_nothing(tmp_path, monkeypatch):
    import export.word_aliases as word_aliases

    wn = WordNet(write_wordnet(tmp_path / "wn"))
    assert wn.synset(wn.synsets_of("placid")[0]).definition == "not angry; calm and happy"
    counts = wn.definition_counts()
    assert counts["feeling"] == 3 and counts["happy"] == 3 and counts["turn"] == 1
    known = KnownWords(["calm", "happy", "feeling", "person", "turns"])
    monkeypatch.setattr(word_aliases, "MAX_GLOSS_DEFINITIONS", 1)  # "happy" (3) is now too common
    assert alias_candidates(known, wn, definitions=True)["placid"] == {"calm": 0.55}
    assert alias_candidates(known, wn)["swivel"] == {"turn": 0.65}
    monkeypatch.setattr(word_aliases, "MAX_HYPERNYM_DEFINITIONS", 0)  # "turn" (1) too general a hypernym
    assert "swivel" not in alias_candidates(known, wn)


def test_write_rebuilds_a_model_directory_table(tmp_path):
    """``--write`` on a copy of the shipped model: same words, a new table, the manifest agrees."""
    import json
    import shutil

    from export.word_aliases import main
    from facelm.model_dir import ModelDir

    model = tmp_path / "model"
    model.mkdir()
    for source in (ROOT / "artifacts").iterdir():  # the two files rewritten are copies, the rest links
        if source.name in ("manifest.json", "lm_words.json"):
            shutil.copy(source, model / source.name)
        else:
            (model / source.name).symlink_to(source)
    words = json.loads((model / "lm_words.json").read_text())["words"]
    assert main(["--model", str(model), "--wordnet", str(write_wordnet(tmp_path / "wn")), "--write", "livid"]) == 0
    table = json.loads((model / "lm_words.json").read_text())
    assert table["words"] == words and table["aliases"]["livid"] == "angry"
    entry = ModelDir(model).section("lm")["known_words"]
    assert entry["aliases"] == len(table["aliases"])
    ModelDir(model).file(entry)  # the recorded sha256 matches the new file
    with pytest.raises(SystemExit):
        main(["--model", str(model)])  # neither words nor --write


def test_the_closest_candidate_above_its_relation_threshold_wins(tmp_path):
    wn = WordNet(write_wordnet(tmp_path / "wn"))
    known = KnownWords(["angry", "turns"])
    # an embedding that puts each word at a chosen angle to "turn" and "angry" in every template
    angles = {"turn": 0.0, "angry": 1.5, "livid": 1.5 + np.arccos(0.55), "irate": 1.5, "swivel": np.arccos(0.7),
              "bob": np.arccos(0.6), "rotate": np.arccos(0.9)}

    def embed(texts):
        out = []
        for text in texts:
            word = next(w for w in angles if w in text.split() or text.split()[-1].rstrip(".") == w)
            out.append([np.cos(angles[word]), np.sin(angles[word])])
        return np.asarray(out, np.float32)

    aliases = build_aliases(known, wn, embed)
    # livid: 0.55 >= 0.5 (similar-to); swivel: 0.7 >= 0.65 (hypernym); bob: 0.6 < 0.65 (hypernym)
    assert aliases == {"irate": "angry", "livid": "angry", "rotate": "turn", "swivel": "turn"}
    assert build_aliases(known, wn, embed, lemmas=["bob", "livid"]) == {"livid": "angry"}
    assert len(TEMPLATES) > 1


def test_definitions_are_read_only_where_no_relation_gives_an_alias(tmp_path):
    wn = WordNet(write_wordnet(tmp_path / "wn"))
    known = KnownWords(["angry", "calm", "happy"])
    cosine = {"angry": 0.55, "happy": 0.9, "calm": 0.6}  # to both placid and irate

    def embed(texts):  # placid and irate at (1, 0); each known word at its cosine to them
        out = []
        for text in texts:
            word = next(w for w in ("placid", "irate", *cosine) if w in text.replace(".", " ").split())
            c = cosine.get(word, 1.0)
            out.append([c, np.sqrt(1 - c * c)])
        return np.asarray(out, np.float32)

    # irate: the similar-to relation (angry, 0.55) wins over its definition's closer "happy" (0.9);
    # placid has no relation, so its definition's closest word is read
    assert build_aliases(known, wn, embed, lemmas=["placid", "irate"]) == {"irate": "angry", "placid": "happy"}


@pytest.mark.skipif(not (DEFAULT_DIR / "data.adj").is_file(),
                    reason="WordNet (Debian wordnet-base) not installed")
def test_real_wordnet_reads_unseen_emotion_and_head_words_as_shipped_ones():
    from facelm.model_dir import ModelDir
    from facelm.text_encoder import TextEncoder

    model = ModelDir(ROOT / "artifacts")
    known = KnownWords.from_file(model.file(model.section("lm")["known_words"]))
    words = ["livid", "irate", "terrified", "swivel", "glance", "sorrowful", "wag"]
    wn = WordNet()
    aliases = build_aliases(known, wn, TextEncoder(model).embed, lemmas=words)
    table = KnownWords(known.words, aliases)
    assert table.resolve("livid") == "angry" and table.resolve("irate") == "angry"
    assert table.resolve("terrified") in {"frightened", "afraid", "scared"}
    assert table.resolve("swivels") == "turns" and table.resolve("glances") in {"looks", "gazes"}
    # MiniLM alone puts "sorrowful" nearest "joyful"
    assert table.resolve("sorrowful") in {"sad", "sadness", "unhappy"}
    assert table.resolve("wags") in {"shakes", "shaking"}
