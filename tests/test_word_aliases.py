"""Word aliases: the WordNet reader, the choice of a known neighbour, and the table on the real database."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from export.thesaurus import Thesaurus
from export.word_aliases import TEMPLATES, alias_candidates, build_aliases, thesaurus_candidates
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


# MyThes: "word|meanings", then "(pos)|term|term (relation)|..." per meaning
THESAURUS = """UTF-8
petrified|2
(adj)|hard (similar term)
(adj)|numb|afraid (similar term)|calm (antonym)
livid|1
(adj)|furious|angry (similar term)
gleeful|1
(adj)|happy (generic term)|sad (antonym)
"""


def write_thesaurus(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(THESAURUS, encoding="utf-8")
    return path


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
    assert main(["--model", str(model), "--wordnet", str(write_wordnet(tmp_path / "wn")),
                 "--thesaurus", str(write_thesaurus(tmp_path / "th.dat")), "--write", "livid"]) == 0
    table = json.loads((model / "lm_words.json").read_text())
    assert table["words"] == words and table["aliases"]["livid"] == "angry"
    entry = ModelDir(model).section("lm")["known_words"]
    assert entry["aliases"] == len(table["aliases"])
    ModelDir(model).file(entry)  # the recorded sha256 matches the new file
    with pytest.raises(SystemExit):
        main(["--model", str(model)])  # neither words nor --write


def test_the_thesaurus_reads_words_wordnet_lacks(tmp_path):
    th = Thesaurus(write_thesaurus(tmp_path / "th.dat"))
    assert th.terms("petrified") == [("hard", "&"), ("numb", "synonym"), ("afraid", "&"), ("calm", "!")]
    wn = WordNet(write_wordnet(tmp_path / "wn"))
    known = KnownWords(["afraid", "calm", "happy", "angry"])
    # livid is WordNet's (its relations decide); an antonym is never a candidate; a generic term is a hypernym
    assert thesaurus_candidates(known, wn, th) == {"gleeful": {"happy": 0.65}, "petrified": {"afraid": 0.5}}
    assert thesaurus_candidates(known, wn, th, ["petrified", "unlisted"]) == {"petrified": {"afraid": 0.5}}

    def embed(texts):  # every word at cosine 0.6 to every other
        return np.asarray([[1.0, 0.0] if any(w in t for w in known.words) else [0.6, 0.8] for t in texts], np.float32)

    # gleeful's hypernym needs 0.65: not reached
    assert build_aliases(known, wn, embed, lemmas=["petrified", "gleeful"], thesaurus=th) == {"petrified": "afraid"}
    (tmp_path / "bad.dat").write_text("UTF-8\npetrified|3\n(adj)|numb\n")
    with pytest.raises(FacelmError, match="not a MyThes headword line"):
        Thesaurus(tmp_path / "bad.dat")
    (tmp_path / "bad.dat").write_text("UTF-8\npetrified|1\nadj|numb\n")
    with pytest.raises(FacelmError, match="not a MyThes meaning line"):
        Thesaurus(tmp_path / "bad.dat")
    with pytest.raises(FacelmError, match="mythes-en-us"):
        Thesaurus(tmp_path / "nowhere.dat")


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


def test_dominant_senses_give_shared_synonyms_and_definitions_in_known_words(tmp_path):
    root = tmp_path / "wn"
    write_wordnet(root)
    verbs = [
        "00000100 00 v 02 turn 0 rotate 0 000 | turn up",
        "00000200 00 v 01 bob 0 001 @ 00000100 v 0000 | cut hair short",
        "00000300 00 v 01 bob 0 001 @ 00000100 v 0000 | turn up and down repeatedly",
        "00000400 00 v 01 look 0 000 | use the eyes",
        "00000500 00 v 01 gape 0 001 @ 00000400 v 0000 | look with amazement; 1 2 3",
        "00000600 00 v 02 quail 0 cringe 0 000 | draw back",
        "00000700 00 v 01 cringe 0 000 | show submission",
        "00000800 00 v 02 wince 0 cringe 0 000 | draw back sharply",
    ]
    (root / "data.verb").write_text(HEADER + "".join(line + "  \n" for line in verbs), encoding="latin-1")
    (root / "data.noun").write_text(HEADER + "00000100 00 n 01 bob 0 000 | a short haircut  \n", encoding="latin-1")
    known = KnownWords(["turns", "up", "and", "down", "repeatedly", "look", "looks", "with", "amazement", "cringes"])
    angles = {"turn": 0.0, "rotate": 0.1, "bob": np.arccos(0.5), "look": 1.5, "gape": 1.5 + np.arccos(0.7),
              "cringe": 3.0, "quail": 1.0, "wince": 1.0}  # quail and wince far from cringe

    def embed(texts):
        words = [next(w for w in angles if w in text.replace(".", " ").split()) for text in texts]
        return np.asarray([[np.cos(angles[w]), np.sin(angles[w])] for w in words], np.float32)

    # without index files each part of speech's first synset is its dominant sense: bob's "cut hair
    # short" (verb) and "a short haircut" (noun) are not all known words, so bob has no reading
    assert WordNet(root).dominant_senses("bob") == [("n", "00000100"), ("v", "00000200")]
    # the synonym rotate -> turn stays although "turn up" is all known; gape's hypernym (0.7 >= 0.65)
    # gives way to its definition's first clause
    # quail's one sense is cringe's first: a synonym however far MiniLM puts them; wince's is not
    assert build_aliases(known, WordNet(root), embed) == {"gape": "look with amazement", "quail": "cringe",
                                                          "rotate": "turn"}
    # index.verb: bob's senses in use order, the second data line first and tagged once; the noun never
    # the same with index files: quail's one sense is cringe's most used, wince's cringe's last
    (root / "index.verb").write_text(HEADER + "bob v 2 1 @ 2 1 00000300 00000200  \n"
                                     "cringe v 3 0 3 1 00000600 00000700 00000800  \n"
                                     "quail v 1 0 1 0 00000600  \n" "wince v 1 0 1 0 00000800  \n")
    (root / "index.noun").write_text(HEADER + "bob n 1 0 1 0 00000100  \n")
    wn = WordNet(root)
    assert wn.dominant_senses("bob") == [("v", "00000300")]
    aliases = build_aliases(known, wn, embed)
    assert aliases["quail"] == "cringe" and "wince" not in aliases
    # turn, its hypernym and a word of its definition, at 0.5 was too far
    assert aliases["bob"] == "turn up and down repeatedly"
    table = KnownWords(known.words, aliases)
    assert table.resolve("bobs") == "turns up and down repeatedly" and table.resolve("gaping") == "look with amazement"
    rewrite = table.split("A person bobs twice.")
    assert rewrite.text == "turns up and down repeatedly." and rewrite.aliased == [("bobs", rewrite.text[:-1])]
    (root / "index.noun").write_text(HEADER + "bob n 1 zz\n")
    with pytest.raises(FacelmError, match="not a WordNet index line"):
        WordNet(root)


@pytest.mark.skipif(not (DEFAULT_DIR / "data.adj").is_file(),
                    reason="WordNet (Debian wordnet-base) not installed")
def test_real_wordnet_reads_unseen_emotion_and_head_words_as_shipped_ones():
    from facelm.model_dir import ModelDir
    from facelm.text_encoder import TextEncoder

    model = ModelDir(ROOT / "artifacts")
    known = KnownWords.from_file(model.file(model.section("lm")["known_words"]))
    words = ["livid", "irate", "terrified", "swivel", "glance", "sorrowful", "wag", "bob", "wordlessly"]
    wn = WordNet()
    aliases = build_aliases(known, wn, TextEncoder(model).embed, lemmas=words)
    table = KnownWords(known.words, aliases)
    assert table.resolve("livid") == "angry" and table.resolve("irate") == "angry"
    assert table.resolve("terrified") in {"frightened", "afraid", "scared"}
    assert table.resolve("swivels") == "turns" and table.resolve("glances") in {"looks", "gazes"}
    # MiniLM alone puts "sorrowful" nearest "joyful"
    assert table.resolve("sorrowful") in {"sad", "sadness", "unhappy"}
    assert table.resolve("wags") in {"shakes", "shaking"}
    # no relation reads bob, its most used sense's definition does
    assert table.resolve("bobs") == "moves up and down repeatedly"
    assert table.resolve("wordlessly") == "without speaking"
